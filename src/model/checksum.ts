/**
 * The Internet checksum (RFC 1071) as the kernel computes it: 16-bit one's-complement sums
 * over big-endian words, an odd trailing byte padded with zero on the right.
 *
 * Sums are kept unfolded (plain non-negative numbers) until {@link fold}, so that partial sums
 * of pieces that start at even offsets can simply be added, as `csum_add` does.
 */

/** Sum of the 16-bit big-endian words of `bytes[start, end)`. `start` is treated as even. */
export function sum16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let sum = 0;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) sum += bytes[i]! << 8;
  return sum;
}

/** Folds a sum to 16 bits with end-around carry (the one's-complement sum). */
export function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The checksum field value for data whose words sum to `sum`: `~fold(sum)`. */
export function checksumOf(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** True when data including its checksum field verifies (folds to 0xffff, `csum_fold` = 0). */
export function verifies(sum: number): boolean {
  return fold(sum) === 0xffff;
}

/** Pseudo-header sum for IPv4 TCP/UDP (`csum_tcpudp_nofold`): addresses, protocol, length. */
export function pseudoSum4(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  return sum16(src) + sum16(dst) + protocol + length;
}

/** Pseudo-header sum for IPv6 (`csum_ipv6_magic`): addresses, 32-bit length, next header. */
export function pseudoSum6(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  return sum16(src) + sum16(dst) + Math.floor(length / 0x10000) + (length & 0xffff) + protocol;
}

/** Writes a 16-bit big-endian value. */
export function put16(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = (value >>> 8) & 0xff;
  bytes[offset + 1] = value & 0xff;
}

/** Writes a 32-bit big-endian value. */
export function put32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = (value >>> 24) & 0xff;
  bytes[offset + 1] = (value >>> 16) & 0xff;
  bytes[offset + 2] = (value >>> 8) & 0xff;
  bytes[offset + 3] = value & 0xff;
}

/** Reads a 16-bit big-endian value. Precondition: offset + 2 <= bytes.length. */
export function get16(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! << 8) | bytes[offset + 1]!;
}

/** Reads a 32-bit big-endian value as an unsigned number. Precondition: offset + 4 <= length. */
export function get32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) >>> 0) + ((bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!);
}

/** Computes and stores the IPv4 header checksum (`ip_send_check`). */
export function setIpv4HeaderChecksum(packet: Uint8Array): void {
  const ihl = (packet[0]! & 0x0f) * 4;
  put16(packet, 10, 0);
  put16(packet, 10, checksumOf(sum16(packet, 0, ihl)));
}
