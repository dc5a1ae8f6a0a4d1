/**
 * Golden REJECT packets (test/fixtures/golden, captured from Linux 6.18 for this project) and
 * the network topology they were captured in (nf-reject.md §11, golden/README.md), rebuilt in
 * throwaway namespaces so that bpf_fib_lookup() and the host configuration the runtime reads
 * answer as the kernel did.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { RejectWith } from '../../src/compiler/ir.js';
import { createNetns, deleteNetns, execArgv, type Netns } from '../support/netns.js';

const root = resolve(import.meta.dirname, '../..');

export interface VolatileRange {
  offset: number;
  len: number;
  field: string;
  /** Hex mask of the bits that vary, when only some do (IPv6 flow label). */
  mask?: string;
}

export interface GoldenCase {
  name: string;
  family: 'ipv4' | 'ipv6';
  rule: string;
  setup?: string[];
  input_hex: string;
  input_hex_all?: string[];
  reply_hex: string | null;
  l2_dst?: string;
  topology: string;
  volatile: VolatileRange[];
  notes: string;
}

/** Every golden case, sorted by name. */
export function loadGoldenCases(): GoldenCase[] {
  const dir = join(root, 'test/fixtures/golden');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== 'index.json')
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as GoldenCase);
}

/** The reject type of the case's REJECT rule (iptables' default when not given). */
export function rejectWithOf(c: GoldenCase): RejectWith {
  const m = /--reject-with (\S+)/.exec(c.rule);
  if (m?.[1]) return m[1] as RejectWith;
  return c.family === 'ipv4' ? 'icmp-port-unreachable' : 'icmp6-port-unreachable';
}

export type TopologyKind = 'direct' | 'forward';

export function topologyOf(c: GoldenCase): TopologyKind {
  return c.topology.startsWith('forward') ? 'forward' : 'direct';
}

/** `bytes` with the volatile bits of `ranges` cleared (for comparing replies). */
export function maskVolatile(bytes: Uint8Array, ranges: readonly VolatileRange[]): Buffer {
  const out = Buffer.from(bytes);
  for (const r of ranges) {
    const mask = r.mask ? Buffer.from(r.mask.padStart(r.len * 2, '0'), 'hex') : Buffer.alloc(r.len, 0xff);
    for (let i = 0; i < r.len && r.offset + i < out.length; i++) out[r.offset + i]! &= ~mask[i]! & 0xff;
  }
  return out;
}

export const SENDER_MAC = '02:00:00:00:00:01';
export const REPLIER_MAC = '02:00:00:00:00:02';
export const TARGET_MAC = '02:00:00:00:00:03';

export function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((x) => parseInt(x, 16)));
}

/** An Ethernet frame carrying the IP packet `ipHex` from the sender to `dst`. */
export function frameOf(ipHex: string, family: 'ipv4' | 'ipv6', dst = REPLIER_MAC): Buffer {
  const eth = Buffer.concat([macBytes(dst), macBytes(SENDER_MAC), Buffer.from(family === 'ipv4' ? [0x08, 0x00] : [0x86, 0xdd])]);
  return Buffer.concat([eth, Buffer.from(ipHex, 'hex')]);
}

/**
 * The host that replied in the capture, in a fresh namespace, with its peers:
 * - direct: sender 192.0.2.1/24, 2001:db8::1/64 (`vA`) — replier 192.0.2.2/24, 2001:db8::2/64
 *   (`vB`, the device the golden setups name);
 * - forward: sender 198.51.100.1/25, 2001:db8:a::1/64 — router 198.51.100.126/25 and .129/25,
 *   2001:db8:a::fe/64 and 2001:db8:c::fe/64 (forwarding on) — target 198.51.100.130/25,
 *   2001:db8:c::1/64.
 * Static neighbours, as in the capture. `ns` is the replying host; `ifname` its device
 * towards the sender, where the program runs.
 */
export interface GoldenHost {
  kind: TopologyKind;
  ns: Netns;
  ifname: string;
  cleanup(): void;
}

export function createGoldenHost(kind: TopologyKind, setup: readonly string[] = []): GoldenHost {
  const made: Netns[] = [];
  const newNs = (tag: string) => {
    const ns = createNetns(`rjc${process.pid % 100000}${tag}${(counter++).toString(36)}`);
    made.push(ns);
    return ns;
  };
  const cleanup = () => made.forEach(deleteNetns);
  try {
    const sender = newNs('s');
    const host = newNs('h');
    const ip = (ns: Netns, ...args: string[]) => execArgv(['ip', '-n', ns.name, ...args]);
    const link = (a: Netns, ifA: string, macA: string, b: Netns, ifB: string, macB: string) => {
      ip(a, 'link', 'add', ifA, 'address', macA, 'type', 'veth', 'peer', 'name', ifB, 'address', macB, 'netns', b.name);
      ip(a, 'link', 'set', ifA, 'up');
      ip(b, 'link', 'set', ifB, 'up');
    };
    const addr = (ns: Netns, dev: string, v4: string, v6: string) => {
      ip(ns, 'addr', 'add', v4, 'dev', dev);
      ip(ns, 'addr', 'add', v6, 'dev', dev, 'nodad');
    };
    const neigh = (ns: Netns, dev: string, addrs: string[], mac: string) => {
      for (const a of addrs) ip(ns, 'neigh', 'replace', a, 'lladdr', mac, 'dev', dev, 'nud', 'permanent');
    };
    let ifname: string;
    if (kind === 'direct') {
      link(sender, 'vA', SENDER_MAC, host, 'vB', REPLIER_MAC);
      addr(sender, 'vA', '192.0.2.1/24', '2001:db8::1/64');
      addr(host, 'vB', '192.0.2.2/24', '2001:db8::2/64');
      neigh(host, 'vB', ['192.0.2.1', '2001:db8::1'], SENDER_MAC);
      neigh(sender, 'vA', ['192.0.2.2', '2001:db8::2'], REPLIER_MAC);
      ifname = 'vB';
    } else {
      const target = newNs('t');
      link(sender, 'vS', SENDER_MAC, host, 'rS', REPLIER_MAC);
      link(host, 'rC', '02:00:00:00:00:04', target, 'vC', TARGET_MAC);
      addr(sender, 'vS', '198.51.100.1/25', '2001:db8:a::1/64');
      addr(host, 'rS', '198.51.100.126/25', '2001:db8:a::fe/64');
      addr(host, 'rC', '198.51.100.129/25', '2001:db8:c::fe/64');
      addr(target, 'vC', '198.51.100.130/25', '2001:db8:c::1/64');
      ip(sender, 'route', 'add', 'default', 'via', '198.51.100.126');
      ip(sender, '-6', 'route', 'add', 'default', 'via', '2001:db8:a::fe');
      ip(target, 'route', 'add', 'default', 'via', '198.51.100.129');
      ip(target, '-6', 'route', 'add', 'default', 'via', '2001:db8:c::fe');
      host.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
      neigh(host, 'rS', ['198.51.100.1', '2001:db8:a::1'], SENDER_MAC);
      neigh(host, 'rC', ['198.51.100.130', '2001:db8:c::1'], TARGET_MAC);
      ifname = 'rS';
    }
    for (const cmd of setup) host.sh(cmd);
    return { kind, ns: host, ifname, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}
let counter = 0;

/**
 * Compiles test/bpf/harness.bpf.c for a flavour (once per process and set of defines) and
 * returns the object's path. `defines` are extra macros, e.g. the negative controls
 * RJC_TEST_NO_PULL / RJC_TEST_NO_PARTIAL_SEED.
 */
export function buildHarness(flavor: 'tc' | 'xdp', defines: readonly string[] = []): string {
  const dir = join(tmpdir(), `rjc-harness-${process.pid}`);
  if (built.size === 0) process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `harness-${flavor}${defines.map((d) => `-${d.replace(/\W/g, '_')}`).join('')}.bpf.o`);
  if (!built.has(out)) {
    execFileSync('clang', [
      '-target', 'bpf', '-O2', '-g', '-Wall', '-Werror',
      `-DRJC_FLAVOR_${flavor.toUpperCase()}`,
      ...defines.map((d) => `-D${d}`),
      '-I', join(root, 'bpf'),
      '-c', join(root, 'test/bpf/harness.bpf.c'),
      '-o', out,
    ]);
    built.add(out);
  }
  return out;
}
const built = new Set<string>();

/** A readable diff of two IP packets: the byte offsets that differ, in hex. */
export function describeDiff(got: Uint8Array, want: Uint8Array): string {
  const lines: string[] = [];
  if (got.length !== want.length) lines.push(`length ${got.length} != expected ${want.length}`);
  for (let i = 0; i < Math.max(got.length, want.length) && lines.length < 12; i++) {
    if (got[i] !== want[i]) lines.push(`  byte ${i}: got ${got[i]?.toString(16) ?? '--'} want ${want[i]?.toString(16) ?? '--'}`);
  }
  return `${lines.join('\n')}\n  got  ${Buffer.from(got).toString('hex')}\n  want ${Buffer.from(want).toString('hex')}`;
}
