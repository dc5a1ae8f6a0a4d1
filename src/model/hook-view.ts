/**
 * From the packet on the wire to the packet the filter hook sees (nf-reject.md §3):
 * what the IP receive and forward paths drop before netfilter, the L2 class (`pkt_type`),
 * IPv4 option processing (RR/TS fills with a stale header checksum), IPv6 hop-by-hop option
 * checks, and the TTL / hop-limit decrement before FORWARD.
 *
 * OTHERHOST frames and unjoined multicast groups are dropped when the environment says what
 * the device's MAC and groups are (`env.inMac`, `env.multicastGroups`).
 *
 * Not modelled (rejectc assumes them away; docs/semantics.md): IPv4 reassembly before INPUT
 * (a BPF hook sees fragments; {@link reassembleIpv4} exists for the golden cases), rp_filter,
 * MTU checks in ip_forward.
 */
import {
  addressBytes,
  ipv6AddrType,
  IPV6_ADDR,
  isIpv4LimitedBroadcast,
  isIpv4Loopback,
  isIpv4Multicast,
  isIpv4Zeronet,
} from './address.js';
import { get16, put16, setIpv4HeaderChecksum } from './checksum.js';
import { hookInterfaces, INADDR_DUMMY, replyConfig, type ModelEnv } from './env.js';
import { compileReceivedOptions, type IpOptionsInfo } from './ip-options.js';
import { addrType4, isJoinedGroup, isLocalAddress, isSubnetBroadcast } from './local.js';
import {
  decodeIpv4,
  decodeIpv6,
  NEXTHDR,
  type DecodedPacket,
  type IpPacket,
  type Ipv4Packet,
  type L2Class,
} from './packet.js';

/** Why a packet never reaches the filter table (the stack drops it, or it is not IP). */
export type StackDrop =
  | 'not-ip'
  | 'truncated-header'
  | 'bad-version'
  | 'bad-ihl'
  | 'bad-length'
  | 'bad-header-checksum'
  | 'jumbo'
  | 'bad-options'
  | 'source-route'
  | 'bad-source'
  | 'bad-destination'
  | 'bad-hop-by-hop'
  | 'not-for-host'
  /** A unicast frame to another host's MAC (PACKET_OTHERHOST). */
  | 'otherhost'
  /** A multicast group the ingress device has not joined. */
  | 'not-joined'
  | 'ttl-exceeded';

/** The packet as the filter hook sees it. */
export interface HookPacket {
  ip: IpPacket;
  /** `skb->pkt_type` as unicast (PACKET_HOST) / broadcast / multicast. */
  l2: L2Class;
  /** Ethernet source address, when the packet came with its frame (`-m mac`). */
  macSource: Uint8Array | null;
  /** IPv4 options as the receive path compiled them (null for IPv6 or no options). */
  options: IpOptionsInfo | null;
  /** `skb->len`: the IP length (tot_len, or 40 + payload_len). */
  length: number;
}

export type HookView = { ok: true; packet: HookPacket } | { ok: false; drop: StackDrop };

/** Normalises a decoded packet for the hook in `env.chain`. Never throws. */
export function hookView(decoded: DecodedPacket, env: ModelEnv): HookView {
  const ip = decoded.ip;
  if (!ip) return { ok: false, drop: 'not-ip' };
  if (ip.problem) return { ok: false, drop: ip.problem };
  const l2: L2Class = env.chain === 'OUTPUT' ? 'unicast' : (env.l2 ?? decoded.ethernet?.l2 ?? 'unicast');
  if (env.chain !== 'OUTPUT' && isOtherHost(decoded, l2, env)) return { ok: false, drop: 'otherhost' };
  const macSource = decoded.ethernet ? decoded.ethernet.src : null;
  const view = ip.family === 'ipv4' ? ipv4View(ip, l2, env) : ipv6View(ip.bytes, l2, env);
  if (!view.ok) return view;
  return { ok: true, packet: { ...view.packet, l2, macSource, length: view.packet.ip.bytes.length } };
}

type ViewResult = { ok: true; packet: { ip: IpPacket; options: IpOptionsInfo | null } } | { ok: false; drop: StackDrop };

/** `eth_type_trans`: a unicast frame whose destination is not the ingress device's MAC. */
function isOtherHost(decoded: DecodedPacket, l2: L2Class, env: ModelEnv): boolean {
  if (l2 !== 'unicast' || !decoded.ethernet || env.inMac === undefined) return false;
  const mac = env.inMac.split(':').map((x) => Number.parseInt(x, 16));
  return decoded.ethernet.dst.some((b, i) => b !== mac[i]);
}

/**
 * The input and output devices are the same one (and known): the packet is routed back out
 * where it came from. `ip_forward` / `ip6_forward` treat that case apart.
 */
function isHairpin(env: ModelEnv): boolean {
  const { in: input, out } = hookInterfaces(env);
  return input !== '' && input === out;
}

/** A multicast destination the ingress device has not joined never reaches INPUT. */
function notJoined(dst: Uint8Array, env: ModelEnv): boolean {
  return env.chain === 'INPUT' && env.multicastGroups !== undefined && !isJoinedGroup(dst, env, hookInterfaces(env).in);
}

function ipv4View(ip: Ipv4Packet, l2: L2Class, env: ModelEnv): ViewResult {
  const bytes = Uint8Array.from(ip.bytes);
  let options: IpOptionsInfo | null = null;
  // Looped-back packets keep their output route: no input route lookup, no martian checks.
  if (env.chain !== 'OUTPUT' && hookInterfaces(env).in !== 'lo') {
    const martian = ipv4Martian(ip, env);
    if (martian) return { ok: false, drop: martian };
  }
  if (ip.header.ihl > 5) {
    const isForeignUnicast = (a: Uint8Array): boolean => addrType4(a, env, null) === 'UNICAST';
    if (env.chain === 'OUTPUT') {
      // A locally generated packet is not compiled again: its header already shows what the
      // sender's own option processing wrote. The echo state is read without changing it.
      const compiled = compileReceivedOptions(Uint8Array.from(bytes), { specDst: null, timestampMs: null, isForeignUnicast });
      options = compiled.ok ? compiled.info : null;
    } else {
      const compiled = compileReceivedOptions(bytes, { specDst: specDst(ip, env), timestampMs: env.timestampMs ?? 0, isForeignUnicast });
      if (!compiled.ok) return { ok: false, drop: 'bad-options' };
      if (compiled.info.srr) return { ok: false, drop: 'source-route' };
      options = compiled.info;
    }
  }
  if (env.chain === 'FORWARD') {
    if (l2 !== 'unicast') return { ok: false, drop: 'not-for-host' };
    if (bytes[8]! <= 1) return { ok: false, drop: 'ttl-exceeded' };
    ipDecreaseTtl(bytes);
  }
  return { ok: true, packet: { ip: decodeIpv4(bytes), options } };
}

/**
 * The address checks of input routing (`ip_route_input_rcu`, `ip_route_input_slow`,
 * `ip_check_mc_rcu`, `ip_mc_validate_source`, `fib_validate_source` with rp_filter and
 * accept_local 0, route_localnet 0): multicast groups the device has not joined, multicast or
 * limited-broadcast sources, source 0.0.0.0 (except to 255.255.255.255, or 0 → 0, or to
 * 224.0.0.0/24 and IGMP), destination 0.0.0.0 (the rest of 0.0.0.0/8 is routed since Linux
 * 5.3), loopback addresses from a device, sources that are this host's own addresses, and
 * subnet-broadcast sources routed back out their ingress device are martians.
 */
function ipv4Martian(ip: Ipv4Packet, env: ModelEnv): StackDrop | null {
  const { src, dst, protocol } = ip.header;
  if (isIpv4Multicast(src) || isIpv4LimitedBroadcast(src)) return 'bad-source';
  const zeroSrc = isIpv4Zeronet(src);
  const ownSource = !zeroSrc && isLocalAddress(src, env) && !isIpv4Loopback(src);
  if (isIpv4Multicast(dst)) {
    // ip_check_mc_rcu first (IGMP too), then ip_mc_validate_source.
    if (notJoined(dst, env)) return 'not-joined';
    if (isIpv4Loopback(src)) return 'bad-source';
    const localMulticast = dst[0] === 224 && dst[1] === 0 && dst[2] === 0;
    if (zeroSrc && !localMulticast && protocol !== 2) return 'bad-source';
    return ownSource ? 'bad-source' : null;
  }
  const allZero = src.every((b) => b === 0) && dst.every((b) => b === 0);
  if (isIpv4LimitedBroadcast(dst) || allZero) return ownSource ? 'bad-source' : null;
  if (zeroSrc) return 'bad-source';
  if (isIpv4Zeronet(dst) || isIpv4Loopback(dst)) return 'bad-destination';
  if (isIpv4Loopback(src) || ownSource) return 'bad-source';
  // Back out its ingress device (send_redirects on), fib_validate_source's full check wants a
  // unicast route toward the source: a subnet-broadcast source is a martian there.
  if (env.chain === 'FORWARD' && isHairpin(env) && isSubnetBroadcast(src, env)) return 'bad-source';
  return null;
}

/**
 * `fib_compute_spec_dst`: the orig destination when it is a local unicast address, otherwise
 * the preferred source toward the orig source (`icmpSourceV4`).
 */
function specDst(ip: Ipv4Packet, env: ModelEnv): Uint8Array {
  const dst = ip.header.dst;
  const local = env.chain === 'INPUT' && !isIpv4Multicast(dst) && !isIpv4LimitedBroadcast(dst) && !isSubnetBroadcast(dst, env);
  if (local) return dst;
  return addressBytes(replyConfig(env).icmpSourceV4 ?? INADDR_DUMMY);
}

/** `ip_decrease_ttl`: TTL - 1 with the kernel's incremental checksum update (stale stays stale). */
export function ipDecreaseTtl(bytes: Uint8Array): void {
  let check = get16(bytes, 10) + 0x0100;
  check = (check + (check >= 0xffff ? 1 : 0)) & 0xffff;
  put16(bytes, 10, check);
  bytes[8] = bytes[8]! - 1;
}

function ipv6View(original: Uint8Array, l2: L2Class, env: ModelEnv): ViewResult {
  const bytes = Uint8Array.from(original);
  if (env.chain !== 'OUTPUT') {
    const drop = ipv6ReceiveDrop(bytes, env);
    if (drop) return { ok: false, drop };
  }
  if (env.chain === 'FORWARD') {
    if (l2 !== 'unicast') return { ok: false, drop: 'not-for-host' };
    if (bytes[7]! <= 1) return { ok: false, drop: 'ttl-exceeded' };
    // ip6_forward: "This check is security critical": no forwarding from unspecified or
    // link-local sources -- but only to another device; back out the ingress device the packet
    // takes the redirect branch and is forwarded whatever its source.
    const srcType = ipv6AddrType(bytes.subarray(8, 24));
    if (!isHairpin(env) && (srcType === IPV6_ADDR.ANY || srcType & IPV6_ADDR.LINKLOCAL)) return { ok: false, drop: 'bad-source' };
    bytes[7] = bytes[7]! - 1;
  }
  return { ok: true, packet: { ip: decodeIpv6(bytes), options: null } };
}

/**
 * `ip6_rcv_core` address checks (a v4-mapped source is no longer one of them: that check moved
 * to `tcp_v6_conn_request`), hop-by-hop option processing (`ipv6_parse_hopopts`), and
 * `ip6_mc_input`'s group membership.
 */
function ipv6ReceiveDrop(b: Uint8Array, env: ModelEnv): StackDrop | null {
  const src = b.slice(8, 24);
  const dst = b.slice(24, 40);
  const onLoopback = hookInterfaces(env).in === 'lo';
  const srcType = ipv6AddrType(src);
  const dstType = ipv6AddrType(dst);
  if (srcType & IPV6_ADDR.MULTICAST) return 'bad-source';
  if (!onLoopback && ((srcType | dstType) & IPV6_ADDR.LOOPBACK)) return 'bad-source';
  if (dstType & IPV6_ADDR.MULTICAST) {
    const scope = dst[1]! & 0x0f;
    if (scope === 0 || (scope === 1 && !onLoopback)) return 'bad-destination';
  }
  if (b[6] === NEXTHDR.HOP && !hopByHopOk(b)) return 'bad-hop-by-hop';
  if (dstType & IPV6_ADDR.MULTICAST && notJoined(dst, env)) return 'not-joined';
  return null;
}

/** `max_hbh_opts_cnt` default: non-padding options allowed in a hop-by-hop header. */
const MAX_HBH_OPTIONS = 8;

/**
 * `ipv6_parse_hopopts` / `ip6_parse_tlv` for the hop-by-hop header: at least 8 bytes and the
 * whole header present; TLVs inside it; at most 7 bytes of padding in a row and PadN content
 * all zero; at most 8 other options; Router Alert of length 2; IOAM 4n-aligned (then ignored:
 * not enabled); Jumbo (payload_len is not 0 here) and CALIPSO (no DOI) drop; unknown options
 * pass only when their two action bits say "skip".
 */
function hopByHopOk(b: Uint8Array): boolean {
  if (b.length < 48) return false;
  const end = 40 + ((b[41]! + 1) << 3);
  if (end > b.length) return false;
  let off = 42;
  let padlen = 0;
  let count = 0;
  while (off < end) {
    const type = b[off]!;
    if (type === 0) {
      if (++padlen > 7) return false;
      off++;
      continue;
    }
    if (off + 2 > end) return false;
    const optlen = b[off + 1]! + 2;
    if (off + optlen > end) return false;
    if (type === 1) {
      padlen += optlen;
      if (padlen > 7 || b.slice(off + 2, off + optlen).some((x) => x !== 0)) return false;
    } else {
      if (++count > MAX_HBH_OPTIONS || !hopOptionOk(type, optlen, off)) return false;
      padlen = 0;
    }
    off += optlen;
  }
  return true;
}

function hopOptionOk(type: number, optlen: number, off: number): boolean {
  switch (type) {
    case 0x05: // Router Alert (ipv6_hop_ra)
      return optlen === 4;
    case 0x31: // IOAM (ipv6_hop_ioam): alignment checked, then ignored
      return (off & 3) === 0;
    case 0xc2: // Jumbo (ipv6_hop_jumbo)
    case 0x07: // CALIPSO (ipv6_hop_calipso)
      return false;
    default: // ip6_tlvopt_unknown
      return type >> 6 === 0;
  }
}

/**
 * IPv4 reassembly as `ip_defrag` delivers it to INPUT: the fragments' payloads in offset
 * order behind the first fragment's header, frag fields cleared, tot_len = total, id kept,
 * header checksum recomputed. Only for whole, non-overlapping sets; null otherwise. A BPF hook
 * cannot do this; the golden tests use it to show the model is right about the kernel.
 */
export function reassembleIpv4(fragments: Uint8Array[]): Uint8Array | null {
  const parts = fragments.map((f) => decodeIpv4(f)).filter((p) => !p.problem);
  if (parts.length !== fragments.length || parts.length === 0) return null;
  parts.sort((a, b) => a.header.fragOffset - b.header.fragOffset);
  const first = parts[0]!;
  if (first.header.fragOffset !== 0) return null;
  const hl = first.header.headerLength;
  const chunks: Uint8Array[] = [];
  let expected = 0;
  for (const p of parts) {
    if (p.header.fragOffset * 8 !== expected) return null;
    const data = p.bytes.slice(p.header.headerLength);
    chunks.push(data);
    expected += data.length;
  }
  if (parts[parts.length - 1]!.header.mf) return null;
  const out = new Uint8Array(hl + expected);
  out.set(first.bytes.slice(0, hl));
  let at = hl;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  put16(out, 2, out.length);
  put16(out, 6, 0);
  setIpv4HeaderChecksum(out);
  return out;
}

