/**
 * Throwaway network namespaces for kernel tests, with guaranteed cleanup.
 *
 * Rules this helper enforces (other engineers run tests on this machine at the same time):
 * - every namespace is named `rjc<pid % 100000><tag>` plus a per-process counter, so two
 *   processes (or two tests in one process) never collide;
 * - interfaces are created directly inside the namespaces (`ip -n`), never in the root one;
 * - only documentation addresses are used (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
 *   2001:db8::/32);
 * - {@link withPair}/{@link withRouted} delete everything in `finally`, and exit and signal
 *   hooks delete whatever a crashed or killed test run left behind.
 *
 * Typical use:
 *
 *     await withPair(async (p) => {
 *       p.b.exec(['ip', 'addr']);                       // a command inside namespace b
 *       p.a.run(() => attachTc(prog, { ifindex: p.a.ifindex(p.ifA), ... }));  // in-process
 *     });
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { findIfindex, withNetns, withNetnsAsync } from '../../src/runtime/netns.js';

const created = new Set<string>();
let counter = 0;
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const cleanupAll = () => {
    for (const name of [...created]) deleteNetns(name);
  };
  process.on('exit', cleanupAll);
  // 'exit' does not run when a signal ends the process (a killed test run): clean up, then die
  // of the same signal as if no handler were installed.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      cleanupAll();
      process.kill(process.pid, signal);
    });
  }
}

/** A unique, short name prefix for this process: `rjc<pid % 100000>`. */
export function processPrefix(): string {
  return `rjc${process.pid % 100000}`;
}

/** A fresh unique name `rjc<pid><tag><n>` (at most 15 characters when `tag` ≤ 3 chars). */
export function uniqueName(tag = ''): string {
  counter += 1;
  const name = `${processPrefix()}${tag}${counter.toString(36)}`;
  if (name.length > 15) throw new RangeError(`namespace name "${name}" is longer than 15 characters; use a shorter tag`);
  return name;
}

/** Result of a command run inside a namespace. */
export interface ExecResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link Netns.exec}. */
export interface ExecOptions {
  /** Do not throw on a non-zero exit status. */
  allowFail?: boolean;
  /** Text for standard input. */
  input?: string;
  /** Milliseconds before the command is killed (default 30 s). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Runs `argv` (no shell) and returns its output; throws on failure unless `allowFail`. */
export function execArgv(argv: readonly string[], options: ExecOptions = {}): ExecResult {
  const [cmd, ...args] = argv;
  if (!cmd) throw new TypeError('execArgv: empty command');
  const res = spawnSync(cmd, args, {
    encoding: 'utf8',
    input: options.input,
    timeout: options.timeoutMs ?? 30_000,
    env: options.env ?? process.env,
    maxBuffer: 64 << 20,
  });
  const out = { status: res.status ?? -1, stdout: res.stdout ?? '', stderr: res.stderr ?? (res.error?.message ?? '') };
  if (!options.allowFail && (res.error || out.status !== 0)) {
    throw new Error(`command failed (${out.status}): ${argv.join(' ')}\n${out.stderr}${out.stdout}`);
  }
  return out;
}

/** A network namespace created by this helper. */
export class Netns {
  constructor(readonly name: string) {}

  /** Runs a command inside the namespace (`ip netns exec`). */
  exec(argv: readonly string[], options: ExecOptions = {}): ExecResult {
    return execArgv(['ip', 'netns', 'exec', this.name, ...argv], options);
  }

  /** Runs a shell command line inside the namespace (`sh -c`). */
  sh(script: string, options: ExecOptions = {}): ExecResult {
    return this.exec(['sh', '-c', script], options);
  }

  /** Starts a long-running command inside the namespace; kill it yourself (see {@link stop}). */
  spawn(argv: readonly string[]): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.name, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /**
   * Runs a synchronous function with this process's main thread inside the namespace
   * (setns), e.g. for in-process libbpf attach calls. See src/runtime/netns.ts.
   */
  run<T>(fn: () => T): T {
    return withNetns(this.name, fn);
  }

  /**
   * Like {@link run} for an asynchronous function: the main thread stays in the namespace
   * until the promise settles (see withNetnsAsync in src/runtime/netns.ts).
   */
  runAsync<T>(fn: () => Promise<T>): Promise<T> {
    return withNetnsAsync(this.name, fn);
  }

  /** The index of interface `ifname` in this namespace. */
  ifindex(ifname: string): number {
    const index = this.run(() => findIfindex(ifname));
    if (index === undefined) throw new Error(`no interface ${ifname} in ${this.name}`);
    return index;
  }
}

/** Creates a namespace with `lo` up. Prefer {@link withPair}/{@link withRouted}. */
export function createNetns(name = uniqueName()): Netns {
  installExitHook();
  execArgv(['ip', 'netns', 'add', name]);
  created.add(name);
  execArgv(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
  return new Netns(name);
}

/**
 * Deletes a namespace created by this helper (idempotent, never throws), with whatever
 * rejectc kept for it (pins under /sys/fs/bpf/rejectc/netns:<name>, state and locks under
 * /run/rejectc/netns:<name>).
 */
export function deleteNetns(ns: Netns | string): void {
  const name = typeof ns === 'string' ? ns : ns.name;
  spawnSync('ip', ['netns', 'del', name]);
  created.delete(name);
  for (const dir of [`/sys/fs/bpf/rejectc/netns:${name}`, `/run/rejectc/netns:${name}`]) rmSync(dir, { recursive: true, force: true });
}

/** Kills a process started with {@link Netns.spawn} and waits for it (at most 2 s). */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await done;
  clearTimeout(timer);
}

/** Addresses of one side of a link. */
export interface LinkEnd {
  ns: Netns;
  ifname: string;
  ipv4: string;
  ipv6: string;
}

/** Two namespaces joined by a veth pair: a (192.0.2.1, 2001:db8::1) — b (.2, ::2), /24 and /64. */
export interface Pair {
  a: Netns;
  b: Netns;
  /** Interface names in a and b. */
  ifA: string;
  ifB: string;
  endA: LinkEnd;
  endB: LinkEnd;
  /** Deletes both namespaces (the veth goes with them). Idempotent. */
  cleanup(): void;
}

function addVeth(a: Netns, ifA: string, b: Netns, ifB: string): void {
  execArgv(['ip', '-n', a.name, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', b.name]);
}

function addAddresses(end: LinkEnd, v4Prefix: number, v6Prefix: number): void {
  const n = end.ns.name;
  execArgv(['ip', '-n', n, 'addr', 'add', `${end.ipv4}/${v4Prefix}`, 'dev', end.ifname]);
  execArgv(['ip', '-n', n, 'addr', 'add', `${end.ipv6}/${v6Prefix}`, 'dev', end.ifname, 'nodad']);
  execArgv(['ip', '-n', n, 'link', 'set', end.ifname, 'up']);
}

/** Options of {@link createPair}. */
export interface PairOptions {
  /** Up to 3 characters in the namespace names, for debugging. */
  tag?: string;
  /** Offload features to turn off on both ends with `ethtool -K` (e.g. `tx-checksumming`). */
  ethtoolOff?: readonly string[];
}

/**
 * Runs `build` with a factory of fresh namespaces; if it throws, deletes what it made.
 * The result gets a `cleanup()` that deletes them all.
 */
function buildTopology<T extends object>(tag: string, build: (newNs: () => Netns) => T): T & { cleanup(): void } {
  const made: Netns[] = [];
  const cleanup = () => made.forEach(deleteNetns);
  try {
    const result = build(() => {
      const ns = createNetns(uniqueName(tag));
      made.push(ns);
      return ns;
    });
    return { ...result, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** Runs `fn` on a topology and cleans it up afterwards, also on failure. */
async function withTopology<T, R>(topo: T & { cleanup(): void }, fn: (topo: T & { cleanup(): void }) => R | Promise<R>): Promise<R> {
  try {
    return await fn(topo);
  } finally {
    topo.cleanup();
  }
}

/** Creates a {@link Pair}. Prefer {@link withPair}, which always cleans up. */
export function createPair(options: PairOptions = {}): Pair {
  return buildTopology(options.tag ?? '', (newNs) => {
    const a = newNs();
    const b = newNs();
    const ifA = 'veth-a';
    const ifB = 'veth-b';
    addVeth(a, ifA, b, ifB);
    const endA: LinkEnd = { ns: a, ifname: ifA, ipv4: '192.0.2.1', ipv6: '2001:db8::1' };
    const endB: LinkEnd = { ns: b, ifname: ifB, ipv4: '192.0.2.2', ipv6: '2001:db8::2' };
    addAddresses(endA, 24, 64);
    addAddresses(endB, 24, 64);
    for (const feature of options.ethtoolOff ?? []) {
      a.exec(['ethtool', '-K', ifA, feature, 'off'], { allowFail: true });
      b.exec(['ethtool', '-K', ifB, feature, 'off'], { allowFail: true });
    }
    return { a, b, ifA, ifB, endA, endB };
  });
}

/** Runs `fn` with a fresh {@link Pair} and deletes it afterwards, also on failure. */
export async function withPair<T>(fn: (pair: Pair) => T | Promise<T>, options: PairOptions = {}): Promise<T> {
  return withTopology(createPair(options), fn);
}

/**
 * Three namespaces: client — router — server, for FORWARD tests. The router forwards IPv4
 * and IPv6 between 192.0.2.0/24 / 2001:db8:1::/64 (client side, router .1, client .2) and
 * 198.51.100.0/24 / 2001:db8:2::/64 (server side, router .1, server .2).
 */
export interface Routed {
  client: Netns;
  router: Netns;
  server: Netns;
  /** Router-side interface towards the client, and towards the server. */
  routerIn: LinkEnd;
  routerOut: LinkEnd;
  clientEnd: LinkEnd;
  serverEnd: LinkEnd;
  cleanup(): void;
}

/** Creates a {@link Routed} topology. Prefer {@link withRouted}. */
export function createRouted(options: { tag?: string } = {}): Routed {
  return buildTopology(options.tag ?? '', (newNs) => {
    const client = newNs();
    const router = newNs();
    const server = newNs();
    addVeth(client, 'c0', router, 'r0');
    addVeth(router, 'r1', server, 's0');
    const clientEnd: LinkEnd = { ns: client, ifname: 'c0', ipv4: '192.0.2.2', ipv6: '2001:db8:1::2' };
    const routerIn: LinkEnd = { ns: router, ifname: 'r0', ipv4: '192.0.2.1', ipv6: '2001:db8:1::1' };
    const routerOut: LinkEnd = { ns: router, ifname: 'r1', ipv4: '198.51.100.1', ipv6: '2001:db8:2::1' };
    const serverEnd: LinkEnd = { ns: server, ifname: 's0', ipv4: '198.51.100.2', ipv6: '2001:db8:2::2' };
    for (const end of [clientEnd, routerIn, routerOut, serverEnd]) addAddresses(end, 24, 64);
    router.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    client.exec(['ip', 'route', 'add', 'default', 'via', routerIn.ipv4]);
    client.exec(['ip', '-6', 'route', 'add', 'default', 'via', routerIn.ipv6]);
    server.exec(['ip', 'route', 'add', 'default', 'via', routerOut.ipv4]);
    server.exec(['ip', '-6', 'route', 'add', 'default', 'via', routerOut.ipv6]);
    return { client, router, server, routerIn, routerOut, clientEnd, serverEnd };
  });
}

/** Runs `fn` with a fresh {@link Routed} topology and deletes it afterwards, also on failure. */
export async function withRouted<T>(fn: (topo: Routed) => T | Promise<T>, options: { tag?: string } = {}): Promise<T> {
  return withTopology(createRouted(options), fn);
}

/** True when the process may create namespaces and load BPF (tests that need it skip otherwise). */
export function canUseKernel(): boolean {
  return process.getuid?.() === 0;
}
