/**
 * Sets of field values as the classifier builds them: a {@link Term} is a union of atoms
 * (intervals of integers, or bit-string prefixes), optionally complemented. A rule's condition
 * on a field is the intersection of its terms. Conversions from IR values live here too.
 */
import { plainDottedQuad } from '../values/addresses.js';

export interface IntervalAtom {
  kind: 'interval';
  lo: number;
  hi: number;
}

/** The values whose first `len` bits equal those of `value` (a `bits`-wide bit string). */
export interface PrefixAtom {
  kind: 'prefix';
  value: bigint;
  len: number;
}

export type Atom = IntervalAtom | PrefixAtom;

/** `atoms` united; with `negated`, everything else. A term without atoms matches nothing. */
export interface Term {
  negated: boolean;
  atoms: Atom[];
}

export function interval(lo: number, hi: number): IntervalAtom {
  return { kind: 'interval', lo, hi };
}

/** A set of single values as the fewest intervals (values need not be sorted or distinct). */
export function intervalsOf(values: Iterable<number>): IntervalAtom[] {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  const out: IntervalAtom[] = [];
  for (const v of sorted) {
    const last = out[out.length - 1];
    if (last && last.hi === v - 1) last.hi = v;
    else out.push(interval(v, v));
  }
  return out;
}

/** An address in canonical text (dotted quad or RFC 5952) as a 32- or 128-bit integer. */
export function addressValue(text: string): { value: bigint; bits: 32 | 128 } {
  // The common case without splitting; anything else takes the general path below.
  const quad = plainDottedQuad(text);
  if (quad >= 0) return { value: BigInt(quad), bits: 32 };
  if (!text.includes(':')) {
    const parts = text.split('.').map(Number);
    if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
      throw new Error(`bad IPv4 address "${text}"`);
    }
    return { value: BigInt(((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0), bits: 32 };
  }
  let t = text;
  const lastColon = t.lastIndexOf(':');
  if (t.includes('.')) {
    const v4 = addressValue(t.slice(lastColon + 1)).value;
    t = `${t.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = t.split('::');
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length > 1 ? groups(halves[1]!) : [];
  const all = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  if (all.length !== 8 || all.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) throw new Error(`bad IPv6 address "${text}"`);
  return { value: all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n), bits: 128 };
}

/** A network as a prefix atom. */
export function cidrAtom(address: string, prefix: number): PrefixAtom {
  const { value, bits } = addressValue(address);
  return { kind: 'prefix', value: value & prefixMask(prefix, bits), len: prefix };
}

export function prefixMask(len: number, bits: number): bigint {
  if (len === 0) return 0n;
  return ((1n << BigInt(len)) - 1n) << BigInt(bits - len);
}

/**
 * The inclusive address range [from, to] as the fewest prefixes (the usual CIDR
 * decomposition). Empty when from > to.
 */
export function rangeToPrefixes(from: bigint, to: bigint, bits: number): PrefixAtom[] {
  const out: PrefixAtom[] = [];
  let cur = from;
  while (cur <= to) {
    // The largest aligned block starting at `cur` that does not pass `to`.
    let size = 0;
    while (size < bits) {
      const next = size + 1;
      const blockMask = (1n << BigInt(next)) - 1n;
      if ((cur & blockMask) !== 0n || cur + blockMask > to) break;
      size = next;
    }
    out.push({ kind: 'prefix', value: cur, len: bits - size });
    cur += 1n << BigInt(size);
  }
  return out;
}

/** "00:11:22:AA:BB:CC" as a 48-bit number. */
export function macValue(text: string): number {
  const parts = text.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) throw new Error(`bad MAC address "${text}"`);
  return parts.reduce((acc, p) => acc * 256 + parseInt(p, 16), 0);
}

/** Bytes of an interface name field (IFNAMSIZ = 16). */
export const IFNAME_BITS = 128;

/**
 * An interface match as a prefix of the 16-byte, NUL-padded name: `eth0` is the 5 bytes
 * "eth0\0" (the terminator must match), `eth+` the 3 bytes "eth" (ifname_compare_aligned).
 */
export function interfaceAtom(name: string, wildcard: boolean): PrefixAtom {
  const bytes = Buffer.from(name, 'latin1');
  const len = wildcard ? bytes.length : bytes.length + 1;
  return { kind: 'prefix', value: nameValue(name), len: Math.min(len, 16) * 8 };
}

/** An interface name as the 128-bit value of its 16-byte NUL-padded form. */
export function nameValue(name: string): bigint {
  const bytes = Buffer.alloc(16);
  Buffer.from(name, 'latin1').copy(bytes, 0, 0, 16);
  return BigInt(`0x${bytes.toString('hex')}`);
}

/** True if `value` is in the atom (for prefix atoms, `bits` is the value width). */
export function atomContains(atom: Atom, value: bigint | number, bits = 0): boolean {
  if (atom.kind === 'interval') return Number(value) >= atom.lo && Number(value) <= atom.hi;
  return (BigInt(value) & prefixMask(atom.len, bits)) === atom.value;
}

/** True if `value` is in the term. */
export function termContains(term: Term, value: bigint | number, bits = 0): boolean {
  // (A loop, not some(): no closure per call on the compiler's hot paths.)
  const atoms = term.atoms;
  let found = false;
  for (let i = 0; i < atoms.length && !found; i++) found = atomContains(atoms[i]!, value, bits);
  return found !== term.negated;
}
