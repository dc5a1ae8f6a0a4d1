/**
 * Sets of region indices as sorted, disjoint, non-adjacent inclusive ranges.
 */
import type { RegionRange } from './space.js';

export type RangeList = RegionRange[];

/** Sorts and merges overlapping or adjacent ranges. */
export function normalize(ranges: readonly RegionRange[]): RangeList {
  // Lists are mostly in order already: sort only those that are not.
  let ordered = true;
  for (let i = 1; i < ranges.length && ordered; i++) ordered = ranges[i - 1]!.from <= ranges[i]!.from;
  const sorted = ordered ? ranges : [...ranges].sort((a, b) => a.from - b.from);
  const out: RangeList = [];
  for (const r of sorted) {
    if (r.from > r.to) continue;
    const last = out[out.length - 1];
    if (last && r.from <= last.to + 1) last.to = Math.max(last.to, r.to);
    else out.push({ from: r.from, to: r.to });
  }
  return out;
}

/** The complement within [0, n). Precondition: `list` is normalized. */
export function complement(list: RangeList, n: number): RangeList {
  const out: RangeList = [];
  let next = 0;
  for (const r of list) {
    if (r.from > next) out.push({ from: next, to: r.from - 1 });
    next = r.to + 1;
  }
  if (next < n) out.push({ from: next, to: n - 1 });
  return out;
}

/** Intersection of two normalized lists. */
export function intersect(a: RangeList, b: RangeList): RangeList {
  const out: RangeList = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const from = Math.max(a[i]!.from, b[j]!.from);
    const to = Math.min(a[i]!.to, b[j]!.to);
    if (from <= to) out.push({ from, to });
    if (a[i]!.to < b[j]!.to) i++;
    else j++;
  }
  return out;
}

/** Number of regions in a list. */
export function size(list: RangeList): number {
  let n = 0;
  for (const r of list) n += r.to - r.from + 1;
  return n;
}
