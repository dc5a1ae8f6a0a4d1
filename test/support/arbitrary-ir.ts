/**
 * fast-check generators of canonical IR: rules exactly as the option level produces them
 * (values normalised the way iptables stores them), so that printing a generated rule and
 * lowering the printed words gives the same IR back. Other engineers can use them to generate
 * random rulesets (`arbRule`, `arbBase`, `arbMatch`, `arbTarget`); spans are a placeholder.
 */
import fc from 'fast-check';
import type {
  AddrType, AddressMatch, BaseMatches, Cidr, CtState, CtStatus, Family, HashlimitMatch, IcmpType, InterfaceMatch,
  Match, Neg, Range, Rule, Target, TcpFlags,
} from '../../src/compiler/ir.js';
import { formatIpv4, formatIpv6, ipv4Mask, ipv6Mask } from '../../src/compiler/values/addresses.js';
import {
  bytesToCost, costToBytes, formatByteBurst, formatByteRate, formatRate, HASHLIMIT_SCALE, LIMIT_SCALE, parseByteRate,
  parseHashlimitBurst, parseLimitRate, parsePacketRate, rateToAvg,
} from '../../src/compiler/values/rates.js';
import type { Span } from '../../src/compiler/span.js';

/** The span every generated node carries (comparisons ignore spans). */
export const SPAN: Span = { file: 'generated', start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 1, offset: 0 } };

const bool = fc.boolean();
const u8 = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const word = (max = 12) => fc.stringMatching(new RegExp(`^[a-z][a-z0-9_-]{0,${max - 1}}$`));

function neg<T>(value: fc.Arbitrary<T>): fc.Arbitrary<Neg<T>> {
  return fc.record({ negated: bool, value }).map((r) => ({ ...r, span: SPAN }));
}

/** An ordered, non-empty subset of `all` (in `all`'s order). */
function subset<T>(all: readonly T[], min = 1): fc.Arbitrary<T[]> {
  return fc.uniqueArray(fc.constantFrom(...all), { minLength: min, maxLength: all.length }).map((picked) => all.filter((x) => picked.includes(x)));
}

function range(lo: fc.Arbitrary<number>): fc.Arbitrary<Range> {
  return fc.tuple(lo, lo).map(([a, b]) => ({ from: Math.min(a, b), to: Math.max(a, b) }));
}

/** A range iptables keeps: not "everything" unless negated (checked by the caller's Neg). */
function keptRange(max: number): fc.Arbitrary<Neg<Range>> {
  return neg(range(fc.integer({ min: 0, max }))).filter((r) => r.negated || r.value.from !== 0 || r.value.to !== max);
}

// ---------------------------------------------------------------------------------------------
// Addresses

export function arbAddress(family: Family): fc.Arbitrary<string> {
  return family === 'ipv4' ? u32.map(formatIpv4) : fc.array(u16, { minLength: 8, maxLength: 8 }).map(formatIpv6);
}

/** A network with its host bits cleared, prefix 1..32 / 1..128. */
export function arbCidr(family: Family): fc.Arbitrary<Cidr> {
  if (family === 'ipv4') {
    return fc.tuple(u32, fc.integer({ min: 1, max: 32 })).map(([a, prefix]) => ({ address: formatIpv4((a & ipv4Mask(prefix)) >>> 0), prefix }));
  }
  return fc.tuple(fc.array(u16, { minLength: 8, maxLength: 8 }), fc.integer({ min: 1, max: 128 })).map(([w, prefix]) => {
    const m = ipv6Mask(prefix);
    return { address: formatIpv6(w.map((x, i) => x & m[i]!)), prefix };
  });
}

export function arbAddressMatch(family: Family, maxAddresses = 1): fc.Arbitrary<AddressMatch> {
  return fc.record({ negated: bool, addresses: fc.array(arbCidr(family), { minLength: 1, maxLength: maxAddresses }) }).map((r) => ({ ...r, span: SPAN }));
}

export const arbInterface: fc.Arbitrary<InterfaceMatch> = fc
  .record({ negated: bool, name: fc.stringMatching(/^[a-z][a-z0-9.]{0,13}$/), wildcard: bool })
  .map((r) => ({ ...r, span: SPAN }));

// ---------------------------------------------------------------------------------------------
// Base matches

/** Protocols a generated rule uses; 0 means no -p. */
const PROTOS = [0, 1, 6, 17, 58, 132, 47, 50] as const;

export function arbBase(family: Family, maxAddresses = 1): fc.Arbitrary<BaseMatches> {
  return fc
    .record(
      {
        src: arbAddressMatch(family, maxAddresses),
        dst: arbAddressMatch(family, maxAddresses),
        inInterface: arbInterface,
        outInterface: arbInterface,
        protocol: fc.record({ negated: bool, protocol: fc.oneof(fc.constantFrom(...PROTOS.filter((p) => p !== 0)), fc.integer({ min: 1, max: 255 })) }).map((p) => ({ ...p, span: SPAN })),
        fragment: fc.record({ negated: bool }).map((f) => ({ ...f, span: SPAN })),
      },
      { requiredKeys: [] },
    )
    .map((b) => {
      if (family === 'ipv6') delete b.fragment;
      // iptables refuses "!" on -s/-d once either of them holds a list.
      if ((b.src?.addresses.length ?? 0) > 1 || (b.dst?.addresses.length ?? 0) > 1) {
        if (b.src) b.src = { ...b.src, negated: false };
        if (b.dst) b.dst = { ...b.dst, negated: false };
      }
      return b;
    });
}

// ---------------------------------------------------------------------------------------------
// Match modules

function ports(): fc.Arbitrary<Neg<Range>> {
  return keptRange(0xffff);
}

const tcpFlags: fc.Arbitrary<Neg<TcpFlags>> = neg(fc.record({ mask: fc.integer({ min: 0, max: 0x3f }), comp: fc.integer({ min: 0, max: 0x3f }) })).filter((f) => f.negated || f.value.mask !== 0);

function icmpType(family: Family): fc.Arbitrary<IcmpType> {
  const codes = fc.oneof(fc.constant([0, 255] as const), u8.map((c) => [c, c] as const), range(u8).map((r) => [r.from, r.to] as const));
  return fc.tuple(u8, codes).map(([type, [codeMin, codeMax]]) => (family === 'ipv4' && type === 255 ? { type, codeMin: 0, codeMax: 255 } : { type, codeMin, codeMax }));
}

const CT_STATES: readonly CtState[] = ['INVALID', 'NEW', 'RELATED', 'ESTABLISHED', 'UNTRACKED', 'SNAT', 'DNAT'];
const CT_STATUSES: readonly CtStatus[] = ['EXPECTED', 'SEEN_REPLY', 'ASSURED', 'CONFIRMED'];
const ADDR_TYPES: readonly AddrType[] = ['UNSPEC', 'UNICAST', 'LOCAL', 'BROADCAST', 'ANYCAST', 'MULTICAST', 'BLACKHOLE', 'UNREACHABLE', 'PROHIBIT', 'THROW', 'NAT', 'XRESOLVE'];
const V6_ADDR_TYPES: readonly AddrType[] = ['UNSPEC', 'UNICAST', 'LOCAL', 'ANYCAST', 'MULTICAST', 'UNREACHABLE'];

/** A packet-rate average that iptables prints and reads back unchanged (scale 1e4 or 1e6). */
function canonicalAvg(scale: number, maxMult: number): fc.Arbitrary<number> {
  const units = [1, 60, 3600, 86400].filter((m) => m <= maxMult);
  return fc.tuple(fc.integer({ min: 1, max: scale }), fc.constantFrom(...units)).map(([count, mult]) => {
    let avg = rateToAvg({ count, mult }, scale, scale === LIMIT_SCALE ? 32 : 64);
    for (let i = 0; i < 3; i++) {
      const text = formatRate(avg, scale).text;
      const again = scale === LIMIT_SCALE ? parseLimitRate(text) : { ok: true as const, value: rateToAvg(parsePacketRate(text)!, scale, 64) };
      if (!again.ok || again.value === avg) break;
      avg = again.value;
    }
    return avg;
  });
}

function canonicalByteCost(): fc.Arbitrary<number> {
  return fc.integer({ min: 16, max: 64 * 1024 * 1024 }).map((bytes) => {
    let cost = bytesToCost(bytes);
    for (let i = 0; i < 3; i++) {
      const again = parseByteRate(formatByteRate(cost));
      if (!again?.ok || again.value === cost) break;
      cost = again.value;
    }
    return cost;
  });
}

/** A byte-mode refill count that prints and reads back unchanged. */
function canonicalByteBurst(cost: number, wanted: number): number {
  let burst = wanted;
  for (let i = 0; i < 3; i++) {
    const bytes = parseHashlimitBurst(formatByteBurst(cost, burst));
    // Printing rounds down to kb/mb (as iptables does): a burst that prints below one
    // packet's worth of bytes would not read back, so generate no burst then.
    if (!bytes.ok || bytes.value < costToBytes(cost)) return 0;
    const again = Math.ceil(bytes.value / costToBytes(cost));
    if (again === burst) break;
    burst = again;
  }
  return burst;
}

function hashlimit(family: Family): fc.Arbitrary<HashlimitMatch> {
  const full = family === 'ipv4' ? 32 : 128;
  const common = {
    direction: fc.constantFrom('upto' as const, 'above' as const),
    mode: subset(['srcip', 'srcport', 'dstip', 'dstport'] as const, 0),
    srcmask: fc.integer({ min: 0, max: full }),
    dstmask: fc.integer({ min: 0, max: full }),
    name: word(15),
    htableSize: fc.nat(100000),
    htableMax: fc.nat(100000),
    htableGcinterval: fc.integer({ min: 1, max: 1_000_000 }),
  };
  const packets = fc.record({ ...common, avg: canonicalAvg(HASHLIMIT_SCALE, 60), burst: fc.integer({ min: 1, max: 100 }), expire: fc.option(fc.integer({ min: 1, max: 10_000_000 }), { nil: undefined }), rateMatch: bool, interval: fc.integer({ min: 1, max: 100 }) }).map((r): HashlimitMatch => {
    const printed = formatRate(r.avg, HASHLIMIT_SCALE);
    // With --hashlimit-rate-match the stored avg is per second: keep rates that print as /sec.
    const rateMatch = r.rateMatch && printed.text.endsWith('/sec');
    return {
      kind: 'match', module: 'hashlimit', span: SPAN, direction: r.direction, avg: r.avg, burst: r.burst, mode: r.mode,
      srcmask: r.srcmask, dstmask: r.dstmask, name: r.name, htableSize: r.htableSize, htableMax: r.htableMax,
      htableExpire: r.expire ?? printed.quantumMs, htableGcinterval: r.htableGcinterval, rateMatch, rateInterval: rateMatch ? r.interval : 0,
    };
  });
  const bytes = fc.record({ ...common, cost: canonicalByteCost(), burst: fc.option(fc.integer({ min: 1, max: 1000 }), { nil: undefined }), expire: fc.option(fc.integer({ min: 1, max: 10_000_000 }), { nil: undefined }) }).map((r): HashlimitMatch => {
    const burst = r.burst === undefined ? 0 : canonicalByteBurst(r.cost, r.burst);
    return {
      kind: 'match', module: 'hashlimit', span: SPAN, direction: r.direction, avg: r.cost, burst, mode: r.mode, srcmask: r.srcmask,
      dstmask: r.dstmask, name: r.name, htableSize: r.htableSize, htableMax: r.htableMax, htableExpire: r.expire ?? (burst === 0 ? 15_000 : 60_000),
      htableGcinterval: r.htableGcinterval, rateMatch: false, rateInterval: 0, bytes: { perSecond: costToBytes(r.cost) },
    };
  });
  return fc.oneof(packets, bytes);
}

function optionalRecord<T extends object>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<Partial<T>> {
  return fc.record(model, { requiredKeys: [] }) as fc.Arbitrary<Partial<T>>;
}

const matchCache = new Map<string, fc.Arbitrary<Match>>();

/** Modules usable with rule protocol `proto` (undefined: none or negated) in `family`. */
export function arbMatch(family: Family, proto: number | undefined): fc.Arbitrary<Match> {
  const key = `${family}/${proto}`;
  const cached = matchCache.get(key);
  if (cached) return cached;
  const made = makeMatch(family, proto);
  matchCache.set(key, made);
  return made;
}

function makeMatch(family: Family, proto: number | undefined): fc.Arbitrary<Match> {
  const m = <T extends Match>(module: T['module'], fields: fc.Arbitrary<Omit<T, 'kind' | 'module' | 'span'>>): fc.Arbitrary<Match> =>
    fields.map((f) => ({ kind: 'match', module, span: SPAN, ...f }) as unknown as Match);
  const full = family === 'ipv4' ? 32 : 128;
  const options: fc.Arbitrary<Match>[] = [
    m('state', fc.record({ negated: bool, states: subset(CT_STATES.slice(0, 5)) })),
    m('conntrack', optionalRecord({
      ctstate: neg(subset(CT_STATES)), ctproto: neg(fc.integer({ min: 1, max: 255 })),
      ctorigsrc: neg(fc.record({ address: arbAddress(family), prefix: fc.integer({ min: 0, max: full }) })),
      ctrepldst: neg(fc.record({ address: arbAddress(family), prefix: fc.integer({ min: 0, max: full }) })),
      ctorigdstport: neg(range(u16)), ctreplsrcport: neg(range(u16)),
      ctstatus: neg(fc.oneof(subset(CT_STATUSES), fc.constant(['NONE'] as CtStatus[]))),
      ctexpire: neg(range(u32)), ctdir: fc.constantFrom('ORIGINAL' as const, 'REPLY' as const).map((value) => ({ value, span: SPAN })),
    }).filter((r) => Object.keys(r).length > 0)),
    m('limit', fc.record({ avg: canonicalAvg(LIMIT_SCALE, 86400), burst: fc.integer({ min: 0, max: 10000 }) })),
    hashlimit(family),
    m('addrtype', fc.record({
      srcType: fc.option(neg(subset(family === 'ipv4' ? ADDR_TYPES : V6_ADDR_TYPES)), { nil: undefined }),
      dstType: fc.option(neg(subset(family === 'ipv4' ? ADDR_TYPES : V6_ADDR_TYPES)), { nil: undefined }),
      limit: fc.constantFrom('none', 'in', 'out'),
    }).filter((r) => r.srcType !== undefined || r.dstType !== undefined).map(({ limit, ...r }) => ({ ...r, ...(limit === 'in' ? { limitIfaceIn: true } : limit === 'out' ? { limitIfaceOut: true } : {}) }))),
    m('recent', fc.record({
      command: neg(fc.constantFrom('set' as const, 'rcheck' as const, 'update' as const, 'remove' as const)),
      name: fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/), side: fc.constantFrom('rsource' as const, 'rdest' as const),
      seconds: fc.option(fc.integer({ min: 1, max: 1_000_000 }), { nil: undefined }), reap: bool,
      hitcount: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }), rttl: bool, mask: arbAddress(family),
    }).map((r) => {
      const checks = r.command.value === 'rcheck' || r.command.value === 'update';
      const out: Record<string, unknown> = { command: r.command, name: r.name, side: r.side, mask: r.mask };
      if (checks && r.seconds !== undefined) out.seconds = r.seconds;
      if (checks && r.seconds !== undefined && r.reap) out.reap = true;
      if (checks && r.hitcount !== undefined) out.hitcount = r.hitcount;
      if (checks && r.rttl) out.rttl = true;
      return out as never;
    })),
    m('owner', fc.record({ uid: fc.option(neg(range(fc.integer({ min: 0, max: 0xfffffffe }))), { nil: undefined }), gid: fc.option(neg(range(fc.integer({ min: 0, max: 0xfffffffe }))), { nil: undefined }), socketExists: fc.option(neg(fc.constant(true as const)), { nil: undefined }), supp: bool })
      .filter((r) => r.uid !== undefined || r.gid !== undefined || r.socketExists !== undefined)
      .map(({ supp, ...r }) => {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(r)) if (v !== undefined) out[k] = v;
        if (supp && r.gid) out.suppGroups = true;
        return out as never;
      })),
    m('mac', fc.record({ source: neg(fc.array(u8, { minLength: 6, maxLength: 6 }).map((b) => b.map((x) => x.toString(16).padStart(2, '0')).join(':'))) })),
    m('comment', fc.record({ text: fc.stringMatching(/^[ -~]{0,60}$/) })),
    m(family === 'ipv4' ? 'ttl' : 'hl', fc.record({ op: fc.constantFrom('eq' as const, 'ne' as const, 'lt' as const, 'gt' as const), value: u8 })),
    m('iprange', fc.record({ src: fc.option(neg(fc.record({ from: arbAddress(family), to: arbAddress(family) })), { nil: undefined }), dst: fc.option(neg(fc.record({ from: arbAddress(family), to: arbAddress(family) })), { nil: undefined }) })
      .filter((r) => r.src !== undefined || r.dst !== undefined)
      .map((r) => ({ ...(r.src ? { src: r.src } : {}), ...(r.dst ? { dst: r.dst } : {}) }) as never)),
    m('set', fc.record({
      negated: bool, name: word(31), flags: fc.array(fc.constantFrom('src' as const, 'dst' as const), { minLength: 1, maxLength: 6 }),
      options: fc.tuple(bool, bool, bool, fc.option(fc.tuple(fc.constantFrom('eq', 'lt', 'gt'), bool, fc.nat(1_000_000)), { nil: undefined })).map(([rn, uc, us, pk]) => [
        ...(rn ? ['--return-nomatch'] : []), ...(uc ? ['!', '--update-counters'] : []), ...(us ? ['!', '--update-subcounters'] : []),
        ...(pk ? [...(pk[0] === 'eq' && pk[1] ? ['!'] : []), `--packets-${pk[0]}`, String(pk[2])] : []),
      ]),
    })),
    m('pkttype', fc.record({ pktType: neg(fc.constantFrom('unicast' as const, 'broadcast' as const, 'multicast' as const, 'otherhost' as const, 'outgoing' as const, 'loopback' as const)) })),
    m('length', fc.record({ length: neg(range(u16)) })),
    m('mark', fc.record({ mark: neg(fc.record({ value: u32, mask: u32 })) })),
    m('connlimit', fc.record({ direction: fc.constantFrom('upto' as const, 'above' as const), limit: u32, mask: fc.integer({ min: 0, max: full }), side: fc.constantFrom('saddr' as const, 'daddr' as const) })),
    m('statistic', fc.oneof(
      fc.record({ mode: fc.constant('random' as const), negated: bool, probability: fc.integer({ min: 0, max: 0x80000000 }).map((k) => k / 0x80000000) }),
      fc.integer({ min: 1, max: 1_000_000 }).chain((every) => fc.record({ mode: fc.constant('nth' as const), negated: bool, every: fc.constant(every), packet: fc.integer({ min: 0, max: every - 1 }) })),
    )),
    m('physdev', optionalRecord({
      physdevIn: neg(fc.record({ name: fc.stringMatching(/^[a-z][a-z0-9]{0,12}$/), wildcard: bool })), physdevOut: neg(fc.record({ name: fc.stringMatching(/^[a-z][a-z0-9]{0,12}$/), wildcard: bool })),
      isIn: neg(fc.constant(true as const)), isOut: neg(fc.constant(true as const)), isBridged: neg(fc.constant(true as const)),
    }).filter((r) => Object.keys(r).length > 0)),
    m('tos', fc.record({ tos: neg(fc.record({ value: u8, mask: u8 })) })),
    m('dscp', fc.record({ dscp: neg(fc.integer({ min: 0, max: 63 })) })),
    m('ecn', fc.record({ tcpCwr: fc.option(neg(fc.constant(true as const)), { nil: undefined }), tcpEce: fc.option(neg(fc.constant(true as const)), { nil: undefined }), ipEct: fc.option(neg(fc.integer({ min: 0, max: 3 })), { nil: undefined }) })
      .map((r) => {
        const out: Record<string, unknown> = {};
        if (proto === 6) {
          if (r.tcpCwr) out.tcpCwr = r.tcpCwr;
          if (r.tcpEce) out.tcpEce = r.tcpEce;
        }
        out.ipEct = r.ipEct ?? { negated: false, value: 1, span: SPAN };
        return out as never;
      })),
  ];
  if (family === 'ipv6') {
    options.push(
      m('frag', fc.record({ id: fc.option(keptRange(0xffffffff), { nil: undefined }), len: fc.option(neg(u32), { nil: undefined }), reserved: bool, first: bool, end: fc.constantFrom('none', 'more', 'last') })
        .map(({ end, ...r }) => {
          const out: Record<string, unknown> = {};
          if (r.id) out.id = r.id;
          if (r.len) out.len = r.len;
          if (r.reserved) out.reserved = true;
          if (r.first) out.first = true;
          if (end === 'more') out.more = true;
          if (end === 'last') out.last = true;
          return out as never;
        })),
      m('ipv6header', fc.record({ negated: bool, headers: subset(['hop-by-hop', 'ipv6-opts', 'ipv6-route', 'ipv6-frag', 'ah', 'esp', 'ipv6-nonxt', 'protocol']), soft: bool })),
      m('rt', fc.record({ rtType: fc.option(neg(fc.integer({ min: 0, max: 4 })), { nil: undefined }), segsLeft: fc.option(keptRange(0xffffffff), { nil: undefined }), len: fc.option(neg(u32), { nil: undefined }), reserved: bool, addrs: fc.array(arbAddress('ipv6'), { minLength: 1, maxLength: 3 }), notStrict: bool })
        .map((r) => {
          const out: Record<string, unknown> = {};
          if (r.rtType) out.rtType = r.rtType;
          if (r.segsLeft) out.segsLeft = r.segsLeft;
          if (r.len) out.len = r.len;
          if (r.reserved) out.reserved = true;
          if (r.rtType && !r.rtType.negated && r.rtType.value === 0) {
            out.addrs = r.addrs;
            if (r.notStrict) out.notStrict = true;
          }
          return out as never;
        })),
    );
  }
  if (proto === 6) {
    options.push(m('tcp', optionalRecord({ sport: ports(), dport: ports(), flags: tcpFlags, option: neg(fc.integer({ min: 1, max: 255 })) })));
  }
  if (proto === 17) options.push(m('udp', optionalRecord({ sport: ports(), dport: ports() })));
  if (proto === 1 && family === 'ipv4') options.push(m('icmp', fc.record({ icmpType: neg(icmpType('ipv4')) })));
  if (proto === 58 && family === 'ipv6') options.push(m('icmp6', fc.record({ icmpType: neg(icmpType('ipv6')) })));
  if (proto === 6 || proto === 17 || proto === 132) {
    const entry = fc.oneof(u16.map((p) => ({ from: p, to: p })), fc.tuple(u16, u16).filter(([a, b]) => a !== b).map(([a, b]) => ({ from: Math.min(a, b), to: Math.max(a, b) })));
    const list = fc.array(entry, { minLength: 1, maxLength: 15 }).map((ps) => {
      const out: Range[] = [];
      let slots = 0;
      for (const p of ps) {
        const need = p.from === p.to ? 1 : 2;
        if (slots + need > 15) break;
        out.push(p);
        slots += need;
      }
      return out;
    });
    options.push(m('multiport', fc.record({ negated: bool, direction: fc.constantFrom('sports' as const, 'dports' as const, 'ports' as const), ports: list })));
  }
  return fc.oneof(...options);
}

// ---------------------------------------------------------------------------------------------
// Targets

const V4_REJECT = ['icmp-net-unreachable', 'icmp-host-unreachable', 'icmp-proto-unreachable', 'icmp-port-unreachable', 'icmp-net-prohibited', 'icmp-host-prohibited', 'icmp-admin-prohibited'] as const;
const V6_REJECT = ['icmp6-no-route', 'icmp6-adm-prohibited', 'icmp6-addr-unreachable', 'icmp6-port-unreachable', 'icmp6-policy-fail', 'icmp6-reject-route'] as const;

const targetCache = new Map<string, fc.Arbitrary<Target>>();

export function arbTarget(family: Family, proto: number | undefined): fc.Arbitrary<Target> {
  const key = `${family}/${proto}`;
  const cached = targetCache.get(key);
  if (cached) return cached;
  const made = makeTarget(family, proto);
  targetCache.set(key, made);
  return made;
}

function makeTarget(family: Family, proto: number | undefined): fc.Arbitrary<Target> {
  const t = <T extends Target>(x: fc.Arbitrary<Omit<T, 'kind' | 'span'>>): fc.Arbitrary<Target> => x.map((v) => ({ kind: 'target', span: SPAN, ...v }) as unknown as Target);
  const rejects: string[] = [...(family === 'ipv4' ? V4_REJECT : V6_REJECT), ...(proto === 6 ? ['tcp-reset'] : [])];
  const hex = (n: number) => `0x${n.toString(16)}`;
  return fc.oneof(
    t(fc.record({ target: fc.constantFrom('ACCEPT' as const, 'DROP' as const, 'RETURN' as const) })),
    t(fc.record({ target: fc.constant('REJECT' as const), with: fc.constantFrom(...rejects) })),
    t(fc.record({ target: fc.constant('jump' as const), chain: word(20), goto: bool })),
    t(
      fc.record({ level: fc.option(fc.integer({ min: 0, max: 7 }).filter((l) => l !== 4), { nil: undefined }), prefix: fc.option(fc.stringMatching(/^[ -~]{1,29}$/), { nil: undefined }), tcpSequence: bool, tcpOptions: bool, ipOptions: bool, uid: bool, macDecode: bool }).map((r) => {
        const out: Record<string, unknown> = { target: 'LOG' };
        for (const [k, v] of Object.entries(r)) if (v !== undefined && v !== false) out[k] = v;
        return out as never;
      }),
    ),
    t(fc.tuple(u32, u32).map(([v, m]) => ({ target: 'other' as const, name: 'MARK', options: ['--set-xmark', `${hex(v)}/${hex(m)}`] }))),
    t(fc.tuple(fc.option(fc.stringMatching(/^[a-z0-9 ]{1,20}$/), { nil: undefined }), fc.integer({ min: 0, max: 65535 })).map(([prefix, group]) => ({
      target: 'other' as const, name: 'NFLOG', options: [...(prefix ? ['--nflog-prefix', /^[a-z0-9]+$/.test(prefix) ? prefix : `"${prefix}"`] : []), ...(group ? ['--nflog-group', String(group)] : [])],
    }))),
    t(fc.record({ target: fc.constant('other' as const), name: fc.constantFrom('NOTRACK', 'TRACE'), options: fc.constant([] as string[]) })),
  );
}

// ---------------------------------------------------------------------------------------------
// Rules

/**
 * A rule of `family` whose printed form lowers back to the same IR in a user chain (user chains
 * carry no per-hook restrictions). `maxAddresses` > 1 gives `-s a,b` lists, which print as
 * several lines.
 */
export function arbRule(family: Family, maxAddresses = 1): fc.Arbitrary<Rule> {
  return arbBase(family, maxAddresses).chain((base) => {
    const proto = base.protocol && !base.protocol.negated ? base.protocol.protocol : undefined;
    return fc
      .record({ matches: fc.array(arbMatch(family, proto), { maxLength: 4 }), target: fc.option(arbTarget(family, proto), { nil: null }) })
      // `--set` after a `-m set` belongs to the set match (its old name for --match-set), in
      // iptables as here: such a rule does not read back, so generate recent before set only.
      .filter(({ matches }) => !matches.some((m, i) => m.module === 'recent' && matches.slice(0, i).some((p) => p.module === 'set')))
      .map(({ matches, target }): Rule => ({ kind: 'rule', span: SPAN, source: '', base, matches, target }));
  });
}
