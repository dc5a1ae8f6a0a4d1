/**
 * Front-end benchmark: parse + check the three largest files of the real corpus together
 * (about 20,000 rules) and print rules per second. Target: under 1 second in total.
 *
 * Wall-clock time is reported with the process's CPU time beside it: on a busy machine the
 * first grows, the second much less.
 *
 * Usage (after `npm run build`): node dist/scripts/bench-parse.js [corpus-dir] [--runs N]
 * The corpus directory defaults to ../shared/corpus/real next to the repository.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasErrors } from '../src/compiler/diagnostics.js';
import { parseRuleset } from '../src/compiler/frontend.js';

const TARGET_MS = 1000;

function repoRoot(): string {
  // dist/scripts/bench-parse.js or scripts/bench-parse.ts: the repository is two or one levels up.
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const runs = runsAt >= 0 ? Math.max(1, Number(args[runsAt + 1]) || 1) : 5;
const positional = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--runs');
const corpus = resolve(positional[0] ?? join(repoRoot(), '..', 'shared', 'corpus', 'real'));
if (!existsSync(corpus)) {
  process.stderr.write(`bench-parse: corpus directory ${corpus} not found\n`);
  process.exit(2);
}

const largest = readdirSync(corpus)
  .filter((f) => f.endsWith('.rules') || f.endsWith('.sh'))
  .map((f) => ({ f, size: statSync(join(corpus, f)).size }))
  .sort((a, b) => b.size - a.size)
  .slice(0, 3)
  .map(({ f }) => ({ file: f, text: readFileSync(join(corpus, f), 'utf8') }));

function once(): { ms: number; cpuMs: number; rules: number; errors: boolean } {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let rules = 0;
  let errors = false;
  for (const { file, text } of largest) {
    const { ruleset, diagnostics } = parseRuleset(text, file);
    for (const fam of ruleset.families) for (const t of fam.tables) for (const c of t.chains) rules += c.rules.length;
    errors ||= hasErrors(diagnostics);
  }
  const cpu = process.cpuUsage(c0);
  return { ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, rules, errors };
}

const first = once();
const times = [first.ms];
for (let i = 1; i < runs; i++) times.push(once().ms);
const sorted = [...times].sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)]!;
const lines = largest.reduce((n, { text }) => n + text.split('\n').length, 0);

const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
process.stdout.write(
  [
    `files: ${largest.map((l) => l.file).join(', ')} (${lines} lines)`,
    `rules read: ${first.rules}${first.errors ? ' (some rules refused with diagnostics)' : ''}`,
    `first run (cold): ${fmt(first.ms)} (CPU ${fmt(first.cpuMs)}, all threads), ${Math.round((first.rules / first.ms) * 1000)} rules/s`,
    `median of ${runs} runs: ${fmt(median)}, ${Math.round((first.rules / median) * 1000)} rules/s`,
    `target: < ${TARGET_MS} ms for all three together: ${first.ms < TARGET_MS ? 'met' : 'MISSED'}`,
    '',
  ].join('\n'),
);
