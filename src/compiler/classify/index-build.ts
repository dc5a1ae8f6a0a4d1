/**
 * The two-level bit-vector index over the slots (./slots.ts).
 *
 * Slots are grouped in blocks of 64. Per field:
 * - stage 1 maps a packet value to a class: regions of the field's value space (./space.ts)
 *   that every slot treats alike are merged into one class;
 * - level 1 maps a class to a bitmap over blocks ("some live slot of block b accepts it"),
 *   preceded by a summary word (bit w: word w of the bitmap is not zero);
 * - level 2 maps (block, class) to the u64 of the block's slots that accept the class, stored
 *   only where it differs from the block's default word (the slots that do not constrain the
 *   field, and those whose accepted set is stored as its complement).
 * A packet's candidate blocks are the AND of its level-1 bitmaps; in a candidate block, the AND
 * of the level-2 words and the block's live mask gives the matching slots; the lowest set bit
 * of the first non-empty block is the first matching slot.
 *
 * Per (slot, field) the accepted regions are stored as the smaller of the set and its
 * complement, which keeps broad ranges and negations cheap.
 */
import type { Term } from './atoms.js';
import { FIELDS, type FieldDef, type FieldId } from './fields.js';
import { complement, intersect, normalize, size, type RangeList } from './ranges.js';
import { BLOCK, type Slot } from './slots.js';
import { atomRegions, buildSpace, prefixIndex, regionCount, type Space } from './space.js';

/** A 64-bit word as two 32-bit halves (JS bit operations are 32-bit). */
export interface Word {
  lo: number;
  hi: number;
}

export interface Level2Entry {
  block: number;
  cls: number;
  lo: number;
  hi: number;
}

export interface FieldIndex {
  field: FieldDef;
  space: Space;
  /** Class of each region of {@link space}. */
  regionClass: Uint32Array;
  classCount: number;
  /** Per class: 1 + words u64 as (lo, hi) u32 pairs: the summary, then the bitmap over blocks. */
  level1: Uint32Array;
  level2: Level2Entry[];
  /** Per block: the default word as (lo, hi). */
  defaults: Uint32Array;
}

export interface ClassifierIndex {
  slotCount: number;
  blockCount: number;
  /** u64 words of a level-1 bitmap: ceil(blockCount / 64). */
  words: number;
  /** Per block: the live slots as (lo, hi). */
  live: Uint32Array;
  /** The fields some live slot constrains, in FIELDS order. */
  fields: FieldIndex[];
}

function setBit(arr: Uint32Array, bit: number): void {
  arr[bit >>> 5]! |= 1 << (bit & 31);
}

function clearBit(arr: Uint32Array, bit: number): void {
  arr[bit >>> 5]! &= ~(1 << (bit & 31));
}

/**
 * Builds the index. Precondition: `slots.length` is a multiple of BLOCK. `allFields` indexes
 * every field, constrained or not (one class each for the unused ones), for a fixed shape.
 */
export function buildIndex(slots: readonly Slot[], allFields = false): ClassifierIndex {
  const blockCount = slots.length / BLOCK;
  const words = Math.max(1, Math.ceil(blockCount / 64));
  const live = new Uint32Array(blockCount * 2);
  const used = new Set<FieldId>();
  slots.forEach((s, i) => {
    if (!s.live) return;
    setBit(live, i);
    for (const f of s.fields.keys()) used.add(f);
  });
  const fields = FIELDS.filter((f) => allFields || used.has(f.id)).map((f) => buildField(f, slots, blockCount, words, live));
  return { slotCount: slots.length, blockCount, words, live, fields };
}

function acceptedRegions(terms: readonly Term[], space: Space, n: number, index: Map<string, number> | undefined): RangeList {
  let acc: RangeList = [{ from: 0, to: n - 1 }];
  for (const t of terms) {
    let u = normalize(t.atoms.map((a) => atomRegions(space, a, index)));
    if (t.negated) u = complement(u, n);
    acc = intersect(acc, u);
  }
  return acc;
}

function buildField(field: FieldDef, slots: readonly Slot[], blockCount: number, words: number, live: Uint32Array): FieldIndex {
  const atoms = slots.flatMap((s) => (s.live ? (s.fields.get(field.id) ?? []).flatMap((t) => t.atoms) : []));
  const space = buildSpace(field, atoms);
  const n = regionCount(space);
  const index = space.kind === 'prefix' ? prefixIndex(space) : undefined;

  // Mentions: per region, the slots whose stored set names it (slot * 2 + 1 if complement).
  const mentions: (number[] | undefined)[] = new Array(n);
  const defaults = new Uint32Array(blockCount * 2);
  slots.forEach((s, i) => {
    if (!s.live) return;
    const terms = s.fields.get(field.id);
    if (!terms) {
      setBit(defaults, i);
      return;
    }
    const acc = acceptedRegions(terms, space, n, index);
    const positive = size(acc) * 2 <= n;
    const stored = positive ? acc : complement(acc, n);
    if (!positive) setBit(defaults, i);
    const code = i * 2 + (positive ? 0 : 1);
    for (const r of stored) {
      for (let x = r.from; x <= r.to; x++) (mentions[x] ??= []).push(code);
    }
  });

  // Classes: regions with the same mentions are accepted by exactly the same slots.
  const regionClass = new Uint32Array(n);
  const bySignature = new Map<string, number>();
  const representative: number[] = [];
  for (let r = 0; r < n; r++) {
    const sig = mentions[r]?.join(',') ?? '';
    let c = bySignature.get(sig);
    if (c === undefined) {
      c = representative.length;
      bySignature.set(sig, c);
      representative.push(r);
    }
    regionClass[r] = c;
  }
  const classCount = representative.length;

  // Level 2 and level 1.
  const stride = (1 + words) * 2;
  const base = new Uint32Array(words * 2);
  for (let b = 0; b < blockCount; b++) {
    if (((defaults[2 * b]! & live[2 * b]!) | (defaults[2 * b + 1]! & live[2 * b + 1]!)) !== 0) setBit(base, b);
  }
  const level1 = new Uint32Array(classCount * stride);
  const level2: Level2Entry[] = [];
  for (let c = 0; c < classCount; c++) {
    const bitmap = base.slice();
    const list = mentions[representative[c]!] ?? [];
    for (let k = 0; k < list.length; ) {
      const block = Math.floor(list[k]! / 2 / BLOCK);
      const word = new Uint32Array([defaults[2 * block]!, defaults[2 * block + 1]!]);
      for (; k < list.length && Math.floor(list[k]! / 2 / BLOCK) === block; k++) {
        const code = list[k]!;
        const bit = (code >>> 1) % BLOCK;
        if (code & 1) clearBit(word, bit);
        else setBit(word, bit);
      }
      level2.push({ block, cls: c, lo: word[0]!, hi: word[1]! });
      if (((word[0]! & live[2 * block]!) | (word[1]! & live[2 * block + 1]!)) !== 0) setBit(bitmap, block);
      else clearBit(bitmap, block);
    }
    const off = c * stride;
    for (let w = 0; w < words; w++) {
      if ((bitmap[2 * w]! | bitmap[2 * w + 1]!) !== 0) setBit(level1.subarray(off, off + 2), w);
    }
    level1.set(bitmap, off + 2);
  }
  return { field, space, regionClass, classCount, level1, level2, defaults };
}

/** The default and level-2 word of a field for a block and class (used by the simulator). */
export function level2Word(f: FieldIndex, block: number, cls: number): Word {
  const e = f.level2.find((x) => x.block === block && x.cls === cls);
  return e ? { lo: e.lo, hi: e.hi } : { lo: f.defaults[2 * block]!, hi: f.defaults[2 * block + 1]! };
}
