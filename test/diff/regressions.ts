/**
 * Saved differential cases (test/regressions/*.json), replayed forever by
 * test/diff-regressions.test.ts. A case is self-contained: both rules files as text, the
 * frames in hex, and what is expected of them.
 *
 * `status`:
 * - `fixed`: the kernel and rejectc agree on every frame (a divergence that was fixed, or a
 *   case worth keeping); the replay fails if they ever disagree again;
 * - `open`: a divergence not fixed yet (its fix belongs to code outside the differential
 *   suite); the replay asserts the divergence is still there, so that fixing it makes the
 *   test fail until the status is changed to `fixed`.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromHex, toHex } from '../../src/model/index.js';
import type { DiffCase } from './runner.js';
import { repoRoot } from './wire.js';

export interface RegressionFile {
  /** One line: what goes wrong (or went wrong). */
  title: string;
  status: 'fixed' | 'open';
  /** Whose code the fix is in, the kernel function mirrored, how it was found. */
  notes: string;
  /** The rejectc sides the divergence shows on (open cases), e.g. ["tc", "xdp"]. */
  sides?: string[];
  /** Fixed cases: the known differences (test/diff/known.ts) the replay must mask, by name. */
  masked?: string[];
  /** Open cases where a firewall refuses the rules instead: which one. */
  refusedBy?: 'kernel' | 'rejectc';
  /** Server interface names, when the case needs its own (default s0 / s1). */
  interfaces?: { in: string; out: string };
  /** How rejectc compiles the rules (default `fixed`; `natural` as a user's apply does). */
  shape?: 'fixed' | 'natural';
  /** Cases run first, their results ignored: the history the divergence needs. */
  before?: { rules: { ipv4: string; ipv6: string }; stream: RegressionFile['stream'] }[];
  rules: { ipv4: string; ipv6: string };
  /** Frames in hex; `from` per frame when some come from the far side. */
  stream: { label: string; frames: string[]; from?: ('client' | 'far')[] }[];
}

export function regressionsDir(): string {
  return join(repoRoot(), 'test', 'regressions');
}

/** Every saved case, by file name. */
export function loadRegressions(dir = regressionsDir()): { name: string; file: RegressionFile }[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort()
    .map((name) => ({ name, file: JSON.parse(readFileSync(join(dir, name), 'utf8')) as RegressionFile }));
}

export function caseOf(file: Pick<RegressionFile, 'rules' | 'stream'>): DiffCase {
  return { rules: file.rules, stream: file.stream.map((s) => ({ label: s.label, frames: s.frames.map(fromHex), ...(s.from ? { from: s.from } : {}) })) };
}

/** The JSON of a case (written by the fuzz script's `--save`, and by hand for a new regression). */
export function regressionOf(c: DiffCase, meta: Pick<RegressionFile, 'title' | 'status' | 'notes'> & { sides?: string[] }): RegressionFile {
  return { ...meta, rules: c.rules, stream: c.stream.map((s) => ({ label: s.label, frames: s.frames.map(toHex), ...(s.from ? { from: s.from } : {}) })) };
}

export function saveRegression(path: string, file: RegressionFile): void {
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`);
}
