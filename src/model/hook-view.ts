/**
 * From the packet on the wire to the packet the filter hook sees (nf-reject.md §3):
 * what the IP receive and forward paths drop before netfilter, the L2 class (`pkt_type`),
 * IPv4 option processing (RR/TS fills with a stale header checksum), IPv6 hop-by-hop option
 * checks, and the TTL / hop-limit decrement before FORWARD.
 *
 * Not modelled (rejectc assumes them away; docs/semantics.md): IPv4 reassembly before INPUT
 * (a BPF hook sees fragments; {@link reassembleIpv4} exists for the golden cases), routing-level
 * martian checks (rp_filter, martian sources), OTHERHOST frames, MTU checks in ip_forward.
 */
import { addressBytes, ipv6AddrType, IPV6_ADDR, isIpv4LimitedBroadcast, isIpv4Multicast } from './address.js';
import { get16, put16, setIpv4HeaderChecksum } from './checksum.js';
import { hookInterfaces, INADDR_DUMMY, replyConfig, type ModelEnv } from './env.js';
import { compileReceivedOptions, type IpOptionsInfo } from './ip-options.js';
import { addrType4, isSubnetBroadcast } from './local.js';
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
  const macSource = decoded.ethernet ? decoded.ethernet.src : null;
  const view = ip.family === 'ipv4' ? ipv4View(ip, l2, env) : ipv6View(ip.bytes, l2, env);
  if (!view.ok) return view;
  return { ok: true, packet: { ...view.packet, l2, macSource, length: view.packet.ip.bytes.length } };
}

type ViewResult = { ok: true; packet: { ip: IpPacket; options: IpOptionsInfo | null } } | { ok: false; drop: StackDrop };

function ipv4View(ip: Ipv4Packet, l2: L2Class, env: ModelEnv): ViewResult {
  const bytes = Uint8Array.from(ip.bytes);
  let options: IpOptionsInfo | null = null;
  if (ip.header.ihl > 5) {
    const compiled = compileReceivedOptions(bytes, {
      specDst: env.chain === 'OUTPUT' ? null : specDst(ip, env),
      timestampMs: env.chain === 'OUTPUT' ? null : (env.timestampMs ?? 0),
      isForeignUnicast: (a) => addrType4(a, env, null) === 'UNICAST',
    });
    if (!compiled.ok) return { ok: false, drop: 'bad-options' };
    if (compiled.info.srr && env.chain !== 'OUTPUT') return { ok: false, drop: 'source-route' };
    options = compiled.info;
  }
  if (env.chain === 'FORWARD') {
    if (l2 !== 'unicast') return { ok: false, drop: 'not-for-host' };
    if (bytes[8]! <= 1) return { ok: false, drop: 'ttl-exceeded' };
    ipDecreaseTtl(bytes);
  }
  return { ok: true, packet: { ip: decodeIpv4(bytes), options } };
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
    bytes[7] = bytes[7]! - 1;
  }
  return { ok: true, packet: { ip: decodeIpv6(bytes), options: null } };
}

/** `ip6_rcv_core` address checks and hop-by-hop option processing (`ipv6_parse_hopopts`). */
function ipv6ReceiveDrop(b: Uint8Array, env: ModelEnv): StackDrop | null {
  const src = b.slice(8, 24);
  const dst = b.slice(24, 40);
  const onLoopback = hookInterfaces(env).in === 'lo';
  const srcType = ipv6AddrType(src);
  const dstType = ipv6AddrType(dst);
  if (srcType & IPV6_ADDR.MULTICAST) return 'bad-source';
  if (!onLoopback && ((srcType | dstType) & IPV6_ADDR.LOOPBACK)) return 'bad-source';
  if (srcType & IPV6_ADDR.MAPPED) return 'bad-source';
  if (dstType & IPV6_ADDR.MULTICAST) {
    const scope = dst[1]! & 0x0f;
    if (scope === 0 || (scope === 1 && !onLoopback)) return 'bad-destination';
  }
  if (b[6] === NEXTHDR.HOP && !hopByHopOk(b)) return 'bad-hop-by-hop';
  return null;
}

/**
 * `ip6_parse_tlv` for the hop-by-hop header: Pad1/PadN (at most 7 bytes of padding), Router
 * Alert and unknown options whose action bits say "skip" pass; unknown options with any other
 * action, a Jumbo option (payload_len is not 0 here), or a TLV running past the header drop.
 */
function hopByHopOk(b: Uint8Array): boolean {
  if (b.length < 42) return false;
  const end = 40 + ((b[41]! + 1) << 3);
  if (end > b.length) return false;
  let off = 42;
  let padlen = 0;
  while (off < end) {
    const type = b[off]!;
    if (type === 0) {
      padlen++;
      if (padlen > 7) return false;
      off++;
      continue;
    }
    if (off + 2 > end) return false;
    const optlen = b[off + 1]! + 2;
    if (off + optlen > end) return false;
    if (type === 1) {
      padlen += optlen;
      if (padlen > 7) return false;
    } else {
      padlen = 0;
      if (type === 0xc2) return false;
      if (type !== 5 && type >> 6 !== 0) return false;
    }
    off += optlen;
  }
  return true;
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

