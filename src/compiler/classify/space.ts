/**
 * Value spaces of one field: the atoms of every rule cut the field's values into regions such
 * that every atom is a contiguous range of region indices. Interval fields: regions are the
 * elementary intervals between atom boundaries. Prefix fields: regions are the distinct
 * prefixes (plus the root /0) in DFS order, region(P) being P minus its child prefixes, so a
 * prefix covers its own region and its descendants', a contiguous range in DFS order.
 */
import { prefixMask, type Atom, type IntervalAtom, type PrefixAtom } from './atoms.js';
import { unreadValue, type FieldDef } from './fields.js';

/** Inclusive range of region indices. */
export interface RegionRange {
  from: number;
  to: number;
}

export interface IntervalSpace {
  kind: 'interval';
  /** Region r covers values [starts[r], starts[r+1] - 1]; the last ends at the field's max. */
  starts: number[];
  max: number;
}

export interface PrefixSpace {
  kind: 'prefix';
  bits: number;
  /** Prefixes in DFS order; [0] is the root /0. */
  prefixes: PrefixAtom[];
  /** Index of the last descendant of each prefix. */
  end: number[];
}

export type Space = IntervalSpace | PrefixSpace;

export function regionCount(space: Space): number {
  return space.kind === 'interval' ? space.starts.length : space.prefixes.length;
}

export function buildSpace(field: FieldDef, atoms: readonly Atom[]): Space {
  if (field.kind === 'interval') {
    const cuts = new Set<number>([0]);
    for (const a of atoms as IntervalAtom[]) {
      if (a.lo > a.hi) continue;
      cuts.add(a.lo);
      if (a.hi < field.max) cuts.add(a.hi + 1);
    }
    // UNREAD (max + 1) is a region of its own: the last one.
    const unread = unreadValue(field);
    if (unread !== undefined) cuts.add(unread);
    // (A typed array sorts numbers numerically, without a comparator call per pair.)
    return { kind: 'interval', starts: Array.from(Float64Array.from(cuts).sort()), max: unread ?? field.max };
  }
  const bits = field.bits;
  const root: PrefixAtom = { kind: 'prefix', value: 0n, len: 0 };
  // Sorted by first address, ancestors (shorter) before descendants: a DFS preorder.
  const prefixes = bits <= 32 ? distinctSorted32(atoms as PrefixAtom[], root) : distinctSorted(atoms as PrefixAtom[], root, bits);
  const end = new Array<number>(prefixes.length);
  const stack: number[] = [];
  prefixes.forEach((p, i) => {
    while (stack.length > 0 && !contains(prefixes[stack[stack.length - 1]!]!, p, bits)) end[stack.pop()!] = i - 1;
    stack.push(i);
  });
  while (stack.length > 0) end[stack.pop()!] = prefixes.length - 1;
  return { kind: 'prefix', bits, prefixes, end };
}

/**
 * Up to 32 bits, a prefix's number value * 64 + len (exact in a double) orders prefixes by
 * value, then length, and tells them apart: a number key, cheaper than bigints in a Map.
 */
function key32(p: PrefixAtom): number {
  return Number(p.value) * 64 + p.len;
}

/** The distinct prefixes (the first of equal ones; `root` first of all), by value, then length: fields up to 32 bits. */
function distinctSorted32(atoms: readonly PrefixAtom[], root: PrefixAtom): PrefixAtom[] {
  const byKey = new Map<number, PrefixAtom>([[0, root]]);
  for (const a of atoms) {
    const k = key32(a);
    if (!byKey.has(k)) byKey.set(k, a);
  }
  // (A typed array sorts numbers numerically, without a comparator call per pair.)
  return Array.from(Float64Array.from(byKey.keys()).sort(), (k) => byKey.get(k)!);
}

/** As {@link distinctSorted32}, for wider fields (IPv6 addresses, interface names). */
function distinctSorted(atoms: readonly PrefixAtom[], root: PrefixAtom, bits: number): PrefixAtom[] {
  const seen: Map<bigint, PrefixAtom>[] = Array.from({ length: bits + 1 }, () => new Map());
  seen[0]!.set(0n, root);
  for (const a of atoms) if (!seen[a.len]!.has(a.value)) seen[a.len]!.set(a.value, a);
  return seen.flatMap((m) => [...m.values()]).sort((x, y) => (x.value < y.value ? -1 : x.value > y.value ? 1 : x.len - y.len));
}

function contains(outer: PrefixAtom, inner: PrefixAtom, bits: number): boolean {
  return inner.len >= outer.len && (inner.value & prefixMask(outer.len, bits)) === outer.value;
}

/** Region of a value in an interval space (binary search). */
export function intervalRegion(space: IntervalSpace, v: number): number {
  let lo = 0;
  let hi = space.starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (space.starts[mid]! <= v) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Position of each prefix of a prefix space. */
export interface PrefixIndex {
  get(atom: PrefixAtom): number | undefined;
}

export function prefixIndex(space: PrefixSpace): PrefixIndex {
  if (space.bits <= 32) {
    const byKey = new Map<number, number>();
    space.prefixes.forEach((p, i) => byKey.set(key32(p), i));
    return { get: (a) => byKey.get(key32(a)) };
  }
  const byLen: Map<bigint, number>[] = Array.from({ length: space.bits + 1 }, () => new Map());
  space.prefixes.forEach((p, i) => byLen[p.len]!.set(p.value, i));
  return { get: (a) => byLen[a.len]?.get(a.value) };
}

/** Region of a value in a prefix space: its longest matching prefix (linear; for tests and tools). */
export function prefixRegion(space: PrefixSpace, v: bigint): number {
  let best = 0;
  space.prefixes.forEach((p, i) => {
    if ((v & prefixMask(p.len, space.bits)) === p.value && p.len >= space.prefixes[best]!.len) best = i;
  });
  return best;
}

/** The regions an atom covers. */
export function atomRegions(space: Space, atom: Atom, index?: PrefixIndex): RegionRange {
  if (space.kind === 'interval') {
    const a = atom as IntervalAtom;
    const from = intervalRegion(space, a.lo);
    const to = a.hi >= space.max ? space.starts.length - 1 : intervalRegion(space, a.hi + 1) - 1;
    return { from, to };
  }
  const a = atom as PrefixAtom;
  const i = (index ?? prefixIndex(space)).get(a);
  if (i === undefined) throw new Error('atom not in its space');
  return { from: i, to: space.end[i]! };
}
