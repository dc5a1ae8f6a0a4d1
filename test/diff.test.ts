/**
 * The differential suite (issue 6): random rulesets × packet streams, the kernel's iptables
 * (iptables-legacy) against rejectc at TC and at XDP, byte for byte (test/diff/: topology,
 * injection and capture, comparison, generators; docs/differential.md).
 *
 * What it proves: for every generated case (a ruleset of both families in the subset rejectc
 * compiles, and a stream of frames aimed at it), each frame has the same effect on every side
 * — the same frames back to the client (REJECT replies, the stack's own answers, hairpin
 * forwards), the same packets through INPUT/FORWARD (seen after the filter table), the same
 * frames forwarded to the far side — except where a documented known difference explains it
 * (masked by name, counted in the summary); and rejectc refuses exactly the rulesets
 * iptables-restore refuses.
 *
 * RJC_SEED replays a run (the seed is printed); RJC_DIFF_RUNS changes the number of cases
 * (default 300). A failure prints the shrunk case as rules files and frames in hex;
 * `npm run fuzz -- --seed S --save NAME` saves it under test/regressions/.
 * Needs root (namespaces, BPF); CI runs as root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseKernel } from './support/netns.js';
import { closeTopologies, fuzz, startTopologies, summaryLine, type FuzzReport, type FuzzTopologies } from './diff/fuzz.js';

const SEED = Number(process.env.RJC_SEED ?? Date.now() % 1_000_000_000);
const RUNS = Number(process.env.RJC_DIFF_RUNS ?? 300);

describe.runIf(canUseKernel())('differential: kernel iptables vs rejectc (TC, XDP)', () => {
  let diffs: FuzzTopologies | undefined;
  let report: FuzzReport | undefined;

  beforeAll(async () => {
    console.log(`differential: seed ${SEED} (RJC_SEED=${SEED} to replay), ${RUNS} cases`);
    diffs = await startTopologies({ kinds: ['kernel', 'tc', 'xdp'] });
  }, 120_000);

  afterAll(() => closeTopologies(diffs));

  it(`${RUNS} random cases: every frame has the same effect on every side`, async () => {
    report = await fuzz(diffs!, { runs: RUNS, seed: SEED, shrinkMs: 90_000, log: (l) => console.log(l) });
    console.log(summaryLine(report));
    if (report.failure) expect.fail(`RJC_SEED=${SEED}: rejectc and the kernel disagree:\n${report.failure.text}`);
    expect(report.cases).toBe(RUNS);
  }, 600_000);

  it('the cases exercised what they claim to (replies, accepts, forwards, drops, REJECT rules)', () => {
    expect(report, 'the random run did not finish').toBeDefined();
    const r = report!;
    if (r.failure) return; // the failure is the finding; coverage is moot
    // Each kind of outcome shows up, and REJECT rules matched in a good share of the cases.
    for (const outcome of ['answered', 'input', 'forward', 'dropped']) {
      expect(Object.entries(r.outcomes).some(([k, v]) => k.includes(outcome) && v > 0), outcome).toBe(true);
    }
    expect(r.rejectRulesHit).toBeGreaterThan(r.cases / 10);
    expect(r.frames).toBeGreaterThan(r.cases * 2);
    expect(r.xdpSkipped).toBeLessThan(r.cases / 2);
  });
});
