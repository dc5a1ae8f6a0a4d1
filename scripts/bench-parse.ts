/**
 * Front-end benchmark (issues 2 and 4): parse + check
 *
 * 1. the three largest files of the real corpus together (about 20,000 rules; target: under
 *    1 second in total), and
 * 2. generated iptables-save files of 10,000 and 50,000 rules, the shape `npm run bench`'s
 *    "compile" section compiles (issue 4: parse -> maps.json + C under 1 s; this is the parse
 *    part of it).
 *
 * Each measurement prints wall-clock and CPU time (user + system of the whole process, so GC
 * and compiler threads count) for the first run (cold: the JIT has not seen the code yet) and
 * the median of the following runs (warm). On a busy machine wall time grows, CPU time much
 * less. The cold run of each size is made in a fresh child process, so it does not profit from
 * an earlier size. The start-up time (Node plus loading the front end, before any parsing) is
 * printed first: a `rejectc check` pays it too.
 *
 * Usage (after `npm run build`): node dist/scripts/bench-parse.js [corpus-dir] [--runs N]
 *   --only corpus|generated   one of the two parts
 *   --rules N                 (internal) time one generated size in this process and print JSON
 * The corpus directory defaults to ../shared/corpus/real next to the repository.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasErrors } from '../src/compiler/diagnostics.js';
import { parseRuleset } from '../src/compiler/frontend.js';

/** Milliseconds from process start to here: Node's start-up plus loading the front end's modules. */
const STARTUP_MS = performance.now();

const TARGET_MS = 1000;
const GENERATED_SIZES = [10_000, 50_000];

function repoRoot(): string {
  // dist/scripts/bench-parse.js or scripts/bench-parse.ts: the repository is two or one levels up.
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

function option(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
}

const args = process.argv.slice(2);
const runs = Math.max(2, Number(option(args, '--runs')) || 5);
const only = option(args, '--only');
const positional = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));

interface Input {
  file: string;
  text: string;
}

interface Run {
  ms: number;
  cpuMs: number;
  rules: number;
  errors: boolean;
}

/** Parses and checks every input once. */
function once(inputs: readonly Input[]): Run {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let rules = 0;
  let errors = false;
  for (const { file, text } of inputs) {
    const { ruleset, diagnostics } = parseRuleset(text, file);
    for (const fam of ruleset.families) for (const t of fam.tables) for (const c of t.chains) rules += c.rules.length;
    errors ||= hasErrors(diagnostics);
  }
  const cpu = process.cpuUsage(c0);
  return { ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, rules, errors };
}

interface Measured {
  cold: Run;
  warm: { ms: number; cpuMs: number };
}

/** A cold run, then the median wall and CPU time of `runs - 1` warm runs. */
function measure(inputs: readonly Input[]): Measured {
  const cold = once(inputs);
  const warm: Run[] = [];
  for (let i = 1; i < runs; i++) warm.push(once(inputs));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { cold, warm: { ms: median(warm.map((r) => r.ms)), cpuMs: median(warm.map((r) => r.cpuMs)) } };
}

/**
 * An iptables-save file of `n` filter rules shaped like `npm run bench`'s (scripts/bench.ts
 * `scaleRules`): per four rules, two `-s ADDR -p tcp --dport P -j DROP`, one `-d ADDR -j DROP`,
 * one `-p udp --dport P -j ACCEPT`, then a tcp-reset REJECT last.
 */
function generatedRules(n: number): string {
  const lines = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]'];
  for (let i = 0; i < n - 1; i++) {
    const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    const port = 1024 + (i % 60000);
    const shape = i % 4;
    if (shape <= 1) lines.push(`-A INPUT -s ${address} -p tcp -m tcp --dport ${port} -j DROP`);
    else if (shape === 2) lines.push(`-A INPUT -d ${address} -j DROP`);
    else lines.push(`-A INPUT -p udp -m udp --dport ${port} -j ACCEPT`);
  }
  lines.push('-A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset', 'COMMIT', '');
  return lines.join('\n');
}

const ms = (x: number) => `${x.toFixed(0)} ms`;
const rate = (rules: number, x: number) => `${Math.round((rules / x) * 1000)} rules/s`;

function report(title: string, m: Measured): string[] {
  return [
    title,
    `  rules read: ${m.cold.rules}${m.cold.errors ? ' (some rules refused with diagnostics)' : ''}`,
    `  cold (first run): ${ms(m.cold.ms)} wall, ${ms(m.cold.cpuMs)} CPU, ${rate(m.cold.rules, m.cold.ms)}`,
    `  warm (median of ${runs - 1}): ${ms(m.warm.ms)} wall, ${ms(m.warm.cpuMs)} CPU, ${rate(m.cold.rules, m.warm.ms)}`,
    `  target: < ${TARGET_MS} ms: ${m.cold.ms < TARGET_MS ? 'met' : 'MISSED'} cold, ${m.warm.ms < TARGET_MS ? 'met' : 'MISSED'} warm`,
  ];
}

function corpusPart(): string[] {
  const corpus = resolve(positional[0] ?? join(repoRoot(), '..', 'shared', 'corpus', 'real'));
  if (!existsSync(corpus)) return [`corpus: directory ${corpus} not found, skipped`];
  const largest: Input[] = readdirSync(corpus)
    .filter((f) => f.endsWith('.rules') || f.endsWith('.sh'))
    .map((f) => ({ f, size: statSync(join(corpus, f)).size }))
    .sort((a, b) => b.size - a.size)
    .slice(0, 3)
    .map(({ f }) => ({ file: f, text: readFileSync(join(corpus, f), 'utf8') }));
  const lines = largest.reduce((n, { text }) => n + text.split('\n').length, 0);
  return report(`corpus: ${largest.map((l) => l.file).join(', ')} (${lines} lines)`, measure(largest));
}

function generatedPart(): string[] {
  const out: string[] = [];
  for (const n of GENERATED_SIZES) {
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--rules', String(n), '--runs', String(runs)], { encoding: 'utf8' });
    if (child.status !== 0) {
      out.push(`generated ${n} rules: failed: ${child.stderr.trim()}`);
      continue;
    }
    out.push(...report(`generated: ${n} rules (iptables-save, npm run bench's shape)`, JSON.parse(child.stdout) as Measured));
  }
  return out;
}

const rulesArg = option(args, '--rules');
if (rulesArg !== undefined) {
  const n = Number(rulesArg);
  process.stdout.write(`${JSON.stringify(measure([{ file: `generated-${n}.rules`, text: generatedRules(n) }]))}\n`);
} else {
  const out: string[] = [`start-up (node + loading the front end): ${ms(STARTUP_MS)}`];
  if (only !== 'generated') out.push(...corpusPart());
  if (only !== 'corpus') out.push(...generatedPart());
  process.stdout.write(`${out.join('\n')}\n`);
}
