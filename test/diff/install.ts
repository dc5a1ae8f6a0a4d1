/**
 * Puts one ruleset (an IPv4 and an IPv6 iptables-save text) on every side of a topology:
 * - kernel: `iptables-legacy-restore` / `ip6tables-legacy-restore` in the server namespace
 *   (legacy, because rejectc follows iptables-legacy where the back ends differ:
 *   nf-reject.md §12); only the filter table is replaced, the observer in `security` stays;
 * - tc / xdp: `rejectc apply` on both server interfaces, run in-process (the command's own
 *   function, exactly as the CLI calls it, minus the Node start-up) with the reply budget
 *   lifted (`--reply-limit off`), as the kernel side has ICMP rate limiting off. XDP runs in
 *   generic mode and only for rulesets without OUTPUT rules (rejectc refuses them: E402).
 *
 * Compiling for speed (`shape: 'fixed'`): the rules are compiled with one large fixed
 * minimum shape and applied as a compile directory; every ruleset then runs on the same
 * program (clang's cache hits, since only comments differ) and `apply` replaces the rules by
 * a generation flip. `shape: 'natural'` applies the rules files directly, as a user does
 * (a new program whenever the shape changes).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import applyCommand, { parseRulesFiles, type ApplyCommandOptions } from '../../src/commands/apply.js';
import type { MinimumShape } from '../../src/compiler/classify/shape.js';
import { compile } from '../../src/compiler/compile.js';
import { hasErrors } from '../../src/compiler/diagnostics.js';
import { parseRuleset } from '../../src/compiler/frontend.js';
import { COMPILED_FILES } from '../../src/runtime/manifest.js';
import { readSource } from '../../src/input.js';
import type { Netns } from '../support/netns.js';
import type { DiffTopology, Side, SideKind } from './topology.js';

/** One ruleset under test: the two files iptables-save would write. */
export interface RulesPair {
  ipv4: string;
  ipv6: string;
  /**
   * The sets `-m set` rules name, as `ipset save` writes them: `ipset -exist restore` on the
   * kernel side before its rules, `rejectc apply --ipset` on the others.
   */
  ipset?: string;
}

export type ShapeMode = 'fixed' | 'natural';

/** Twice what 400 generated rulesets needed at most (slots 512, checks 64, classes and level-2
 * entries 64 per field); corpus files use their natural shape. */
export const FIXED_SHAPE: MinimumShape = { allFields: true, slots: 1024, counters: 256, checks: 256, checksPerSlot: 8, classes: 64, level2: 256, stage1: 64 };

/** Paths of a {@link RulesPair} written out by {@link Workdir.writeRules}. */
export interface RulesFiles {
  ipv4: string;
  ipv6: string;
  ipset?: string;
}

/** Why a side does not take part in a case. */
export type Skip = { side: SideKind; reason: string };

/** A temporary directory that holds the rules files (and compile directories) of a run. */
export class Workdir {
  readonly path = mkdtempSync(join(tmpdir(), 'rjc-diff-'));
  private n = 0;

  /** Writes the pair as `<n>.ipv4.rules` / `<n>.ipv6.rules` (and its sets as `<n>.ipset`); returns the paths. */
  writeRules(rules: RulesPair): RulesFiles {
    this.n += 1;
    const files: RulesFiles = { ipv4: join(this.path, `case${this.n}.ipv4.rules`), ipv6: join(this.path, `case${this.n}.ipv6.rules`) };
    writeFileSync(files.ipv4, rules.ipv4);
    writeFileSync(files.ipv6, rules.ipv6);
    if (rules.ipset !== undefined) {
      files.ipset = join(this.path, `case${this.n}.ipset`);
      writeFileSync(files.ipset, rules.ipset);
    }
    return files;
  }

  /** A fresh subdirectory. */
  dir(name: string): string {
    this.n += 1;
    const d = join(this.path, `${name}${this.n}`);
    mkdirSync(d, { recursive: true });
    return d;
  }

  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

/**
 * The kernel side: creates the sets (created or added to when they exist: a set the rules
 * reference cannot be destroyed), then restores the filter tables; throws with ipset's or
 * iptables' message on refusal.
 */
export function installKernel(server: Netns, rules: RulesPair): void {
  if (rules.ipset !== undefined) server.exec(['ipset', '-exist', 'restore'], { input: rules.ipset });
  server.exec(['iptables-legacy-restore'], { input: rules.ipv4 });
  server.exec(['ip6tables-legacy-restore'], { input: rules.ipv6 });
}

/** Output of a command function run in-process. */
interface Captured<T> {
  result: T;
  stdout: string;
  stderr: string;
}

/** Runs `fn` with process.stdout/stderr writes captured (the apply command prints progress). */
async function captureOutput<T>(fn: () => Promise<T>): Promise<Captured<T>> {
  const out = { stdout: '', stderr: '' };
  const original = { stdout: process.stdout.write, stderr: process.stderr.write };
  const hook = (key: 'stdout' | 'stderr') =>
    ((chunk: string | Uint8Array) => {
      out[key] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = hook('stdout');
  process.stderr.write = hook('stderr');
  try {
    const result = await fn();
    return { result, ...out };
  } finally {
    process.stdout.write = original.stdout;
    process.stderr.write = original.stderr;
  }
}

/**
 * A compile directory for the pair, compiled with {@link FIXED_SHAPE} (what `rejectc compile
 * -o` writes, minus the object: apply builds it through clang's cache). Throws when the
 * compiler refuses the rules (the caller decides whether that is expected).
 */
function compileFixed(work: Workdir, files: { ipv4: string; ipv6: string }, hook: 'tc' | 'xdp'): string {
  const parsed = parseRulesFiles([readSource(files.ipv4), readSource(files.ipv6)]);
  if (hasErrors(parsed.diagnostics)) throw new Error(`rejectc refused the rules:\n${parsed.diagnostics.map((d) => `${d.span.file}:${d.span.start.line}: ${d.code} ${d.message}`).join('\n')}`);
  const result = compile(parsed.ruleset, { hook, minimumShape: FIXED_SHAPE });
  if (!result.artifacts) throw new Error(`rejectc could not compile the rules:\n${result.diagnostics.map((d) => `${d.span.file}:${d.span.start.line}: ${d.code} ${d.message}`).join('\n')}`);
  const dir = work.dir(hook);
  writeFileSync(join(dir, COMPILED_FILES.c), result.artifacts.c);
  writeFileSync(join(dir, COMPILED_FILES.maps), `${JSON.stringify(result.artifacts.maps)}\n`);
  return dir;
}

/** Does the pair filter OUTPUT (which XDP cannot: rejectc refuses it with E402)? */
export function filtersOutput(rules: RulesPair): boolean {
  return (['ipv4', 'ipv6'] as const).some((family) => {
    const f = parseRuleset(rules[family], `${family}.rules`, { family }).ruleset.families.find((x) => x.family === family);
    const output = f?.tables.find((t) => t.name === 'filter')?.chains.find((c) => c.name === 'OUTPUT');
    return output !== undefined && (output.rules.length > 0 || output.policy?.verdict === 'DROP');
  });
}

/** A rejectc side: `rejectc apply` in the server namespace. Throws with its output on failure. */
export async function installRejectc(side: Side, work: Workdir, files: RulesFiles, devs: readonly string[], shape: ShapeMode): Promise<void> {
  const hook: 'tc' | 'xdp' = side.kind === 'xdp' ? 'xdp' : 'tc';
  const inputs = shape === 'fixed' ? [compileFixed(work, files, hook)] : [files.ipv4, files.ipv6];
  const options: ApplyCommandOptions = { dev: devs.join(','), hook, replyLimit: 'off', ...(hook === 'xdp' ? { xdpMode: 'generic' as const } : {}), ...(files.ipset ? { ipset: files.ipset } : {}) };
  const run = await side.server.runAsync(() => captureOutput(() => applyCommand(inputs, options)));
  if (run.result !== 0) throw new Error(`rejectc apply (${side.kind}) exited ${run.result}:\n${run.stderr}${run.stdout}`);
}

/**
 * Installs `rules` on every rejectc side; returns the sides left out (XDP with OUTPUT
 * rules), which keep their previous ruleset and must not be compared.
 */
export async function installRejectcSides(topology: DiffTopology, work: Workdir, rules: RulesPair, devs: readonly string[], shape: ShapeMode): Promise<Skip[]> {
  const skipped: Skip[] = [];
  const files = work.writeRules(rules);
  for (const side of topology.sides) {
    if (side.kind === 'kernel') continue;
    if (side.kind === 'xdp' && filtersOutput(rules)) {
      skipped.push({ side: 'xdp', reason: 'OUTPUT rules (XDP has no egress hook)' });
      continue;
    }
    await installRejectc(side, work, files, devs, shape);
  }
  return skipped;
}
