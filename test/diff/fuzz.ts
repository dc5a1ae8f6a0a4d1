/**
 * The random differential property, shared by test/diff.test.ts (CI) and scripts/fuzz.ts
 * (long runs): generated cases ({@link arbCase}) through the {@link FuzzTopologies}; a case
 * fails when a rejectc side and the kernel disagree about a frame (beyond the known
 * differences masked by name) or about whether the ruleset is valid.
 *
 * The first failing case stops the run (so that a run's time is predictable); it is then
 * minimised for at most `shrinkMs` (test/diff/minimize.ts: stream elements, rule lines,
 * fragments, each kept out while the case still fails the same way — faster than
 * fast-check's own shrinking at about a second per run) and reported as rules files and
 * frames in hex (formatFailure), ready to save under test/regressions/.
 */
import fc from 'fast-check';
import { arbCase, toDiffCase, type GeneratedCase } from './cases.js';
import { printSpec } from './gen-rules.js';
import { filtersOutput } from './install.js';
import { minimize } from './minimize.js';
import { Differential, formatFailure, type CaseResult, type DiffCase, type DifferentialOptions } from './runner.js';

export interface FuzzOptions {
  runs: number;
  seed: number;
  /** Time budget for minimising a failure (default 120 s). */
  shrinkMs?: number;
  /** Progress lines (e.g. every 50 cases). */
  log?: (line: string) => void;
}

export interface FuzzFailure {
  case: DiffCase;
  result: CaseResult;
  /** The report: rules files, frames, what differed. */
  text: string;
  /** fast-check's path of the failing case (with the seed, `path` in fc parameters replays it). */
  path: string;
}

export interface FuzzReport {
  seed: number;
  /** Cases run before the end or the first failure (shrinking runs not counted). */
  cases: number;
  frames: number;
  /** Known differences masked, by name (frames x sides). */
  masked: Record<string, number>;
  /** Cases every firewall refused (agreement, but no frames compared). */
  refusedByAll: number;
  /** Kernel rule counters: rules that matched, REJECT rules that matched (summed over cases). */
  rulesHit: number;
  rejectRulesHit: number;
  /** What the kernel did with the frames (answered / input / forward / dropped). */
  outcomes: Record<string, number>;
  /** Cases without an XDP side (OUTPUT rules). */
  xdpSkipped: number;
  ms: number;
  failure?: FuzzFailure;
}

/** A case passes when no side diverged and no firewall alone refused the ruleset. */
export function passes(r: CaseResult): boolean {
  return r.divergences.length === 0 && (!r.refused || r.refused.by === 'both');
}

function emptyReport(seed: number): FuzzReport {
  return { seed, cases: 0, frames: 0, masked: {}, refusedByAll: 0, rulesHit: 0, rejectRulesHit: 0, outcomes: {}, xdpSkipped: 0, ms: 0 };
}

function count(report: FuzzReport, r: CaseResult): void {
  report.cases += 1;
  report.frames += r.frames;
  report.rulesHit += r.rulesHit;
  report.rejectRulesHit += r.rejectRulesHit;
  if (r.refused?.by === 'both') report.refusedByAll += 1;
  if (r.skipped.some((s) => s.side === 'xdp')) report.xdpSkipped += 1;
  for (const m of r.masked) report.masked[m.name] = (report.masked[m.name] ?? 0) + 1;
  for (const o of r.outcomes) report.outcomes[o] = (report.outcomes[o] ?? 0) + 1;
}

/**
 * The topologies a run uses, so that consecutive cases on one of them run on the same
 * program (a generation flip, not a program swap of about two seconds):
 * - `stateful`: rulesets with state matches — connection tracking is on for every case here
 *   and never on the others (RulesetSpec.stateful in gen-rules.ts);
 * - `output`: stateless rulesets with OUTPUT rules (a TC egress program; no XDP side);
 * - `stateless`: the rest.
 */
export interface FuzzTopologies {
  stateless: Differential;
  stateful: Differential;
  output: Differential;
}

/** Starts the three topologies (deleting what it made if one fails). */
export async function startTopologies(options: DifferentialOptions = {}): Promise<FuzzTopologies> {
  const made: Differential[] = [];
  try {
    const start = async (o: DifferentialOptions) => {
      const d = await Differential.start(o);
      made.push(d);
      return d;
    };
    const stateless = await start(options);
    const stateful = await start(options);
    const output = await start({ ...options, kinds: (options.kinds ?? ['kernel', 'tc', 'xdp']).filter((k) => k !== 'xdp') });
    return { stateless, stateful, output };
  } catch (err) {
    made.forEach((d) => d.close());
    throw err;
  }
}

/** Closes every topology (idempotent). */
export function closeTopologies(t: FuzzTopologies | undefined): void {
  t?.stateless.close();
  t?.stateful.close();
  t?.output.close();
}

/** Runs `options.runs` generated cases; see the module comment. */
export async function fuzz(diffs: FuzzTopologies, options: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const report = emptyReport(options.seed);
  let exploring = true;
  const diffOf = (g: GeneratedCase) => (g.spec.stateful ? diffs.stateful : filtersOutput(printSpec(g.spec)) ? diffs.output : diffs.stateless);
  const property = fc.asyncProperty(arbCase(), async (g: GeneratedCase) => {
    const diff = diffOf(g);
    const r = await diff.run(toDiffCase(g));
    if (exploring) {
      count(report, r);
      if (diff === diffs.output) report.xdpSkipped += 1;
      if (report.cases % 50 === 0) options.log?.(`  ${report.cases} cases, ${report.frames} frames, ${Math.round((Date.now() - started) / 1000)} s`);
    }
    return passes(r);
  });
  const found = await fc.check(property, { seed: options.seed, numRuns: options.runs, endOnFailure: true });
  exploring = false;
  if (found.failed && found.counterexample) {
    options.log?.(`  case ${report.cases} failed; minimising (at most ${Math.round((options.shrinkMs ?? 120_000) / 1000)} s)`);
    const diff = diffOf(found.counterexample[0]);
    const smallest = await minimize(diff, toDiffCase(found.counterexample[0]), options.shrinkMs ?? 120_000);
    const result = await diff.run(smallest);
    report.failure = { case: smallest, result, text: formatFailure(smallest, result), path: found.counterexamplePath ?? '' };
  } else if (found.failed) {
    throw new Error(`fast-check stopped without a counterexample (${found.interrupted ? 'interrupted' : 'too many skips'})`);
  }
  report.ms = Date.now() - started;
  return report;
}

/** The one-line summary both the test and the script print. */
export function summaryLine(r: FuzzReport): string {
  const masked = Object.entries(r.masked).map(([k, v]) => `${k} ${v}`).join(', ');
  return (
    `differential: seed ${r.seed}: ${r.cases} cases, ${r.frames} frames, ${r.failure ? 1 : 0} divergence${r.failure ? '' : 's'}, ` +
    `masked ${masked || 'none'}; kernel rules hit ${r.rulesHit} (REJECT ${r.rejectRulesHit}); ${(r.ms / 1000).toFixed(1)} s`
  );
}
