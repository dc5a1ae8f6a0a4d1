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
import { kernelCounts, kernelRateCounts, rateCountDifferences, rejectcRateCounts, SET_MATCH } from './rate-counters.js';
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
  /** How long the frames took to send (first to last), ms: rate-limited files must stay within their window. */
  sendMs: number;
  /**
   * Files with rate limits: packets counted by their rate-limited rules on the kernel side,
   * and per rejectc side the rules whose counters differ from the kernel's (rate-counters.ts).
   */
  rateCounts?: { rules: number; packets: number; differences: string[] };
  /** Files with sets (made up, corpus.ts setsFor): kernel rules testing them, and how many counted a packet. */
  setRules?: { rules: number; hit: number };
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
  const report: CorpusFileReport = { name: entry.name, rules: entry.ruleCount, frames: 0, divergences: 0, masked: {}, rulesHit: 0, rejectRulesHit: 0, xdp: true, ms: 0, sendMs: 0 };
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
    const sending = Date.now();
    await diff.send(stream, result);
    report.sendMs = Date.now() - sending;
    const kernelSide = diff.topology.sides.find((s) => s.kind === 'kernel');
    if (entry.rules.ipset !== undefined) {
      const counts = [...kernelCounts(kernelSide!.server, SET_MATCH).values()];
      report.setRules = { rules: counts.length, hit: counts.filter((n) => n > 0).length };
    }
    if (entry.rateWindowMs !== undefined) {
      const kernel = kernelRateCounts(kernelSide!.server);
      const differences: string[] = [];
      for (const side of diff.topology.sides) {
        if (side.kind === 'kernel' || result.skipped.some((s) => s.side === side.kind)) continue;
        const mine = side.server.run(() => rejectcRateCounts([entry.interfaces.in, entry.interfaces.out]));
        differences.push(...rateCountDifferences(kernel, mine).map((d) => `${side.kind}: ${d}`));
      }
      report.rateCounts = { rules: kernel.size, packets: [...kernel.values()].reduce((a, b) => a + b, 0), differences };
    }
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
  const rate = r.rateCounts ? `, rate-limited rules ${r.rateCounts.rules} counted ${r.rateCounts.packets} packets (${r.rateCounts.differences.length} counter differences), frames sent in ${(r.sendMs / 1000).toFixed(1)} s` : '';
  const sets = r.setRules ? `, set rules hit ${r.setRules.hit} of ${r.setRules.rules}` : '';
  return `${r.name}: ${r.rules} rules, ${r.frames} frames${r.xdp ? '' : ' (no XDP: OUTPUT rules)'}, ${r.divergences} divergences, masked ${masked || 'none'}, kernel rules hit ${r.rulesHit} (REJECT ${r.rejectRulesHit})${sets}${rate}, ${(r.ms / 1000).toFixed(1)} s`;
}
