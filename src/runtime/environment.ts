/**
 * Checks of the machine rejectc runs on, each failing with an {@link EnvironmentError}
 * (exit 2) that names the cause in one line and the fix in another.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { EnvironmentError } from '../errors.js';

/** Capability numbers (linux/capability.h). */
export const CAP = { NET_ADMIN: 12, SYS_ADMIN: 21, PERFMON: 38, BPF: 39 } as const;

/** The effective capability set of this process (from /proc/self/status). */
export function effectiveCapabilities(): bigint {
  const status = readFileSync('/proc/self/status', 'utf8');
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

/** True when the effective set holds every capability in `caps`. */
export function hasCapabilities(caps: readonly number[], effective = effectiveCapabilities()): boolean {
  return caps.every((c) => ((effective >> BigInt(c)) & 1n) === 1n);
}

/**
 * Requires what loading and attaching BPF programs needs: CAP_BPF and CAP_NET_ADMIN (root
 * has them; CAP_SYS_ADMIN covers CAP_BPF on older kernels).
 * `what` names the operation for the message, e.g. `rejectc apply`.
 */
export function requireBpfPrivileges(what: string, effective = effectiveCapabilities()): void {
  const bpf = hasCapabilities([CAP.BPF], effective) || hasCapabilities([CAP.SYS_ADMIN], effective);
  const netAdmin = hasCapabilities([CAP.NET_ADMIN], effective);
  if (bpf && netAdmin) return;
  const missing = [bpf ? undefined : 'CAP_BPF', netAdmin ? undefined : 'CAP_NET_ADMIN'].filter(Boolean).join(' and ');
  throw new EnvironmentError(`${what} needs ${missing} to load and attach BPF programs`, 'run it as root (e.g. with sudo)');
}

/**
 * Requires an external program on PATH. `pkg` is the Debian package that provides it.
 * Returns its first line of `--version` output.
 */
export function requireTool(tool: string, pkg: string, why: string): string {
  const res = spawnSync(tool, ['--version'], { encoding: 'utf8' });
  if (res.error || res.status !== 0) {
    throw new EnvironmentError(`${tool} is not installed (needed to ${why})`, `apt-get install ${pkg}, or run "npm run setup"`);
  }
  return (res.stdout.split('\n')[0] ?? '').trim();
}
