/**
 * IPv4/IPv6 addresses, masks and address lists as iptables parses and prints them
 * (libxtables `xtables_ipparse_multiple`, `xtables_ip6parse_multiple`, `__numeric_to_ipaddr`,
 * glibc `inet_pton`/`inet_ntop`). Addresses are handled as numbers (IPv4, u32) or arrays of
 * eight 16-bit words (IPv6) and printed canonically.
 */
import type { Cidr, Family } from '../ir.js';
import { parseUint, UINT8_MAX } from './numbers.js';
import { fail, invalid, ok, type Parsed } from './result.js';

// ---------------------------------------------------------------------------------------------
// IPv4

/**
 * The common case, four decimal parts 0..255 without leading zeros (`192.0.2.1`), read
 * directly: the value, or -1 for any other text.
 */
export function plainDottedQuad(text: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46; /* a final '.' closes the last part */
    if (c === 46) {
      if (digits === 0 || part > 255 || ++parts > 4) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3 && !(digits === 1 && part === 0)) {
      part = part * 10 + (c - 48);
      digits++;
    } else {
      return -1;
    }
  }
  return parts === 4 ? value : -1;
}

/**
 * iptables' own dotted-quad reader: 1 to 4 parts, each 0..255 in C base-0 notation (`010` is 8,
 * `0x10` is 16); missing trailing parts are zero (`10.1` is 10.1.0.0). A mask must have 4 parts.
 */
export function parseIpv4(text: string, isMask = false): number | undefined {
  const plain = plainDottedQuad(text);
  if (plain >= 0) return plain;
  const parts = text.split('.');
  if (parts.length > 4 || (isMask && parts.length !== 4)) return undefined;
  let value = 0;
  for (let i = 0; i < 4; i++) {
    const part = parts[i];
    let byte = 0;
    if (part !== undefined) {
      const n = parseUint(part, 0, UINT8_MAX);
      if (n === undefined) return undefined;
      byte = n;
    }
    value = value * 256 + byte;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** The u32 mask of a prefix length 0..32. */
export function ipv4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Prefix length of a contiguous mask, or undefined for a non-contiguous one. */
export function ipv4PrefixOf(mask: number): number | undefined {
  for (let p = 0; p <= 32; p++) if (ipv4Mask(p) === mask) return p;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// IPv6

export type Ipv6Words = number[];

/**
 * glibc `inet_pton(AF_INET6)`: hex groups of 1 to 4 digits, at most one `::`, and an optional
 * trailing dotted IPv4 address. A single pass over the text.
 */
export function parseIpv6(text: string): Ipv6Words | undefined {
  const words: number[] = [];
  let gap = -1;
  let i = 0;
  const n = text.length;
  if (n === 0) return undefined;
  if (text.charCodeAt(0) === 58 /* : */) {
    if (text.charCodeAt(1) !== 58) return undefined;
    gap = 0;
    i = 2;
    if (i === n) return [0, 0, 0, 0, 0, 0, 0, 0];
  }
  while (i < n) {
    const start = i;
    let value = 0;
    while (i < n && i - start < 5) {
      const c = text.charCodeAt(i);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) break;
      value = value * 16 + d;
      i++;
    }
    if (i < n && text.charCodeAt(i) === 46 /* . */) {
      // An IPv4 tail: the rest of the text from this group on.
      const v4 = parseDottedStrict(text.slice(start));
      if (v4 === undefined || words.length > 6) return undefined;
      words.push(v4 >>> 16, v4 & 0xffff);
      i = n;
      break;
    }
    if (i === start || i - start > 4) return undefined;
    words.push(value);
    if (i === n) break;
    if (text.charCodeAt(i) !== 58) return undefined;
    i++;
    if (i < n && text.charCodeAt(i) === 58) {
      if (gap >= 0) return undefined;
      gap = words.length;
      i++;
    } else if (i === n) {
      return undefined;
    }
  }
  if (gap < 0) return words.length === 8 ? words : undefined;
  if (words.length > 7) return undefined;
  const zeros = new Array<number>(8 - words.length).fill(0);
  return [...words.slice(0, gap), ...zeros, ...words.slice(gap)];
}

/** glibc `inet_pton(AF_INET)`: exactly four decimal parts 0..255, no leading zeros. */
export function parseDottedStrict(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v >>> 0;
}

/**
 * glibc `inet_ntop(AF_INET6)`: lower-case hex without leading zeros, the first longest run of
 * two or more zero words as `::`, and `::a.b.c.d` / `::ffff:a.b.c.d` for IPv4-compatible and
 * IPv4-mapped addresses.
 */
export function formatIpv6(words: Ipv6Words): string {
  let bestBase = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestBase = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestBase = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      out += `${words[6]! >>> 8}.${words[6]! & 255}.${words[7]! >>> 8}.${words[7]! & 255}`;
      return out;
    }
    out += words[i]!.toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) out += ':';
  return out;
}

export function ipv6Mask(prefix: number): Ipv6Words {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) {
    const bits = Math.max(0, Math.min(16, prefix - i * 16));
    words.push(bits === 0 ? 0 : (0xffff << (16 - bits)) & 0xffff);
  }
  return words;
}

export function ipv6PrefixOf(mask: Ipv6Words): number | undefined {
  for (let p = 0; p <= 128; p++) {
    const m = ipv6Mask(p);
    if (m.every((w, i) => w === mask[i])) return p;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Family-independent helpers

/** Parses a bare address of the family into canonical text, or undefined. */
export function canonicalAddress(text: string, family: Family): string | undefined {
  if (family === 'ipv4') {
    const v = parseIpv4(text);
    return v === undefined ? undefined : formatIpv4(v);
  }
  const w = parseIpv6(text);
  return w === undefined ? undefined : formatIpv6(w);
}

/** Clears host bits: `address` with only its first `prefix` bits kept, canonical text. */
export function maskAddress(address: string, prefix: number, family: Family): string {
  if (family === 'ipv4') {
    return formatIpv4((parseIpv4(address)! & ipv4Mask(prefix)) >>> 0);
  }
  const m = ipv6Mask(prefix);
  return formatIpv6(parseIpv6(address)!.map((w, i) => w & m[i]!));
}

/** A mask in its full form (`255.255.255.0`, `ffff:ffff::`) for a prefix length. */
export function formatMask(prefix: number, family: Family): string {
  return family === 'ipv4' ? formatIpv4(ipv4Mask(prefix)) : formatIpv6(ipv6Mask(prefix));
}

/** A name that is a plausible DNS host name (iptables would resolve it; rejectc does not). */
function looksLikeHostName(text: string): boolean {
  return /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?$/.test(text) && /[A-Za-z_]/.test(text);
}

/**
 * A mask after `/`: a prefix length (base 0, 0..32 or 0..128) or a mask written as an address.
 * Non-contiguous masks are refused (E211): the IR stores prefixes.
 */
export function parseMaskText(text: string, family: Family): Parsed<number> {
  const max = family === 'ipv4' ? 32 : 128;
  // Only a mask written as an address has a '.' or a ':'.
  const written = text.includes('.') || text.includes(':') ? addressMaskPrefix(text, family) : undefined;
  if (written) return written;
  const bits = parseUint(text, 0, max);
  if (bits === undefined) return invalid('mask', text, `expected a prefix length 0 to ${max} or a netmask`);
  return ok(bits);
}

/** The prefix of a mask written as an address of the family, E211 if not contiguous; undefined if not an address. */
function addressMaskPrefix(text: string, family: Family): Parsed<number> | undefined {
  const mask = family === 'ipv4' ? parseIpv4(text, true) : parseIpv6(text);
  if (mask === undefined) return undefined;
  const p = typeof mask === 'number' ? ipv4PrefixOf(mask) : ipv6PrefixOf(mask);
  return p === undefined ? fail('E211', { value: text }) : ok(p);
}

/**
 * One `address[/mask]` element as `-s`/`-d` take it. The last `/` separates the mask; with a
 * zero mask the address part is ignored (iptables replaces it by 0.0.0.0 / ::), otherwise it
 * must be a numeric address of the family: a host name is E208. Host bits are cleared.
 */
export function parseCidr(text: string, family: Family): Parsed<Cidr> {
  const slash = text.lastIndexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  let prefix = family === 'ipv4' ? 32 : 128;
  if (slash >= 0) {
    const m = parseMaskText(text.slice(slash + 1), family);
    if (!m.ok) return m;
    prefix = m.value;
  }
  if (prefix === 0) return ok({ address: family === 'ipv4' ? '0.0.0.0' : '::', prefix: 0 });
  const address = maskedAddress(addrText, prefix, family);
  if (address === undefined) {
    const other = canonicalAddress(addrText, family === 'ipv4' ? 'ipv6' : 'ipv4');
    if (other !== undefined) return invalid('address', addrText, `this is an ${family === 'ipv4' ? 'IPv6' : 'IPv4'} address in an ${family === 'ipv4' ? 'iptables' : 'ip6tables'} rule`);
    if (looksLikeHostName(addrText)) return fail('E208', { value: addrText });
    return invalid('address', addrText);
  }
  return ok({ address, prefix });
}

/** {@link maskAddress} of the canonical form of `text`, parsed once; undefined if not an address. */
function maskedAddress(text: string, prefix: number, family: Family): string | undefined {
  if (family === 'ipv4') {
    const v = parseIpv4(text);
    return v === undefined ? undefined : formatIpv4((v & ipv4Mask(prefix)) >>> 0);
  }
  const w = parseIpv6(text);
  if (w === undefined) return undefined;
  const m = ipv6Mask(prefix);
  return formatIpv6(w.map((x, i) => x & m[i]!));
}

/** A comma list of {@link parseCidr} elements (`-s a,b/24`), kept in order with duplicates. */
export function parseCidrList(text: string, family: Family): Parsed<Cidr[]> {
  if (!text.includes(',')) {
    const c = parseCidr(text, family);
    return c.ok ? ok([c.value]) : c;
  }
  const out: Cidr[] = [];
  for (const item of text.split(',')) {
    const c = parseCidr(item, family);
    if (!c.ok) return c;
    out.push(c.value);
  }
  return ok(out);
}

/** `address/prefix` as iptables-save prints `-s`/`-d` (always with the prefix). */
export function formatCidr(c: Cidr): string {
  return `${c.address}/${c.prefix}`;
}

/**
 * glibc `inet_aton` (what getaddrinfo accepts as a numeric IPv4 host): 1 to 4 parts in C
 * base-0 notation, the last part filling the remaining bytes (`24` is 0.0.0.24, `10.1` is
 * 10.0.0.1). Used where iptables reads an address through getaddrinfo (recent's `--mask`).
 */
export function parseInetAton(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length > 4 || parts.some((p) => p === '')) return undefined;
  const nums: number[] = [];
  for (const p of parts) {
    const n = parseUint(p, 0, 0xffffffff);
    if (n === undefined) return undefined;
    nums.push(n);
  }
  const lastBytes = 4 - (nums.length - 1);
  const last = nums[nums.length - 1]!;
  if (last >= 2 ** (8 * lastBytes)) return undefined;
  let value = 0;
  for (let i = 0; i < nums.length - 1; i++) {
    if (nums[i]! > 255) return undefined;
    value = value * 256 + nums[i]!;
  }
  return value * 2 ** (8 * lastBytes) + last;
}
