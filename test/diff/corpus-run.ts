/**
 * The corpus differential (issue 6 "Also"): for each real ruleset rejectc compiles fully
 * (test/diff/corpus.ts), a topology whose server interfaces carry the names its rules use,
 * the ruleset on every side, and a few hundred generated frames aimed at its rules; per file
 * a report of rules, frames, divergences, masked known differences and kernel rule hits.
 * Shared by test/diff-corpus.test.ts and `npm run fuzz -- --corpus`.
 */
import fc from 'fast-check';
import type { CorpusEntry } from './corpus.js';
import { arbElement, buildStream } from './gen-stream.js';
import { minimize } from './minimize.js';
import { Differential, formatFailure, type DiffCase } from './runner.js';
import type { SideKind } from './topology.js';

export interface CorpusFileReport {
  name: string;
  rules: number;
  frames: number;
  divergences: number;
  masked: Record<string, number>;
  rulesHit: number;
  rejectRulesHit: number;
  /** Set when a firewall refused the file's rules (the message), or a side sat out. */
  refused?: string;
  xdp: boolean;
  /** The first divergence, minimised: rules files and frames in hex. */
  failure?: string;
  ms: number;
}

export interface CorpusRunOptions {
  frames: number;
  seed: number;
  kinds?: readonly SideKind[];
  /** Time to minimise a divergence (default 60 s). */
  minimizeMs?: number;
}

/** Runs one corpus file through every side; see the module comment. */
export async function runCorpusEntry(entry: CorpusEntry, options: CorpusRunOptions): Promise<CorpusFileReport> {
  const started = Date.now();
  const report: CorpusFileReport = { name: entry.name, rules: entry.ruleCount, frames: 0, divergences: 0, masked: {}, rulesHit: 0, rejectRulesHit: 0, xdp: true, ms: 0 };
  const diff = await Differential.start({ kinds: options.kinds ?? ['kernel', 'tc', 'xdp'], interfaces: entry.interfaces, shape: 'natural' });
  try {
    const result = await diff.install(entry.rules);
    report.xdp = !result.skipped.some((s) => s.side === 'xdp');
    if (result.refused) {
      report.refused = `refused by ${result.refused.by}: ${result.refused.message}`;
      return report;
    }
    const specs = fc.sample(arbElement(entry.pool, entry.families), { seed: options.seed, numRuns: options.frames });
    const stream = buildStream(specs);
    await diff.send(stream, result);
    report.frames = result.frames;
    report.divergences = result.divergences.length;
    report.rulesHit = result.rulesHit;
    report.rejectRulesHit = result.rejectRulesHit;
    for (const m of result.masked) report.masked[m.name] = (report.masked[m.name] ?? 0) + 1;
    const first = result.divergences[0];
    if (first) {
      // Connection tracking makes a frame's fate depend on the ones before it: keep them.
      const c: DiffCase = { rules: entry.rules, stream: stream.slice(0, first.element + 1) };
      const small = await minimize(diff, c, options.minimizeMs ?? 60_000);
      report.failure = formatFailure(small, await diff.run(small));
    }
    return report;
  } finally {
    diff.close();
    report.ms = Date.now() - started;
  }
}

/** One line per file, for the test log and the script. */
export function corpusLine(r: CorpusFileReport): string {
  const masked = Object.entries(r.masked).map(([k, v]) => `${k} ${v}`).join(', ');
  if (r.refused) return `${r.name}: ${r.rules} rules, ${r.refused.split('\n')[0]}`;
  return `${r.name}: ${r.rules} rules, ${r.frames} frames${r.xdp ? '' : ' (no XDP: OUTPUT rules)'}, ${r.divergences} divergences, masked ${masked || 'none'}, kernel rules hit ${r.rulesHit} (REJECT ${r.rejectRulesHit}), ${(r.ms / 1000).toFixed(1)} s`;
}
