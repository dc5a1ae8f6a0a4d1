/**
 * fast-check generators of packet streams for the differential suite: single frames and
 * short sequences (every fragment of a datagram, in order or reversed), aimed at the
 * topology's addresses (test/diff/topology.ts) and at the values the rules test.
 *
 * Frames cover: valid TCP (every flag combination), UDP, ICMP/ICMPv6, other protocols and
 * "no next header"; truncated transport headers; first and later fragments and whole
 * fragment trains; bad and zero checksums; IPv4 options (NOP, Record Route with and without
 * room, Timestamp, Router Alert, loose source route); IPv6 extension headers (hop-by-hop,
 * destination options, routing type 4, AH); L2 broadcast/multicast/other-host frames with a
 * unicast IP destination; IP broadcast and multicast destinations; TTL 1 and 2; L2 trailers.
 *
 * Left out on purpose, because their effect is not bounded by wire.py's barrier or depends
 * on something outside both firewalls: sources the server would have to resolve with
 * ARP/ND (only {@link ONLINK_SOURCES_V4}/V6 on the client's link), sources routed to the far
 * side (their replies would leave through s1), link-local destinations routed back out s0
 * (the server answers them with ICMPv6 redirects, rate-limited by the clock), IGMP, MLD and
 * neighbour discovery messages
 * (answered after random delays, or changing the neighbour table), and IPv4 fragments
 * addressed to the server itself (the kernel reassembles them before INPUT, a BPF hook
 * cannot: bpf/KNOWN-DIFFERENCES.md).
 */
import fc from 'fast-check';
import type { Family, FamilyRuleset } from '../../src/compiler/ir.js';
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
  type ChecksumSpec,
  type Ipv6Extension,
  type L4Spec,
} from '../support/packets.js';
import { parseRuleset } from '../../src/compiler/frontend.js';
import { valuesFromRuleset } from '../support/arbitrary-packets.js';
import { aim, ruleTargets, type Destination, type RuleTarget } from './aim.js';
import { arbFlow, buildFlow, describeFlow, type FlowSpec } from './gen-flow.js';
import type { StreamElement } from './runner.js';
import { COMMON_PORTS } from './gen-rules.js';
import { MAC, ONLINK_SOURCES_V4, ONLINK_SOURCES_V6 } from './topology.js';

/** The server's link-local address on s0 (EUI-64 of {@link MAC.serverIn}). */
export const SERVER_LINK_LOCAL = 'fe80::ff:fe00:201';

export type { Destination } from './aim.js';

/** Values streams are aimed at; {@link defaultPool} or one drawn from a ruleset. */
export interface StreamPool {
  ports: number[];
  /** Extra sources and destinations (e.g. a corpus file's own addresses) per family. */
  sources: Record<Family, string[]>;
  destinations: Record<Family, Record<Destination, string[]>>;
  protocols: number[];
  icmpTypes: { type: number; code: number }[];
  icmp6Types: { type: number; code: number }[];
  /** Per rule, what a packet needs to match it; frames are aimed at one half of the time. */
  targets: RuleTarget[];
  /** The ruleset has state/conntrack matches (connections are generated more often then). */
  tracksConnections: boolean;
}

/** The sources streams use besides a pool's own (clients on the link and beyond it). */
export const SOURCES: Record<Family, string[]> = {
  ipv4: [...ONLINK_SOURCES_V4, '203.0.113.7', '203.0.113.99', '203.0.113.200', '198.51.100.130', '198.51.100.250'],
  ipv6: [...ONLINK_SOURCES_V6, '2001:db8:3::7', '2001:db8:3::99', '2001:db8:3:5::1', '2001:db8:4::1'],
};

/** Odd sources the stack drops or that can get no reply (martians, unspecified, multicast). */
const ODD_SOURCES: Record<Family, string[]> = {
  ipv4: ['0.0.0.0', '0.1.2.3', '127.0.0.1', '224.0.0.9', '255.255.255.255', '192.0.2.2'],
  ipv6: ['::', 'ff02::1', '::1', '::ffff:192.0.2.1', '2001:db8::2'],
};

const DESTINATIONS: Record<Family, Record<Destination, string[]>> = {
  ipv4: {
    input: ['192.0.2.2', '192.0.2.2', '192.0.2.2', '198.51.100.1', '192.0.2.255', '255.255.255.255', '224.0.0.1'],
    forward: ['198.51.100.9', '198.51.100.70', '198.51.100.100'],
    hairpin: ['203.0.113.50', '192.0.2.77'],
    special: ['224.0.0.9', '127.0.0.1', '0.0.0.1', '0.0.0.0', '192.0.2.0'],
  },
  ipv6: {
    input: ['2001:db8::2', '2001:db8::2', '2001:db8::2', '2001:db8:1::1', SERVER_LINK_LOCAL, 'ff02::1', 'ff02::1:ff00:2'],
    forward: ['2001:db8:2::9', '2001:db8:2::1:5', '2001:db8:2:ff::1'],
    hairpin: ['2001:db8:3::99'],
    // No link-local destination other than the server's: routed back out s0 (hairpin), it
    // makes the server send an ICMPv6 redirect, rate-limited per destination by the clock.
    special: ['ff05::2', '::1'],
  },
};

/** The pool of random cases: the topology's addresses and the ports generated rules use. */
export function defaultPool(): StreamPool {
  return { ports: [...COMMON_PORTS], sources: { ipv4: [], ipv6: [] }, destinations: { ipv4: { input: [], forward: [], hairpin: [], special: [] }, ipv6: { input: [], forward: [], hairpin: [], special: [] } }, protocols: [], icmpTypes: [], icmp6Types: [], targets: [], tracksConnections: false };
}

/** Does a ruleset use connection tracking (`-m state`, `-m conntrack`)? */
export function tracksConnections(rulesets: readonly FamilyRuleset[]): boolean {
  return rulesets.some((f) => f.tables.some((t) => t.chains.some((c) => c.rules.some((r) => r.matches.some((m) => m.module === 'state' || m.module === 'conntrack')))));
}

/**
 * A pool aimed at a ruleset: the ports, protocols and ICMP types its rules test (and the
 * values next to them), from the rules as rejectc's front end reads them.
 */
export function poolFromRules(rules: { ipv4: string; ipv6: string }): StreamPool {
  const pool = defaultPool();
  for (const family of ['ipv4', 'ipv6'] as const) {
    const parsed = parseRuleset(rules[family], `${family}.rules`, { family });
    pool.targets.push(...ruleTargets(parsed.ruleset.families));
    pool.tracksConnections ||= tracksConnections(parsed.ruleset.families);
    const v = valuesFromRuleset(parsed.ruleset);
    pool.ports.push(...v.ports);
    pool.protocols.push(...v.protocols);
    pool.icmpTypes.push(...v.icmpTypes);
    pool.icmp6Types.push(...v.icmp6Types);
  }
  pool.ports = [...new Set(pool.ports)];
  pool.protocols = [...new Set(pool.protocols)];
  return pool;
}

/** A stream element: a frame (or fragment train) from the client, or a connection. */
export type StreamSpec = FrameSpec | FlowSpec;

/** One stream element; {@link buildFrames} turns it into one or more frames. */
export interface FrameSpec {
  family: Family;
  src: string;
  dst: string;
  /** The destination class it was drawn from (fragments to the server are not generated for IPv4). */
  to: Destination;
  l4: L4Spec;
  shape: 'plain' | 'truncated' | 'first-fragment' | 'later-fragment' | 'fragments' | 'fragments-reversed';
  /** Bytes of transport header kept by `truncated`; fragment size in 8-byte units otherwise. */
  keep: number;
  ttl: number;
  tos: number;
  /** IPv4 option bytes (empty: none). */
  options: number[];
  extensions: Ipv6Extension[];
  /** Fragment identification (random, so that unrelated fragments never reassemble). */
  fragId: number;
  l2: 'unicast' | 'broadcast' | 'multicast' | 'otherhost';
  trailer: number;
}

const pick = <T>(extra: readonly T[], base: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  extra.length > 0 ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...extra) }, { weight: 2, arbitrary: base }) : base;

const checksum: fc.Arbitrary<ChecksumSpec> = fc.oneof(
  { weight: 14, arbitrary: fc.constant<ChecksumSpec>('auto') },
  { weight: 2, arbitrary: fc.constant<ChecksumSpec>('bad') },
  { weight: 1, arbitrary: fc.constant<ChecksumSpec>('zero') },
);

const payload = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 48 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 400, maxLength: 1400 }) },
);

function l4(family: Family, pool: StreamPool): fc.Arbitrary<L4Spec> {
  const port = pick(pool.ports, fc.oneof(fc.constantFrom(...COMMON_PORTS), fc.integer({ min: 0, max: 65535 })));
  const flags = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(0x02, 0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x01, 0x00, 0x03, 0x29, 0xc2) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 255 }) },
  );
  const tcpSpec = fc
    .record({ sport: port, dport: port, seq: fc.nat({ max: 0xffffffff }), ack: fc.nat({ max: 0xffffffff }), flags, payload, checksum, options: fc.constantFrom<number[]>([], [], [2, 4, 5, 0xb4], [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0]), doff: fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }) })
    .map((r) => tcp(r));
  const udpSpec = fc.record({ sport: port, dport: port, payload, checksum }).map((r) => udp(r));
  const known = family === 'ipv4' ? pool.icmpTypes : pool.icmp6Types;
  // No IGMP-like or ND/MLD types: see the module comment.
  const common = family === 'ipv4' ? fc.constantFrom(0, 3, 8, 8, 11, 13, 14, 42, 5) : fc.constantFrom(1, 2, 3, 4, 100, 128, 128, 129, 200);
  const typeCode = pick(known, fc.record({ type: common, code: fc.constantFrom(0, 0, 1, 3, 4) }));
  const icmpSpec = fc.record({ tc: typeCode, payload, checksum, rest: fc.uint8Array({ minLength: 4, maxLength: 4 }) }).map((r) => icmp({ type: r.tc.type, code: r.tc.code, payload: r.payload, checksum: r.checksum, rest: r.rest }));
  const others = family === 'ipv4' ? [47, 50, 51, 132, 253, 17] : [47, 50, 132, 253, 59];
  const proto = pick(pool.protocols.filter((p) => ![1, 2, 6, 17, 58].includes(p) && !(family === 'ipv6' && [0, 43, 44, 51, 60].includes(p))), fc.constantFrom(...others));
  const rawSpec = fc.record({ protocol: proto, bytes: fc.uint8Array({ maxLength: 40 }) }).map((r) => raw(r.protocol, r.bytes));
  return fc.oneof({ weight: 6, arbitrary: tcpSpec }, { weight: 3, arbitrary: udpSpec }, { weight: 2, arbitrary: icmpSpec }, { weight: 1, arbitrary: rawSpec });
}

const IPV4_OPTIONS: fc.Arbitrary<number[]> = fc.oneof(
  { weight: 14, arbitrary: fc.constant<number[]>([]) },
  { weight: 1, arbitrary: fc.constant<number[]>([1, 1, 1, 0]) },
  { weight: 1, arbitrary: fc.constantFrom(ipOptions.recordRoute(2), ipOptions.recordRoute(1, 1), ipOptions.recordRoute(3, 1)) },
  { weight: 1, arbitrary: fc.constantFrom(ipOptions.timestamp(2), ipOptions.timestamp(1, 1)) },
  { weight: 1, arbitrary: fc.constant(ipOptions.routerAlert()) },
  { weight: 1, arbitrary: fc.constant(ipOptions.looseSourceRoute(['198.51.100.9'])) },
);

const IPV6_EXTENSIONS = fc.oneof(
  { weight: 10, arbitrary: fc.constant<Ipv6Extension[]>([]) },
  {
    weight: 3,
    arbitrary: fc.constantFrom<Ipv6Extension[]>(
      [{ kind: 'hop-by-hop' }],
      [{ kind: 'dest-opts' }],
      [{ kind: 'routing', routingType: 4, segmentsLeft: 0 }],
      [{ kind: 'hop-by-hop', options: [0x1e, 2, 0, 0] }],
      [{ kind: 'hop-by-hop' }, { kind: 'dest-opts' }],
      [{ kind: 'auth' }],
      [{ kind: 'dest-opts', options: [0x5e, 2, 0, 0] }],
    ),
  },
);

function frameSpec(family: Family, pool: StreamPool): fc.Arbitrary<FrameSpec> {
  const dests = DESTINATIONS[family];
  const extra = pool.destinations[family];
  const to = fc.oneof(
    { weight: 11, arbitrary: fc.constant<Destination>('input') },
    { weight: 6, arbitrary: fc.constant<Destination>('forward') },
    { weight: 1, arbitrary: fc.constant<Destination>('hairpin') },
    { weight: 1, arbitrary: fc.constant<Destination>('special') },
  );
  const target = pool.targets.length > 0 ? fc.oneof(fc.constant(undefined), fc.constantFrom(...pool.targets)) : fc.constant(undefined);
  const spec = to.chain((dest) =>
    fc.record({
      family: fc.constant(family),
      src: fc.oneof({ weight: 12, arbitrary: pick(pool.sources[family], fc.constantFrom(...SOURCES[family])) }, { weight: 1, arbitrary: fc.constantFrom(...ODD_SOURCES[family]) }),
      dst: pick(extra[dest], fc.constantFrom(...dests[dest])),
      to: fc.constant(dest),
      l4: l4(family, pool),
      shape: fc.oneof(
        { weight: 16, arbitrary: fc.constant<FrameSpec['shape']>('plain') },
        { weight: 2, arbitrary: fc.constant<FrameSpec['shape']>('truncated') },
        { weight: 1, arbitrary: fc.constant<FrameSpec['shape']>('first-fragment') },
        { weight: 1, arbitrary: fc.constant<FrameSpec['shape']>('later-fragment') },
        { weight: 1, arbitrary: fc.constant<FrameSpec['shape']>('fragments') },
        { weight: 1, arbitrary: fc.constant<FrameSpec['shape']>('fragments-reversed') },
      ),
      keep: fc.integer({ min: 0, max: 19 }),
      ttl: fc.oneof({ weight: 8, arbitrary: fc.constant(64) }, { weight: 1, arbitrary: fc.constantFrom(1, 2, 255, 63, 65) }),
      tos: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
      options: family === 'ipv4' ? IPV4_OPTIONS : fc.constant<number[]>([]),
      extensions: family === 'ipv6' ? IPV6_EXTENSIONS : fc.constant<Ipv6Extension[]>([]),
      fragId: fc.integer({ min: 1, max: family === 'ipv4' ? 0xffff : 0x7fffffff }),
      l2: fc.oneof(
        { weight: 16, arbitrary: fc.constant<FrameSpec['l2']>('unicast') },
        { weight: 1, arbitrary: fc.constant<FrameSpec['l2']>('broadcast') },
        { weight: 1, arbitrary: fc.constant<FrameSpec['l2']>('multicast') },
        { weight: 1, arbitrary: fc.constant<FrameSpec['l2']>('otherhost') },
      ),
      trailer: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 12 }) }),
    }),
  );
  return fc.tuple(spec, target).map(([s, t]) => aim(s, t));
}

/** One stream element of one of `families`, aimed at `pool`. */
export function arbElement(pool: StreamPool = defaultPool(), families: readonly Family[] = ['ipv4', 'ipv6']): fc.Arbitrary<StreamSpec> {
  const frames = fc.oneof(...families.map((f) => frameSpec(f, pool)));
  const flows = fc.oneof(...families.map((f) => arbFlow(f, pool.ports)));
  // Connections mostly for rulesets with state matches; now and then for the others too.
  return fc.oneof({ weight: pool.tracksConnections ? 3 : 9, arbitrary: frames }, { weight: 1, arbitrary: flows });
}

/** A stream: 1 to `max` stream elements of either family (weighted by `families`). */
export function arbStream(pool: StreamPool = defaultPool(), max = 8, families: readonly Family[] = ['ipv4', 'ipv6']): fc.Arbitrary<StreamSpec[]> {
  return fc.array(arbElement(pool, families), { minLength: 1, maxLength: max });
}

const L2_DST: Record<FrameSpec['l2'], string | undefined> = { unicast: MAC.serverIn, broadcast: 'broadcast', multicast: 'multicast', otherhost: '02:00:00:00:09:09' };

function isMulticastIp(family: Family, dst: string): boolean {
  return family === 'ipv4' ? /^2(2[4-9]|3\d)\./.test(dst) : dst.toLowerCase().startsWith('ff');
}

/** The Ethernet frames of one stream element, in the order they are sent. */
export function buildFrames(s: FrameSpec): Uint8Array[] {
  let shape = s.shape;
  // IPv4 fragments to the server are reassembled before INPUT by the kernel (module comment).
  if (s.family === 'ipv4' && s.to !== 'forward' && s.to !== 'hairpin' && shape.includes('fragment')) shape = 'plain';
  const size = 8 * (1 + (s.keep % 4));
  let packets: Uint8Array[];
  if (s.family === 'ipv4') {
    const ip = { src: s.src, dst: s.dst, ttl: s.ttl, tos: s.tos, options: s.options, id: s.fragId };
    if (shape === 'truncated') packets = [ipv4(ip, truncated(s.l4, s.keep, 'ipv4', s))];
    else if (shape === 'plain') packets = [ipv4(ip, s.l4)];
    else packets = fragmentIpv4(ipv4(ip, s.l4), size);
  } else {
    const ip = { src: s.src, dst: s.dst, hopLimit: s.ttl, trafficClass: s.tos, extensions: s.extensions };
    if (shape === 'truncated') packets = [ipv6(ip, truncated(s.l4, s.keep, 'ipv6', s))];
    else if (shape === 'plain') packets = [ipv6(ip, s.l4)];
    else packets = fragmentIpv6(ipv6(ip, s.l4), size, s.fragId);
  }
  if (shape === 'first-fragment') packets = packets.slice(0, 1);
  if (shape === 'later-fragment') packets = packets.slice(-1);
  if (shape === 'fragments-reversed') packets = [...packets].reverse();
  const l2 = isMulticastIp(s.family, s.dst) && s.l2 === 'unicast' ? 'multicast' : L2_DST[s.l2];
  return packets.map((p) => ethernet(s.trailer ? withTrailer(p, s.trailer) : p, { dst: l2, src: MAC.client }));
}

/** A one-line description of a stream element (for reports and coverage counts). */
export function describeFrame(s: FrameSpec): string {
  const l4 = s.l4.kind === 'raw' ? `proto ${s.l4.protocol}` : s.l4.kind;
  const extras = [s.shape !== 'plain' ? s.shape : '', s.options.length ? 'ip-options' : '', s.extensions.length ? s.extensions.map((e) => e.kind).join('+') : '', s.l2 !== 'unicast' ? `l2-${s.l2}` : '', s.trailer ? 'trailer' : '', s.ttl !== 64 ? `ttl ${s.ttl}` : ''].filter(Boolean);
  return `${s.family} ${l4} ${s.src} > ${s.dst} (${s.to})${extras.length ? ` ${extras.join(' ')}` : ''}`;
}

/** The stream of a case, built. */
export function buildStream(specs: readonly StreamSpec[]): StreamElement[] {
  return specs.map((s) => ('kind' in s ? { label: describeFlow(s), ...buildFlow(s) } : { label: describeFrame(s), frames: buildFrames(s) }));
}
