/**
 * The REJECT target's reply, byte for byte as the kernel builds it (nf-reject.md §4–§8):
 * `nf_send_reset` / `nf_send_reset6` for tcp-reset, `nf_send_unreach` + `__icmp_send` and
 * `nf_send_unreach6` + `icmp6_send` for the ICMP types — including every condition under which
 * nothing is sent. Rate limiting is not modelled here (the reply budget is another issue).
 *
 * The two fields the kernel fills non-deterministically get the values docs/semantics.md fixes
 * for rejectc (agreed with bpf/rjc_reply4.h, rjc_reply6.h): the IPv4 ICMP identification is the
 * orig's identification, the ICMPv6 flow label is 0.
 */
import type { RejectWith } from '../compiler/ir.js';
import { addressBytes, ipv6AddrType, IPV6_ADDR } from './address.js';
import {
  checksumOf,
  pseudoSum4,
  pseudoSum6,
  put16,
  put32,
  setIpv4HeaderChecksum,
  sum16,
  verifies,
} from './checksum.js';
import { hookInterfaces, INADDR_DUMMY, replyConfig, type ModelEnv } from './env.js';
import type { HookPacket } from './hook-view.js';
import { echoOptions } from './ip-options.js';
import { addrType4, ipv4RouteIsBroadcast, isLocalAddress, subnetAddressOf } from './local.js';
import { readTcp, readUdp, type Ipv4Packet, type Ipv6Packet, type TcpHeader } from './packet.js';

/**
 * Why REJECT sent nothing (the orig is dropped all the same). The names are those of
 * `NO_REPLY_REASONS` in src/layout/codes.ts where the BPF program has the same condition;
 * `mtu` and `output-filtered` are conditions only the model reproduces.
 */
export type NoReplyReason =
  /** Non-first fragment. */
  | 'fragment'
  /** tcp-reset on a packet whose transport protocol is not TCP. */
  | 'wrong-protocol'
  /** Fewer than 20 TCP header bytes (RST); an IPv4 ICMP orig without its type byte. */
  | 'truncated'
  /** tcp-reset in reply to a RST. */
  | 'rst-for-rst'
  /** The transport checksum does not verify (includes first fragments, stale IPv4 header sums). */
  | 'bad-checksum'
  /** IP destination is broadcast or multicast. */
  | 'broadcast-dst'
  /** ICMP: the frame was L2 broadcast/multicast (`pkt_type != PACKET_HOST`). */
  | 'l2-broadcast'
  /** ICMP error (or unknown type) in the orig: never an error about an error. */
  | 'icmp-error'
  /** IPv6 source/destination not usable (`::`, multicast, v4-mapped for RST). */
  | 'bad-source'
  /** IPv6 extension header walk failed (incl. next header 59) or no transport header. */
  | 'ext-header'
  /** IPv4 option echo failed (`__ip_options_echo` returned -EINVAL). */
  | 'ip-options'
  /** No source address for the ICMPv6 error (a link-local destination, no link-local address on the device). */
  | 'no-route'
  /** The route MTU leaves no room for a quote (model only: `routeMtu` below 48). */
  | 'mtu'
  /** The reply was dropped by the OUTPUT chain (only with `filterRepliesThroughOutput`). */
  | 'output-filtered';

export type ReplyResult = { reply: Uint8Array; reason?: undefined } | { reply: null; reason: NoReplyReason };

const ICMP_CODES: Partial<Record<RejectWith, number>> = {
  'icmp-net-unreachable': 0,
  'icmp-host-unreachable': 1,
  'icmp-proto-unreachable': 2,
  'icmp-port-unreachable': 3,
  'icmp-net-prohibited': 9,
  'icmp-host-prohibited': 10,
  'icmp-admin-prohibited': 13,
};

const ICMP6_CODES: Partial<Record<RejectWith, number>> = {
  'icmp6-no-route': 0,
  'icmp6-adm-prohibited': 1,
  'icmp6-addr-unreachable': 3,
  'icmp6-port-unreachable': 4,
  'icmp6-policy-fail': 5,
  'icmp6-reject-route': 6,
};

/** The ICMPv6 flow label rejectc uses (the kernel's is an automatic hash-based label). */
export const ICMP6_FLOW_LABEL = 0;

const none = (reason: NoReplyReason): ReplyResult => ({ reply: null, reason });

/** Builds REJECT's reply for the packet as the hook sees it. */
export function buildReply(pkt: HookPacket, withType: RejectWith, env: ModelEnv): ReplyResult {
  if (pkt.ip.family === 'ipv4') {
    if (withType === 'tcp-reset') return reset4(pkt.ip, env);
    const code = ICMP_CODES[withType];
    if (code === undefined) throw new Error(`${withType} is not an IPv4 reject type`);
    return unreach4(pkt, code, env);
  }
  if (withType === 'tcp-reset') return reset6(pkt.ip, env);
  const code = ICMP6_CODES[withType];
  if (code === undefined) throw new Error(`${withType} is not an IPv6 reject type`);
  return unreach6(pkt, code, env);
}

// ------------------------------------------------------------------------------------------------
// IPv4

/**
 * `nf_ip_checksum` on CHECKSUM_NONE: the sum runs over the whole datagram from the IP header
 * (a correct header sums to zero, a stale one does not), plus the pseudo-header for TCP/UDP.
 */
function ipv4TransportVerifies(ip: Ipv4Packet): boolean {
  const b = ip.bytes;
  const proto = ip.header.protocol;
  const pseudo = proto === 6 || proto === 17 ? pseudoSum4(ip.header.src, ip.header.dst, proto, b.length - ip.header.headerLength) : 0;
  return verifies(pseudo + sum16(b, 0, b.length));
}

/**
 * `nf_reject_verify_csum`: UDP with checksum 0 and GRE, AH, ESP, SCTP, UDPLITE, DCCP are not
 * verified; everything else is (a UDP header too short to read is verified).
 */
function needsChecksumCheck(proto: number, bytes: Uint8Array, thoff: number): boolean {
  if (proto === 17) {
    const uh = readUdp(bytes, thoff);
    return !uh || uh.checksum !== 0;
  }
  return ![47, 51, 50, 132, 136, 33].includes(proto);
}

/** The TCP reply header (`nf_reject_ip_tcphdr_put` / `nf_reject_ip6_tcphdr_put`), checksum 0. */
function resetTcpHeader(th: TcpHeader, segmentLength: number): Uint8Array {
  const out = new Uint8Array(20);
  put16(out, 0, th.dport);
  put16(out, 2, th.sport);
  out[12] = 5 << 4;
  if (th.flags & 0x10) {
    put32(out, 4, th.ack);
    out[13] = 0x04;
  } else {
    const syn = th.flags & 0x02 ? 1 : 0;
    const fin = th.flags & 0x01 ? 1 : 0;
    put32(out, 8, (th.seq + syn + fin + segmentLength - th.doff * 4) >>> 0);
    out[13] = 0x14;
  }
  return out;
}

/** `nf_send_reset`. */
function reset4(ip: Ipv4Packet, env: ModelEnv): ReplyResult {
  const h = ip.header;
  if (h.fragOffset !== 0) return none('fragment');
  if (h.protocol !== 6) return none('wrong-protocol');
  const th = readTcp(ip.bytes, h.headerLength);
  if (!th) return none('truncated');
  if (th.flags & 0x04) return none('rst-for-rst');
  if (!env.checksumVerified && !ipv4TransportVerifies(ip)) return none('bad-checksum');
  if (ipv4RouteIsBroadcast(h.dst, env)) return none('broadcast-dst');
  const cfg = replyConfig(env);
  const out = new Uint8Array(40);
  out[0] = 0x45;
  put16(out, 2, 40);
  put16(out, 6, 0x4000);
  out[8] = cfg.ipv4OrigRouteHoplimit ?? cfg.ipv4DefaultTtl;
  out[9] = 6;
  out.set(h.dst, 12);
  out.set(h.src, 16);
  setIpv4HeaderChecksum(out);
  out.set(resetTcpHeader(th, ip.bytes.length - h.headerLength), 20);
  put16(out, 36, checksumOf(pseudoSum4(h.dst, h.src, 6, 20) + sum16(out, 20, 40)));
  return { reply: out };
}

/** ICMP types that are not errors (`icmp_pointers[type].error == 0`): echo, timestamp, info, mask. */
const ICMP_INFO_TYPES = new Set([0, 8, 13, 14, 15, 16, 17, 18]);

/** `nf_send_unreach` + `__icmp_send`. */
function unreach4(pkt: HookPacket, code: number, env: ModelEnv): ReplyResult {
  const ip = pkt.ip as Ipv4Packet;
  const h = ip.header;
  const b = ip.bytes;
  if (h.fragOffset !== 0) return none('fragment');
  if (!env.checksumVerified && needsChecksumCheck(h.protocol, b, h.headerLength) && !ipv4TransportVerifies(ip)) {
    return none('bad-checksum');
  }
  if (pkt.l2 !== 'unicast') return none('l2-broadcast');
  if (ipv4RouteIsBroadcast(h.dst, env)) return none('broadcast-dst');
  if (h.protocol === 1) {
    const type = b[h.headerLength];
    if (type === undefined) return none('truncated');
    if (!ICMP_INFO_TYPES.has(type)) return none('icmp-error');
  }
  const cfg = replyConfig(env);
  const source = icmpSource4(ip, env);
  const isForeign = (a: Uint8Array): boolean => addrType4(a, env, null) === 'UNICAST';
  const options = pkt.options ? echoOptions(b, pkt.options, source, env.timestampMs ?? 0, isForeign) : new Uint8Array(0);
  if (!options) return none('ip-options');
  const room = Math.min(cfg.routeMtu, 576) - 20 - options.length - 8;
  if (room <= 20) return none('mtu');
  const quote = b.slice(0, Math.min(b.length, room));
  const hl = 20 + options.length;
  const out = new Uint8Array(hl + 8 + quote.length);
  out[0] = 0x40 | (hl / 4);
  out[1] = (h.tos & 0x1e) | 0xc0;
  put16(out, 2, out.length);
  put16(out, 4, h.id); // the kernel's is a hashed counter; rejectc reuses the orig's id
  out[8] = cfg.ipv4ReplyRouteHoplimit ?? cfg.ipv4DefaultTtl;
  out[9] = 1;
  out.set(source, 12);
  out.set(h.src, 16);
  out.set(options, 20);
  setIpv4HeaderChecksum(out);
  out[hl] = 3;
  out[hl + 1] = code;
  out.set(quote, hl + 8);
  put16(out, hl + 2, checksumOf(sum16(out, hl, out.length)));
  return { reply: out };
}

/**
 * The ICMP source: the orig destination when it was addressed to this host (RTCF_LOCAL: INPUT,
 * or OUTPUT to a local address); otherwise the source the route toward the orig source selects:
 * at OUTPUT that is the orig source itself (a local address); in FORWARD, toward a subnet
 * broadcast the broadcast route's preferred source (our address in that subnet), else
 * `icmpSourceV4`, else 192.0.0.8 (INADDR_DUMMY).
 */
function icmpSource4(ip: Ipv4Packet, env: ModelEnv): Uint8Array {
  if (env.chain === 'INPUT') return ip.header.dst;
  if (env.chain === 'OUTPUT') return isLocalAddress(ip.header.dst, env) ? ip.header.dst : ip.header.src;
  // To a subnet broadcast: the broadcast route's preferred source, our address in that subnet.
  const subnet = subnetAddressOf(ip.header.src, env);
  if (subnet) return subnet;
  return addressBytes(replyConfig(env).icmpSourceV4 ?? INADDR_DUMMY);
}

// ------------------------------------------------------------------------------------------------
// IPv6

function ipv6TransportVerifies(ip: Ipv6Packet, offset: number, proto: number): boolean {
  const b = ip.bytes;
  return verifies(pseudoSum6(ip.header.src, ip.header.dst, proto, b.length - offset) + sum16(b, offset, b.length));
}

/** `nf_send_reset6` (+ `nf_reject_ip6_tcphdr_get`). */
function reset6(ip: Ipv6Packet, env: ModelEnv): ReplyResult {
  const h = ip.header;
  const unicast = (a: Uint8Array): boolean => (ipv6AddrType(a) & IPV6_ADDR.UNICAST) !== 0;
  if (!unicast(h.src) || !unicast(h.dst)) return none('bad-source');
  const { offset, nextHeader, fragOffField } = ip.skipExthdr;
  if (offset < 0 || offset > ip.bytes.length) return none('ext-header');
  if (nextHeader !== 6) return none((fragOffField & ~0x7) !== 0 ? 'fragment' : 'wrong-protocol');
  const th = readTcp(ip.bytes, offset);
  if (!th) return none('truncated');
  if (th.flags & 0x04) return none('rst-for-rst');
  if (!env.checksumVerified && !ipv6TransportVerifies(ip, offset, 6)) return none('bad-checksum');
  const out = new Uint8Array(60);
  ipv6Header(out, 20, 6, replyConfig(env).ipv6HopLimit, h.dst, h.src);
  out.set(resetTcpHeader(th, ip.bytes.length - offset), 40);
  put16(out, 56, checksumOf(pseudoSum6(h.dst, h.src, 6, 20) + sum16(out, 40, 60)));
  return { reply: out };
}

function ipv6Header(out: Uint8Array, payloadLength: number, next: number, hopLimit: number, src: Uint8Array, dst: Uint8Array): void {
  out[0] = 0x60;
  put16(out, 4, payloadLength);
  out[6] = next;
  out[7] = hopLimit;
  out.set(src, 8);
  out.set(dst, 24);
}

/** `nf_send_unreach6` (checksum gate) + `icmp6_send`. */
function unreach6(pkt: HookPacket, code: number, env: ModelEnv): ReplyResult {
  const ip = pkt.ip as Ipv6Packet;
  const h = ip.header;
  const b = ip.bytes;
  const { offset, nextHeader, fragOffField } = ip.skipExthdr;
  if (!env.checksumVerified) {
    if ((fragOffField & ~0x7) !== 0) return none('fragment');
    if (offset < 0 || offset >= b.length) return none('ext-header');
    if (needsChecksumCheck(nextHeader, b, offset) && !ipv6TransportVerifies(ip, offset, nextHeader)) return none('bad-checksum');
  }
  if (ipv6AddrType(h.dst) & IPV6_ADDR.MULTICAST) return none('broadcast-dst');
  if (pkt.l2 !== 'unicast') return none('l2-broadcast');
  const srcType = ipv6AddrType(h.src);
  if (srcType === IPV6_ADDR.ANY || srcType & IPV6_ADDR.MULTICAST) return none('bad-source');
  if (ineligible(ip)) return none('icmp-error');
  const quote = b.slice(0, Math.min(b.length, 1280 - 40 - 8));
  const source = icmpSource6(ip, env);
  if (!source) return none('no-route');
  const out = new Uint8Array(48 + quote.length);
  ipv6Header(out, 8 + quote.length, 58, replyConfig(env).ipv6HopLimit, source, h.src);
  out[1] |= (ICMP6_FLOW_LABEL >> 16) & 0x0f;
  put16(out, 2, ICMP6_FLOW_LABEL & 0xffff);
  out[40] = 1;
  out[41] = code;
  out.set(quote, 48);
  put16(out, 42, checksumOf(pseudoSum6(source, h.src, 58, out.length - 40) + sum16(out, 40, out.length)));
  return { reply: out };
}

/**
 * `is_ineligible` (net/ipv6/icmp.c): an ICMPv6 orig whose type is an error (< 128), or whose
 * type byte is missing unless it is a fragment (frag_off field non-zero).
 */
function ineligible(ip: Ipv6Packet): boolean {
  const { offset, nextHeader, fragOffField } = ip.skipExthdr;
  if (offset < 0 || nextHeader !== 58) return false;
  const type = ip.bytes[offset];
  if (type === undefined) return fragOffField === 0;
  return (type & 0x80) === 0;
}

/**
 * The ICMPv6 source (`icmp6_send`): the orig destination when it is one of this host's
 * addresses (INPUT; OUTPUT to a local address); otherwise the source selected toward the orig
 * source: at OUTPUT the orig source itself; in FORWARD, toward one of our own addresses that
 * same address (RFC 6724 rule 1), for a link-local orig source the ingress device's link-local
 * address (same scope first; null when it has none), else `icmpSourceV6`, else the first
 * global local address.
 */
function icmpSource6(ip: Ipv6Packet, env: ModelEnv): Uint8Array | null {
  if (env.chain === 'INPUT') return ip.header.dst;
  if (env.chain === 'OUTPUT') return isLocalAddress(ip.header.dst, env) ? ip.header.dst : ip.header.src;
  // Toward one of our own addresses: that same address (RFC 6724 rule 1).
  if (isLocalAddress(ip.header.src, env)) return ip.header.src;
  if (ipv6AddrType(ip.header.src) & IPV6_ADDR.LINKLOCAL) {
    const device = hookInterfaces(env).in;
    const own = (env.localAddresses ?? []).find((a) => a.interface === device && a.address.includes(':') && ipv6AddrType(addressBytes(a.address)) & IPV6_ADDR.LINKLOCAL);
    return own ? addressBytes(own.address) : null;
  }
  const configured = replyConfig(env).icmpSourceV6;
  if (configured) return addressBytes(configured);
  const global = (env.localAddresses ?? []).find(
    (a) => a.address.includes(':') && !(ipv6AddrType(addressBytes(a.address)) & (IPV6_ADDR.LINKLOCAL | IPV6_ADDR.LOOPBACK)),
  );
  return addressBytes(global?.address ?? '::');
}
