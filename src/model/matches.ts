/**
 * One rule's matches on one packet, as `ip_packet_match`/`ip6_packet_match` and the xt match
 * modules decide them. The result is `match`, `nomatch`, or `hotdrop` (the module could not
 * examine the packet: the kernel drops it at once, no counter moves, no reply).
 *
 * Kernel sources mirrored: net/ipv4/netfilter/ip_tables.c, net/ipv6/netfilter/ip6_tables.c,
 * net/netfilter/xt_tcpudp.c (tcp, udp, icmp, icmp6), xt_multiport.c, xt_iprange.c, xt_mac.c,
 * xt_pkttype.c, xt_addrtype.c, xt_length.c, xt_hl.c (ttl/hl), xt_mark.c, xt_comment.c.
 */
import type {
  AddressMatch,
  AddrtypeMatch,
  Cidr,
  HashlimitMatch,
  LimitMatch,
  InterfaceMatch,
  Match,
  Neg,
  Range,
  Rule,
} from '../compiler/ir.js';
import { addressBytes, compareAddresses, inPrefix } from './address.js';
import { hookInterfaces, type ModelEnv } from './env.js';
import type { HookPacket } from './hook-view.js';
import { addrType4, matchAddrType6 } from './local.js';
import { readIcmp, readPorts, readTcp, readUdp } from './packet.js';
import { INVALID_VIEW, matchConntrack, matchState } from './state/conntrack.js';
import { setPacketOf } from './state/set.js';
import { matchOwner } from './state/owner.js';
import { matchSet } from '../compiler/ipset/match.js';

export type MatchResult = 'match' | 'nomatch' | 'hotdrop';

/** A rule the model cannot evaluate (outside the compiled subset of issue 3). */
export class ModelUnsupportedError extends Error {
  override readonly name = 'ModelUnsupportedError';
}

/** One of the kernel entries a multi-address rule expands into: one source, one destination. */
export interface Expansion {
  src: Cidr | null;
  dst: Cidr | null;
}

/** `-s a,b -d c,d` → (a,c) (a,d) (b,c) (b,d): source outer, as iptables adds them. */
export function expansions(rule: Rule): Expansion[] {
  const srcs: (Cidr | null)[] = rule.base.src ? rule.base.src.addresses : [null];
  const dsts: (Cidr | null)[] = rule.base.dst ? rule.base.dst.addresses : [null];
  return srcs.flatMap((src) => dsts.map((dst) => ({ src, dst })));
}

/** Transport offset and fragment offset as the table walker hands them to matches. */
interface Transport {
  /** `par->thoff`. */
  thoff: number;
  /** `par->fragoff`: IPv4 in 8-byte units; IPv6 in bytes (`frag_off & ~7`). */
  fragoff: number;
}

/**
 * Evaluates a rule entry (one expansion) on a packet: base matches, then each module in order.
 * Throws {@link ModelUnsupportedError} for modules outside the compiled subset.
 */
export function matchRule(rule: Rule, expansion: Expansion, pkt: HookPacket, env: ModelEnv): MatchResult {
  const base = pkt.ip.family === 'ipv4' ? baseMatch4(rule, expansion, pkt, env) : baseMatch6(rule, expansion, pkt, env);
  if (base.result !== 'match') return base.result;
  for (const m of rule.matches) {
    const r = m.module === 'limit' || m.module === 'hashlimit' ? matchRateLimit(m, expansion, pkt, env) : matchModule(m, base.transport, pkt, env);
    if (r !== 'match') return r;
  }
  return 'match';
}

/**
 * `-m limit` / `-m hashlimit`: stateful, so they spend tokens exactly when the walk reaches
 * them (whatever later matches decide), per kernel entry (`expansion`) for `-m limit`.
 */
function matchRateLimit(m: LimitMatch | HashlimitMatch, expansion: Expansion, pkt: HookPacket, env: ModelEnv): MatchResult {
  if (!env.rateLimits || env.now === undefined) throw new ModelUnsupportedError(`match "${m.module}" needs env.rateLimits and env.now`);
  if (m.module === 'limit') return env.rateLimits.limit(m, expansion.src, expansion.dst, env.now) ? 'match' : 'nomatch';
  return env.rateLimits.hashlimit(m, pkt.ip.bytes, env.now);
}

type BaseResult = { result: 'match'; transport: Transport } | { result: 'nomatch' | 'hotdrop' };

function addressMatches(match: AddressMatch | undefined, cidr: Cidr | null, addr: Uint8Array): boolean {
  if (!match || !cidr) return true;
  return inPrefix(addr, addressBytes(cidr.address), cidr.prefix) !== match.negated;
}

/** `ifname_compare_aligned`: exact name, or a prefix with `+`. "" is the hook's missing device. */
export function interfaceMatches(match: InterfaceMatch | undefined, device: string): boolean {
  if (!match) return true;
  const equal = match.wildcard ? device.startsWith(match.name) : device === match.name;
  return equal !== match.negated;
}

function commonBase(rule: Rule, expansion: Expansion, pkt: HookPacket, env: ModelEnv): boolean {
  const ip = pkt.ip;
  const devices = hookInterfaces(env);
  return (
    addressMatches(rule.base.src, expansion.src, ip.header.src) &&
    addressMatches(rule.base.dst, expansion.dst, ip.header.dst) &&
    interfaceMatches(rule.base.inInterface, devices.in) &&
    interfaceMatches(rule.base.outInterface, devices.out)
  );
}

/** `ip_packet_match`. `-f` matches non-first fragments (fragoff != 0); `! -f` the others. */
function baseMatch4(rule: Rule, expansion: Expansion, pkt: HookPacket, env: ModelEnv): BaseResult {
  if (pkt.ip.family !== 'ipv4') return { result: 'nomatch' };
  const h = pkt.ip.header;
  if (!commonBase(rule, expansion, pkt, env)) return { result: 'nomatch' };
  const p = rule.base.protocol;
  if (p && p.protocol !== 0 && (h.protocol !== p.protocol) !== p.negated) return { result: 'nomatch' };
  const f = rule.base.fragment;
  if (f && (h.fragOffset !== 0) === f.negated) return { result: 'nomatch' };
  return { result: 'match', transport: { thoff: h.headerLength, fragoff: h.fragOffset } };
}

/**
 * `ip6_packet_match`. With `-p`, the transport header is found with `ipv6_find_hdr`; a failed
 * walk hotdrops. `-p X` matches X; `! -p X` matches anything else (a non-first fragment
 * carries the fragment header's next header as its protocol).
 */
function baseMatch6(rule: Rule, expansion: Expansion, pkt: HookPacket, env: ModelEnv): BaseResult {
  if (pkt.ip.family !== 'ipv6') return { result: 'nomatch' };
  if (!commonBase(rule, expansion, pkt, env)) return { result: 'nomatch' };
  const p = rule.base.protocol;
  if (!p) return { result: 'match', transport: { thoff: 0, fragoff: 0 } };
  const found = pkt.ip.findHdr;
  if (!found.ok) return { result: 'hotdrop' };
  const transport = { thoff: found.offset, fragoff: found.fragOffset };
  if (p.protocol === found.protocol) return p.negated ? { result: 'nomatch' } : { result: 'match', transport };
  if (p.protocol !== 0 && !p.negated) return { result: 'nomatch' };
  return { result: 'match', transport };
}

function inRange(r: Range, v: number): boolean {
  return v >= r.from && v <= r.to;
}

/** `port_match`: an absent option is the full range 0..65535 (never negated). */
function portOk(n: Neg<Range> | undefined, port: number): boolean {
  if (!n) return true;
  return inRange(n.value, port) !== n.negated;
}

function matchModule(m: Match, t: Transport, pkt: HookPacket, env: ModelEnv): MatchResult {
  const b = pkt.ip.bytes;
  const bool = (v: boolean): MatchResult => (v ? 'match' : 'nomatch');
  switch (m.module) {
    case 'comment':
      return 'match';
    case 'tcp': {
      if (t.fragoff !== 0) return pkt.ip.family === 'ipv4' && t.fragoff === 1 ? 'hotdrop' : 'nomatch';
      const th = readTcp(b, t.thoff);
      if (!th) return 'hotdrop';
      if (!portOk(m.sport, th.sport) || !portOk(m.dport, th.dport)) return 'nomatch';
      if (m.flags && ((th.flags & m.flags.value.mask) === m.flags.value.comp) === m.flags.negated) return 'nomatch';
      if (m.option) return tcpOption(b, t.thoff, th.doff, m.option);
      return 'match';
    }
    case 'udp': {
      if (t.fragoff !== 0) return 'nomatch';
      const uh = readUdp(b, t.thoff);
      if (!uh) return 'hotdrop';
      return bool(portOk(m.sport, uh.sport) && portOk(m.dport, uh.dport));
    }
    case 'icmp':
    case 'icmp6': {
      if (t.fragoff !== 0) return 'nomatch';
      const ic = readIcmp(b, t.thoff);
      if (!ic) return 'hotdrop';
      if (!m.icmpType) return 'match';
      const want = m.icmpType.value;
      const any = m.module === 'icmp' && want.type === 0xff;
      const hit = any || (ic.type === want.type && ic.code >= want.codeMin && ic.code <= want.codeMax);
      return bool(hit !== m.icmpType.negated);
    }
    case 'multiport': {
      if (t.fragoff !== 0) return 'nomatch';
      const ports = readPorts(b, t.thoff);
      if (!ports) return 'hotdrop';
      const hit = m.ports.some(
        (r) =>
          (m.direction !== 'dports' && inRange(r, ports.sport)) || (m.direction !== 'sports' && inRange(r, ports.dport)),
      );
      return bool(hit !== m.negated);
    }
    case 'iprange':
      return bool(rangeOk(m.src, pkt.ip.header.src) && rangeOk(m.dst, pkt.ip.header.dst));
    case 'mac':
      if (!pkt.macSource || env.chain === 'OUTPUT') return 'nomatch';
      return bool(macEquals(pkt.macSource, m.source.value) !== m.source.negated);
    case 'pkttype':
      return bool((pktTypeNumber(pkt) === PKT_TYPES[m.pktType.value]) !== m.pktType.negated);
    case 'addrtype':
      return bool(addrtypeOk(m, pkt, env));
    case 'length': {
      const len = pkt.ip.family === 'ipv4' ? pkt.ip.header.totalLength : pkt.ip.header.payloadLength + 40;
      return bool(inRange(m.length.value, len) !== m.length.negated);
    }
    case 'ttl':
    case 'hl': {
      const v = pkt.ip.family === 'ipv4' ? pkt.ip.header.ttl : pkt.ip.header.hopLimit;
      const ops = { eq: v === m.value, ne: v !== m.value, lt: v < m.value, gt: v > m.value };
      return bool(ops[m.op]);
    }
    case 'mark': {
      const mark = (env.mark ?? 0) >>> 0;
      const { value, mask } = m.mark.value;
      return bool((((mark & mask) >>> 0) === value >>> 0) !== m.mark.negated);
    }
    case 'state':
      return bool(matchState(m, env.conntrack ?? INVALID_VIEW));
    case 'conntrack':
      return bool(matchConntrack(m, env.conntrack ?? INVALID_VIEW));
    case 'owner':
      return bool(env.chain === 'OUTPUT' && matchOwner(m, env.socket));
    case 'recent': {
      if (!env.recent || env.now === undefined) throw new ModelUnsupportedError('match "recent" needs env.recent and env.now');
      const ip = pkt.ip;
      const addr = m.side === 'rdest' ? ip.header.dst : ip.header.src;
      const hop = ip.family === 'ipv4' ? ip.header.ttl : ip.header.hopLimit;
      // recent_mt: "use TTL as seen before forwarding".
      const ttl = env.chain === 'FORWARD' ? (hop + 1) & 0xff : hop;
      return bool(env.recent.match(m, ip.family, addr, ttl, env.now.jiffies));
    }
    case 'set':
      if (!env.ipsets) throw new ModelUnsupportedError('match "set" needs env.ipsets (the --ipset file)');
      return bool(matchSet(env.ipsets, m, setPacketOf(pkt)));
    default:
      throw new ModelUnsupportedError(`match "${m.module}" is not part of the compiled subset the model evaluates`);
  }
}

/**
 * `tcp_find_option`: a data offset below 5 hotdrops; option bytes not all present hotdrop;
 * otherwise scan kinds (0 and 1 are one byte, others use their length byte, 0 counted as 1).
 */
function tcpOption(b: Uint8Array, thoff: number, doff: number, option: Neg<number>): MatchResult {
  if (doff * 4 < 20) return 'hotdrop';
  const optlen = doff * 4 - 20;
  const invert = option.negated;
  if (optlen === 0) return invert ? 'match' : 'nomatch';
  const start = thoff + 20;
  if (start + optlen > b.length) return 'hotdrop';
  for (let i = 0; i < optlen; ) {
    const kind = b[start + i]!;
    if (kind === option.value) return invert ? 'nomatch' : 'match';
    if (kind < 2) i++;
    else i += b[start + i + 1] || 1;
  }
  return invert ? 'match' : 'nomatch';
}

function rangeOk(n: Neg<{ from: string; to: string }> | undefined, addr: Uint8Array): boolean {
  if (!n) return true;
  const from = addressBytes(n.value.from);
  const to = addressBytes(n.value.to);
  if (from.length !== addr.length) return false;
  const outside = compareAddresses(addr, from) < 0 || compareAddresses(addr, to) > 0;
  return outside === n.negated;
}

function macEquals(mac: Uint8Array, text: string): boolean {
  const parts = text.split(':').map((p) => parseInt(p, 16));
  return parts.length === 6 && parts.every((v, i) => v === mac[i]);
}

/** `skb->pkt_type` values (include/uapi/linux/if_packet.h); "unicast" and "host" are both 0. */
const PKT_TYPES = { unicast: 0, host: 0, broadcast: 1, multicast: 2, otherhost: 3, outgoing: 4, loopback: 5 } as const;

function pktTypeNumber(pkt: HookPacket): number {
  return pkt.l2 === 'broadcast' ? 1 : pkt.l2 === 'multicast' ? 2 : 0;
}

/** `addrtype_mt_v1`: limit-iface-in/out restrict the local-table lookup to that device. */
function addrtypeOk(m: AddrtypeMatch, pkt: HookPacket, env: ModelEnv): boolean {
  const devices = hookInterfaces(env);
  const name = m.limitIfaceIn ? devices.in : m.limitIfaceOut ? devices.out : '';
  const device = name === '' ? null : name;
  const ok = (n: Neg<AddrTypeList> | undefined, addr: Uint8Array): boolean => {
    if (!n) return true;
    const hit =
      pkt.ip.family === 'ipv4'
        ? n.value.includes(addrType4(addr, env, device))
        : matchAddrType6(addr, n.value, env, device);
    return hit !== n.negated;
  };
  return ok(m.srcType, pkt.ip.header.src) && ok(m.dstType, pkt.ip.header.dst);
}

type AddrTypeList = NonNullable<AddrtypeMatch['srcType']>['value'];
