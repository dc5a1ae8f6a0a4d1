/**
 * Address helpers for the model: text <-> bytes for IPv4/IPv6, prefix tests, and the address
 * classes the kernel derives from an address alone (`__ipv6_addr_type`, `ipv4_is_*`).
 * Written independently of the front end's value parsers so that the model stays an
 * independent oracle.
 */
import type { Family } from '../compiler/ir.js';

const parsedAddresses = new Map<string, Uint8Array>();

/**
 * Bytes of an IPv4 (4) or IPv6 (16) address in canonical or any valid text form. Throws on
 * garbage. The result is shared (memoised: rules are matched against many packets): do not
 * modify it.
 */
export function addressBytes(text: string): Uint8Array {
  let bytes = parsedAddresses.get(text);
  if (!bytes) {
    bytes = text.includes(':') ? ipv6Bytes(text) : ipv4Bytes(text);
    if (parsedAddresses.size > 100_000) parsedAddresses.clear();
    parsedAddresses.set(text, bytes);
  }
  return bytes;
}

/** The family an address text belongs to. */
export function addressFamily(text: string): Family {
  return text.includes(':') ? 'ipv6' : 'ipv4';
}

function ipv4Bytes(text: string): Uint8Array {
  const parts = text.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${text}`);
  return Uint8Array.from(
    parts.map((p) => {
      if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`not an IPv4 address: ${text}`);
      return Number(p);
    }),
  );
}

function ipv6Bytes(text: string): Uint8Array {
  let head = text;
  const out = new Uint8Array(16);
  let tailV4: Uint8Array | null = null;
  const lastColon = head.lastIndexOf(':');
  if (head.slice(lastColon + 1).includes('.')) {
    tailV4 = ipv4Bytes(head.slice(lastColon + 1));
    head = head.slice(0, lastColon + 1) + '0:0';
  }
  const halves = head.split('::');
  if (halves.length > 2) throw new Error(`not an IPv6 address: ${text}`);
  const words = (s: string): number[] =>
    s === ''
      ? []
      : s.split(':').map((w) => {
          if (!/^[0-9a-fA-F]{1,4}$/.test(w)) throw new Error(`not an IPv6 address: ${text}`);
          return parseInt(w, 16);
        });
  const left = words(halves[0]!);
  const right = halves.length === 2 ? words(halves[1]!) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) throw new Error(`not an IPv6 address: ${text}`);
  const all = [...left, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...right];
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  if (tailV4) out.set(tailV4, 12);
  return out;
}

/** True if `addr` lies in `network/prefix` (network given as bytes of the same length). */
export function inPrefix(addr: Uint8Array, network: Uint8Array, prefix: number): boolean {
  if (addr.length !== network.length) return false;
  for (let bit = 0; bit < prefix; bit += 8) {
    const take = Math.min(8, prefix - bit);
    const mask = (0xff << (8 - take)) & 0xff;
    if (((addr[bit / 8]! ^ network[bit / 8]!) & mask) !== 0) return false;
  }
  return true;
}

/** Byte-wise comparison of two addresses of equal length: <0, 0, >0 (network byte order). */
export function compareAddresses(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

export function equalAddresses(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareAddresses(a, b) === 0;
}

/** The directed broadcast address of `address/prefix` (host bits all ones). */
export function broadcastOf(address: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(address);
  for (let bit = prefix; bit < out.length * 8; bit++) out[bit >> 3]! |= 0x80 >> (bit & 7);
  return out;
}

/** The network address of `address/prefix` (host bits cleared). */
export function networkOf(address: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(address);
  for (let bit = prefix; bit < out.length * 8; bit++) out[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return out;
}

/** `ipv4_is_multicast`: 224.0.0.0/4. */
export function isIpv4Multicast(a: Uint8Array): boolean {
  return (a[0]! & 0xf0) === 0xe0;
}

/** `ipv4_is_lbcast`: 255.255.255.255. */
export function isIpv4LimitedBroadcast(a: Uint8Array): boolean {
  return a.every((b) => b === 0xff);
}

/**
 * `ipv4_is_zeronet`: 0.0.0.0 only since Linux 5.3 (commit 96125bf9985a "Allow 0.0.0.0/8 as a
 * valid address range"); the rest of 0.0.0.0/8 routes like any unicast address.
 */
export function isIpv4Zeronet(a: Uint8Array): boolean {
  return a.every((b) => b === 0);
}

/** `ipv4_is_loopback`: 127.0.0.0/8. */
export function isIpv4Loopback(a: Uint8Array): boolean {
  return a[0] === 127;
}

/** Bits of `__ipv6_addr_type` (include/net/ipv6.h) that the model uses. */
export const IPV6_ADDR = {
  ANY: 0x0000,
  UNICAST: 0x0001,
  MULTICAST: 0x0002,
  LOOPBACK: 0x0010,
  LINKLOCAL: 0x0020,
  SITELOCAL: 0x0040,
  COMPATV4: 0x0080,
  MAPPED: 0x1000,
} as const;

/**
 * `__ipv6_addr_type` (net/ipv6/addrconf_core.c): unicast unless `::`, `ff00::/8`
 * (multicast) or `::ffff:0:0/96` (mapped, no UNICAST bit); scope bits are omitted.
 */
export function ipv6AddrType(a: Uint8Array): number {
  const top3 = a[0]! & 0xe0;
  if (top3 !== 0x00 && top3 !== 0xe0) return IPV6_ADDR.UNICAST;
  if (a[0] === 0xff) return IPV6_ADDR.MULTICAST;
  if (a[0] === 0xfe && (a[1]! & 0xc0) === 0x80) return IPV6_ADDR.LINKLOCAL | IPV6_ADDR.UNICAST;
  if (a[0] === 0xfe && (a[1]! & 0xc0) === 0xc0) return IPV6_ADDR.SITELOCAL | IPV6_ADDR.UNICAST;
  if ((a[0]! & 0xfe) === 0xfc) return IPV6_ADDR.UNICAST;
  const zero = (from: number, to: number): boolean => a.slice(from, to).every((b) => b === 0);
  if (zero(0, 8)) {
    if (zero(8, 12)) {
      if (zero(12, 16)) return IPV6_ADDR.ANY;
      if (zero(12, 15) && a[15] === 1) return IPV6_ADDR.LOOPBACK | IPV6_ADDR.UNICAST;
      return IPV6_ADDR.COMPATV4 | IPV6_ADDR.UNICAST;
    }
    if (zero(8, 10) && a[10] === 0xff && a[11] === 0xff) return IPV6_ADDR.MAPPED;
  }
  return IPV6_ADDR.UNICAST;
}
