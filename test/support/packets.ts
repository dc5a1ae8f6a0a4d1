/**
 * Packet builders for tests: IPv4/IPv6 with TCP, UDP, ICMP, ICMPv6 or raw payloads, correct
 * checksums by default (or deliberately bad / zero ones), IPv4 options, IPv6 extension headers,
 * fragments, truncated transport headers, L2 trailers and Ethernet (+ VLAN) framing.
 *
 * Every builder returns a fresh Uint8Array; nothing is cached. Addresses are text
 * (`192.0.2.1`, `2001:db8::1`). Defaults: 192.0.2.1 → 192.0.2.2 and 2001:db8::1 → 2001:db8::2
 * (the golden "direct" topology), TTL / hop limit 64.
 *
 * Example:
 *   const syn = ipv4({}, tcp({ sport: 40000, dport: 80, flags: 'S', seq: 1000 }));
 *   const frame = ethernet(syn, { dst: 'broadcast' });
 */
import { addressBytes } from '../../src/model/address.js';
import {
  checksumOf,
  pseudoSum4,
  pseudoSum6,
  put16,
  put32,
  setIpv4HeaderChecksum,
  sum16,
} from '../../src/model/checksum.js';

/** Byte values: a Uint8Array or any (readonly) array of numbers. */
export type Bytes = ArrayLike<number>;

/** A checksum: computed (default), a fixed value, `bad` (a wrong one) or `zero` (field 0). */
export type ChecksumSpec = 'auto' | 'bad' | 'zero' | number;

export interface TcpSpec {
  kind: 'tcp';
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  /** A number, or letters: F S R P A U E C (e.g. 'SA', 'FPU'). Default 'S'. */
  flags?: number | string;
  window?: number;
  urgent?: number;
  /** TCP options; padded with EOL (0) to a multiple of 4. */
  options?: Bytes;
  /** Override the data offset (in 32-bit words), e.g. 0 or 15 for malformed headers. */
  doff?: number;
  payload?: Bytes;
  checksum?: ChecksumSpec;
}

export interface UdpSpec {
  kind: 'udp';
  sport: number;
  dport: number;
  payload?: Bytes;
  /** Override the UDP length field. */
  length?: number;
  checksum?: ChecksumSpec;
}

/** ICMP (in IPv4) or ICMPv6 (in IPv6): the checksum includes the pseudo-header for v6. */
export interface IcmpSpec {
  kind: 'icmp';
  type: number;
  code?: number;
  /** Bytes 4..7 (identifier/sequence, MTU, unused). Default zeros. */
  rest?: Bytes;
  payload?: Bytes;
  checksum?: ChecksumSpec;
}

/** Any transport bytes, taken as they are, with the given protocol / next header number. */
export interface RawSpec {
  kind: 'raw';
  protocol: number;
  bytes: Bytes;
}

export type L4Spec = TcpSpec | UdpSpec | IcmpSpec | RawSpec;

export interface Ipv4Spec {
  src?: string;
  dst?: string;
  tos?: number;
  id?: number;
  df?: boolean;
  mf?: boolean;
  /** The reserved ("evil") flag bit. */
  reservedFlag?: boolean;
  /** Fragment offset in 8-byte units. */
  fragOffset?: number;
  ttl?: number;
  /** Override the protocol number (default from the L4 spec). */
  protocol?: number;
  /** Option bytes; padded with EOL (0) to a multiple of 4. */
  options?: Bytes;
  /** Override header fields to build malformed packets. */
  version?: number;
  ihl?: number;
  totalLength?: number;
  headerChecksum?: ChecksumSpec;
}

export type Ipv6Extension =
  /** Hop-by-hop or destination options; `options` are TLVs, padded with PadN/Pad1 to 8n. */
  | { kind: 'hop-by-hop' | 'dest-opts'; options?: Bytes }
  | { kind: 'routing'; routingType?: number; segmentsLeft?: number; data?: Bytes }
  /** Offset in 8-byte units. */
  | { kind: 'fragment'; offset: number; more: boolean; id?: number }
  | { kind: 'auth'; spi?: number; seq?: number; icv?: Bytes }
  /** Any header bytes with the given type; the first byte (next header) is filled in. */
  | { kind: 'raw'; type: number; bytes: Bytes };

export interface Ipv6Spec {
  src?: string;
  dst?: string;
  trafficClass?: number;
  flowLabel?: number;
  hopLimit?: number;
  extensions?: Ipv6Extension[];
  /** Override the last next-header value (the one naming the transport). */
  nextHeader?: number;
  /** Override payload_len. */
  payloadLength?: number;
}

const bytesOf = (v: Bytes | undefined): Uint8Array => Uint8Array.from(v ?? []);

function pad4(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(b.length / 4) * 4);
  out.set(b);
  return out;
}

/** TCP flag letters → flag byte. */
export function tcpFlags(flags: number | string): number {
  if (typeof flags === 'number') return flags;
  const bits: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20, E: 0x40, C: 0x80 };
  let v = 0;
  for (const ch of flags.toUpperCase()) {
    if (!(ch in bits)) throw new Error(`unknown TCP flag letter ${ch}`);
    v |= bits[ch]!;
  }
  return v;
}

export function tcp(spec: Omit<TcpSpec, 'kind'>): TcpSpec {
  return { kind: 'tcp', ...spec };
}
export function udp(spec: Omit<UdpSpec, 'kind'>): UdpSpec {
  return { kind: 'udp', ...spec };
}
export function icmp(spec: Omit<IcmpSpec, 'kind'>): IcmpSpec {
  return { kind: 'icmp', ...spec };
}
export function raw(protocol: number, bytes: Bytes): RawSpec {
  return { kind: 'raw', protocol, bytes };
}

/** A wrong value for a checksum field: never equivalent to `good` in one's complement. */
function badChecksum(good: number): number {
  return good === 0x1234 ? 0x4321 : 0x1234;
}

function resolve(spec: ChecksumSpec | undefined, good: number): number {
  if (spec === undefined || spec === 'auto') return good;
  if (spec === 'bad') return badChecksum(good);
  if (spec === 'zero') return 0;
  return spec;
}

interface Pseudo {
  family: 'ipv4' | 'ipv6';
  src: Uint8Array;
  dst: Uint8Array;
}

/** Protocol number of an L4 spec in a family (ICMP is 1 in IPv4, 58 in IPv6). */
export function protocolOf(l4: L4Spec, family: 'ipv4' | 'ipv6'): number {
  switch (l4.kind) {
    case 'tcp':
      return 6;
    case 'udp':
      return 17;
    case 'icmp':
      return family === 'ipv4' ? 1 : 58;
    case 'raw':
      return l4.protocol;
  }
}

function pseudoSum(p: Pseudo, protocol: number, length: number): number {
  return p.family === 'ipv4' ? pseudoSum4(p.src, p.dst, protocol, length) : pseudoSum6(p.src, p.dst, protocol, length);
}

/** The transport bytes of an L4 spec, with its checksum for the given addresses. */
function transportBytes(l4: L4Spec, p: Pseudo): Uint8Array {
  switch (l4.kind) {
    case 'raw':
      return Uint8Array.from(bytesOf(l4.bytes));
    case 'tcp': {
      const options = pad4(bytesOf(l4.options));
      const payload = bytesOf(l4.payload);
      const out = new Uint8Array(20 + options.length + payload.length);
      put16(out, 0, l4.sport);
      put16(out, 2, l4.dport);
      put32(out, 4, (l4.seq ?? 0) >>> 0);
      put32(out, 8, (l4.ack ?? 0) >>> 0);
      out[12] = (l4.doff ?? (20 + options.length) / 4) << 4;
      out[13] = tcpFlags(l4.flags ?? 'S');
      put16(out, 14, l4.window ?? 64240);
      put16(out, 18, l4.urgent ?? 0);
      out.set(options, 20);
      out.set(payload, 20 + options.length);
      const good = checksumOf(pseudoSum(p, 6, out.length) + sum16(out));
      put16(out, 16, resolve(l4.checksum, good));
      return out;
    }
    case 'udp': {
      const payload = bytesOf(l4.payload);
      const out = new Uint8Array(8 + payload.length);
      put16(out, 0, l4.sport);
      put16(out, 2, l4.dport);
      put16(out, 4, l4.length ?? out.length);
      out.set(payload, 8);
      let good = checksumOf(pseudoSum(p, 17, out.length) + sum16(out));
      if (good === 0) good = 0xffff; // RFC 768: a computed 0 is sent as all ones
      put16(out, 6, resolve(l4.checksum, good));
      return out;
    }
    case 'icmp': {
      const payload = bytesOf(l4.payload);
      const out = new Uint8Array(8 + payload.length);
      out[0] = l4.type;
      out[1] = l4.code ?? 0;
      out.set(bytesOf(l4.rest).slice(0, 4), 4);
      out.set(payload, 8);
      const pseudo = p.family === 'ipv6' ? pseudoSum6(p.src, p.dst, 58, out.length) : 0;
      put16(out, 2, resolve(l4.checksum, checksumOf(pseudo + sum16(out))));
      return out;
    }
  }
}

/** Builds an IPv4 packet. */
export function ipv4(spec: Ipv4Spec, l4: L4Spec): Uint8Array {
  const src = addressBytes(spec.src ?? '192.0.2.1');
  const dst = addressBytes(spec.dst ?? '192.0.2.2');
  const options = pad4(bytesOf(spec.options));
  const body = transportBytes(l4, { family: 'ipv4', src, dst });
  const hl = 20 + options.length;
  const out = new Uint8Array(hl + body.length);
  out[0] = ((spec.version ?? 4) << 4) | (spec.ihl ?? hl / 4);
  out[1] = spec.tos ?? 0;
  put16(out, 2, spec.totalLength ?? out.length);
  put16(out, 4, spec.id ?? 0x1234);
  const flags = (spec.reservedFlag ? 0x8000 : 0) | (spec.df ? 0x4000 : 0) | (spec.mf ? 0x2000 : 0);
  put16(out, 6, flags | ((spec.fragOffset ?? 0) & 0x1fff));
  out[8] = spec.ttl ?? 64;
  out[9] = spec.protocol ?? protocolOf(l4, 'ipv4');
  out.set(src, 12);
  out.set(dst, 16);
  out.set(options, 20);
  out.set(body, hl);
  setIpv4HeaderChecksum(out);
  if (spec.headerChecksum !== undefined && spec.headerChecksum !== 'auto') {
    const good = (out[10]! << 8) | out[11]!;
    put16(out, 10, resolve(spec.headerChecksum, good));
  }
  return out;
}

const EXT_TYPES = { 'hop-by-hop': 0, routing: 43, fragment: 44, auth: 51, 'dest-opts': 60 } as const;

/** TLV options padded to 8n - 2 bytes with Pad1/PadN (zero-filled). */
function padTlvs(tlvs: Uint8Array): Uint8Array {
  const total = Math.ceil((tlvs.length + 2) / 8) * 8 - 2;
  const out = new Uint8Array(total);
  out.set(tlvs);
  const gap = total - tlvs.length;
  if (gap === 1) out[tlvs.length] = 0;
  else if (gap >= 2) {
    out[tlvs.length] = 1;
    out[tlvs.length + 1] = gap - 2;
  }
  return out;
}

function extensionBytes(ext: Ipv6Extension): { type: number; bytes: Uint8Array } {
  switch (ext.kind) {
    case 'hop-by-hop':
    case 'dest-opts': {
      const body = padTlvs(bytesOf(ext.options));
      const out = new Uint8Array(2 + body.length);
      out[1] = out.length / 8 - 1;
      out.set(body, 2);
      return { type: EXT_TYPES[ext.kind], bytes: out };
    }
    case 'routing': {
      const data = bytesOf(ext.data);
      const len = Math.ceil((4 + data.length) / 8) * 8 || 8;
      const out = new Uint8Array(len);
      out[1] = len / 8 - 1;
      out[2] = ext.routingType ?? 0;
      out[3] = ext.segmentsLeft ?? 0;
      out.set(data, 4);
      return { type: EXT_TYPES.routing, bytes: out };
    }
    case 'fragment': {
      const out = new Uint8Array(8);
      put16(out, 2, ((ext.offset & 0x1fff) << 3) | (ext.more ? 1 : 0));
      put32(out, 4, ext.id ?? 0x12345678);
      return { type: EXT_TYPES.fragment, bytes: out };
    }
    case 'auth': {
      const icv = bytesOf(ext.icv ?? [0, 0, 0, 0]);
      const out = new Uint8Array(12 + icv.length);
      out[1] = out.length / 4 - 2;
      put32(out, 4, ext.spi ?? 0x100);
      put32(out, 8, ext.seq ?? 1);
      out.set(icv, 12);
      return { type: EXT_TYPES.auth, bytes: out };
    }
    case 'raw':
      return { type: ext.type, bytes: Uint8Array.from(bytesOf(ext.bytes)) };
  }
}

/** Builds an IPv6 packet with the given extension headers (in order) before the transport. */
export function ipv6(spec: Ipv6Spec, l4: L4Spec): Uint8Array {
  const src = addressBytes(spec.src ?? '2001:db8::1');
  const dst = addressBytes(spec.dst ?? '2001:db8::2');
  const body = transportBytes(l4, { family: 'ipv6', src, dst });
  const exts = (spec.extensions ?? []).map(extensionBytes);
  const types = [...exts.map((e) => e.type), spec.nextHeader ?? protocolOf(l4, 'ipv6')];
  const extLen = exts.reduce((n, e) => n + e.bytes.length, 0);
  const out = new Uint8Array(40 + extLen + body.length);
  const tc = spec.trafficClass ?? 0;
  const fl = spec.flowLabel ?? 0;
  out[0] = 0x60 | (tc >> 4);
  out[1] = ((tc & 0x0f) << 4) | ((fl >> 16) & 0x0f);
  put16(out, 2, fl & 0xffff);
  put16(out, 4, spec.payloadLength ?? extLen + body.length);
  out[6] = types[0]!;
  out[7] = spec.hopLimit ?? 64;
  out.set(src, 8);
  out.set(dst, 24);
  let at = 40;
  exts.forEach((e, i) => {
    e.bytes[0] = types[i + 1]!;
    out.set(e.bytes, at);
    at += e.bytes.length;
  });
  out.set(body, at);
  return out;
}

/**
 * An L4 header cut to its first `keep` bytes (checksum computed over the whole segment first),
 * for "IP payload shorter than a TCP header" cases: `ipv4({}, truncated(tcp({...}), 12))`.
 */
export function truncated(l4: L4Spec, keep: number, family: 'ipv4' | 'ipv6' = 'ipv4', addresses?: { src: string; dst: string }): RawSpec {
  const src = addressBytes(addresses?.src ?? (family === 'ipv4' ? '192.0.2.1' : '2001:db8::1'));
  const dst = addressBytes(addresses?.dst ?? (family === 'ipv4' ? '192.0.2.2' : '2001:db8::2'));
  const full = transportBytes(l4, { family, src, dst });
  return raw(protocolOf(l4, family), full.slice(0, keep));
}

/** Appends `n` bytes of L2 padding after the datagram (not counted in tot_len / payload_len). */
export function withTrailer(packet: Uint8Array, n: number, fill = 0xee): Uint8Array {
  const out = new Uint8Array(packet.length + n).fill(fill);
  out.set(packet);
  return out;
}

export interface EthernetSpec {
  /** MAC text, or `broadcast` (ff:..), `multicast` (01:00:5e:00:00:01 / 33:33:00:00:00:01). Default 02:00:00:00:00:02. */
  dst?: string;
  src?: string;
  /** 802.1Q VLAN ids to insert, outermost first. */
  vlans?: readonly number[];
  /** Override the EtherType (default from the IP version). */
  etherType?: number;
}

function macBytes(text: string): Uint8Array {
  const parts = text.split(':').map((p) => parseInt(p, 16));
  if (parts.length !== 6 || parts.some((p) => Number.isNaN(p))) throw new Error(`bad MAC ${text}`);
  return Uint8Array.from(parts);
}

/** Wraps an IP packet in an Ethernet frame. */
export function ethernet(packet: Uint8Array, spec: EthernetSpec = {}): Uint8Array {
  const v6 = packet.length > 0 && packet[0]! >> 4 === 6;
  const dstText =
    spec.dst === 'broadcast'
      ? 'ff:ff:ff:ff:ff:ff'
      : spec.dst === 'multicast'
        ? v6
          ? '33:33:00:00:00:01'
          : '01:00:5e:00:00:01'
        : (spec.dst ?? '02:00:00:00:00:02');
  const vlans = spec.vlans ?? [];
  const out = new Uint8Array(14 + 4 * vlans.length + packet.length);
  out.set(macBytes(dstText), 0);
  out.set(macBytes(spec.src ?? '02:00:00:00:00:01'), 6);
  let at = 12;
  for (const id of vlans) {
    put16(out, at, 0x8100);
    put16(out, at + 2, id & 0x0fff);
    at += 4;
  }
  put16(out, at, spec.etherType ?? (v6 ? 0x86dd : 0x0800));
  out.set(packet, at + 2);
  return out;
}

/**
 * Splits an IPv4 packet into fragments carrying at most `size` payload bytes each (`size` a
 * multiple of 8); a packet without payload comes back whole. Later fragments keep only options with the "copied" bit, as
 * `ip_options_fragment` does; all get fresh header checksums.
 */
export function fragmentIpv4(packet: Uint8Array, size: number): Uint8Array[] {
  if (size <= 0 || size % 8 !== 0) throw new Error('fragment size must be a positive multiple of 8');
  const hl = (packet[0]! & 0x0f) * 4;
  const total = (packet[2]! << 8) | packet[3]!;
  const payload = packet.slice(hl, total);
  const firstHeader = packet.slice(0, hl);
  const laterHeader = pad4(copiedOptions(packet.slice(20, hl)));
  if (payload.length === 0) return [packet.slice(0, total)];
  const out: Uint8Array[] = [];
  for (let off = 0; off < payload.length; off += size) {
    const chunk = payload.slice(off, off + size);
    const header = off === 0 ? firstHeader : Uint8Array.from([...packet.slice(0, 20), ...laterHeader]);
    const frag = new Uint8Array(header.length + chunk.length);
    frag.set(header);
    frag[0] = 0x40 | (header.length / 4);
    frag.set(chunk, header.length);
    put16(frag, 2, frag.length);
    const more = off + size < payload.length;
    put16(frag, 6, (packet[6]! & 0x40 ? 0x4000 : 0) | (more ? 0x2000 : 0) | (off / 8));
    setIpv4HeaderChecksum(frag);
    out.push(frag);
  }
  return out;
}

function copiedOptions(options: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < options.length; ) {
    const type = options[i]!;
    if (type === 0) break;
    if (type === 1) {
      i++;
      continue;
    }
    const len = options[i + 1] ?? 0;
    if (len < 2) break;
    if (type & 0x80) out.push(...options.slice(i, i + len));
    i += len;
  }
  return Uint8Array.from(out);
}

/**
 * Splits an IPv6 packet into fragments of at most `size` fragmentable bytes (`size` a multiple
 * of 8): the fixed header and any leading hop-by-hop / routing headers are repeated, then a
 * fragment header, then the slice.
 */
export function fragmentIpv6(packet: Uint8Array, size: number, id = 0x12345678): Uint8Array[] {
  if (size <= 0 || size % 8 !== 0) throw new Error('fragment size must be a positive multiple of 8');
  let next = packet[6]!;
  let at = 40;
  let lastNextAt = 6;
  while ((next === 0 || next === 43) && at + 2 <= packet.length) {
    lastNextAt = at;
    const len = (packet[at + 1]! + 1) * 8;
    next = packet[at]!;
    at += len;
  }
  const unfragmentable = packet.slice(0, at);
  const fragmentable = packet.slice(at, 40 + ((packet[4]! << 8) | packet[5]!));
  const out: Uint8Array[] = [];
  if (fragmentable.length === 0) return [packet.slice()];
  for (let off = 0; off < fragmentable.length; off += size) {
    const chunk = fragmentable.slice(off, off + size);
    const frag = new Uint8Array(unfragmentable.length + 8 + chunk.length);
    frag.set(unfragmentable);
    frag[lastNextAt] = 44;
    const fh = unfragmentable.length;
    frag[fh] = next;
    put16(frag, fh + 2, ((off / 8) << 3) | (off + size < fragmentable.length ? 1 : 0));
    put32(frag, fh + 4, id);
    frag.set(chunk, fh + 8);
    put16(frag, 4, frag.length - 40);
    out.push(frag);
  }
  return out;
}

/** IPv4 option bytes. */
export const ipOptions = {
  nop: (): number[] => [1],
  eol: (): number[] => [0],
  /** Record Route with `slots` address slots; `filled` of them already used. */
  recordRoute: (slots: number, filled = 0): number[] => {
    const out = [7, 3 + 4 * slots, 4 + 4 * filled];
    for (let i = 0; i < slots; i++) out.push(...(i < filled ? [198, 51, 100, 10 + i] : [0, 0, 0, 0]));
    return out;
  },
  /** Timestamp (flag 0: timestamps only) with `slots` slots, `filled` used. */
  timestamp: (slots: number, filled = 0, overflow = 0): number[] => {
    const out = [68, 4 + 4 * slots, 5 + 4 * filled, (overflow << 4) | 0];
    for (let i = 0; i < slots; i++) out.push(0, 0, 0, 0);
    return out;
  },
  routerAlert: (): number[] => [148, 4, 0, 0],
  looseSourceRoute: (hops: string[]): number[] => [131, 3 + 4 * hops.length, 4, ...hops.flatMap((h) => [...addressBytes(h)])],
};
