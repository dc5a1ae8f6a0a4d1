/**
 * fast-check generators of packets for property tests (model vs. BPF program, decoder
 * robustness): valid TCP/UDP/ICMP/ICMPv6/other packets, every TCP flag combination, truncated
 * transport headers, first and later fragments, bad checksums, IPv4 options (valid and odd),
 * IPv6 extension headers (hop-by-hop, dest-opts, routing, AH, fragment, no-next-header),
 * L2 broadcast/multicast frames, VLAN tags and L2 trailers.
 *
 * Given a ruleset, generation is biased toward the values its rules test (addresses inside and
 * at the edges of its prefixes and ranges, ports at range ends ±1, its protocols, ICMP types,
 * lengths, TTLs), so that random packets actually reach its rules.
 *
 *   const values = valuesFromRuleset(ruleset);
 *   fc.assert(fc.property(arbitraryPacket({ family: 'ipv4', values }), (p) => { ... p.bytes ... }));
 */
import fc from 'fast-check';
import type { FamilyRuleset, Match, Rule, Ruleset } from '../../src/compiler/ir.js';
import { addressBytes, broadcastOf, networkOf } from '../../src/model/address.js';
import {
  ethernet,
  fragmentIpv4,
  fragmentIpv6,
  icmp,
  ipv4,
  ipv6,
  ipOptions,
  raw,
  tcp,
  truncated,
  udp,
  withTrailer,
  type ChecksumSpec,
  type Ipv6Extension,
  type L4Spec,
} from './packets.js';

/** Values a ruleset tests; generators pick from them (and near them) much of the time. */
export interface PacketValues {
  /** Prefixes (`a.b.c.d/n`, `x::/n`) and exact addresses. */
  ipv4Prefixes: string[];
  ipv6Prefixes: string[];
  ports: number[];
  protocols: number[];
  icmpTypes: { type: number; code: number }[];
  icmp6Types: { type: number; code: number }[];
  lengths: number[];
  ttls: number[];
  tcpFlags: number[];
  tcpOptions: number[];
  macs: string[];
  marks: number[];
  interfaces: string[];
}

export function emptyValues(): PacketValues {
  return {
    ipv4Prefixes: [],
    ipv6Prefixes: [],
    ports: [],
    protocols: [],
    icmpTypes: [],
    icmp6Types: [],
    lengths: [],
    ttls: [],
    tcpFlags: [],
    tcpOptions: [],
    macs: [],
    marks: [],
    interfaces: [],
  };
}

const around = (v: number, min: number, max: number): number[] => [v - 1, v, v + 1].filter((x) => x >= min && x <= max);

function addPrefix(values: PacketValues, address: string, prefix: number): void {
  (address.includes(':') ? values.ipv6Prefixes : values.ipv4Prefixes).push(`${address}/${prefix}`);
}

function collectMatch(m: Match, v: PacketValues): void {
  const range = (r: { from: number; to: number }, list: number[], max: number): void => {
    list.push(...around(r.from, 0, max), ...around(r.to, 0, max));
  };
  switch (m.module) {
    case 'tcp':
    case 'udp':
      if (m.sport) range(m.sport.value, v.ports, 65535);
      if (m.dport) range(m.dport.value, v.ports, 65535);
      if (m.module === 'tcp' && m.flags) v.tcpFlags.push(m.flags.value.comp, m.flags.value.comp ^ m.flags.value.mask);
      if (m.module === 'tcp' && m.option) v.tcpOptions.push(m.option.value);
      break;
    case 'multiport':
      for (const r of m.ports) range(r, v.ports, 65535);
      break;
    case 'icmp':
    case 'icmp6':
      if (m.icmpType) {
        const t = m.icmpType.value;
        const list = m.module === 'icmp' ? v.icmpTypes : v.icmp6Types;
        list.push({ type: t.type, code: t.codeMin }, { type: t.type, code: t.codeMax }, { type: t.type, code: (t.codeMax + 1) & 0xff });
      }
      break;
    case 'iprange':
      for (const r of [m.src, m.dst]) {
        if (!r) continue;
        addPrefix(v, r.value.from, r.value.from.includes(':') ? 128 : 32);
        addPrefix(v, r.value.to, r.value.to.includes(':') ? 128 : 32);
      }
      break;
    case 'mac':
      v.macs.push(m.source.value);
      break;
    case 'length':
      range(m.length.value, v.lengths, 65535);
      break;
    case 'ttl':
    case 'hl':
      v.ttls.push(...around(m.value, 0, 255));
      break;
    case 'mark':
      v.marks.push(m.mark.value.value, m.mark.value.value ^ m.mark.value.mask, 0);
      break;
    default:
      break;
  }
}

function collectRule(rule: Rule, v: PacketValues): void {
  for (const side of [rule.base.src, rule.base.dst]) for (const c of side?.addresses ?? []) addPrefix(v, c.address, c.prefix);
  if (rule.base.protocol) v.protocols.push(rule.base.protocol.protocol);
  for (const i of [rule.base.inInterface, rule.base.outInterface]) if (i) v.interfaces.push(i.wildcard ? `${i.name}0` : i.name);
  for (const m of rule.matches) collectMatch(m, v);
}

/** The values a ruleset's filter rules test (all families given). */
export function valuesFromRuleset(ruleset: Ruleset | FamilyRuleset): PacketValues {
  const v = emptyValues();
  const families = ruleset.kind === 'ruleset' ? ruleset.families : [ruleset];
  for (const f of families)
    for (const t of f.tables) for (const c of t.chains) for (const r of c.rules) collectRule(r, v);
  const uniq = <T>(xs: T[]): T[] => [...new Map(xs.map((x) => [JSON.stringify(x), x])).values()];
  for (const key of Object.keys(v) as (keyof PacketValues)[]) (v[key] as unknown[]) = uniq(v[key] as unknown[]);
  return v;
}

// ------------------------------------------------------------------------------------------------
// Addresses

const DEFAULT_V4 = ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24'];
const SPECIAL_V4 = ['255.255.255.255', '224.0.0.1', '0.0.0.0', '127.0.0.1', '192.0.2.255'];
const DEFAULT_V6 = ['2001:db8::/64', '2001:db8:a::/64', '2001:db8:c::/64'];
const SPECIAL_V6 = ['::', 'ff02::1', 'fe80::a', '::1', '::ffff:192.0.2.1', 'ff05::2'];

/** An address inside `prefix` (text `addr/len`): mostly random host bits, sometimes its network or broadcast address. */
function inside(prefixText: string): fc.Arbitrary<string> {
  const [addr, len] = prefixText.split('/');
  const base = addressBytes(addr!);
  const prefix = Number(len);
  const net = networkOf(base, prefix);
  const host = fc.uint8Array({ minLength: base.length, maxLength: base.length }).map((rand) => {
    const out = Uint8Array.from(rand);
    for (let bit = 0; bit < prefix; bit++) {
      const mask = 0x80 >> (bit & 7);
      out[bit >> 3] = (out[bit >> 3]! & ~mask) | (net[bit >> 3]! & mask);
    }
    return out;
  });
  return fc
    .oneof(
      { weight: 1, arbitrary: fc.constant(base) },
      { weight: 1, arbitrary: fc.constant(broadcastOf(base, prefix)) },
      { weight: 6, arbitrary: host },
    )
    .map(formatBytes);
}

function formatBytes(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return words.join(':');
}

function address(family: 'ipv4' | 'ipv6', values: PacketValues): fc.Arbitrary<string> {
  const ruled = family === 'ipv4' ? values.ipv4Prefixes : values.ipv6Prefixes;
  const defaults = family === 'ipv4' ? DEFAULT_V4 : DEFAULT_V6;
  const special = family === 'ipv4' ? SPECIAL_V4 : SPECIAL_V6;
  const choices = [
    { weight: 6, arbitrary: fc.constantFrom(...defaults).chain(inside) },
    { weight: 1, arbitrary: fc.constantFrom(...special) },
  ];
  if (ruled.length > 0) choices.push({ weight: 8, arbitrary: fc.constantFrom(...ruled).chain(inside) });
  return fc.oneof(...choices);
}

// ------------------------------------------------------------------------------------------------
// Transport

const pick = <T>(list: T[], fallback: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  list.length > 0 ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...list) }, { weight: 1, arbitrary: fallback }) : fallback;

const payload = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 500, maxLength: 1500 }) },
);

const checksum: fc.Arbitrary<ChecksumSpec> = fc.oneof(
  { weight: 12, arbitrary: fc.constant<ChecksumSpec>('auto') },
  { weight: 2, arbitrary: fc.constant<ChecksumSpec>('bad') },
  { weight: 1, arbitrary: fc.constant<ChecksumSpec>('zero') },
);

const TCP_OPTIONS = fc.oneof(
  fc.constant<number[]>([]),
  fc.constant([2, 4, 5, 0xb4]),
  fc.constant([1, 1, 4, 2]),
  fc.constant([2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]),
  fc.uint8Array({ maxLength: 40 }).map((b) => Array.from(b)),
);

function tcpSpec(values: PacketValues): fc.Arbitrary<L4Spec> {
  const port = pick(values.ports, fc.integer({ min: 0, max: 65535 }));
  return fc
    .record({
      sport: port,
      dport: port,
      seq: fc.nat({ max: 0xffffffff }),
      ack: fc.nat({ max: 0xffffffff }),
      flags: pick(values.tcpFlags, fc.oneof(fc.constantFrom(0x02, 0x12, 0x10, 0x18, 0x01, 0x11, 0x04, 0x14, 0x00, 0x29), fc.integer({ min: 0, max: 255 }))),
      options: values.tcpOptions.length > 0 ? fc.oneof(TCP_OPTIONS, fc.constantFrom(...values.tcpOptions).map((k) => [k, 2])) : TCP_OPTIONS,
      doff: fc.option(fc.integer({ min: 0, max: 15 }), { freq: 8, nil: undefined }),
      payload,
      checksum,
    })
    .map((r) => tcp(r));
}

function udpSpec(values: PacketValues): fc.Arbitrary<L4Spec> {
  const port = pick(values.ports, fc.integer({ min: 0, max: 65535 }));
  return fc.record({ sport: port, dport: port, payload, checksum }).map((r) => udp(r));
}

function icmpSpec(family: 'ipv4' | 'ipv6', values: PacketValues): fc.Arbitrary<L4Spec> {
  const known = family === 'ipv4' ? values.icmpTypes : values.icmp6Types;
  const common = family === 'ipv4' ? [0, 3, 8, 11, 13, 42] : [1, 2, 3, 4, 100, 128, 129, 135, 200];
  const typeCode = pick(
    known,
    fc.record({ type: fc.oneof(fc.constantFrom(...common), fc.integer({ min: 0, max: 255 })), code: fc.integer({ min: 0, max: 255 }) }),
  );
  return fc.record({ tc: typeCode, payload, checksum }).map(({ tc, payload: p, checksum: c }) =>
    icmp({ type: tc.type, code: tc.code, payload: p, checksum: c }),
  );
}

function otherSpec(values: PacketValues): fc.Arbitrary<L4Spec> {
  const protocol = pick(
    values.protocols.filter((p) => ![6, 17, 1, 58].includes(p)),
    fc.oneof(fc.constantFrom(47, 50, 51, 132, 136, 33, 2, 89, 253, 59), fc.integer({ min: 0, max: 255 })),
  );
  return fc.record({ protocol, bytes: fc.uint8Array({ maxLength: 48 }) }).map((r) => raw(r.protocol, r.bytes));
}

function l4Spec(family: 'ipv4' | 'ipv6', values: PacketValues): fc.Arbitrary<L4Spec> {
  return fc.oneof(
    { weight: 5, arbitrary: tcpSpec(values) },
    { weight: 3, arbitrary: udpSpec(values) },
    { weight: 2, arbitrary: icmpSpec(family, values) },
    { weight: 1, arbitrary: otherSpec(values) },
  );
}

// ------------------------------------------------------------------------------------------------
// IP layer

const IPV4_OPTIONS = fc.oneof(
  { weight: 10, arbitrary: fc.constant<number[]>([]) },
  { weight: 1, arbitrary: fc.constant([1, 1, 1, 0]) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 9 }).chain((slots) => fc.integer({ min: 0, max: slots }).map((f) => ipOptions.recordRoute(slots, f))) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 9 }).chain((slots) => fc.integer({ min: 0, max: slots }).map((f) => ipOptions.timestamp(slots, f))) },
  { weight: 1, arbitrary: fc.constant(ipOptions.routerAlert()) },
  { weight: 1, arbitrary: fc.constant(ipOptions.looseSourceRoute(['198.51.100.7'])) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => Array.from(b)) },
);

const TLV = fc.oneof(
  fc.constant<number[]>([]),
  fc.constant([5, 2, 0, 0]),
  fc.constant([0x1e, 2, 0, 0]),
  fc.constant([0x5e, 2, 0, 0]),
  fc.constant([1, 6, 0, 0, 0, 0, 0, 0]),
  fc.uint8Array({ maxLength: 14 }).map((b) => Array.from(b)),
);

const EXTENSION: fc.Arbitrary<Ipv6Extension> = fc.oneof(
  TLV.map((options) => ({ kind: 'hop-by-hop' as const, options })),
  TLV.map((options) => ({ kind: 'dest-opts' as const, options })),
  fc.record({ segmentsLeft: fc.integer({ min: 0, max: 2 }) }).map((r) => ({ kind: 'routing' as const, routingType: 4, ...r })),
  fc.constant({ kind: 'auth' as const }),
);

/** Ordered extension header chains: hop-by-hop only first, at most a few headers. */
const EXTENSIONS = fc.array(EXTENSION, { maxLength: 3 }).map((exts) => {
  const hop = exts.filter((e) => e.kind === 'hop-by-hop').slice(0, 1);
  return [...hop, ...exts.filter((e) => e.kind !== 'hop-by-hop')];
});

export interface PacketArbOptions {
  family?: 'ipv4' | 'ipv6' | 'any';
  /** Values to bias toward (valuesFromRuleset). */
  values?: PacketValues;
  /** Wrap in an Ethernet frame (default true). */
  frame?: boolean;
}

/** One generated packet. */
export interface GeneratedPacket {
  family: 'ipv4' | 'ipv6';
  /** An Ethernet frame when `framed`, else the IP packet. */
  bytes: Uint8Array;
  framed: boolean;
  /** What kind of packet it is (for failure reports and coverage counts). */
  kind: string;
}

type Shape = 'plain' | 'truncated' | 'first-fragment' | 'later-fragment' | 'frag-offset-1' | 'malformed';

const SHAPE: fc.Arbitrary<Shape> = fc.oneof(
  { weight: 14, arbitrary: fc.constant<Shape>('plain') },
  { weight: 2, arbitrary: fc.constant<Shape>('truncated') },
  { weight: 2, arbitrary: fc.constant<Shape>('first-fragment') },
  { weight: 2, arbitrary: fc.constant<Shape>('later-fragment') },
  { weight: 1, arbitrary: fc.constant<Shape>('frag-offset-1') },
  { weight: 1, arbitrary: fc.constant<Shape>('malformed') },
);

function ipv4Packet(values: PacketValues): fc.Arbitrary<{ bytes: Uint8Array; kind: string }> {
  return fc
    .record({
      src: address('ipv4', values),
      dst: address('ipv4', values),
      l4: l4Spec('ipv4', values),
      ttl: pick(values.ttls, fc.oneof(fc.constantFrom(64, 64, 64, 128, 1, 2, 255), fc.integer({ min: 0, max: 255 }))),
      tos: fc.integer({ min: 0, max: 255 }),
      df: fc.boolean(),
      options: IPV4_OPTIONS,
      shape: SHAPE,
      keep: fc.integer({ min: 0, max: 19 }),
      malformation: fc.constantFrom('header-checksum', 'ihl', 'version', 'total-length'),
    })
    .map((r) => {
      const ip = { src: r.src, dst: r.dst, ttl: r.ttl, tos: r.tos, df: r.df, options: r.options };
      const kind = `ipv4 ${r.l4.kind} ${r.shape}`;
      switch (r.shape) {
        case 'truncated':
          return { bytes: ipv4(ip, truncated(r.l4, r.keep, 'ipv4', r)), kind };
        case 'first-fragment':
        case 'later-fragment': {
          const frags = fragmentIpv4(ipv4({ ...ip, df: false }, r.l4), 8 * (1 + (r.keep % 4)));
          if (r.shape === 'first-fragment') return { bytes: frags[0]!, kind };
          const later = frags.length > 1 ? frags[frags.length - 1]! : ipv4({ ...ip, df: false, fragOffset: 2 }, r.l4);
          return { bytes: later, kind };
        }
        case 'frag-offset-1':
          return { bytes: ipv4({ ...ip, df: false, fragOffset: 1 }, r.l4), kind };
        case 'malformed': {
          const m = r.malformation;
          const bad =
            m === 'header-checksum'
              ? { headerChecksum: 'bad' as const }
              : m === 'ihl'
                ? { ihl: r.keep % 5 }
                : m === 'version'
                  ? { version: 6 }
                  : { totalLength: 4000 };
          return { bytes: ipv4({ ...ip, ...bad }, r.l4), kind: `${kind} ${m}` };
        }
        default:
          return { bytes: ipv4(ip, r.l4), kind };
      }
    });
}

function ipv6Packet(values: PacketValues): fc.Arbitrary<{ bytes: Uint8Array; kind: string }> {
  return fc
    .record({
      src: address('ipv6', values),
      dst: address('ipv6', values),
      l4: fc.oneof({ weight: 12, arbitrary: l4Spec('ipv6', values) }, { weight: 1, arbitrary: fc.constant(raw(59, [])) }),
      hopLimit: pick(values.ttls, fc.oneof(fc.constantFrom(64, 64, 64, 128, 1, 2, 255), fc.integer({ min: 0, max: 255 }))),
      trafficClass: fc.integer({ min: 0, max: 255 }),
      flowLabel: fc.integer({ min: 0, max: 0xfffff }),
      extensions: fc.oneof({ weight: 3, arbitrary: fc.constant<Ipv6Extension[]>([]) }, { weight: 1, arbitrary: EXTENSIONS }),
      shape: SHAPE,
      keep: fc.integer({ min: 0, max: 19 }),
    })
    .map((r) => {
      const ip = { src: r.src, dst: r.dst, hopLimit: r.hopLimit, trafficClass: r.trafficClass, flowLabel: r.flowLabel, extensions: r.extensions };
      const kind = `ipv6 ${r.l4.kind} ${r.shape}`;
      switch (r.shape) {
        case 'truncated':
          return { bytes: ipv6(ip, truncated(r.l4, r.keep, 'ipv6', r)), kind };
        case 'first-fragment':
        case 'later-fragment':
        case 'frag-offset-1': {
          const frags = fragmentIpv6(ipv6(ip, r.l4), 8 * (1 + (r.keep % 4)));
          if (r.shape !== 'later-fragment') return { bytes: frags[0]!, kind };
          const lone = { ...ip, extensions: [...r.extensions, { kind: 'fragment' as const, offset: 2, more: false }] };
          return { bytes: frags.length > 1 ? frags[frags.length - 1]! : ipv6(lone, r.l4), kind };
        }
        case 'malformed':
          return { bytes: ipv6({ ...ip, payloadLength: 4000 }, r.l4), kind: `${kind} payload-length` };
        default:
          return { bytes: ipv6(ip, r.l4), kind };
      }
    });
}

const L2 = fc.oneof(
  { weight: 10, arbitrary: fc.constant<string | undefined>(undefined) },
  { weight: 1, arbitrary: fc.constant<string | undefined>('broadcast') },
  { weight: 1, arbitrary: fc.constant<string | undefined>('multicast') },
);

/** Packets of the given family (or either), biased toward `values`, framed by default. */
export function arbitraryPacket(options: PacketArbOptions = {}): fc.Arbitrary<GeneratedPacket> {
  const values = options.values ?? emptyValues();
  const family = options.family ?? 'any';
  const framed = options.frame ?? true;
  const v4 = ipv4Packet(values).map((p) => ({ ...p, family: 'ipv4' as const }));
  const v6 = ipv6Packet(values).map((p) => ({ ...p, family: 'ipv6' as const }));
  const ip = family === 'ipv4' ? v4 : family === 'ipv6' ? v6 : fc.oneof(v4, v6);
  return fc
    .record({
      ip,
      l2: L2,
      src: values.macs.length > 0 ? fc.oneof(fc.constantFrom(...values.macs), fc.constant('02:00:00:00:00:01')) : fc.constant('02:00:00:00:00:01'),
      vlan: fc.oneof({ weight: 9, arbitrary: fc.constant<number[]>([]) }, { weight: 1, arbitrary: fc.constant([100]) }),
      trailer: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 16 }) }),
    })
    .map(({ ip: p, l2, src, vlan, trailer }) => {
      const ipBytes = trailer ? withTrailer(p.bytes, trailer) : p.bytes;
      const kind = `${p.kind}${l2 ? ` l2-${l2}` : ''}${trailer ? ' trailer' : ''}`;
      if (!framed) return { family: p.family, bytes: ipBytes, framed, kind };
      return { family: p.family, bytes: ethernet(ipBytes, { dst: l2, src: src.toLowerCase(), vlans: vlan }), framed, kind };
    });
}

/** A mark and interface names for the environment, biased toward the ruleset's values. */
export function arbitraryEnvFields(values: PacketValues = emptyValues()): fc.Arbitrary<{ mark: number; inInterface: string; outInterface: string }> {
  const iface = pick(values.interfaces, fc.constantFrom('eth0', 'eth1', 'veth0', 'lo'));
  return fc.record({ mark: pick(values.marks, fc.nat({ max: 0xffffffff })), inInterface: iface, outInterface: iface });
}
