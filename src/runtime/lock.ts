/**
 * One lock per interface, so concurrent `rejectc apply`/`detach`/`stats --zero` invocations on
 * the same interface are serialised, never interleaved. It is an `flock(2)` on
 * `/run/rejectc/<scope>/<ifname>.lock` (see ./state.ts for the scope): the kernel releases it
 * when the process exits, so a crashed invocation never leaves the interface locked.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { EnvironmentError } from '../errors.js';
import { errnoName } from './errors.js';
import { lastErrno, libc } from './native.js';
import { stateDirOf } from './state.js';

const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The lock file of interface `ifname` in the calling thread's network namespace. */
export function lockPathOf(ifname: string): string {
  return `${stateDirOf(ifname)}.lock`;
}

/**
 * Runs `fn` holding the exclusive lock of interface `ifname`. Waits up to `timeoutMs`
 * (default 60 s) for another invocation to finish, then throws {@link EnvironmentError}.
 * `fn` may be asynchronous; the lock is held until its promise settles.
 */
export async function withInterfaceLock<T>(ifname: string, fn: () => T | Promise<T>, timeoutMs = 60_000): Promise<T> {
  return withLockFile(lockPathOf(ifname), `the lock of ${ifname}`, fn, timeoutMs);
}

/**
 * Runs `fn` holding the lock of the namespace-wide state of the namespace `anyIfname` is in
 * (the rate-limit slots, src/runtime/rate-slots.ts). Take it after the interface locks.
 */
export async function withNamespaceLock<T>(anyIfname: string, fn: () => T | Promise<T>, timeoutMs = 60_000): Promise<T> {
  return withLockFile(`${dirname(stateDirOf(anyIfname))}/ns:shared.lock`, 'the lock of the namespace\'s shared state', fn, timeoutMs);
}

async function withLockFile<T>(path: string, what: string, fn: () => T | Promise<T>, timeoutMs: number): Promise<T> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fd = openSync(path, 'a', 0o600);
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if ((libc().flock(fd, LOCK_EX | LOCK_NB) as number) === 0) break;
      const errno = lastErrno();
      if (errno !== EWOULDBLOCK) throw new EnvironmentError(`cannot lock ${path}: ${errnoName(errno)}`);
      if (Date.now() > deadline) {
        throw new EnvironmentError(`another rejectc invocation holds ${what} (${path})`, 'wait for it to finish and retry');
      }
      await sleep(20);
    }
    return await fn();
  } finally {
    closeSync(fd); // releases the lock
  }
}
