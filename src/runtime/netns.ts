/**
 * Network interfaces and network namespaces as seen by the calling thread.
 *
 * Netlink attach calls (tc, XDP) and `if_nametoindex` act in the network namespace of the
 * calling thread. {@link withNetns} switches the main thread into a named namespace for the
 * duration of a synchronous function (`setns(2)` on a network namespace is allowed in a
 * multi-threaded process and affects only the calling thread); this is how tests and
 * `rejectc demo` drive several namespaces from one process. Asynchronous work started inside
 * would run on other threads, in the original namespace, so the function must be synchronous.
 */
import { closeSync, openSync, readdirSync, statSync } from 'node:fs';
import { EnvironmentError } from '../errors.js';
import { lastErrno, libc } from './native.js';
import { errnoName } from './errors.js';

const CLONE_NEWNET = 0x40000000;
/** The inode of the initial network namespace (PROC_NET_INIT_INO, fixed since Linux 6.x). */
const PROC_NET_INIT_INO = 0xeffffff9;
/** Where `ip netns add` keeps its namespace handles. */
export const NETNS_RUN_DIR = '/run/netns';

/** The index of interface `name` in the caller's namespace, or undefined if there is none. */
export function findIfindex(name: string): number | undefined {
  if (typeof name !== 'string' || name.length === 0 || name.length > 15 || /[/:\s]/.test(name)) return undefined;
  const index = libc().if_nametoindex(name) as number;
  return index > 0 ? index : undefined;
}

/**
 * The index of interface `name`. Throws {@link EnvironmentError} (exit 2) with a fix when the
 * interface does not exist in this network namespace.
 */
export function ifindexOf(name: string): number {
  const index = findIfindex(name);
  if (index === undefined) {
    throw new EnvironmentError(`interface "${name}" does not exist${describeNetns()}`, 'check the name with "ip link" (and the network namespace you run in)');
  }
  return index;
}

/** Identity of the calling thread's network namespace: its inode, and its `ip netns` name. */
export interface NetnsId {
  inode: number;
  /** The `ip netns` name (a file in /run/netns with the same inode), when it has one. */
  name?: string;
  /** True for the initial network namespace (that of pid 1). */
  initial: boolean;
}

/** The calling thread's network namespace. */
export function currentNetns(): NetnsId {
  const inode = statSync('/proc/thread-self/ns/net').ino;
  let initial = inode === PROC_NET_INIT_INO;
  if (!initial) {
    try {
      initial = statSync('/proc/1/ns/net').ino === inode;
    } catch {
      // pid 1 is not inspectable (sandboxes): an older kernel's initial namespace then gets
      // an inode-named pin directory, which is still unique and stable.
    }
  }
  let name: string | undefined;
  if (!initial) {
    try {
      name = readdirSync(NETNS_RUN_DIR).find((n) => {
        try {
          return statSync(`${NETNS_RUN_DIR}/${n}`).ino === inode;
        } catch {
          return false;
        }
      });
    } catch {
      // no /run/netns: anonymous namespace
    }
  }
  return name === undefined ? { inode, initial } : { inode, name, initial };
}

/**
 * The path component that makes interface names unique across namespaces: '' for the
 * initial network namespace, else `netns:<name>` (or `netns:ino<inode>` for an unnamed one).
 * `:` cannot occur in an interface name, so the two never collide.
 */
export function netnsScope(ns: NetnsId = currentNetns()): string {
  return ns.initial ? '' : `netns:${ns.name ?? `ino${ns.inode}`}`;
}

/** Throws a RangeError unless `ifname` is a valid Linux interface name. */
export function checkIfname(ifname: string): void {
  if (typeof ifname !== 'string' || !/^[^/:\s]{1,15}$/.test(ifname)) throw new RangeError(`invalid interface name "${ifname}"`);
}

function describeNetns(): string {
  const ns = currentNetns();
  if (ns.initial) return '';
  return ns.name ? ` in network namespace "${ns.name}"` : ` in network namespace ${ns.inode}`;
}

/** Opens the namespace `name` and the caller's own, for entering and coming back. */
function openNamespaces(name: string): { target: number; home: number; close: () => void } {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new TypeError(`invalid network namespace name "${name}"`);
  let target: number;
  try {
    target = openSync(`${NETNS_RUN_DIR}/${name}`, 'r');
  } catch {
    throw new EnvironmentError(`network namespace "${name}" does not exist`, 'create it with "ip netns add"');
  }
  const home = openSync('/proc/thread-self/ns/net', 'r');
  return {
    target,
    home,
    close: () => {
      closeSync(target);
      closeSync(home);
    },
  };
}

/**
 * Runs `fn` with the calling (main) thread inside the `ip netns` namespace `name`, then
 * switches back, also when `fn` throws. `fn` must be synchronous (a returned promise is
 * refused). Throws {@link EnvironmentError} when the namespace does not exist.
 */
export function withNetns<T>(name: string, fn: () => T): T {
  const ns = openNamespaces(name);
  try {
    enter(ns.target, name);
    try {
      const result = fn();
      if (result instanceof Promise) throw new TypeError('withNetns: the function must be synchronous');
      return result;
    } finally {
      enter(ns.home, 'the original namespace');
    }
  } finally {
    ns.close();
  }
}

/**
 * Like {@link withNetns} for an asynchronous function: the main thread stays in namespace
 * `name` until the promise settles, so everything else the main thread runs meanwhile runs
 * there too. Work libuv hands to its thread pool (asynchronous fs, dns) stays in the
 * original namespace. Meant for tests and `rejectc demo`, which run nothing else meanwhile.
 */
export async function withNetnsAsync<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const ns = openNamespaces(name);
  try {
    enter(ns.target, name);
    try {
      return await fn();
    } finally {
      enter(ns.home, 'the original namespace');
    }
  } finally {
    ns.close();
  }
}

function enter(fd: number, what: string): void {
  if ((libc().setns(fd, CLONE_NEWNET) as number) !== 0) {
    throw new EnvironmentError(`cannot enter network namespace ${what}: ${errnoName(lastErrno())}`, 'run as root (CAP_SYS_ADMIN is needed to change namespaces)');
  }
}
