/**
 * Building the generated C into a BPF object with clang (`-target bpf -O2 -g`), with the
 * repository's bpf/ directory on the include path (found relative to this module, so it works
 * from src/ under vitest and from dist/ once installed).
 *
 * {@link buildCached} keeps built objects in a per-user cache keyed by the C text without its
 * comments: the generated program depends on the ruleset's shape only, so rulesets of the same
 * shape (and `rejectc run` called again) reuse one object instead of running clang again.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvironmentError } from '../errors.js';

export interface BuildOptions {
  /** Define RJC_TRACE: the program records each decision in rjc_trace and honours rjc_force. */
  trace?: boolean;
}

/** The bpf/ directory with rjc.h, searched upwards from this module. */
export function bpfIncludeDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'bpf', 'rjc.h'))) return join(dir, 'bpf');
    dir = resolve(dir, '..');
  }
  throw new EnvironmentError('cannot find the bpf/ headers (rjc.h) next to the rejectc installation', 'reinstall rejectc; bpf/ must ship with it');
}

const MULTIARCH: Record<string, string> = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

/** The clang command line for one build (without the clang binary). */
export function clangArgs(source: string, output: string, options: BuildOptions = {}): string[] {
  const args = ['-target', 'bpf', '-O2', '-g', '-Wall', '-Wno-unused-function', '-I', bpfIncludeDir()];
  const multiarch = MULTIARCH[process.arch];
  if (multiarch && existsSync(`/usr/include/${multiarch}`)) args.push('-I', `/usr/include/${multiarch}`);
  if (options.trace) args.push('-DRJC_TRACE');
  args.push('-c', source, '-o', output);
  return args;
}

/**
 * Compiles `source` (a .c file) into `output`. Throws {@link EnvironmentError} when clang is
 * missing, and an Error with clang's messages when the C does not compile (a rejectc bug:
 * generated code must always compile).
 */
export function buildObject(source: string, output: string, options: BuildOptions = {}): void {
  const run = spawnSync('clang', clangArgs(source, output, options), { encoding: 'utf8' });
  if (run.error) {
    const code = (run.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new EnvironmentError('clang is not installed', 'apt-get install clang (rejectc builds BPF programs with clang -target bpf)');
    throw new EnvironmentError(`cannot run clang: ${run.error.message}`);
  }
  if (run.status !== 0) {
    throw new Error(`clang failed to compile ${source} (exit ${run.status}):\n${run.stderr}`);
  }
}

/** Removes C comments (not inside string literals: generated code has none with comment markers). */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/[ \t]+$/gm, '');
}

/** The cache directory, per user. */
export function cacheDir(): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return join(tmpdir(), `rejectc-${uid}`, 'objects');
}

let headersDigest: string | undefined;

/** A digest of the bpf/ headers the generated C includes: a changed header is a new build. */
function headersHash(): string {
  if (headersDigest === undefined) {
    const dir = bpfIncludeDir();
    const h = createHash('sha256');
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.h')).sort()) h.update(f).update(readFileSync(join(dir, f)));
    headersDigest = h.digest('hex');
  }
  return headersDigest;
}

/**
 * Builds C text into an object file, reusing a cached build of the same code. Returns the
 * object's path (do not modify it). Concurrent callers may both build; the rename is atomic.
 */
export function buildCached(cText: string, options: BuildOptions = {}): string {
  const key = createHash('sha256')
    .update(withoutComments(cText))
    .update(headersHash())
    .update(JSON.stringify(clangArgs('-', '-', options)))
    .digest('hex')
    .slice(0, 24);
  const dir = cacheDir();
  const object = join(dir, `${key}.o`);
  if (existsSync(object)) return object;
  mkdirSync(dir, { recursive: true });
  const tmp = `${object}.${process.pid}.${Date.now()}`;
  writeFileSync(`${tmp}.c`, cText);
  buildObject(`${tmp}.c`, tmp, options);
  renameSync(tmp, object);
  return object;
}
