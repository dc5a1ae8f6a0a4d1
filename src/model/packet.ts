/**
 * Decoding a packet the way the kernel's IP layer and netfilter see it.
 *
 * `decodeFrame` takes an Ethernet frame (optionally 802.1Q/802.1ad tagged), `decodeIp` an IP
 * packet. Neither throws, on any input: what the IP receive path would refuse is reported in
 * `problem` (the packet never reaches netfilter), and every later reader checks lengths the way
 * `skb_header_pointer` does. Lengths come from the IP header (`tot_len`, `40 + payload_len`),
 * so L2 padding after the datagram is excluded, as `ip_rcv`/`ipv6_rcv` trim it.
 */
import { get16, get32, sum16, verifies } from './checksum.js';

export type L2Class = 'unicast' | 'broadcast' | 'multicast';

export interface EthernetHeader {
  dst: Uint8Array;
  src: Uint8Array;
  /** EtherType after any VLAN tags (0x0800 IPv4, 0x86dd IPv6). */
  etherType: number;
  /** VLAN TCIs in order (802.1Q 0x8100 / 802.1ad 0x88a8 tags). */
  vlanTags: number[];
  headerLength: number;
  /** `eth_type_trans`: ff:ff:ff:ff:ff:ff is broadcast, the group bit is multicast. */
  l2: L2Class;
}

/** Why `ip_rcv_core`/`ipv6_rcv` drop a packet before any netfilter hook. */
export type HeaderProblem =
  | 'truncated-header'
  | 'bad-version'
  | 'bad-ihl'
  | 'bad-length'
  | 'bad-header-checksum'
  | 'jumbo';

export interface Ipv4Header {
  ihl: number;
  headerLength: number;
  tos: number;
  totalLength: number;
  id: number;
  /** Reserved ("evil") flag bit 0x8000. */
  reservedFlag: boolean;
  df: boolean;
  mf: boolean;
  /** Fragment offset field (units of 8 bytes), `ntohs(frag_off) & IP_OFFSET`. */
  fragOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  src: Uint8Array;
  dst: Uint8Array;
  /** The option bytes (ihl*4 - 20 of them). */
  options: Uint8Array;
}

export interface Ipv6Header {
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  src: Uint8Array;
  dst: Uint8Array;
}

interface IpPacketBase {
  /**
   * The datagram as netfilter sees it: trimmed to the IP length (tot_len / 40 + payload_len).
   * When that length exceeds the captured bytes (`problem` set), the captured bytes.
   */
  bytes: Uint8Array;
  /** Bytes captured after the IP length (L2 padding); `ip_rcv` trims them. */
  trailerLength: number;
  /** Set when the IP receive path drops the packet before netfilter. */
  problem: HeaderProblem | null;
}

export interface Ipv4Packet extends IpPacketBase {
  family: 'ipv4';
  header: Ipv4Header;
  /** `none`, `first` (MF set, offset 0) or `later` (offset != 0). */
  fragment: 'none' | 'first' | 'later';
}

/** Result of `ipv6_find_hdr(skb, &off, -1, &fragoff, NULL)` as ip6_tables calls it. */
export type FindHdrResult =
  | { ok: true; protocol: number; offset: number; fragOffset: number }
  | { ok: false; fragOffset: number };

/** Result of `ipv6_skip_exthdr` from the fixed header: offset -1 on failure. */
export interface SkipExthdrResult {
  offset: number;
  nextHeader: number;
  /** The raw 16-bit frag_off field of the last fragment header seen (flags included), else 0. */
  fragOffField: number;
}

export interface Ipv6Packet extends IpPacketBase {
  family: 'ipv6';
  header: Ipv6Header;
  findHdr: FindHdrResult;
  skipExthdr: SkipExthdrResult;
  /** `none`, `first` (fragment header, offset 0) or `later` (offset != 0). */
  fragment: 'none' | 'first' | 'later';
}

export type IpPacket = Ipv4Packet | Ipv6Packet;

export interface DecodedPacket {
  /** Null when decoded with {@link decodeIp}. */
  ethernet: EthernetHeader | null;
  /** Null when the frame does not carry IPv4/IPv6 (or not enough of it to tell). */
  ip: IpPacket | null;
}

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const VLAN_TYPES = new Set([0x8100, 0x88a8]);

/** Decodes an Ethernet frame. Never throws. */
export function decodeFrame(frame: Uint8Array): DecodedPacket {
  if (frame.length < 14) return { ethernet: null, ip: null };
  let offset = 12;
  let etherType = get16(frame, offset);
  const vlanTags: number[] = [];
  while (VLAN_TYPES.has(etherType) && offset + 6 <= frame.length) {
    vlanTags.push(get16(frame, offset + 2));
    offset += 4;
    etherType = get16(frame, offset);
  }
  const dst = frame.slice(0, 6);
  const l2: L2Class = dst.every((b) => b === 0xff) ? 'broadcast' : dst[0]! & 1 ? 'multicast' : 'unicast';
  const ethernet: EthernetHeader = {
    dst,
    src: frame.slice(6, 12),
    etherType,
    vlanTags,
    headerLength: offset + 2,
    l2,
  };
  const payload = frame.subarray(offset + 2);
  if (etherType === ETH_P_IP) return { ethernet, ip: decodeIpv4(payload) };
  if (etherType === ETH_P_IPV6) return { ethernet, ip: decodeIpv6(payload) };
  return { ethernet, ip: null };
}

/** Decodes a bare IP packet (family from the version nibble). Never throws. */
export function decodeIp(bytes: Uint8Array): DecodedPacket {
  if (bytes.length === 0) return { ethernet: null, ip: null };
  const version = bytes[0]! >> 4;
  if (version === 6) return { ethernet: null, ip: decodeIpv6(bytes) };
  return { ethernet: null, ip: decodeIpv4(bytes) };
}

/** `ip_rcv_core` checks, then the view. A packet that fails them keeps its captured bytes. */
export function decodeIpv4(captured: Uint8Array): Ipv4Packet {
  const copy = Uint8Array.from(captured);
  const header = readIpv4Header(copy);
  const base = { family: 'ipv4' as const, header, fragment: fragmentState(header) };
  const problem = ipv4Problem(copy, header);
  if (problem) return { ...base, bytes: copy, trailerLength: 0, problem };
  return {
    ...base,
    bytes: copy.slice(0, header.totalLength),
    trailerLength: copy.length - header.totalLength,
    problem: null,
  };
}

function readIpv4Header(b: Uint8Array): Ipv4Header {
  const at = (i: number): number => b[i] ?? 0;
  const ihl = at(0) & 0x0f;
  const flags = (at(6) << 8) | at(7);
  return {
    ihl,
    headerLength: ihl * 4,
    tos: at(1),
    totalLength: (at(2) << 8) | at(3),
    id: (at(4) << 8) | at(5),
    reservedFlag: (flags & 0x8000) !== 0,
    df: (flags & 0x4000) !== 0,
    mf: (flags & 0x2000) !== 0,
    fragOffset: flags & 0x1fff,
    ttl: at(8),
    protocol: at(9),
    checksum: (at(10) << 8) | at(11),
    src: Uint8Array.from([at(12), at(13), at(14), at(15)]),
    dst: Uint8Array.from([at(16), at(17), at(18), at(19)]),
    options: b.slice(20, Math.max(20, Math.min(ihl * 4, b.length))),
  };
}

function fragmentState(h: { fragOffset: number; mf: boolean }): 'none' | 'first' | 'later' {
  if (h.fragOffset !== 0) return 'later';
  return h.mf ? 'first' : 'none';
}

function ipv4Problem(b: Uint8Array, h: Ipv4Header): HeaderProblem | null {
  if (b.length < 20) return 'truncated-header';
  if (b[0]! >> 4 !== 4) return 'bad-version';
  if (h.ihl < 5) return 'bad-ihl';
  if (b.length < h.headerLength) return 'truncated-header';
  if (!verifies(sum16(b, 0, h.headerLength))) return 'bad-header-checksum';
  if (h.totalLength > b.length || h.totalLength < h.headerLength) return 'bad-length';
  return null;
}

/** `ipv6_rcv`/`ip6_rcv_core` length checks, then the view with both extension-header walks. */
export function decodeIpv6(captured: Uint8Array): Ipv6Packet {
  const copy = Uint8Array.from(captured);
  const header = readIpv6Header(copy);
  const problem = ipv6Problem(copy, header);
  const bytes = problem ? copy : copy.slice(0, 40 + header.payloadLength);
  const findHdr = ipv6FindHdr(bytes);
  const skipExthdr = ipv6SkipExthdr(bytes, 40, header.nextHeader);
  return {
    family: 'ipv6',
    header,
    bytes,
    trailerLength: problem ? 0 : copy.length - bytes.length,
    problem,
    findHdr,
    skipExthdr,
    fragment: ipv6FragmentState(bytes, header.nextHeader),
  };
}

function readIpv6Header(b: Uint8Array): Ipv6Header {
  const at = (i: number): number => b[i] ?? 0;
  const slice = (from: number): Uint8Array => Uint8Array.from({ length: 16 }, (_, i) => at(from + i));
  return {
    trafficClass: ((at(0) & 0x0f) << 4) | (at(1) >> 4),
    flowLabel: ((at(1) & 0x0f) << 16) | (at(2) << 8) | at(3),
    payloadLength: (at(4) << 8) | at(5),
    nextHeader: at(6),
    hopLimit: at(7),
    src: slice(8),
    dst: slice(24),
  };
}

function ipv6Problem(b: Uint8Array, h: Ipv6Header): HeaderProblem | null {
  if (b.length < 40) return 'truncated-header';
  if (b[0]! >> 4 !== 6) return 'bad-version';
  // payload_len 0 with a hop-by-hop header announces a jumbogram, which needs a Jumbo option;
  // rejectc does not model jumbograms (ipv6_hop_jumbo refuses any that fits in 64 KiB).
  if (h.payloadLength === 0 && h.nextHeader === NEXTHDR.HOP) return 'jumbo';
  if (40 + h.payloadLength > b.length) return 'bad-length';
  return null;
}

/** IPv6 extension header numbers (`include/net/ipv6.h`). */
export const NEXTHDR = {
  HOP: 0,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  FRAGMENT: 44,
  ESP: 50,
  AUTH: 51,
  ICMP: 58,
  NONE: 59,
  DEST: 60,
} as const;

/** `ipv6_ext_hdr`: the headers the kernel walks over (NONE included). */
export function isIpv6ExtHeader(nexthdr: number): boolean {
  return (
    nexthdr === NEXTHDR.HOP ||
    nexthdr === NEXTHDR.ROUTING ||
    nexthdr === NEXTHDR.FRAGMENT ||
    nexthdr === NEXTHDR.AUTH ||
    nexthdr === NEXTHDR.NONE ||
    nexthdr === NEXTHDR.DEST
  );
}

/** Length of the extension header at `start` (`ipv6_optlen` or the AH rule). Needs 2 bytes. */
function extHeaderLength(b: Uint8Array, start: number, nexthdr: number): number {
  if (nexthdr === NEXTHDR.FRAGMENT) return 8;
  if (nexthdr === NEXTHDR.AUTH) return (b[start + 1]! + 2) << 2;
  return (b[start + 1]! + 1) << 3;
}

/**
 * `ipv6_skip_exthdr` (net/ipv6/exthdrs_core.c): skips extension headers starting at `start`
 * whose type is `nexthdr`; stops at a non-first fragment (returning the fragment header's own
 * offset with nexthdr 44); offset -1 for NEXTHDR_NONE or a header that is not all there.
 */
export function ipv6SkipExthdr(b: Uint8Array, start: number, nexthdr: number): SkipExthdrResult {
  let offset = start;
  let next = nexthdr;
  let fragOffField = 0;
  while (isIpv6ExtHeader(next)) {
    if (next === NEXTHDR.NONE) return { offset: -1, nextHeader: next, fragOffField };
    if (offset + 2 > b.length) return { offset: -1, nextHeader: next, fragOffField };
    let hdrlen: number;
    if (next === NEXTHDR.FRAGMENT) {
      if (offset + 4 > b.length) return { offset: -1, nextHeader: next, fragOffField };
      fragOffField = get16(b, offset + 2);
      if ((fragOffField & ~0x7) !== 0) break;
      hdrlen = 8;
    } else {
      hdrlen = extHeaderLength(b, offset, next);
    }
    next = b[offset]!;
    offset += hdrlen;
  }
  return { offset, nextHeader: next, fragOffField };
}

/**
 * `ipv6_find_hdr(skb, &offset, -1, &fragoff, NULL)`: the transport protocol and its offset.
 * A non-first fragment reports the fragment header's next header with its fragment offset
 * (the offset is then meaningless); failures (truncated header, or a non-first fragment whose
 * next header is itself an extension header) report `ok: false` with fragOffset 0, which
 * ip6_tables turns into a hotdrop. NEXTHDR_NONE is a valid "last header" here.
 */
export function ipv6FindHdr(b: Uint8Array): FindHdrResult {
  let start = 40;
  let nexthdr = b[6] ?? 0;
  for (;;) {
    if (!isIpv6ExtHeader(nexthdr) || nexthdr === NEXTHDR.NONE) {
      return { ok: true, protocol: nexthdr, offset: start, fragOffset: 0 };
    }
    if (start + 2 > b.length) return { ok: false, fragOffset: 0 };
    let hdrlen: number;
    if (nexthdr === NEXTHDR.FRAGMENT) {
      if (start + 4 > b.length) return { ok: false, fragOffset: 0 };
      const fragOff = get16(b, start + 2) & ~0x7;
      if (fragOff !== 0) {
        const inner = b[start]!;
        if (!isIpv6ExtHeader(inner) || inner === NEXTHDR.NONE) {
          return { ok: true, protocol: inner, offset: 0, fragOffset: fragOff };
        }
        return { ok: false, fragOffset: 0 };
      }
      hdrlen = 8;
    } else {
      hdrlen = extHeaderLength(b, start, nexthdr);
    }
    nexthdr = b[start]!;
    start += hdrlen;
  }
}

/** Fragment state from the first fragment header on the extension header chain, if any. */
function ipv6FragmentState(b: Uint8Array, first: number): 'none' | 'first' | 'later' {
  let offset = 40;
  let next = first;
  while (isIpv6ExtHeader(next) && next !== NEXTHDR.NONE && offset + 2 <= b.length) {
    if (next === NEXTHDR.FRAGMENT) {
      if (offset + 4 > b.length) return 'none';
      const field = get16(b, offset + 2);
      if ((field & ~0x7) !== 0) return 'later';
      return field & 1 ? 'first' : 'none';
    }
    const len = extHeaderLength(b, offset, next);
    next = b[offset]!;
    offset += len;
  }
  return 'none';
}

// ------------------------------------------------------------------------------------------------
// Transport header readers. Each returns null when the header is not all there, like
// skb_header_pointer() returning NULL for `len` bytes at `offset` of the datagram.

export interface TcpHeader {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  /** Data offset in 32-bit words, unvalidated (0..15). */
  doff: number;
  /** The flags byte (byte 13): FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 ECE 0x40 CWR 0x80. */
  flags: number;
  window: number;
  checksum: number;
  urgent: number;
}

export function readTcp(b: Uint8Array, offset: number): TcpHeader | null {
  if (offset < 0 || offset + 20 > b.length) return null;
  return {
    sport: get16(b, offset),
    dport: get16(b, offset + 2),
    seq: get32(b, offset + 4),
    ack: get32(b, offset + 8),
    doff: b[offset + 12]! >> 4,
    flags: b[offset + 13]!,
    window: get16(b, offset + 14),
    checksum: get16(b, offset + 16),
    urgent: get16(b, offset + 18),
  };
}

export interface UdpHeader {
  sport: number;
  dport: number;
  length: number;
  checksum: number;
}

export function readUdp(b: Uint8Array, offset: number): UdpHeader | null {
  if (offset < 0 || offset + 8 > b.length) return null;
  return {
    sport: get16(b, offset),
    dport: get16(b, offset + 2),
    length: get16(b, offset + 4),
    checksum: get16(b, offset + 6),
  };
}

/** The first four bytes of a transport header as two ports (multiport's `_ports[2]`). */
export function readPorts(b: Uint8Array, offset: number): { sport: number; dport: number } | null {
  if (offset < 0 || offset + 4 > b.length) return null;
  return { sport: get16(b, offset), dport: get16(b, offset + 2) };
}

/** An ICMP/ICMPv6 header (8 bytes, `struct icmphdr` / `struct icmp6hdr`). */
export function readIcmp(b: Uint8Array, offset: number): { type: number; code: number } | null {
  if (offset < 0 || offset + 8 > b.length) return null;
  return { type: b[offset]!, code: b[offset + 1]! };
}

/** Hex helpers shared by tests and tools. */
export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error('invalid hex string');
  return Uint8Array.from({ length: clean.length / 2 }, (_, i) => parseInt(clean.slice(2 * i, 2 * i + 2), 16));
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
