/**
 * Replays every saved differential case (test/regressions/*.json, format in
 * test/diff/regressions.ts) against the kernel and rejectc, TC and XDP:
 * - `fixed` cases must agree on every frame (a divergence that was fixed stays fixed);
 * - `open` cases record a divergence whose fix is outside the differential suite; the test
 *   asserts it is still there on the recorded sides, so the day it is fixed this test fails
 *   and the case's status must be changed to `fixed` (and the generators' exclusion of it
 *   lifted, see test/diff/gen-stream.ts OPEN_DIVERGENCES).
 * Needs root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseKernel } from './support/netns.js';
import { caseOf, loadRegressions } from './diff/regressions.js';
import { Differential, formatFailure } from './diff/runner.js';

const saved = loadRegressions();

describe.runIf(canUseKernel())('differential regressions (test/regressions)', () => {
  let diff: Differential | undefined;

  beforeAll(async () => {
    diff = await Differential.start({ kinds: ['kernel', 'tc', 'xdp'] });
  }, 120_000);

  afterAll(() => diff?.close());

  it('there are saved cases', () => {
    expect(saved.length).toBeGreaterThan(0);
  });

  for (const { name, file } of saved) {
    it(`${name} (${file.status}): ${file.title}`, async () => {
      const c = caseOf(file);
      const result = await diff!.run(c);
      if (file.status === 'fixed') {
        expect(result.refused, result.refused?.message).toBeUndefined();
        expect(result.divergences, formatFailure(c, result)).toEqual([]);
        expect([...new Set(result.masked.map((m) => m.name))].sort()).toEqual([...(file.masked ?? [])].sort());
      } else {
        const sides = [...new Set(result.divergences.map((d) => d.side))].sort();
        expect(sides, `${name} no longer diverges as recorded: if it was fixed, set "status": "fixed"\n${formatFailure(c, result)}`).toEqual([...(file.sides ?? [])].sort());
      }
    }, 60_000);
  }
});
