/**
 * Shared machinery of the model-vs-BPF property tests (properties-bpf*.test.ts): a throwaway
 * namespace set up so the program's chain detection and reply path see a known host, a loaded
 * program per hook with a fixed test shape (so every random ruleset replaces the maps of the
 * same program through the generation flip), and the comparison of one packet's outcome.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { compile } from '../src/compiler/compile.js';
import { hasErrors } from '../src/compiler/diagnostics.js';
import type { MinimumShape } from '../src/compiler/classify/shape.js';
import type { MapsJson } from '../src/compiler/emit/manifest.js';
import { parseRuleset } from '../src/compiler/frontend.js';
import type { FilterHook, Ruleset } from '../src/compiler/ir.js';
import { LoadedRuleset, type RunDetail } from '../src/commands/run.js';
import {
  addressBytes,
  broadcastOf,
  equalAddresses,
  inPrefix,
  IPV6_ADDR,
  ipv6AddrType,
  isIpv4LimitedBroadcast,
  isIpv4Loopback,
  isIpv4Multicast,
  isIpv4Zeronet,
  networkOf,
} from '../src/model/address.js';
import { decodeFrame, evaluateRuleset, hookView, type Decision, type ModelEnv } from '../src/model/index.js';
import { readHostConfig, type HostConfig } from '../src/runtime/host-config.js';
import { u32 } from '../src/runtime/map.js';
import { hostRamBytes, rateObjectParams, rateRunConfig } from '../src/runtime/rate-limits.js';
import { recentConfig } from '../src/runtime/recent.js';
import { createNetns, deleteNetns, type Netns } from './support/netns.js';
import { ethernet, icmp, ipv4, ipv6, tcp, truncated, udp, type L4Spec } from './support/packets.js';

/** Large enough for every random ruleset of the property tests: one program per hook. */
export const TEST_SHAPE: MinimumShape = { allFields: true, slots: 8192, counters: 2048, checks: 1024, checksPerSlot: 8, classes: 2048, level2: 16384, stage1: 512 };

/** Addresses of the test host (documentation ranges); everything else is routed out rjd0. */
const SETUP = [
  // Forwarding first (it makes the kernel add subnet-router anycast routes) and no DAD (link-local
  // addresses and their routes exist at once, so the host configuration read below is settled).
  'sysctl -qw net.ipv4.ip_forward=1',
  'sysctl -qw net.ipv6.conf.all.forwarding=1',
  'sysctl -qw net.ipv6.conf.default.forwarding=1',
  'sysctl -qw net.ipv6.conf.all.accept_dad=0',
  'sysctl -qw net.ipv6.conf.default.accept_dad=0',
  // No dummy module here: a veth pair inside the namespace stands in for the uplink. rjd0 gets
  // the MAC the generated frames are sent to (ethernet() in test/support/packets.ts): a frame
  // to another MAC is PACKET_OTHERHOST, which the stack (and rejectc) never filter.
  'ip link add rjd0 address 02:00:00:00:00:02 type veth peer name rjd1',
  'ip link set rjd1 up',
  'ip link set rjd0 up',
  'ip addr add 192.0.2.2/24 dev rjd0',
  'ip addr add 198.51.100.1/25 dev rjd0',
  'ip -6 addr add 2001:db8::2/64 dev rjd0 nodad',
  'ip route add default dev rjd0',
  'ip -6 route add default dev rjd0',
];

export interface TestHost {
  ns: Netns;
  host: HostConfig;
  /** Loaded programs by shape id (nearly always one per hook). */
  programs: Map<string, LoadedRuleset>;
  ifindex: { lo: number; rjd0: number; rjd1: number };
  close(): void;
}

export function setUpHost(tag: string): TestHost {
  const ns = createNetns(undefined);
  try {
    for (const cmd of SETUP) ns.sh(cmd);
    // Wait until both veth ends have their link-local address and its anycast route.
    for (let i = 0; i < 50 && (ns.sh('ip -6 route show table local').stdout.match(/anycast fe80::/g) ?? []).length < 2; i++) ns.sh('sleep 0.1');
    const host = ns.run(() => readHostConfig());
    const programs: TestHost['programs'] = new Map();
    const ifindex = { lo: ns.ifindex('lo'), rjd0: ns.ifindex('rjd0'), rjd1: ns.ifindex('rjd1') };
    return {
      ns,
      host,
      programs,
      ifindex,
      close() {
        for (const p of programs.values()) p.close();
        deleteNetns(ns);
      },
    };
  } catch (err) {
    deleteNetns(ns);
    throw new Error(`${tag}: cannot set up the test host: ${(err as Error).message}`);
  }
}

/** The program for a compiled ruleset's shape, loaded on first use (in the namespace). */
export function programFor(t: TestHost, compiled: { maps: MapsJson; c: string }): LoadedRuleset {
  let p = t.programs.get(compiled.maps.shape.id);
  if (!p) {
    p = t.ns.run(() => LoadedRuleset.load(compiled, t.host));
    t.programs.set(compiled.maps.shape.id, p);
  }
  return p;
}

export interface Compiled {
  ruleset: Ruleset;
  maps: MapsJson;
  c: string;
}

/**
 * For the property tests of matches with state (rate limits, recent): one program built with
 * RJC_LIMIT_TEST_CLOCK (its time is the rjc_test_clock map the test writes), loaded for the
 * first ruleset; every later ruleset (of the same shape) replaces its maps. Each ruleset
 * starts with fresh state, as the model's: its run-time configuration written for the host's
 * HZ, hashlimit flows and recent entries deleted.
 */
export class TestClockProgram {
  private program: LoadedRuleset | undefined;

  constructor(private readonly t: TestHost) {}

  /**
   * The program with `compiled`'s rules and fresh state. Call inside the test namespace. A
   * ruleset of the loaded shape is written by the generation flip; one that outgrew the minimum
   * shape gets a program of its own, as `rejectc apply` does.
   */
  load(compiled: Compiled): LoadedRuleset {
    if (this.program && this.program.maps.shape.id !== compiled.maps.shape.id) this.close();
    if (!this.program) this.program = LoadedRuleset.load({ maps: compiled.maps, c: `#define RJC_LIMIT_TEST_CLOCK\n${compiled.c}` }, this.t.host);
    else this.program.replace(compiled.maps);
    const maps = this.program.obj.maps;
    const config = [...rateRunConfig(rateObjectParams(compiled.maps, this.t.host.hz, hostRamBytes())), ...(maps.has('rjc_recent_cfg') ? recentConfig(this.t.host.hz) : [])];
    for (const { name, entries } of config) for (const e of entries) maps.get(name)!.update(e.key, e.value);
    for (const name of ['rjc_hl_entries', 'rjc_recent']) {
      const map = maps.get(name);
      for (const key of [...(map?.keys() ?? [])]) map!.delete(key);
    }
    return this.program;
  }

  /**
   * Sets the program's clock to `ns` nanoseconds (CLOCK_MONOTONIC), with jiffies at the host's
   * HZ counted from just before a 32-bit wrap (as the kernel starts them). Returns both, for
   * the model's clock.
   */
  setTime(ns: bigint): { ns: bigint; jiffies: bigint } {
    const jiffies = 4_294_667_296n + (ns * BigInt(this.t.host.hz)) / 1_000_000_000n;
    const v = Buffer.alloc(24);
    v.writeBigUInt64LE(ns, 0);
    v.writeBigUInt64LE(jiffies, 8);
    this.program!.obj.maps.get('rjc_test_clock')!.update(u32(0), v);
    return { ns, jiffies };
  }

  /**
   * Runs timed packets through `compiled` (loaded with fresh state) and the model, in the test
   * namespace: each packet `gapMs` after the previous one, its frame from `frameOf` (given the
   * receiving device's MAC), the model's environment from `env` (given the time). Asserts
   * agreement on verdict, deciding rule and counters (replies are not compared: the reply
   * budget's clock is the test's). Returns the packet cases that reached a filter chain.
   */
  runPackets<P extends { gapMs: number; egress: boolean; mark: number }>(
    compiled: Compiled,
    script: string,
    packets: readonly P[],
    frameOf: (p: P, mac: string) => Uint8Array,
    env: (now: { ns: bigint; jiffies: bigint }) => Partial<ModelEnv>,
    tally: Map<string, number>,
  ): number {
    const t = this.t;
    return t.ns.run(() => {
      const p = this.load(compiled);
      const mac = t.host.interfaces.find((i) => i.name === 'rjd0')!.mac;
      let ns = 10n ** 12n;
      let cases = 0;
      for (const pk of packets) {
        ns += BigInt(pk.gapMs) * 1_000_000n;
        const now = this.setTime(ns);
        const frame = frameOf(pk, mac);
        if (!hookView(decodeFrame(frame), { chain: pk.egress ? 'OUTPUT' : 'INPUT' }).ok) continue;
        const pc: PacketCase = { frame, egress: pk.egress, dev: pk.egress ? 'lo' : 'rjd0', mark: pk.mark, env: env(now) };
        const r = bothOutcomes(t, p, compiled, pc);
        if (r.model) r.model.reply = r.bpf.reply = null;
        if (expectAgreement(script, pc, r, 'tc', tally)) cases++;
      }
      return cases;
    });
  }

  close(): void {
    this.program?.close();
    this.program = undefined;
  }
}

/** A timed test's packet between a peer and this host (TestClockProgram.runPackets). */
export interface ClockPacket {
  peer: number;
  egress: boolean;
  proto: string;
  sport: number;
  dport: number;
  /** TTL / hop limit; the packet builders' default when absent. */
  ttl?: number;
  /** Cut the transport header short at this many bytes. */
  cut?: number;
}

/**
 * The frame of a {@link ClockPacket} between `hosts.local` and `hosts.peers[p.peer]`: a TCP SYN,
 * a UDP datagram, or (any other `proto`) an ICMP/ICMPv6 echo request; at ingress addressed to
 * the receiving device's MAC (else it is OTHERHOST, no filter chain).
 */
export function clockFrame(fam: 'ipv4' | 'ipv6', hosts: { local: string; peers: readonly string[] }, p: ClockPacket, mac: string): Uint8Array {
  const peer = hosts.peers[p.peer]!;
  const [src, dst] = p.egress ? [hosts.local, peer] : [peer, hosts.local];
  let l4: L4Spec =
    p.proto === 'tcp' ? tcp({ sport: p.sport, dport: p.dport, flags: 'S' }) : p.proto === 'udp' ? udp({ sport: p.sport, dport: p.dport, payload: [1, 2, 3, 4] }) : icmp({ type: fam === 'ipv4' ? 8 : 128, code: 0, rest: [0, 1, 0, 1] });
  if (p.cut !== undefined) l4 = truncated(l4, p.cut, fam, { src, dst });
  const ip = fam === 'ipv4' ? ipv4({ src, dst, ...(p.ttl === undefined ? {} : { ttl: p.ttl }) }, l4) : ipv6({ src, dst, ...(p.ttl === undefined ? {} : { hopLimit: p.ttl }) }, l4);
  return ethernet(ip, p.egress ? {} : { dst: mac });
}

/**
 * `f`, counting each call's result in `counts` under `key(result, ...args)`: shows which ways a
 * property's matches decided, so a test can assert it exercised them.
 */
export function countCalls<A extends unknown[], R>(f: (...a: A) => R, counts: Map<string, number>, key: (r: R, ...a: A) => string): (...a: A) => R {
  return (...a) => {
    const r = f(...a);
    const k = key(r, ...a);
    counts.set(k, (counts.get(k) ?? 0) + 1);
    return r;
  };
}

/** Parses and compiles a script with the test shape; null if the front end refused it. */
export function compileScript(script: string, hook: 'tc' | 'xdp', minimumShape: MinimumShape = TEST_SHAPE): Compiled | null {
  const parsed = parseRuleset(script, 'rules.txt');
  if (hasErrors(parsed.diagnostics)) return null;
  const r = compile(parsed.ruleset, { hook, minimumShape });
  if (!r.artifacts) throw new Error(`compile refused a valid ruleset:\n${r.diagnostics.map((d) => `${d.span.start.line}: ${d.code} ${d.message}`).join('\n')}\n${script}`);
  return { ruleset: parsed.ruleset, maps: r.artifacts.maps, c: r.artifacts.c };
}

export interface PacketCase {
  frame: Uint8Array;
  /** Ingress (INPUT/FORWARD detected) or egress (OUTPUT). */
  egress: boolean;
  /** Ingress: the veth ends (the loopback device's own rules make it no real ingress); egress: any. */
  dev: 'lo' | 'rjd0' | 'rjd1';
  mark: number;
  /** Extra model environment (e.g. rate-limit state and the time: test/limits-compile.test.ts). */
  env?: Partial<ModelEnv>;
}

function nameOf(t: TestHost, ifindex: number): string {
  return t.host.interfaces.find((i) => i.ifindex === ifindex)?.name ?? '';
}

function localAddresses(t: TestHost) {
  return t.host.interfaces.flatMap((i) => i.addresses.map((a) => ({ address: a.address, prefix: a.prefixLen, interface: i.name, bytes: addressBytes(a.address) })));
}

/**
 * The source `ip route get <orig source>` selects on the test host: the address of the
 * connected subnet the orig source is in, else the first address of rjd0 (the default route).
 */
function icmpSource(t: TestHost, src: Uint8Array): string {
  const locals = localAddresses(t).filter((a) => a.bytes.length === src.length && a.interface === 'rjd0' && !(src.length === 16 && a.address.startsWith('fe80')));
  const onLink = locals.find((a) => inPrefix(src, a.bytes, a.prefix));
  return (onLink ?? locals[0])!.address;
}

function modelEnv(t: TestHost, chain: FilterHook, d: RunDetail, mark: number, src: Uint8Array | undefined): ModelEnv {
  const reply: ModelEnv['reply'] = { ipv4DefaultTtl: t.host.ipv4.defaultTtl, ipv6HopLimit: 64 };
  if (src?.length === 4) reply.icmpSourceV4 = icmpSource(t, src);
  if (src?.length === 16) reply.icmpSourceV6 = icmpSource(t, src);
  return {
    chain,
    inInterface: nameOf(t, d.iif),
    outInterface: nameOf(t, d.oif),
    mark,
    localAddresses: localAddresses(t).map(({ address, prefix, interface: i }) => ({ address, prefix, interface: i })),
    reply,
  };
}

/**
 * Sources whose reply routing is special on a real host (the reply path answers them as
 * documented in bpf/KNOWN-DIFFERENCES.md, the model as the kernel's routing would): this host's
 * own addresses, the network or broadcast address of one of its subnets, multicast, loopback,
 * unspecified and 0.0.0.0/8, link-local in FORWARD; at OUTPUT, a source not of this host; and
 * an orig sent to a subnet-router anycast address of this host (the reply's source).
 * For them only "a reply or not" is left out of the comparison, never the classification.
 */
export function oddSource(t: TestHost, src: Uint8Array | undefined, chain: FilterHook, dst?: Uint8Array): boolean {
  if (!src) return true;
  // A reply from a subnet-router anycast address of this host (the orig went to it).
  if (dst?.length === 16 && localAddresses(t).some((a) => a.bytes.length === 16 && a.prefix < 127 && equalAddresses(networkOf(a.bytes, a.prefix), dst))) return true;
  const locals = localAddresses(t).filter((a) => a.bytes.length === src.length);
  const isLocal = locals.some((a) => equalAddresses(a.bytes, src));
  if (chain === 'OUTPUT') return !isLocal;
  if (isLocal) return true;
  if (locals.some((a) => a.prefix < (src.length === 4 ? 31 : 127) && (equalAddresses(networkOf(a.bytes, a.prefix), src) || (src.length === 4 && equalAddresses(broadcastOf(a.bytes, a.prefix), src))))) return true;
  if (src.length === 4) return isIpv4Multicast(src) || isIpv4LimitedBroadcast(src) || isIpv4Zeronet(src) || isIpv4Loopback(src);
  const type = ipv6AddrType(src);
  return type === IPV6_ADDR.ANY || (type & (IPV6_ADDR.MULTICAST | IPV6_ADDR.LOOPBACK)) !== 0 || (chain === 'FORWARD' && (type & IPV6_ADDR.LINKLOCAL) !== 0);
}

/** Counter deltas (counter id → packets) the program moved for one run. */
function counterIds(maps: MapsJson): number[] {
  return [...maps.counters.map((c) => c.id), ...maps.chains.map((c) => c.policyCounter)];
}

function snapshot(p: LoadedRuleset, ids: number[]): Map<number, bigint> {
  return new Map(ids.map((id) => [id, p.counter(id).packets]));
}

function expectedCounters(maps: MapsJson, m: Decision, family: 'ipv4' | 'ipv6'): Map<number, bigint> {
  const out = new Map<number, bigint>();
  const add = (id: number) => out.set(id, (out.get(id) ?? 0n) + 1n);
  for (const c of m.counters) {
    if (c.kind === 'policy') {
      add(maps.chains.find((x) => x.family === family && x.chain === c.chain)!.policyCounter);
    } else {
      const k = maps.counters.find((x) => x.family === family && x.chain === c.chain && x.ruleNumber === c.index + 1 && x.expansion === c.expansion);
      add(k!.id);
    }
  }
  return out;
}

export interface Outcome {
  verdict: string;
  chain: string | null;
  rule: string | null;
  reply: string | null;
  counters: string[];
  /** Why a REJECT sent nothing (not compared: the two sides name reasons differently). */
  why?: string | number | null;
}

const UNFILTERED: Outcome = { verdict: 'accept', chain: null, rule: null, reply: null, counters: [] };

/** True if an IPv4 header carries a Timestamp option (68). */
function hasTimestampOption(ip: Uint8Array | undefined): boolean {
  if (!ip || ip.length < 20) return false;
  const ihl = (ip[0]! & 0xf) * 4;
  for (let i = 20; i < ihl && i < ip.length; ) {
    const type = ip[i]!;
    if (type === 0) return false;
    if (type === 1) {
      i++;
      continue;
    }
    if (type === 68) return true;
    i += Math.max(2, ip[i + 1] ?? 2);
  }
  return false;
}

/** An IPv4 packet (hex) with another source address and its header checksum recomputed. */
function withIpv4Source(hex: string, src: Uint8Array): string {
  const b = Buffer.from(hex, 'hex');
  b.set(src, 12);
  b.writeUInt16BE(0, 10);
  let sum = 0;
  for (let i = 0; i < (b[0]! & 0xf) * 4; i += 2) sum += b.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  b.writeUInt16BE(~sum & 0xffff, 10);
  return b.toString('hex');
}

function describeRule(chain: string | null, ruleNumber: number | null, expansion: number): string | null {
  return chain === null || ruleNumber === null ? null : `${chain} #${ruleNumber}${expansion ? ` copy ${expansion + 1}` : ''}`;
}

/**
 * Runs one packet through the loaded program and the model and returns both outcomes
 * (verdict, chain, deciding rule, reply hex, counters moved) for comparison. `model` is null
 * when the program's parser or chain detection handed the packet to the stack (no filter
 * chain ran: the classifier was not involved); the program's outcome must then be "accept,
 * nothing counted".
 */
export function bothOutcomes(t: TestHost, p: LoadedRuleset, compiled: Compiled, pc: PacketCase): { bpf: Outcome; model: Outcome | null } {
  const maps = compiled.maps;
  const ids = counterIds(maps);
  const before = snapshot(p, ids);
  let d: RunDetail;
  try {
    d = p.run(pc.frame, 'detect', { ifindex: t.ifindex[pc.dev], mark: pc.mark, egress: pc.egress });
  } catch (err) {
    // BPF_PROG_TEST_RUN refuses some malformed frames (e.g. an IPv6 ethertype before fewer
    // bytes than an IPv6 header) before the program runs; the stack drops those anyway.
    const view = hookView(decodeFrame(pc.frame), { chain: pc.egress ? 'OUTPUT' : 'INPUT' });
    if ((err as { errno?: number }).errno === 22 && !view.ok) return { bpf: UNFILTERED, model: null };
    throw new Error(`${(err as Error).message}\nframe ${Buffer.from(pc.frame).toString('hex')} (${pc.egress ? 'egress' : 'ingress'} ${pc.dev})`);
  }
  const after = snapshot(p, ids);
  const moved: string[] = [];
  for (const id of ids) {
    const delta = after.get(id)! - before.get(id)!;
    if (delta !== 0n) moved.push(`${id}x${delta}`);
  }
  const decided = d.flatRule >= 0 ? maps.rules[d.flatRule]!.source : null;
  const bpf: Outcome = {
    verdict: d.verdict,
    chain: d.chain,
    rule: decided ? describeRule(decided.chain, decided.ruleNumber, decided.expansion) : null,
    reply: d.reply,
    counters: moved.sort(),
    why: d.verdict === 'drop' && d.outcome === 'rule' ? d.noreply : null,
  };
  if (d.chain === null) return { bpf, model: null };
  const decoded = decodeFrame(pc.frame);
  const family = decoded.ip?.family ?? 'ipv4';
  const chain: FilterHook = d.chain;
  const src = decoded.ip?.header.src;
  const m = evaluateRuleset(compiled.ruleset, decoded, { ...modelEnv(t, chain, d, pc.mark, src), ...pc.env });
  const model: Outcome = {
    verdict: m.verdict,
    chain: m.cause.kind === 'stack' ? null : chain,
    rule: describeRule(m.ruleChain, m.ruleIndex === null ? null : m.ruleIndex + 1, m.expansion),
    reply: m.reply ? Buffer.from(m.reply).toString('hex') : null,
    counters: [...expectedCounters(maps, m, family)].map(([id, n]) => `${id}x${n}`).sort(),
    why: m.noReply,
  };
  if (chain === 'OUTPUT' && family === 'ipv4' && model.reply && bpf.reply) {
    // bpf/KNOWN-DIFFERENCES.md "OUTPUT (TC egress)": rejectc's IPv4 ICMP error in OUTPUT comes
    // from the orig's destination (the kernel's own local address would be dropped as a
    // martian on the way in); and IPv4 options of locally generated packets are not echoed.
    const dst = decoded.ip?.header.dst;
    if ((decoded.ip?.bytes[0] ?? 0x45) !== 0x45) model.reply = bpf.reply = null;
    else if (dst && Buffer.from(model.reply, 'hex')[9] === 1) model.reply = withIpv4Source(model.reply, dst);
  }
  if (family === 'ipv4' && hasTimestampOption(decoded.ip?.bytes)) {
    // Timestamps the receive path writes into the option (and the reply echoes) are the clock's:
    // volatile (bpf/KNOWN-DIFFERENCES.md); the model writes env.timestampMs.
    model.reply = bpf.reply = null;
  }
  if (oddSource(t, src, chain, decoded.ip?.header.dst)) {
    // Whether a reply leaves is not compared for these sources (see oddSource).
    for (const o of [bpf, model]) {
      if (o.verdict === 'reject') o.verdict = 'drop';
      o.reply = null;
    }
  }
  return { bpf, model };
}

/**
 * Asserts agreement, with both outcomes and a reproducer in the message. Returns false when
 * the packet never reached a filter chain (nothing for the model to compare).
 */
export function expectAgreement(script: string, pc: PacketCase, r: { bpf: Outcome; model: Outcome | null }, hook: string, tally?: Map<string, number>): boolean {
  if (tally && r.model) {
    const kind = r.bpf.reply ? 'replies' : r.bpf.rule ? `${r.bpf.verdict} by a rule` : `${r.bpf.verdict} by the policy`;
    tally.set(kind, (tally.get(kind) ?? 0) + 1);
  }
  const strip = (o: Outcome) => JSON.stringify({ ...o, why: undefined });
  const bpf = strip(r.bpf);
  const model = strip(r.model ?? UNFILTERED);
  if (bpf === model) return r.model !== null;
  expect.fail(
    `BPF and model disagree\n  bpf:   ${bpf} (no-reply code ${r.bpf.why})\n  model: ${model} (no-reply ${r.model?.why})\n` +
      `hook ${hook}; ${pc.egress ? 'egress' : 'ingress'} dev ${pc.dev} mark ${pc.mark}\nframe ${Buffer.from(pc.frame).toString('hex')}\nrules.txt:\n${script}`,
  );
}

/**
 * fast-check parameters: the seed, and a reporter that shows the failing packet's reproducer
 * (rules file and frame, from the assertion message) rather than the whole generated case.
 */
export function runParameters<T>(seed: number, numRuns: number): fc.Parameters<T> {
  return {
    seed,
    numRuns,
    endOnFailure: true,
    reporter(details) {
      if (!details.failed) return;
      const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
      throw new Error(`property failed (seed ${details.seed}, path ${details.counterexamplePath ?? '?'}; rerun with RJC_SEED=${details.seed}):\n${cause}`);
    },
  };
}
