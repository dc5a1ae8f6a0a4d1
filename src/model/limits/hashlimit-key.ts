/**
 * Which bucket a packet belongs to in a hashlimit table: `hashlimit_init_dst` of
 * net/netfilter/xt_hashlimit.c. The key is the masked source and/or destination address and the
 * source and/or destination port (raw network-order bytes), each present only if the table's
 * mode asks for it; everything else is zero.
 */
import type { Family } from '../../compiler/ir.js';
import { HL_MODE } from './hashlimit-config.js';

/** What hashlimit reads from a packet, as the filter hook sees it. */
export interface HashlimitPacket {
  family: Family;
  /** 4 (IPv4) or 16 (IPv6) bytes, network order. */
  src: Uint8Array;
  dst: Uint8Array;
  /**
   * The transport protocol: IPv4 `protocol`; IPv6 the next header after skipping extension
   * headers as `ipv6_skip_exthdr` does (44 for a non-first fragment), or -1 when that fails.
   */
  proto: number;
  /**
   * The 4 bytes at the protocol's port offset (`proto_ports_offset`) from the transport header,
   * or null if the packet ends before them. Unused for protocols without ports.
   */
  ports: Uint8Array | null;
  /** `skb->len` at the hook: the IP packet's length. Byte mode counts it. */
  len: number;
}

/** `proto_ports_offset` (include/linux/in.h): where the two 16-bit "ports" are, or -1. */
export function protoPortsOffset(proto: number): number {
  switch (proto) {
    case 6: // TCP
    case 17: // UDP
    case 33: // DCCP
    case 50: // ESP: the SPI is read as the ports
    case 132: // SCTP
    case 136: // UDPLITE
      return 0;
    case 51: // AH: the SPI is 4 bytes in
      return 4;
    default:
      return -1;
  }
}

/** IPv6 extension headers `ipv6_skip_exthdr` walks over (`ipv6_ext_hdr`). */
const V6_EXT = new Set([0, 43, 44, 51, 59, 60]);

/**
 * Parses an IP packet (no link layer) the way the filter hook and hashlimit see it. Returns
 * null when even the IP header is missing.
 */
export function hashlimitPacketFromIp(pkt: Uint8Array): HashlimitPacket | null {
  if (pkt.length < 1) return null;
  const version = pkt[0]! >> 4;
  if (version === 4) {
    if (pkt.length < 20) return null;
    const ihl = (pkt[0]! & 0x0f) * 4;
    const proto = pkt[9]!;
    // ip_rcv trims the skb to tot_len: trailing link-layer padding is not readable.
    const len = Math.min((pkt[2]! << 8) | pkt[3]!, pkt.length);
    return {
      family: 'ipv4',
      src: pkt.slice(12, 16),
      dst: pkt.slice(16, 20),
      proto,
      ports: readPorts(pkt.subarray(0, len), ihl, proto),
      len,
    };
  }
  if (version === 6) {
    if (pkt.length < 40) return null;
    // ip6_rcv trims the skb to 40 + payload length, like IPv4 above.
    const len = Math.min(40 + ((pkt[4]! << 8) | pkt[5]!), pkt.length);
    const p = pkt.subarray(0, len);
    let nexthdr = p[6]!;
    let off = 40;
    let failed = false;
    while (V6_EXT.has(nexthdr)) {
      if (nexthdr === 59 || off + 2 > p.length) {
        failed = true;
        break;
      }
      if (nexthdr === 44) {
        if (off + 4 > p.length) {
          failed = true;
          break;
        }
        const fragOff = (p[off + 2]! << 8) | p[off + 3]!;
        if (fragOff & ~0x7) break; // a non-first fragment: stop at the fragment header
        nexthdr = p[off]!;
        off += 8;
        continue;
      }
      const hdrlen = nexthdr === 51 ? (p[off + 1]! + 2) << 2 : (p[off + 1]! + 1) << 3;
      nexthdr = p[off]!;
      off += hdrlen;
    }
    return {
      family: 'ipv6',
      src: p.slice(8, 24),
      dst: p.slice(24, 40),
      proto: failed ? -1 : nexthdr,
      ports: failed ? null : readPorts(p, off, nexthdr),
      len,
    };
  }
  return null;
}

function readPorts(pkt: Uint8Array, thoff: number, proto: number): Uint8Array | null {
  const poff = protoPortsOffset(proto);
  if (poff < 0) return new Uint8Array(4);
  const at = thoff + poff;
  if (at + 4 > pkt.length) return null;
  return pkt.slice(at, at + 4);
}

/** `maskl`-style prefix masking of a 4- or 16-byte address (prefix 0 gives all zeroes). */
export function maskAddress(addr: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(addr.length);
  for (let i = 0; i < addr.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = addr[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

/** The bucket key: 16-byte src, 16-byte dst (IPv4 in the first 4), 2+2 port bytes. */
export interface HashlimitKey {
  src: Uint8Array;
  dst: Uint8Array;
  sport: Uint8Array;
  dport: Uint8Array;
}

/** A stable string for a key, for use as a Map key. */
export function keyString(k: HashlimitKey): string {
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  return `${hex(k.src)}|${hex(k.dst)}|${hex(k.sport)}|${hex(k.dport)}`;
}

/**
 * `hashlimit_init_dst` for a table with `mode` and prefix lengths: the key, or null when the
 * kernel fails (IPv6 extension headers unparsable, ports unreadable), which drops the packet.
 */
export function hashlimitKey(pkt: HashlimitPacket, mode: number, srcmask: number, dstmask: number): HashlimitKey | null {
  const key: HashlimitKey = {
    src: new Uint8Array(16),
    dst: new Uint8Array(16),
    sport: new Uint8Array(2),
    dport: new Uint8Array(2),
  };
  if (mode & HL_MODE.HASH_DIP) key.dst.set(maskAddress(pkt.dst, dstmask));
  if (mode & HL_MODE.HASH_SIP) key.src.set(maskAddress(pkt.src, srcmask));
  if (!(mode & (HL_MODE.HASH_DPT | HL_MODE.HASH_SPT))) return key;
  if (pkt.family === 'ipv6' && pkt.proto < 0) return null;
  let ports: Uint8Array | null = new Uint8Array(4);
  if (protoPortsOffset(pkt.proto) >= 0) ports = pkt.ports;
  if (!ports) return null;
  if (mode & HL_MODE.HASH_SPT) key.sport.set(ports.subarray(0, 2));
  if (mode & HL_MODE.HASH_DPT) key.dport.set(ports.subarray(2, 4));
  return key;
}
