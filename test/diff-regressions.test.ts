/**
 * Replays every saved differential case (test/regressions/*.json, format in
 * test/diff/regressions.ts) against the kernel and rejectc, TC and XDP:
 * - `fixed` cases must agree on every frame (a divergence that was fixed stays fixed), and
 *   mask exactly the known differences they list;
 * - `open` cases record a divergence whose fix is outside the differential suite; the test
 *   asserts it is still there as recorded (on the same sides, or the same refusal), so the
 *   day it is fixed this test fails and the case's status must be changed to `fixed` (and
 *   its entry in OPEN_DIVERGENCES, test/diff/open.ts, removed).
 * Cases naming their own server interfaces or shape get a topology of their own; cases with
 * `before` run those first. Needs root.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { canUseKernel } from './support/netns.js';
import { caseOf, loadRegressions, type RegressionFile } from './diff/regressions.js';
import { Differential, formatFailure } from './diff/runner.js';
import { DEFAULT_SERVER_INTERFACES } from './diff/topology.js';

const saved = loadRegressions();
const started = new Map<string, Promise<Differential>>();

/** One Differential per set of server interface names and shape, started on first use. */
function differentialFor(file: RegressionFile): Promise<Differential> {
  const interfaces = file.interfaces ?? DEFAULT_SERVER_INTERFACES;
  const shape = file.shape ?? 'fixed';
  const key = `${interfaces.in}/${interfaces.out}/${shape}`;
  let d = started.get(key);
  if (!d) {
    d = Differential.start({ kinds: ['kernel', 'tc', 'xdp'], interfaces, shape });
    started.set(key, d);
  }
  return d;
}

describe.runIf(canUseKernel())('differential regressions (test/regressions)', () => {
  afterAll(async () => {
    for (const d of started.values()) (await d.catch(() => undefined))?.close();
  });

  it('there are saved cases, each fixed or open, open ones naming how they diverge', () => {
    expect(saved.some((s) => s.file.status === 'fixed')).toBe(true);
    for (const { name, file } of saved) {
      expect(['fixed', 'open'], name).toContain(file.status);
      if (file.status === 'open') expect(file.refusedBy ?? file.sides?.length, name).toBeTruthy();
    }
  });

  for (const { name, file } of saved) {
    it(`${name} (${file.status}): ${file.title}`, async () => {
      const diff = await differentialFor(file);
      for (const earlier of file.before ?? []) await diff.run(caseOf(earlier));
      const c = caseOf(file);
      const result = await diff.run(c);
      const report = formatFailure(c, result);
      if (file.status === 'fixed') {
        expect(result.refused, result.refused?.message).toBeUndefined();
        expect(result.divergences, report).toEqual([]);
        expect([...new Set(result.masked.map((m) => m.name))].sort()).toEqual([...(file.masked ?? [])].sort());
      } else if (file.refusedBy) {
        expect(result.refused?.by, `${name} is no longer refused as recorded: if it was fixed, set "status": "fixed"\n${report}`).toBe(file.refusedBy);
      } else {
        const sides = [...new Set(result.divergences.map((d) => d.side))].sort();
        expect(sides, `${name} no longer diverges as recorded: if it was fixed, set "status": "fixed"\n${report}`).toEqual([...(file.sides ?? [])].sort());
      }
    }, 120_000);
  }
});
