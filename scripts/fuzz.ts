/**
 * Long differential runs: `npm run fuzz -- --runs N --seed S` generates N cases (rulesets
 * × packet streams), runs each through the kernel's iptables and through rejectc at TC and
 * at XDP in throwaway namespaces, and compares every frame's effect byte for byte (the same
 * property test/diff.test.ts checks in CI; test/diff/fuzz.ts).
 *
 * Options:
 *   --runs N            cases to run (default 1000)
 *   --seed S            fast-check seed (default: from the clock; printed)
 *   --sides LIST        rejectc sides besides the kernel: tc,xdp (default both)
 *   --shape MODE        fixed (one program, rules replaced by generation flips; default) or
 *                       natural (each ruleset compiled with its own shape, as a user does)
 *   --shrink-seconds N  time to shrink a failure (default 120)
 *   --save NAME         on a divergence, write the shrunk case to test/regressions/NAME.json
 *   --corpus            instead of random rulesets: every file of ../shared/corpus/real/
 *                       rejectc compiles fully, with --frames N frames aimed at its rules
 *                       (default 300); one report line per file
 *
 * Output: progress lines, then one summary line (cases, frames, divergences, known
 * differences masked, time). Exit 0 when every case agreed, 1 on a divergence, 2 when the
 * environment cannot run it (not root). Needs root, clang, iptables-legacy, python3.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadCorpus } from '../test/diff/corpus.js';
import { corpusLine, runCorpusEntry } from '../test/diff/corpus-run.js';
import { closeTopologies, fuzz, startTopologies, summaryLine } from '../test/diff/fuzz.js';
import type { ShapeMode } from '../test/diff/install.js';
import { regressionOf, regressionsDir, saveRegression } from '../test/diff/regressions.js';
import type { SideKind } from '../test/diff/topology.js';

function usage(message: string): never {
  process.stderr.write(`fuzz: ${message}\nusage: npm run fuzz -- [--runs N] [--seed S] [--sides tc,xdp] [--shape fixed|natural] [--shrink-seconds N] [--save NAME] [--corpus [--frames N]]\n`);
  process.exit(2);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '1000' },
      seed: { type: 'string' },
      sides: { type: 'string', default: 'tc,xdp' },
      shape: { type: 'string', default: 'fixed' },
      'shrink-seconds': { type: 'string', default: '120' },
      save: { type: 'string' },
      corpus: { type: 'boolean', default: false },
      frames: { type: 'string', default: '300' },
    },
  });
  const runs = Number(values.runs);
  const seed = values.seed === undefined ? Date.now() % 1_000_000_000 : Number(values.seed);
  const shrinkMs = Number(values['shrink-seconds']) * 1000;
  if (!Number.isInteger(runs) || runs < 1) usage(`--runs must be a positive integer, got "${values.runs}"`);
  if (!Number.isInteger(seed)) usage(`--seed must be an integer, got "${values.seed}"`);
  if (!Number.isFinite(shrinkMs) || shrinkMs < 0) usage('--shrink-seconds must be a number');
  const sides = values.sides.split(',').filter(Boolean) as SideKind[];
  if (sides.length === 0 || sides.some((s) => s !== 'tc' && s !== 'xdp')) usage(`--sides takes tc and/or xdp, got "${values.sides}"`);
  if (values.shape !== 'fixed' && values.shape !== 'natural') usage(`--shape is fixed or natural, got "${values.shape}"`);
  if (values.save !== undefined && !/^[a-z0-9][a-z0-9-]*$/.test(values.save)) usage('--save NAME: lower-case letters, digits and dashes');
  if (process.getuid?.() !== 0) {
    process.stderr.write('fuzz: needs root (network namespaces, BPF): run it with sudo\n');
    return 2;
  }

  if (values.corpus) return corpusMode(seed, Number(values.frames), ['kernel', ...sides]);
  process.stdout.write(`fuzz: seed ${seed}, ${runs} cases, kernel vs ${sides.join(' + ')}, ${values.shape} shape\n`);
  const diffs = await startTopologies({ kinds: ['kernel', ...sides], shape: values.shape as ShapeMode });
  try {
    const report = await fuzz(diffs, { runs, seed, shrinkMs, log: (l) => process.stdout.write(`${l}\n`) });
    if (report.failure) {
      process.stdout.write(`\n${report.failure.text}\n\nreplay: npm run fuzz -- --seed ${seed} --runs ${runs}\n`);
      if (values.save) {
        const path = join(regressionsDir(), `${values.save}.json`);
        if (existsSync(path)) process.stderr.write(`fuzz: ${path} exists; not overwritten\n`);
        else {
          const first = report.failure.result.divergences[0];
          const title = first ? `${first.label}: ${first.details[0]}` : (report.failure.result.refused?.message.split('\n')[0] ?? 'divergence');
          const divergedSides = [...new Set(report.failure.result.divergences.map((d) => d.side))];
          saveRegression(path, regressionOf(report.failure.case, { title, status: 'open', notes: `found by npm run fuzz -- --seed ${seed}`, sides: divergedSides }));
          process.stdout.write(`saved ${path}\n`);
        }
      }
    }
    process.stdout.write(`${summaryLine(report)}\n`);
    return report.failure ? 1 : 0;
  } finally {
    closeTopologies(diffs);
  }
}

/** `--corpus`: every compilable corpus file; exit 1 if any diverged or was refused. */
async function corpusMode(seed: number, frames: number, kinds: SideKind[]): Promise<number> {
  if (!Number.isInteger(frames) || frames < 1) usage('--frames must be a positive integer');
  const started = Date.now();
  const { entries, skipped } = loadCorpus();
  process.stdout.write(`fuzz: corpus, seed ${seed}, ${frames} frames per file, ${entries.length} files compile fully (${skipped.length} do not)\n`);
  let bad = 0;
  let total = 0;
  for (const entry of entries) {
    const r = await runCorpusEntry(entry, { frames, seed, kinds });
    total += r.frames;
    process.stdout.write(`  ${corpusLine(r)}\n`);
    const rate = [...(r.rateCounts?.differences ?? []), ...(entry.rateWindowMs !== undefined && r.sendMs >= entry.rateWindowMs ? [`frames took ${r.sendMs} ms, past the rate limits' window of ${entry.rateWindowMs} ms`] : [])];
    if (r.failure || r.refused || rate.length > 0) {
      bad += 1;
      process.stdout.write(`${[r.failure ?? r.refused, ...rate].filter(Boolean).join('\n')}\n`);
    }
  }
  process.stdout.write(`differential corpus: seed ${seed}: ${entries.length} files, ${total} frames, ${bad} diverging, ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return bad > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fuzz: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  },
);
