/**
 * The model against the kernel itself. In throwaway namespaces, rulesets in the compiled
 * subset are installed with iptables-legacy / ip6tables-legacy (rejectc follows legacy where
 * the back ends differ); generated frames are sent from a peer namespace over a veth; for each
 * frame the test compares, with what the model predicts for the same ruleset (parsed by the
 * front end):
 * - every rule and policy counter of the filter table (`iptables-legacy-save -c`), so the
 *   deciding rule, the chain walk, hotdrops and stack drops all have to agree;
 * - the reply REJECT sent (captured on the sender's interface), byte for byte except the
 *   IPv4 ICMP identification/header checksum and the ICMPv6 flow label (nf-reject.md §11).
 *
 * INPUT and FORWARD are covered, IPv4 and IPv6. IPv4 fragments are sent only through FORWARD:
 * INPUT reassembles them first, which a BPF hook (and so the model's hook view) cannot do.
 * Runs as root (CI does); the seed is printed and a failure prints the frame in hex.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRuleset } from '../src/compiler/frontend.js';
import { arbRulesetScript } from './compile-support.js';
import type { Chain, FamilyRuleset, FilterHook } from '../src/compiler/ir.js';
import { checksumOf, fold, get16, pseudoSum4, put16, sum16 } from '../src/model/checksum.js';
import { decodeFrame, evaluate, expansions, toHex, type Decision, type ModelEnv } from '../src/model/index.js';
import { readMulticastGroups } from '../src/runtime/host-config.js';
import { canUseKernel, createPair, createRouted, type Netns, type Pair, type Routed } from './support/netns.js';
import {
  ethernet,
  fragmentIpv4,
  fragmentIpv6,
  icmp,
  ipOptions,
  ipv4,
  ipv6,
  raw,
  tcp,
  truncated,
  udp,
  withTrailer,
  type Ipv6Extension,
  type L4Spec,
} from './support/packets.js';

const SEED = Number(process.env.RJC_MODEL_KERNEL_SEED ?? Date.now() % 1_000_000);
const RUNS = Number(process.env.RJC_MODEL_KERNEL_RUNS ?? 60);
/** Random rulesets per family (each with RANDOM_PACKETS frames) in the random-ruleset part. */
const RANDOM_RULESETS = Number(process.env.RJC_MODEL_KERNEL_RULESETS ?? 8);
const RANDOM_PACKETS = 20;
const SPOOFED_MAC = '02:00:00:00:00:0a';
/** Source MAC of the other test frames; the sender's own stack (its real MAC) is filtered out. */
const TEST_MAC = '02:00:00:00:00:0b';
/** Destination MAC of frames for another host (PACKET_OTHERHOST). */
const OTHER_HOST_MAC = '02:00:00:00:00:0c';

// ------------------------------------------------------------------------------------------------
// Rulesets (iptables-save format, restored with the legacy back end)

const RULES_V4 = `*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -s 192.0.2.75/32 -j MARK --set-xmark 0x5/0xffffffff
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:USERA - [0:0]
:USERB - [0:0]
-A INPUT -m length --length 0:40
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -s 198.51.100.0/24,203.0.113.9/32 -j USERA
-A INPUT -m mark --mark 0x5/0xff -g USERB
-A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m multiport --dports 80,8000:8080 -j REJECT --reject-with tcp-reset
-A INPUT -p tcp -m tcp --tcp-option 8 -j REJECT --reject-with icmp-net-prohibited
-A INPUT -p udp -m udp ! --dport 53 -j REJECT --reject-with icmp-port-unreachable
-A INPUT -p icmp -m icmp --icmp-type 8 -j REJECT --reject-with icmp-admin-prohibited
-A INPUT -p icmp -m icmp ! --icmp-type 0 -j DROP
-A INPUT -m pkttype --pkt-type broadcast -j DROP
-A INPUT -m addrtype --dst-type MULTICAST -j DROP
-A INPUT -m ttl --ttl-lt 10 -j DROP
-A INPUT -m iprange --src-range 192.0.2.70-192.0.2.79 -j ACCEPT
-A INPUT -m mac --mac-source ${SPOOFED_MAC} -j DROP
-A INPUT -i veth-b -p tcp -j REJECT --reject-with tcp-reset
-A INPUT ! -p udp -m comment --comment "everything else" -j REJECT --reject-with icmp-host-prohibited
-A FORWARD -f -j DROP
-A FORWARD -p tcp -m tcp --dport 22 -j ACCEPT
-A FORWARD -p udp -m udp --dport 1000 -j ACCEPT
-A FORWARD -m ttl --ttl-eq 9 -j DROP
-A FORWARD -i r0 -o r1 -p tcp -m multiport --sports 1000,2000:3000 -j REJECT --reject-with tcp-reset
-A FORWARD -p udp -m udp --dport 53 -j REJECT
-A FORWARD -p icmp -m icmp --icmp-type 8/0 -j REJECT --reject-with icmp-host-unreachable
-A FORWARD -p tcp -j REJECT --reject-with tcp-reset
-A FORWARD -j REJECT --reject-with icmp-net-unreachable
-A USERA -p udp -j DROP
-A USERA -p tcp -m tcp --sport 1024:65535 -j RETURN
-A USERA -j REJECT --reject-with icmp-net-unreachable
-A USERB -p tcp -j REJECT --reject-with tcp-reset
COMMIT
`;

const RULES_V6 = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:USER6 - [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 129 -j ACCEPT
-A INPUT -s 2001:db8:5::/48 -j USER6
-A INPUT -m addrtype ! --dst-type LOCAL -j DROP
-A INPUT -p tcp -m multiport --dports 80,443 -j REJECT --reject-with tcp-reset
-A INPUT -p udp -m udp --dport 53 -j ACCEPT
-A INPUT -p udp -j REJECT --reject-with icmp6-adm-prohibited
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j REJECT --reject-with icmp6-port-unreachable
-A INPUT -m hl --hl-lt 5 -j DROP
-A INPUT -m pkttype --pkt-type multicast -j DROP
-A INPUT -p tcp -j REJECT --reject-with tcp-reset
-A INPUT -p 59 -j DROP
-A INPUT -j REJECT --reject-with icmp6-no-route
-A FORWARD -p tcp -m tcp --dport 22 -j ACCEPT
-A FORWARD -p udp -m udp --dport 1000 -j ACCEPT
-A FORWARD -m hl --hl-eq 9 -j DROP
-A FORWARD -p tcp -m tcp ! --dport 80 -j REJECT --reject-with tcp-reset
-A FORWARD -p udp -j REJECT --reject-with icmp6-addr-unreachable
-A FORWARD -p ipv6-icmp -j REJECT
-A FORWARD -j REJECT --reject-with icmp6-policy-fail
-A USER6 -p tcp -m tcp --sport 1024:65535 -j RETURN
-A USER6 -j DROP
COMMIT
`;

function familyRuleset(text: string, family: 'ipv4' | 'ipv6'): FamilyRuleset {
  const { ruleset, diagnostics } = parseRuleset(text, `kernel-${family}.rules`, { family });
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return ruleset.families.find((f) => f.family === family)!;
}

// ------------------------------------------------------------------------------------------------
// Sending frames and capturing replies (a small Python helper in the sender's namespace)

const SENDER = `
import socket, sys, select, time, binascii, json
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    while select.select([s], [], [], 0)[0]:
        s.recv(65535)
    s.send(binascii.unhexlify(line))
    got = []
    end = time.time() + 0.05
    while True:
        left = end - time.time()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            break
        data, addr = s.recvfrom(65535)
        if addr[2] != socket.PACKET_OUTGOING:
            got.append(binascii.hexlify(data).decode())
    print(json.dumps(got), flush=True)
`;

class Sender {
  private readonly child: ChildProcess;
  private readonly lines: AsyncIterator<string>;

  constructor(ns: Netns, ifname: string, script: string) {
    this.child = spawn('ip', ['netns', 'exec', ns.name, 'python3', '-u', script, ifname], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = createInterface({ input: this.child.stdout! })[Symbol.asyncIterator]();
  }

  /** Sends one frame; resolves to the frames received on the interface within 50 ms. */
  async send(frame: Uint8Array): Promise<Uint8Array[]> {
    this.child.stdin!.write(`${toHex(frame)}\n`);
    const next = await this.lines.next();
    if (next.done) throw new Error('sender helper exited');
    return (JSON.parse(next.value) as string[]).map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
  }

  close(): void {
    this.child.stdin?.end();
    this.child.kill();
  }
}

// ------------------------------------------------------------------------------------------------
// Counters

type CounterMap = Map<string, number>;

/** `iptables-legacy-save -c -t filter` → packet counts keyed `CHAIN policy` / `CHAIN #n`. */
function kernelCounters(ns: Netns, family: 'ipv4' | 'ipv6'): CounterMap {
  const save = ns.exec([family === 'ipv4' ? 'iptables-legacy-save' : 'ip6tables-legacy-save', '-c', '-t', 'filter']).stdout;
  const out: CounterMap = new Map();
  const seen = new Map<string, number>();
  for (const line of save.split('\n')) {
    let m = line.match(/^:(\S+) (\S+) \[(\d+):\d+\]/);
    if (m) {
      if (m[2] !== '-') out.set(`${m[1]} policy`, Number(m[3]));
      continue;
    }
    m = line.match(/^\[(\d+):\d+\] -A (\S+)/);
    if (m) {
      const n = seen.get(m[2]!) ?? 0;
      seen.set(m[2]!, n + 1);
      out.set(`${m[2]} #${n}`, Number(m[1]));
    }
  }
  return out;
}

/** The same keys from the model's counter touches (entries numbered as iptables-save lists them). */
function modelCounters(rs: FamilyRuleset, d: Decision): CounterMap {
  const chains = rs.tables.find((t) => t.name === 'filter')!.chains;
  const offsets = new Map<Chain, number[]>();
  for (const c of chains) {
    let n = 0;
    offsets.set(c, c.rules.map((r) => ((n += expansions(r).length), n - expansions(r).length)));
  }
  const out: CounterMap = new Map();
  for (const c of d.counters) {
    const key = c.kind === 'policy' ? `${c.chain} policy` : `${c.chain} #${offsets.get(chains.find((ch) => ch.name === c.chain)!)![c.index]! + c.expansion}`;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

/**
 * Non-zero counters of the chains the packet can traverse: the hook's built-in chain and the
 * user chains (OUTPUT also counts the replies; the other hook only the stack's own traffic).
 */
function relevant(counters: CounterMap, hook: FilterHook): string[] {
  const other = (k: string): boolean => ['INPUT', 'FORWARD', 'OUTPUT'].some((c) => c !== hook && k.startsWith(`${c} `));
  return [...counters.entries()]
    .filter(([k, v]) => v > 0 && !other(k))
    .map(([k, v]) => `${k}=${v}`)
    .sort();
}

// ------------------------------------------------------------------------------------------------
// Replies

/**
 * The kernel sends its IPv4 RST as CHECKSUM_PARTIAL: over a veth with tx checksum offload on
 * (ethtool is not installed here to turn it off) the captured segment carries the folded
 * pseudo-header sum, which a NIC would complete. Complete it, as the NIC would.
 */
function completePartialChecksum(b: Uint8Array): void {
  const hl = (b[0]! & 0x0f) * 4;
  const pseudo = pseudoSum4(b.subarray(12, 16), b.subarray(16, 20), 6, b.length - hl);
  if (get16(b, hl + 16) !== fold(pseudo)) return;
  put16(b, hl + 16, 0);
  put16(b, hl + 16, checksumOf(pseudo + sum16(b, hl)));
}

/** The IP packet of a captured frame if it is a REJECT-style reply to `origSrc`. */
function replyOf(frame: Uint8Array, origSrc: Uint8Array): Uint8Array | null {
  const ip = decodeFrame(frame).ip;
  if (!ip || ip.problem || !Buffer.from(ip.header.dst).equals(Buffer.from(origSrc))) return null;
  const b = Uint8Array.from(ip.bytes);
  if (ip.family === 'ipv4') {
    const hl = ip.header.headerLength;
    const isRst = ip.header.protocol === 6 && (b[hl + 13]! & 0x04) !== 0;
    if (isRst) completePartialChecksum(b);
    const isUnreach = ip.header.protocol === 1 && b[hl] === 3;
    return isRst || isUnreach ? b : null;
  }
  const off = ip.skipExthdr.offset;
  const isRst = ip.header.nextHeader === 6 && (b[off + 13]! & 0x04) !== 0;
  const isUnreach = ip.header.nextHeader === 58 && b[40] === 1;
  return isRst || isUnreach ? b : null;
}

/** Zeroes the time slots of IPv4 Timestamp options in the header starting at `at`. */
function maskTimestamps(b: Uint8Array, at: number): void {
  const end = at + (b[at]! & 0x0f) * 4;
  for (let i = at + 20; i < end && i < b.length; ) {
    const type = b[i]!;
    if (type === 0) break;
    if (type === 1) {
      i++;
      continue;
    }
    const len = b[i + 1] ?? 0;
    if (len < 2) break;
    if (type === 68) b.fill(0, i + 4, Math.min(i + len, end));
    i += len;
  }
}

/**
 * Hex with the kernel's volatile fields masked (nf-reject.md §11): IPv4 ICMP id and header
 * checksum, ICMPv6 flow label, and Timestamp option times (reply header and quoted header).
 */
function masked(reply: Uint8Array): string {
  const out = Uint8Array.from(reply);
  if (out[0]! >> 4 === 4 && out[9] === 1) {
    out.fill(0, 4, 6).fill(0, 10, 12);
    const quoted = (out[0]! & 0x0f) * 4 + 8;
    maskTimestamps(out, 0);
    if (out.length >= quoted + 20) {
      maskTimestamps(out, quoted);
      out.fill(0, quoted + 10, quoted + 12); // a stale quoted header checksum moves with the times
      out.fill(0, (out[0]! & 0x0f) * 4 + 2, (out[0]! & 0x0f) * 4 + 4); // and so does the ICMP checksum
    }
  }
  if (out[0]! >> 4 === 6 && out[6] === 58) {
    out[1]! &= 0xf0;
    out.fill(0, 2, 4);
  }
  return toHex(out);
}

// ------------------------------------------------------------------------------------------------
// Packet generation

interface Case {
  frame: Uint8Array;
  /** The skb mark the mangle table gives it (the model's env.mark). */
  mark: number;
  kind: string;
}

interface Addressing {
  family: 'ipv4' | 'ipv6';
  sources: string[];
  destinations: string[];
  dstMac: string;
  srcMac: string;
  /** Allow fragments (FORWARD only for IPv4). */
  fragments: boolean;
}

const flags = fc.oneof(fc.constantFrom(0x02, 0x12, 0x10, 0x04, 0x14, 0x01, 0x00, 0x03, 0x29), fc.integer({ min: 0, max: 255 }));
const body = fc.uint8Array({ maxLength: 24 });
const csum = fc.constantFrom<'auto' | 'auto' | 'auto' | 'bad' | 'zero'>('auto', 'auto', 'auto', 'bad', 'zero');

function l4(family: 'ipv4' | 'ipv6'): fc.Arbitrary<L4Spec> {
  const port = fc.constantFrom(22, 53, 80, 443, 1000, 2500, 8080, 8081, 9999, 40000);
  return fc.oneof(
    { weight: 5, arbitrary: fc.record({ sport: port, dport: port, flags, payload: body, options: fc.constantFrom<number[]>([], [2, 4, 5, 0xb4], [8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1]), checksum: csum }).map((r) => tcp(r)) },
    { weight: 3, arbitrary: fc.record({ sport: port, dport: port, payload: body, checksum: csum }).map((r) => udp(r)) },
    {
      weight: 2,
      arbitrary: fc
        .record({ type: family === 'ipv4' ? fc.constantFrom(0, 3, 8, 13, 42) : fc.constantFrom(1, 4, 100, 128, 129, 200), code: fc.constantFrom(0, 1), payload: body, checksum: csum })
        .map((r) => icmp(r)),
    },
    { weight: 1, arbitrary: fc.record({ p: fc.constantFrom(47, 253), bytes: body }).map((r) => raw(r.p, r.bytes)) },
  );
}

const V6_EXTENSIONS = fc.constantFrom<Ipv6Extension[]>(
  [],
  [],
  [],
  [{ kind: 'hop-by-hop' }],
  [{ kind: 'dest-opts' }],
  [{ kind: 'routing', routingType: 4, segmentsLeft: 0 }],
  [{ kind: 'hop-by-hop', options: [0x5e, 2, 0, 0] }],
);

function cases(a: Addressing): fc.Arbitrary<Case> {
  const shape = fc.constantFrom('plain', 'plain', 'plain', 'plain', 'truncated', 'first-fragment', 'later-fragment', 'options', 'trailer', 'no-next');
  return fc
    .record({
      src: fc.constantFrom(...a.sources),
      dst: fc.constantFrom(...a.destinations),
      l4: l4(a.family),
      ttl: fc.constantFrom(64, 64, 64, 9, 10, 4, 1),
      tos: fc.constantFrom(0, 0xb9),
      shape,
      keep: fc.integer({ min: 0, max: 19 }),
      options: fc.constantFrom<number[]>([1, 1, 1, 0], ipOptions.recordRoute(2), ipOptions.recordRoute(1, 1), ipOptions.timestamp(2)),
      exts: V6_EXTENSIONS,
      l2: fc.constantFrom('unicast', 'unicast', 'unicast', 'unicast', 'unicast', 'unicast', 'broadcast', 'multicast', 'otherhost'),
      spoof: fc.boolean(),
    })
    .map((r): Case => {
      let shape = r.shape;
      if (!a.fragments && shape.endsWith('fragment')) shape = 'plain';
      if (a.family === 'ipv4' && shape === 'no-next') shape = 'plain';
      const kind = `${a.family} ${r.l4.kind} ${shape} ${r.src}>${r.dst} ttl${r.ttl} ${r.l2}`;
      let ip: Uint8Array;
      if (a.family === 'ipv4') {
        const spec = { src: r.src, dst: r.dst, ttl: r.ttl, tos: r.tos };
        if (shape === 'truncated') ip = ipv4(spec, truncated(r.l4, r.keep, 'ipv4', r));
        else if (shape === 'options') ip = ipv4({ ...spec, options: r.options }, r.l4);
        else if (shape.endsWith('fragment')) {
          const frags = fragmentIpv4(ipv4(spec, { ...r.l4, ...(r.l4.kind === 'raw' ? {} : { payload: new Uint8Array(40) }) } as L4Spec), 16);
          ip = shape === 'first-fragment' ? frags[0]! : frags[frags.length - 1]!;
        } else ip = ipv4(spec, r.l4);
      } else {
        const spec = { src: r.src, dst: r.dst, hopLimit: r.ttl, trafficClass: r.tos, extensions: r.exts };
        if (shape === 'truncated') ip = ipv6(spec, truncated(r.l4, r.keep, 'ipv6', r));
        else if (shape === 'no-next') ip = ipv6(spec, raw(59, []));
        else if (shape.endsWith('fragment')) {
          const frags = fragmentIpv6(ipv6(spec, { ...r.l4, ...(r.l4.kind === 'raw' ? {} : { payload: new Uint8Array(40) }) } as L4Spec), 16);
          ip = shape === 'first-fragment' ? frags[0]! : frags[frags.length - 1]!;
        } else ip = ipv6(spec, r.l4);
      }
      if (shape === 'trailer') ip = withTrailer(ip, 6);
      const multicastIp = a.family === 'ipv4' ? r.dst.startsWith('224.') : r.dst.startsWith('ff');
      const dst = multicastIp ? 'multicast' : r.l2 === 'unicast' ? a.dstMac : r.l2 === 'otherhost' ? OTHER_HOST_MAC : r.l2;
      const frame = ethernet(ip, { dst, src: r.spoof ? SPOOFED_MAC : a.srcMac });
      return { frame, mark: a.family === 'ipv4' && r.src === '192.0.2.75' ? 5 : 0, kind };
    });
}

/**
 * Frames every run includes, so that each family and hook sees an accept, a reply, a silent
 * reject, a hotdrop and a stack drop whatever the seed.
 */
function fixedCases(a: Addressing): Case[] {
  const build = (l4spec: L4Spec, ttl = 64): Uint8Array => {
    const spec = { src: a.sources[0]!, dst: a.destinations[0]! };
    return a.family === 'ipv4' ? ipv4({ ...spec, ttl }, l4spec) : ipv6({ ...spec, hopLimit: ttl }, l4spec);
  };
  const frames: [string, Uint8Array][] = [
    ['syn to 22 (accept)', build(tcp({ sport: 40000, dport: 22, flags: 'S' }))],
    ['syn to 443 (reject)', build(tcp({ sport: 40000, dport: 443, flags: 'S' }))],
    ['udp to 5000 (reject)', build(udp({ sport: 40000, dport: 5000 }))],
    ['udp with a bad checksum (silent)', build(udp({ sport: 40000, dport: 5000, checksum: 'bad' }))],
    ['truncated tcp (hotdrop)', build(truncated(tcp({ sport: 1, dport: 22 }), 10, a.family, { src: a.sources[0]!, dst: a.destinations[0]! }))],
    ['ttl 1 (stack drop in FORWARD)', build(udp({ sport: 40000, dport: 1000 }), 1)],
  ];
  return frames.map(([kind, ip]) => ({ frame: ethernet(ip, { dst: a.dstMac, src: a.srcMac }), mark: 0, kind: `${a.family} fixed: ${kind}` }));
}

// ------------------------------------------------------------------------------------------------
// The comparison loop

interface Target {
  filter: Netns;
  family: 'ipv4' | 'ipv6';
  ruleset: FamilyRuleset;
  env: ModelEnv;
  sender: Sender;
  /** The rules script, for failure reports of random rulesets. */
  script?: string;
}

/** What the compared frames exercised: `cause verdict reason` → count (printed, and checked). */
const coverage = new Map<string, number>();

async function compare(t: Target, c: Case): Promise<void> {
  const zero = t.family === 'ipv4' ? 'iptables-legacy' : 'ip6tables-legacy';
  t.filter.exec([zero, '-t', 'filter', '-Z']);
  const frames = await t.sender.send(c.frame);
  const kernel = relevant(kernelCounters(t.filter, t.family), t.env.chain);
  const decoded = decodeFrame(c.frame);
  const d = evaluate(t.ruleset, decoded, { ...t.env, mark: c.mark });
  const model = relevant(modelCounters(t.ruleset, d), t.env.chain);
  const key = `${t.family} ${t.env.chain} ${d.cause.kind === 'stack' ? `stack ${d.cause.drop}` : d.cause.kind} ${d.verdict}${d.noReply ? ` ${d.noReply}` : ''}`;
  coverage.set(key, (coverage.get(key) ?? 0) + 1);
  const context = `${c.kind}\nframe ${toHex(c.frame)}\nmodel: ${d.verdict} ${d.cause.kind} ${d.noReply ?? ''} rule ${d.ruleChain}#${d.ruleIndex}${t.script ? `\nrules:\n${t.script}` : ''}`;
  expect(kernel, context).toEqual(model);
  if (d.verdict === 'accept') return; // the stack itself may answer an accepted packet
  const replies = frames.map((f) => replyOf(f, decoded.ip!.header.src)).filter((r): r is Uint8Array => r !== null);
  expect(replies.map(masked), context).toEqual(d.reply ? [masked(d.reply)] : []);
}

/** The multicast groups the namespace's devices joined (`ip maddr`), for the model. */
function groupsOf(ns: Netns): ModelEnv['multicastGroups'] {
  return ns.run(() => readMulticastGroups()).map((g) => ({ address: g.address, interface: g.interface }));
}

function macOf(ns: Netns, ifname: string): string {
  return (JSON.parse(ns.exec(['ip', '-j', 'link', 'show', ifname]).stdout) as { address: string }[])[0]!.address;
}

function quietIcmp(ns: Netns): void {
  ns.exec(['sysctl', '-qw', 'net.ipv4.icmp_ratemask=0', 'net.ipv4.icmp_ratelimit=0', 'net.ipv6.icmp.ratelimit=0', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']);
  ns.sh('echo > /proc/sys/net/ipv6/icmp/ratemask');
}

/**
 * Installs the rulesets, and drops before the filter table whatever the sender's own stack
 * sends (router solicitations, MLD reports, DAD): only the test frames may move counters.
 */
function restore(ns: Netns, noisyMac: string, v4 = RULES_V4, v6 = RULES_V6): void {
  ns.exec(['iptables-legacy-restore'], { input: v4 });
  ns.exec(['ip6tables-legacy-restore'], { input: v6 });
  for (const cmd of ['iptables-legacy', 'ip6tables-legacy']) {
    ns.exec([cmd, '-t', 'raw', '-A', 'PREROUTING', '-m', 'mac', '--mac-source', noisyMac, '-j', 'DROP']);
  }
}

const EMPTY_FILTER = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n';

interface InputHarness {
  b: Netns;
  macB: string;
  env: ModelEnv;
  sender: Sender;
}

/**
 * Sender a (192.0.2.1, 2001:db8::1) — filter b (.2, ::2) on a veth pair: every source the
 * frames use is answered at a's MAC (permanent neighbours, default routes via a), ICMP rate
 * limits off, rp_filter off, a's own stack filtered out. Always cleaned up.
 */
async function withInputPair(fn: (h: InputHarness) => Promise<void>): Promise<void> {
  const pair: Pair = createPair({ tag: 'mk' });
  let sender: Sender | null = null;
  try {
    const { a, b, ifA, ifB } = pair;
    const macA = macOf(a, ifA);
    quietIcmp(b);
    b.exec(['sysctl', '-qw', `net.ipv4.conf.${ifB}.rp_filter=0`]);
    for (const addr of ['192.0.2.1', '192.0.2.75']) b.exec(['ip', 'neigh', 'replace', addr, 'lladdr', macA, 'dev', ifB, 'nud', 'permanent']);
    for (const addr of ['2001:db8::1', 'fe80::a']) b.exec(['ip', '-6', 'neigh', 'replace', addr, 'lladdr', macA, 'dev', ifB, 'nud', 'permanent']);
    b.exec(['ip', 'route', 'add', 'default', 'via', '192.0.2.1']);
    b.exec(['ip', '-6', 'route', 'add', 'default', 'via', '2001:db8::1']);
    restore(b, macA);
    sender = new Sender(a, ifA, script());
    await new Promise((r) => setTimeout(r, 500)); // let link-up chatter (DAD, MLD) pass
    const env: ModelEnv = {
      chain: 'INPUT',
      inInterface: ifB,
      inMac: macOf(b, ifB),
      multicastGroups: groupsOf(b),
      localAddresses: [
        { address: '192.0.2.2', prefix: 24, interface: ifB },
        { address: '2001:db8::2', prefix: 64, interface: ifB },
      ],
    };
    await fn({ b, macB: macOf(b, ifB), env, sender });
  } finally {
    try {
      sender?.close();
    } finally {
      pair.cleanup();
    }
  }
}

function inputAddressing(family: 'ipv4' | 'ipv6', macB: string): Addressing {
  return family === 'ipv4'
    ? { family, sources: ['192.0.2.1', '192.0.2.75', '198.51.100.7', '203.0.113.9', '127.0.0.1', '0.0.0.0', '0.0.0.5'], destinations: ['192.0.2.2', '192.0.2.2', '192.0.2.2', '192.0.2.255', '224.0.0.1', '239.1.2.3'], dstMac: macB, srcMac: TEST_MAC, fragments: false }
    : { family, sources: ['2001:db8::1', '2001:db8:5::9', '2001:db8:7::3', 'fe80::a', '::', 'ff02::5', '::ffff:192.0.2.1'], destinations: ['2001:db8::2', '2001:db8::2', '2001:db8::2', 'ff02::1', 'ff02::16'], dstMac: macB, srcMac: TEST_MAC, fragments: true };
}

const kernelOk = canUseKernel();
let dir = '';
const script = (): string => join(dir, 'sender.py');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rjc-model-kernel-'));
  writeFileSync(script(), SENDER);
  console.log(`model vs kernel: seed ${SEED}, ${RUNS} frames per family and hook (RJC_MODEL_KERNEL_SEED to replay)`);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  console.log([...coverage.entries()].sort().map(([k, v]) => `${String(v).padStart(4)}  ${k}`).join('\n'));
});

describe.runIf(kernelOk)('model vs kernel (iptables-legacy)', () => {
  it('INPUT: counters and replies agree, IPv4 and IPv6', async () => {
    await withInputPair(async (h) => {
      for (const family of ['ipv4', 'ipv6'] as const) {
        const ruleset = familyRuleset(family === 'ipv4' ? RULES_V4 : RULES_V6, family);
        const addressing = inputAddressing(family, h.macB);
        const list = [...fixedCases(addressing), ...fc.sample(cases(addressing), { seed: SEED, numRuns: RUNS })];
        for (const c of list) await compare({ filter: h.b, family, ruleset, env: h.env, sender: h.sender }, c);
      }
    });
  }, 120_000);

  it('INPUT, random rulesets: counters and replies agree, IPv4 and IPv6', async () => {
    await withInputPair(async (h) => {
      const scripts = fc.sample(arbRulesetScript({ families: ['ipv4', 'ipv6'], maxRules: 8, maxUserChains: 2, output: false, interfaces: ['veth-b', 'veth+', 'lo', '+', 'eth0'] }), {
        seed: SEED + 2,
        numRuns: RANDOM_RULESETS,
      });
      const refused: string[] = [];
      for (const script of scripts) {
        // The kernel gets the same commands, with LOG as a counting rule (nothing in the kernel
        // log) and `-p ! X` spelled `! -p X` (iptables 1.8.9 refuses the old-style negation the
        // front end accepts with W103).
        const kernelScript = script
          .replace(/^(ip6?tables) /gm, '$1-legacy ')
          .replace(/ -j LOG$/gm, '')
          .replace(/-p ! (\S+)/g, '! -p $1');
        h.b.exec(['iptables-legacy-restore'], { input: EMPTY_FILTER });
        h.b.exec(['ip6tables-legacy-restore'], { input: EMPTY_FILTER });
        const applied = h.b.exec(['sh', '-e'], { input: kernelScript, allowFail: true });
        if (applied.status !== 0) {
          // The generator can write what iptables refuses (e.g. `!` next to an address list).
          refused.push(`${applied.stderr.split('\n')[0]}`);
          continue;
        }
        const parsed = parseRuleset(script, 'random.rules');
        expect(parsed.diagnostics.filter((d) => d.severity === 'error'), script).toEqual([]);
        for (const family of ['ipv4', 'ipv6'] as const) {
          const ruleset = parsed.ruleset.families.find((f) => f.family === family)!;
          const list = fc.sample(cases(inputAddressing(family, h.macB)), { seed: SEED + script.length, numRuns: RANDOM_PACKETS });
          for (const c of list) await compare({ filter: h.b, family, ruleset, env: h.env, sender: h.sender, script }, c);
        }
      }
      if (refused.length > 0) console.log(`random rulesets iptables refused (not compared): ${refused.join(' | ')}`);
      expect(scripts.length - refused.length).toBeGreaterThanOrEqual(Math.ceil(scripts.length / 2));
    });
  }, 180_000);

  it('FORWARD: counters and replies agree, IPv4 (with fragments) and IPv6', async () => {
    const topo: Routed = createRouted({ tag: 'mf' });
    let sender: Sender | null = null;
    try {
      const { client, router, server, routerIn, routerOut, clientEnd } = topo;
      for (const ns of [client, router, server]) ns.exec(['ethtool', '-K', ns === router ? 'r0' : ns === client ? 'c0' : 's0', 'tx-checksumming', 'off'], { allowFail: true });
      router.exec(['ethtool', '-K', 'r1', 'tx-checksumming', 'off'], { allowFail: true });
      quietIcmp(router);
      router.exec(['sysctl', '-qw', 'net.ipv4.conf.r0.rp_filter=0', 'net.ipv4.conf.r1.rp_filter=0']);
      const macC = macOf(client, 'c0');
      router.exec(['ip', 'neigh', 'replace', clientEnd.ipv4, 'lladdr', macC, 'dev', 'r0', 'nud', 'permanent']);
      router.exec(['ip', '-6', 'neigh', 'replace', clientEnd.ipv6, 'lladdr', macC, 'dev', 'r0', 'nud', 'permanent']);
      router.exec(['ip', 'neigh', 'replace', '198.51.100.2', 'lladdr', macOf(server, 's0'), 'dev', 'r1', 'nud', 'permanent']);
      router.exec(['ip', '-6', 'neigh', 'replace', '2001:db8:2::2', 'lladdr', macOf(server, 's0'), 'dev', 'r1', 'nud', 'permanent']);
      restore(router, macC);
      // The server's answers to forwarded packets would come back through FORWARD: drop them.
      for (const cmd of ['iptables-legacy', 'ip6tables-legacy']) router.exec([cmd, '-t', 'raw', '-A', 'PREROUTING', '-i', 'r1', '-j', 'DROP']);
      sender = new Sender(client, 'c0', script());
      const macR = macOf(router, 'r0');
      const env: ModelEnv = {
        chain: 'FORWARD',
        inInterface: 'r0',
        outInterface: 'r1',
        inMac: macR,
        localAddresses: [
          { address: routerIn.ipv4, prefix: 24, interface: 'r0' },
          { address: routerOut.ipv4, prefix: 24, interface: 'r1' },
          { address: routerIn.ipv6, prefix: 64, interface: 'r0' },
          { address: routerOut.ipv6, prefix: 64, interface: 'r1' },
        ],
        reply: { icmpSourceV4: routerIn.ipv4, icmpSourceV6: routerIn.ipv6 },
      };
      await new Promise((r) => setTimeout(r, 500));
      for (const family of ['ipv4', 'ipv6'] as const) {
        const ruleset = familyRuleset(family === 'ipv4' ? RULES_V4 : RULES_V6, family);
        const addressing: Addressing =
          family === 'ipv4'
            ? { family, sources: [clientEnd.ipv4], destinations: ['198.51.100.2'], dstMac: macR, srcMac: TEST_MAC, fragments: true }
            : { family, sources: [clientEnd.ipv6, clientEnd.ipv6, 'fe80::a'], destinations: ['2001:db8:2::2'], dstMac: macR, srcMac: TEST_MAC, fragments: true };
        const list = [...fixedCases(addressing), ...fc.sample(cases(addressing), { seed: SEED + 1, numRuns: RUNS })];
        for (const c of list) await compare({ filter: router, family, ruleset, env, sender }, c);
      }
    } finally {
      try {
        sender?.close();
      } finally {
        topo.cleanup();
      }
    }
  }, 120_000);

  it('the frames covered replies, silent rejects, hotdrops and stack drops in every family and hook', () => {
    const seen = [...coverage.keys()];
    for (const family of ['ipv4', 'ipv6']) {
      for (const hook of ['INPUT', 'FORWARD']) {
        const mine = seen.filter((k) => k.startsWith(`${family} ${hook} `));
        expect(mine.some((k) => k.endsWith('rule reject')), `${family} ${hook} reply`).toBe(true);
        expect(mine.some((k) => / rule drop \S+$/.test(k)), `${family} ${hook} silent reject`).toBe(true);
        expect(mine.some((k) => k.includes(' policy ') || k.includes(' rule accept')), `${family} ${hook} accept`).toBe(true);
      }
    }
    for (const family of ['ipv4', 'ipv6']) {
      expect(seen.some((k) => k.startsWith(family) && k.includes(' hotdrop ')), `${family} hotdrop`).toBe(true);
      expect(seen.some((k) => k.startsWith(family) && k.includes(' stack ')), `${family} stack drop`).toBe(true);
    }
  });
});
