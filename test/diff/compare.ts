/**
 * Comparing what one frame caused on the kernel side with what it caused on a rejectc side,
 * byte for byte, after masking only the fields the kernel fills non-deterministically
 * (../shared/spec/nf-reject.md §11, golden/README.md "volatile"):
 * - the IPv4 identification and header checksum of ICMP messages the server built (the
 *   kernel's hashed ID generator; rejectc uses the orig's ID);
 * - the flow label of ICMPv6 messages the server built (the kernel's keyed auto flow label;
 *   rejectc writes 0);
 * - the time values of IPv4 Timestamp options (ms since midnight UT, filled by whoever
 *   processes the option: the two sides do so a few ms apart), with the header checksum that
 *   covers them and, inside an ICMP error, the ICMP checksum over the quote; likewise the
 *   receive and transmit times of an ICMP timestamp reply the server's stack sends.
 * Everything else — Ethernet headers, every other IP field, transport headers, quotes,
 * which packets passed the filter and how they were forwarded — must be identical.
 */
import { formatIpv6, type Ipv6Words } from '../../src/compiler/values/addresses.js';
import { decodeIp, toHex } from '../../src/model/index.js';
import type { Observation } from './wire.js';

/** Zeroes the time slots of Timestamp options of the IPv4 header at `at`; true if any. */
function maskTimestamps(b: Uint8Array, at: number): boolean {
  if (b.length < at + 20 || b[at]! >> 4 !== 4) return false;
  const end = Math.min(at + (b[at]! & 0x0f) * 4, b.length);
  let found = false;
  for (let i = at + 20; i < end; ) {
    const type = b[i]!;
    if (type === 0) break;
    if (type === 1) {
      i++;
      continue;
    }
    const len = b[i + 1] ?? 0;
    if (len < 2) break;
    if (type === 68) {
      found = true;
      const flag = (b[i + 3] ?? 0) & 0x0f;
      const step = flag === 0 ? 4 : 8;
      // Flag 0: times only; flags 1/3: address + time pairs, only the times vary.
      for (let s = i + 4 + (flag === 0 ? 0 : 4); s + 4 <= Math.min(i + len, end); s += step) b.fill(0, s, s + 4);
    }
    i += len;
  }
  if (found) b.fill(0, at + 10, at + 12);
  return found;
}

const ICMP4_ERRORS = new Set([3, 4, 5, 11, 12]);

/** Is `ip` a packet the server built, rather than a forwarded copy of one of `origs`? */
function builtByServer(ip: Uint8Array, origs: readonly Uint8Array[]): boolean {
  const d = decodeIp(ip).ip;
  if (!d) return true;
  return !origs.some((o) => {
    const od = decodeIp(o).ip;
    return od?.family === d.family && Buffer.from(od.header.src).equals(Buffer.from(d.header.src)) && Buffer.from(od.header.dst).equals(Buffer.from(d.header.dst));
  });
}

/**
 * The IP packet `ip` with its volatile fields zeroed (see the module comment). `origs`: the
 * IP packets the frame consisted of, to tell the server's own packets from forwarded ones.
 */
export function maskVolatile(ip: Uint8Array, origs: readonly Uint8Array[]): Uint8Array {
  const b = Uint8Array.from(ip);
  if (b.length < 1) return b;
  const own = builtByServer(b, origs);
  if (b[0]! >> 4 === 4 && b.length >= 20) {
    const hl = (b[0]! & 0x0f) * 4;
    maskTimestamps(b, 0);
    if (b[9] === 1 && own) {
      b.fill(0, 4, 6).fill(0, 10, 12);
      if (ICMP4_ERRORS.has(b[hl] ?? -1) && maskTimestamps(b, hl + 8)) b.fill(0, hl + 2, hl + 4);
      // Timestamp reply (type 14): receive and transmit times are the server's clock.
      if (b[hl] === 14 && b.length >= hl + 20) b.fill(0, hl + 2, hl + 4).fill(0, hl + 12, hl + 20);
    }
  } else if (b[0]! >> 4 === 6 && b.length >= 40 && b[6] === 58 && own) {
    b[1]! &= 0xf0;
    b.fill(0, 2, 4);
  }
  return b;
}

/** An observation in comparable text form: one string per captured item. */
export interface NormalizedObservation {
  client: string[];
  passed: string[];
  far: string[];
}

/** Masks a whole frame's IP part (Ethernet header kept as it is). */
function maskFrame(frame: Uint8Array, origs: readonly Uint8Array[]): string {
  const type = (frame[12]! << 8) | frame[13]!;
  if (frame.length < 14 || (type !== 0x0800 && type !== 0x86dd)) return toHex(frame);
  return toHex(frame.subarray(0, 14)) + toHex(maskVolatile(frame.subarray(14), origs));
}

export function normalize(o: Observation, origs: readonly Uint8Array[]): NormalizedObservation {
  return {
    client: o.client.map((f) => maskFrame(f, origs)),
    passed: o.passed.map((p) => `${p.hook} in=${p.indev} out=${p.outdev} ${toHex(maskVolatile(p.packet, origs))}`),
    far: o.far.map((f) => maskFrame(f, origs)),
  };
}

/** Differences between the kernel's and a rejectc side's normalized observations (empty: same). */
export function differences(kernel: NormalizedObservation, other: NormalizedObservation): string[] {
  const out: string[] = [];
  for (const key of ['client', 'passed', 'far'] as const) {
    const a = kernel[key];
    const b = other[key];
    if (a.length === b.length && a.every((x, i) => x === b[i])) continue;
    out.push(`${key}: kernel ${a.length ? a.map(describeItem).join(' | ') : 'nothing'}; rejectc ${b.length ? b.map(describeItem).join(' | ') : 'nothing'}`);
  }
  return out;
}

/** A short human reading of a normalized item (the hex stays in the full report). */
function describeItem(item: string): string {
  const m = /^(INPUT|FORWARD) in=(\d+) out=(\d+) ([0-9a-f]+)$/.exec(item);
  if (m) return `${m[1]} (in ${m[2]}, out ${m[3]}) ${describeIp(Buffer.from(m[4]!, 'hex'))}`;
  const frame = Buffer.from(item, 'hex');
  const type = frame.readUInt16BE(12);
  return type === 0x0800 || type === 0x86dd ? describeIp(frame.subarray(14)) : `ethertype 0x${type.toString(16)}`;
}

const TCP_FLAG_LETTERS = 'FSRPAUEC';

/** `IPv4 TCP 192.0.2.2:23 > 192.0.2.1:1000 [RA] 40 bytes` and the like. */
export function describeIp(bytes: Uint8Array): string {
  const d = decodeIp(Uint8Array.from(bytes)).ip;
  if (!d) return `${bytes.length} bytes (not IP)`;
  const src = addressText(d.header.src);
  const dst = addressText(d.header.dst);
  const proto = d.family === 'ipv4' ? d.header.protocol : d.findHdr.ok ? d.findHdr.protocol : d.header.nextHeader;
  const off = d.family === 'ipv4' ? d.header.headerLength : d.findHdr.ok ? d.findHdr.offset : d.bytes.length;
  const b = d.bytes;
  let what = `proto ${proto}`;
  if (proto === 6 && b.length >= off + 14) {
    const flags = [...TCP_FLAG_LETTERS].filter((_, i) => b[off + 13]! & (1 << i)).join('');
    what = `TCP ${src}:${(b[off]! << 8) | b[off + 1]!} > ${dst}:${(b[off + 2]! << 8) | b[off + 3]!} [${flags}]`;
    return `${d.family} ${what} ${b.length}B`;
  }
  if (proto === 17 && b.length >= off + 4) return `${d.family} UDP ${src}:${(b[off]! << 8) | b[off + 1]!} > ${dst}:${(b[off + 2]! << 8) | b[off + 3]!} ${b.length}B`;
  if ((proto === 1 || proto === 58) && b.length >= off + 2) what = `ICMP${proto === 58 ? 'v6' : ''} ${b[off]}/${b[off + 1]}`;
  return `${d.family} ${what} ${src} > ${dst} ${b.length}B`;
}

/** An address in canonical text (dotted quad, or RFC 5952 IPv6). */
export function addressText(a: Uint8Array): string {
  if (a.length === 4) return Array.from(a).join('.');
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((a[i]! << 8) | a[i + 1]!);
  return formatIpv6(words as Ipv6Words);
}
