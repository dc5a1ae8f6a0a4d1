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
 * The AND alone is not enough to keep the walk short: a slot that does not constrain a field is
 * in every class's bitmap of that field, so with rules of different shapes interleaved (some
 * on sources, some on destinations, some on ports) every field's bitmap can cover every block
 * while no rule matches. So each live slot also gets a key: the one field whose accepted set
 * is shared with the fewest other slots (a /32, a port, an interface), and level 1 keeps a
 * second bitmap per class, "some slot keyed on this field in block b accepts the class". A slot
 * that matches the packet is in the keyed bitmap of its key's class, so the candidate blocks
 * are (OR over fields of the keyed bitmaps, OR the blocks of slots without a key) AND (the AND
 * above): a block is looked at only when a rule in it matches the packet on its most selective
 * field. A slot keyed on a field that the packet has no value for (UNREAD, see fields.ts) is
 * reached through the header-state field instead, so that port-keyed rules are not candidates
 * for every ICMP packet.
 *
 * Per (slot, field) the accepted regions are stored as the smaller of the set and its
 * complement, which keeps broad ranges and negations cheap.
 *
 * Level-1 entries are shared: most classes have the same two bitmaps as many others (a /32
 * accepted by one slot has the field's common bitmap, and the keyed bitmap of that slot's
 * block alone), so a field stores one entry per distinct pair of bitmaps. A class names its
 * entry without a lookup: class ids are `entry << l1Shift | n`, n numbering the classes
 * sharing the entry (a pair shared by more than 2^l1Shift classes takes several entries), and
 * level 1 reads entry `class >> l1Shift`. Stage 1 and level 2 use the class ids as they are.
 */
import type { Atom, Term } from './atoms.js';
import { FIELDS, unreadValue, type FieldDef, type FieldId } from './fields.js';
import { complement, intersect, normalize, size, type RangeList } from './ranges.js';
import { BLOCK, type Slot } from './slots.js';
import { atomRegions, buildSpace, intervalRegion, prefixIndex, regionCount, type IntervalSpace, type PrefixIndex, type Space } from './space.js';

/** A 64-bit word as two 32-bit halves (JS bit operations are 32-bit). */
export interface Word {
  lo: number;
  hi: number;
}

/** Level-2 entries, 4 u32 each: block, class, and the word as (lo, hi). */
export const L2_BLOCK = 0;
export const L2_CLS = 1;
export const L2_LO = 2;
export const L2_HI = 3;

export interface FieldIndex {
  field: FieldDef;
  space: Space;
  /** Class id of each region of {@link space}: its level-1 entry is `id >>> l1Shift`. */
  regionClass: Uint32Array;
  /** How many distinct classes (regions that every slot treats alike are one class). */
  classCount: number;
  /** Class id bits below the level-1 entry number. */
  l1Shift: number;
  /** Level-1 entries: distinct (bitmap, keyed bitmap) pairs of the classes. */
  l1Count: number;
  /** Per level-1 entry: 1 + words u64 as (lo, hi) u32 pairs: the summary, then the bitmap over blocks. */
  level1: Uint32Array;
  /** Per level-1 entry, laid out as {@link level1}: the blocks with a slot keyed on this field accepting its classes. */
  keyed: Uint32Array;
  /** {@link level2Count} entries of 4 u32 (L2_BLOCK, L2_CLS, L2_LO, L2_HI). */
  level2: Uint32Array;
  level2Count: number;
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
  /** Summary and bitmap (as a level-1 entry) of the blocks with a live slot without a key. */
  nokey: Uint32Array;
  /** Per slot: its key, an index into {@link fields}, or -1 (none, or not live). */
  keys: Int16Array;
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
  // One walk over the slots: each field then reads only the live slots that constrain it.
  const constraining = new Map<FieldId, Constraining>();
  slots.forEach((s, i) => {
    if (!s.live) return;
    setBit(live, i);
    for (const [f, terms] of s.fields) {
      let c = constraining.get(f);
      if (!c) constraining.set(f, (c = { slots: [], terms: [] }));
      c.slots.push(i);
      c.terms.push(terms);
    }
  });
  const built = FIELDS.filter((f) => allFields || constraining.has(f.id)).map((f) =>
    buildField(f, constraining.get(f.id) ?? { slots: [], terms: [] }, slots.length, blockCount, words, live),
  );
  const keys = chooseKeys(slots, built);
  const nokey = new Uint32Array((1 + words) * 2);
  slots.forEach((s, i) => {
    if (s.live && keys[i] === -1) setBit(nokey, 64 + Math.floor(i / BLOCK));
  });
  summarize(nokey, 0, words);
  const hdr = built.find((b) => b.field.id === 'hdr');
  built.forEach((b, fi) => collectKeyed(b, fi, keys, hdr));
  return { slotCount: slots.length, blockCount, words, live, fields: built.map((b) => finishField(b, words)), nokey, keys };
}

/** The live slots that constrain a field, ascending, and their terms on it. */
interface Constraining {
  slots: number[];
  terms: Term[][];
}

/**
 * The stored sets of a field, one per constraining live slot in slot order, as parallel arrays
 * of small integers (no object per set or range: they live as long as the index is built).
 */
interface StoredSets {
  slot: number[];
  /** 1: the set is the accepted regions; 0: their complement. */
  positive: number[];
  /** Set k's regions: the ranges from[j] .. to[j] for j in rangeStart[k] .. rangeStart[k + 1). */
  rangeStart: number[];
  from: number[];
  to: number[];
}

/** A growable list of u32. */
class U32List {
  data = new Uint32Array(256);
  length = 0;

  push(x: number): void {
    if (this.length === this.data.length) {
      const bigger = new Uint32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = x;
  }

  /** The items as an array of their own. */
  toArray(): Uint32Array {
    return this.data.slice(0, this.length);
  }
}

/**
 * A field while the index is built. Classes are numbered densely here (0 .. classCount - 1,
 * in order of their first region); {@link finishField} gives them their final ids.
 */
interface BuiltField {
  field: FieldDef;
  space: Space;
  /** Dense class of each region. */
  dense: Uint32Array;
  classCount: number;
  /** Level-2 entries as in {@link FieldIndex.level2}, with dense classes. */
  level2: Uint32Array;
  level2Count: number;
  defaults: Uint32Array;
  /** The level-1 bitmap of a class without level-2 entries (blocks whose default word has a live slot). */
  base: Uint32Array;
  /** Per dense class, the blocks where its level-1 bitmap differs from {@link base}: plainBlocks[plainStart[c] .. plainStart[c + 1]), ascending. */
  plainStart: Uint32Array;
  plainBlocks: Uint32Array;
  /** (dense class, block) pairs of the keyed bitmaps, one after the other, possibly repeated. */
  keyed: U32List;
  /** Per constraining live slot: its stored regions; positive: the accepted set, else its complement. */
  stored: StoredSets;
  /** Per slot: its entry in {@link stored}, or -1 when it does not constrain the field. */
  storedOf: Int32Array;
  /** Per region: how many live slots accept it (slots that constrain the field). */
  accepting: Uint32Array;
  /** The UNREAD region (the last), or -1 when the field always has a value. */
  unreadRegion: number;
  /** Range maximum of {@link accepting}, built on first use. */
  rangeMax?: (from: number, to: number) => number;
}

/** Sets the summary word (bit w: word w of the bitmap at `off` is not zero). */
function summarize(arr: Uint32Array, off: number, words: number): void {
  arr[off] = 0;
  arr[off + 1] = 0;
  for (let w = 0; w < words; w++) {
    if ((arr[off + 2 + 2 * w]! | arr[off + 3 + 2 * w]!) !== 0) arr[off + (w >> 5)]! |= 1 << (w & 31);
  }
}

/** Sparse-table range maximum over `a`. */
function rangeMaxOf(a: Uint32Array): (from: number, to: number) => number {
  const levels: Uint32Array[] = [a];
  for (let len = 2; len <= a.length; len *= 2) {
    const prev = levels[levels.length - 1]!;
    const half = len / 2;
    const next = new Uint32Array(a.length - len + 1);
    for (let i = 0; i < next.length; i++) next[i] = Math.max(prev[i]!, prev[i + half]!);
    levels.push(next);
  }
  return (from, to) => {
    const k = 31 - Math.clz32(to - from + 1);
    return Math.max(levels[k]![from]!, levels[k]![to - (1 << k) + 1]!);
  };
}

/**
 * Each live slot's key: among the fields where it stores its accepted set (not a complement,
 * which would make it a candidate for nearly every packet), the one where the most crowded
 * accepted region is shared with the fewest slots; ties go to the earlier field. -1: no key.
 */
function chooseKeys(slots: readonly Slot[], built: readonly BuiltField[]): Int16Array {
  const keys = new Int16Array(slots.length).fill(-1);
  const best = new Float64Array(slots.length).fill(Infinity);
  built.forEach((b, fi) => {
    const st = b.stored;
    for (let k = 0; k < st.slot.length; k++) {
      if (!st.positive[k]) continue;
      const slot = st.slot[k]!;
      let cost = 0;
      for (let j = st.rangeStart[k]!; j < st.rangeStart[k + 1]!; j++) {
        const from = st.from[j]!;
        const to = st.to[j] === b.unreadRegion ? st.to[j]! - 1 : st.to[j]!;
        if (to < from) continue;
        if (to === from) cost = Math.max(cost, b.accepting[from]!);
        else cost = Math.max(cost, (b.rangeMax ??= rangeMaxOf(b.accepting))(from, to));
      }
      if (cost < best[slot]!) {
        best[slot] = cost;
        keys[slot] = fi;
      }
    }
  });
  return keys;
}

/** True if the slot accepts region `r` of the field (true when it does not constrain it). */
function slotAccepts(b: BuiltField, slot: number, r: number): boolean {
  const at = b.storedOf[slot]!;
  if (at < 0) return true;
  const st = b.stored;
  let inStored = false;
  for (let j = st.rangeStart[at]!; j < st.rangeStart[at + 1]! && !inStored; j++) inStored = st.from[j]! <= r && r <= st.to[j]!;
  return inStored === (st.positive[at] === 1);
}

/** Adds the keyed bits of the slots keyed on `b` to `b.keyed`; those reached when `b` is UNREAD go to `hdr`'s. */
function collectKeyed(b: BuiltField, fi: number, keys: Int16Array, hdr: BuiltField | undefined): void {
  const def = b.field;
  const unreadHdr = def.kind === 'interval' && def.unreadIn && hdr ? def.unreadIn.map((v) => intervalRegion(hdr.space as IntervalSpace, v)) : [];
  // Blocks only grow along the slots: a pair already added for this block is skipped.
  const seen = new Int32Array(b.classCount).fill(-1);
  const hdrSeen = new Int32Array(hdr?.classCount ?? 0).fill(-1);
  const st = b.stored;
  for (let k = 0; k < st.slot.length; k++) {
    const slot = st.slot[k]!;
    if (keys[slot] !== fi || !st.positive[k]) continue;
    const block = Math.floor(slot / BLOCK);
    for (let j = st.rangeStart[k]!; j < st.rangeStart[k + 1]!; j++) {
      for (let x = st.from[j]!; x <= st.to[j]!; x++) {
        if (x === b.unreadRegion && hdr) {
          // No value in this header state: reach the slot through the header state instead.
          for (const hr of unreadHdr) {
            const c = hdr.dense[hr]!;
            if (hdrSeen[c] === block || !slotAccepts(hdr, slot, hr)) continue;
            hdrSeen[c] = block;
            hdr.keyed.push(c);
            hdr.keyed.push(block);
          }
          continue;
        }
        const c = b.dense[x]!;
        if (seen[c] === block) continue;
        seen[c] = block;
        b.keyed.push(c);
        b.keyed.push(block);
      }
    }
  }
}

/** Two 32-bit FNV/murmur-style running hashes, folded into one 30-bit key. */
class Hash {
  private h1 = 0x811c9dc5;
  private h2 = 0x01000193;

  add(x: number): void {
    this.h1 = Math.imul(this.h1 ^ x, 0x01000193);
    this.h2 = Math.imul(this.h2 + x, 0x5bd1e995) ^ (this.h2 >>> 15);
  }

  /**
   * The key, mixed with `extra` (e.g. a length): 30 bits, a small integer for the engine (no
   * boxed number per Map key); equal keys are told apart exactly by the {@link Interner}.
   */
  key(extra: number): number {
    return (this.h1 ^ Math.imul(this.h2 ^ extra, 0x9e3779b1)) & 0x3fffffff;
  }
}

/**
 * Numbers the distinct items of a sequence in order of first appearance: items with the same
 * hash key are compared exactly with `same` against each group's first item.
 */
class Interner {
  private readonly byKey = new Map<number, number>();
  private readonly collisions = new Map<number, number[]>();
  /** The first item of each group. */
  readonly first: number[] = [];

  constructor(private readonly same: (a: number, b: number) => boolean) {}

  /** The group of `item`, whose hash key is `key`. */
  group(item: number, key: number): number {
    const g = this.byKey.get(key);
    if (g === undefined) {
      this.byKey.set(key, this.first.length);
      return this.fresh(item);
    }
    if (this.same(this.first[g]!, item)) return g;
    const more = this.collisions.get(key);
    const found = more?.find((x) => this.same(this.first[x]!, item));
    if (found !== undefined) return found;
    if (more) more.push(this.first.length);
    else this.collisions.set(key, [this.first.length]);
    return this.fresh(item);
  }

  /** A group of its own for `item`. */
  fresh(item: number): number {
    this.first.push(item);
    return this.first.length - 1;
  }
}

/** True if a[as .. ae) equals b[bs .. be). */
function sameRun(a: Uint32Array, as: number, ae: number, b: Uint32Array, bs: number, be: number): boolean {
  if (ae - as !== be - bs) return false;
  for (let k = 0; k < ae - as; k++) if (a[as + k] !== b[bs + k]) return false;
  return true;
}

/**
 * The regions a slot's terms on a field accept together. With `unread`, every term also
 * accepts the last region (UNREAD, see fields.ts), whatever its atoms and negation.
 */
function acceptedRegions(terms: readonly Term[], space: Space, n: number, index: PrefixIndex | undefined, unread: boolean): RangeList {
  // The common case, one positive atom: no list arithmetic.
  const only = terms.length === 1 && !terms[0]!.negated && terms[0]!.atoms.length === 1 ? terms[0]!.atoms[0]! : undefined;
  if (only) {
    const r = atomRegions(space, only, index);
    if (!unread) return [r];
    return r.to + 1 === n - 1 ? [{ from: r.from, to: n - 1 }] : r.to >= n - 1 ? [r] : [r, { from: n - 1, to: n - 1 }];
  }
  let acc: RangeList | undefined;
  for (const t of terms) {
    let u = normalize(t.atoms.map((a) => atomRegions(space, a, index)));
    if (t.negated) u = complement(u, n);
    if (unread) u = normalize([...u, { from: n - 1, to: n - 1 }]);
    acc = acc ? intersect(acc, u) : u;
  }
  return acc ?? [{ from: 0, to: n - 1 }];
}

/**
 * Builds one field's index in phases, each a function of its own: V8 optimizes a long loop of
 * a function while it runs, and in one large function the loops after it would then run
 * optimized code without type feedback and deoptimize, once per field.
 */
function buildField(field: FieldDef, constraining: Constraining, slotCount: number, blockCount: number, words: number, live: Uint32Array): BuiltField {
  // Header states: one region and class each, so that slots reached through the header state
  // (collectKeyed) are keyed on exactly the states in which their key field is UNREAD.
  const perValue = field.id === 'hdr' && field.kind === 'interval';
  const space = fieldSpace(field, constraining, perValue);
  const n = regionCount(space);
  const unread = unreadValue(field) !== undefined;
  const sets = storeSets(constraining, space, n, unread, live, slotCount);
  const { start, flat } = mentions(sets.stored, sets.counts, n);
  const unreadRegion = unread ? n - 1 : -1;
  const { dense, representative } = classesOf(flat, start, n, unreadRegion, perValue);
  const l2 = level2Of(representative, flat, start, sets.defaults, live, blockCount, words);
  const accepting = new Uint32Array(n);
  let run = 0;
  for (let r = 0; r < n; r++) accepting[r] = run += sets.diff[r]!;
  return {
    field,
    space,
    dense,
    classCount: representative.length,
    level2: l2.level2,
    level2Count: l2.level2Count,
    defaults: sets.defaults,
    base: l2.base,
    plainStart: l2.plainStart,
    plainBlocks: l2.plainBlocks,
    keyed: new U32List(),
    stored: sets.stored,
    storedOf: sets.storedOf,
    accepting,
    unreadRegion,
    // Present from the start (chooseKeys fills it), so that every field's object has one shape.
    rangeMax: undefined,
  };
}

/** The value space the slots' atoms cut the field into (every header state a region of its own with `perValue`). */
function fieldSpace(field: FieldDef, constraining: Constraining, perValue: boolean): Space {
  const atoms: Atom[] = [];
  for (const terms of constraining.terms) for (const t of terms) for (const a of t.atoms) atoms.push(a);
  if (perValue && field.kind === 'interval') for (let v = 0; v <= field.max; v++) atoms.push({ kind: 'interval', lo: v, hi: v });
  return buildSpace(field, atoms);
}

/**
 * Per constrained slot, the regions its stored set names (the smaller of the accepted set and
 * its complement; complemented slots are in the block default). The block defaults: the live
 * slots, but those constraining the field with a positive set. Also the mentions per region
 * (counts[r + 1]) and, as a difference array, the slots accepting each region.
 */
function storeSets(constraining: Constraining, space: Space, n: number, unread: boolean, live: Uint32Array, slotCount: number) {
  const index = space.kind === 'prefix' ? prefixIndex(space) : undefined;
  const defaults = live.slice();
  const stored: StoredSets = { slot: [], positive: [], rangeStart: [0], from: [], to: [] };
  const storedOf = new Int32Array(slotCount).fill(-1);
  const counts = new Uint32Array(n + 1);
  const diff = new Int32Array(n + 1);
  for (let k = 0; k < constraining.slots.length; k++) {
    const i = constraining.slots[k]!;
    const acc = acceptedRegions(constraining.terms[k]!, space, n, index, unread);
    const positive = size(acc) * 2 <= n;
    const ranges = positive ? acc : complement(acc, n);
    if (positive) clearBit(defaults, i);
    storedOf[i] = stored.slot.length;
    stored.slot.push(i);
    stored.positive.push(positive ? 1 : 0);
    for (const r of ranges) {
      stored.from.push(r.from);
      stored.to.push(r.to);
      for (let x = r.from; x <= r.to; x++) counts[x + 1]!++;
    }
    stored.rangeStart.push(stored.from.length);
    const d = positive ? 1 : -1;
    if (!positive) {
      diff[0]!++;
      diff[n]!--;
    }
    for (const r of ranges) {
      diff[r.from]! += d;
      diff[r.to + 1]! -= d;
    }
  }
  return { defaults, stored, storedOf, counts, diff };
}

/** The stored sets' mentions in one flat array (CSR): region r's are flat[start[r] .. start[r + 1]), in slot order, as slot * 2 + (complement ? 1 : 0). */
function mentions(stored: StoredSets, counts: Uint32Array, n: number): { start: Uint32Array; flat: Uint32Array } {
  const start = new Uint32Array(n + 1);
  for (let r = 0; r < n; r++) start[r + 1] = start[r]! + counts[r + 1]!;
  const flat = new Uint32Array(start[n]!);
  const fill = start.slice(0, n);
  for (let k = 0; k < stored.slot.length; k++) {
    const code = stored.slot[k]! * 2 + (stored.positive[k] ? 0 : 1);
    for (let j = stored.rangeStart[k]!; j < stored.rangeStart[k + 1]!; j++) for (let x = stored.from[j]!; x <= stored.to[j]!; x++) flat[fill[x]!++] = code;
  }
  return { start, flat };
}

/**
 * Classes: regions with the same mentions are accepted by exactly the same slots. The UNREAD
 * region is a class of its own (keyed slots reach it through the header state), as is every
 * header state. Returns each region's dense class and each class's first region.
 */
function classesOf(flat: Uint32Array, start: Uint32Array, n: number, unreadRegion: number, perValue: boolean): { dense: Uint32Array; representative: number[] } {
  const dense = new Uint32Array(n);
  const classes = new Interner((a, b) => sameRun(flat, start[a]!, start[a + 1]!, flat, start[b]!, start[b + 1]!));
  for (let r = 0; r < n; r++) {
    if (r === unreadRegion || perValue) {
      dense[r] = classes.fresh(r);
      continue;
    }
    const h = new Hash();
    for (let k = start[r]!; k < start[r + 1]!; k++) h.add(flat[k]!);
    dense[r] = classes.group(r, h.key(start[r + 1]! - start[r]!));
  }
  return { dense, representative: classes.first };
}

/** Level 2, and where each class's level-1 bitmap differs from the base. */
function level2Of(representative: readonly number[], flat: Uint32Array, start: Uint32Array, defaults: Uint32Array, live: Uint32Array, blockCount: number, words: number) {
  const classCount = representative.length;
  const base = new Uint32Array(words * 2);
  for (let b = 0; b < blockCount; b++) {
    if (((defaults[2 * b]! & live[2 * b]!) | (defaults[2 * b + 1]! & live[2 * b + 1]!)) !== 0) setBit(base, b);
  }
  let level2 = new Uint32Array(4 * 1024);
  let level2Count = 0;
  const plainStart = new Uint32Array(classCount + 1);
  const plain = new U32List();
  const word = new Uint32Array(2);
  for (let c = 0; c < classCount; c++) {
    plainStart[c] = plain.length;
    const r = representative[c]!;
    for (let k = start[r]!; k < start[r + 1]!; ) {
      const block = Math.floor(flat[k]! / 2 / BLOCK);
      word[0] = defaults[2 * block]!;
      word[1] = defaults[2 * block + 1]!;
      for (; k < start[r + 1]! && Math.floor(flat[k]! / 2 / BLOCK) === block; k++) {
        const code = flat[k]!;
        const bit = (code >>> 1) % BLOCK;
        if (code & 1) clearBit(word, bit);
        else setBit(word, bit);
      }
      if (4 * level2Count === level2.length) {
        const bigger = new Uint32Array(level2.length * 2);
        bigger.set(level2);
        level2 = bigger;
      }
      const at = 4 * level2Count++;
      level2[at + L2_BLOCK] = block;
      level2[at + L2_CLS] = c;
      level2[at + L2_LO] = word[0]!;
      level2[at + L2_HI] = word[1]!;
      const bit = ((word[0]! & live[2 * block]!) | (word[1]! & live[2 * block + 1]!)) !== 0 ? 1 : 0;
      if (bit !== ((base[block >>> 5]! >>> (block & 31)) & 1)) plain.push(block);
    }
  }
  plainStart[classCount] = plain.length;
  const plainBlocks = plain.toArray();
  return { base, level2: level2.slice(0, 4 * level2Count), level2Count, plainStart, plainBlocks };
}

/** The keyed blocks of each dense class, ascending and distinct: blocks[start[c] .. start[c + 1]). */
function keyedBlocks(b: BuiltField): { start: Uint32Array; blocks: Uint32Array } {
  const data = b.keyed.data;
  const count = b.keyed.length / 2;
  const classCount = b.classCount;
  const start = new Uint32Array(classCount + 1);
  for (let i = 0; i < count; i++) start[data[2 * i]! + 1]!++;
  for (let c = 0; c < classCount; c++) start[c + 1]! += start[c]!;
  const blocks = new Uint32Array(count);
  const fill = start.slice(0, classCount);
  for (let i = 0; i < count; i++) blocks[fill[data[2 * i]!]!++] = data[2 * i + 1]!;
  // Sort and deduplicate each class's run, compacting in place.
  let out = 0;
  for (let c = 0; c < classCount; c++) {
    const from = start[c]!;
    const to = start[c + 1]!;
    start[c] = out;
    // (Most classes have at most one keyed block: no view and sort for those.)
    if (to - from === 1) blocks[out++] = blocks[from]!;
    if (to - from <= 1) continue;
    const run = blocks.subarray(from, to).sort();
    for (let i = 0; i < run.length; i++) if (i === 0 || run[i] !== run[i - 1]) blocks[out++] = run[i]!;
  }
  start[classCount] = out;
  return { start, blocks: blocks.subarray(0, out) };
}

/**
 * The level-1 entry bits of the class ids, given the sizes of the groups of classes sharing
 * an entry: the least that holds the largest group in one entry, lowered until every id
 * (entries * 2^shift) fits in a u32 (a group larger than 2^shift then takes several entries).
 */
export function l1ShiftFor(groupSizes: readonly number[]): number {
  const most = groupSizes.reduce((m, s) => Math.max(m, s), 1);
  let shift = Math.min(31, 32 - Math.clz32(most - 1));
  const entries = (s: number) => groupSizes.reduce((n, size) => n + Math.ceil(size / 2 ** s), 0);
  while (shift > 0 && entries(shift) * 2 ** shift > 2 ** 32) shift--;
  return shift;
}

/** Gives the classes their final ids (see the module comment) and builds the level-1 entries. */
function finishField(b: BuiltField, words: number): FieldIndex {
  const keyed = keyedBlocks(b);
  const { plainStart, plainBlocks } = b;
  const groups = new Interner(
    (x, y) =>
      sameRun(plainBlocks, plainStart[x]!, plainStart[x + 1]!, plainBlocks, plainStart[y]!, plainStart[y + 1]!) &&
      sameRun(keyed.blocks, keyed.start[x]!, keyed.start[x + 1]!, keyed.blocks, keyed.start[y]!, keyed.start[y + 1]!),
  );
  const groupOf = new Uint32Array(b.classCount);
  const sizes: number[] = [];
  for (let c = 0; c < b.classCount; c++) {
    const h = new Hash();
    for (let k = plainStart[c]!; k < plainStart[c + 1]!; k++) h.add(plainBlocks[k]!);
    h.add(0xffffffff);
    for (let k = keyed.start[c]!; k < keyed.start[c + 1]!; k++) h.add(keyed.blocks[k]!);
    const g = groups.group(c, h.key(plainStart[c + 1]! - plainStart[c]!));
    groupOf[c] = g;
    sizes[g] = (sizes[g] ?? 0) + 1;
  }
  const l1Shift = l1ShiftFor(sizes);
  const per = 2 ** l1Shift;
  const firstEntry = new Uint32Array(sizes.length);
  let l1Count = 0;
  sizes.forEach((s, g) => {
    firstEntry[g] = l1Count;
    l1Count += Math.ceil(s / per);
  });
  // Final ids, and the class whose bitmaps each entry holds.
  const ids = new Uint32Array(b.classCount);
  const taken = new Uint32Array(sizes.length);
  const entryClass = new Uint32Array(l1Count);
  for (let c = 0; c < b.classCount; c++) {
    const g = groupOf[c]!;
    const k = taken[g]++;
    const entry = firstEntry[g]! + Math.floor(k / per);
    ids[c] = entry * per + (k % per);
    entryClass[entry] = c;
  }
  const stride = (1 + words) * 2;
  const level1 = new Uint32Array(l1Count * stride);
  const keyedL1 = new Uint32Array(l1Count * stride);
  for (let e = 0; e < l1Count; e++) {
    const c = entryClass[e]!;
    const off = e * stride;
    level1.set(b.base, off + 2);
    for (let k = plainStart[c]!; k < plainStart[c + 1]!; k++) level1[off + 2 + (plainBlocks[k]! >>> 5)]! ^= 1 << (plainBlocks[k]! & 31);
    summarize(level1, off, words);
    for (let k = keyed.start[c]!; k < keyed.start[c + 1]!; k++) setBit(keyedL1, off * 32 + 64 + keyed.blocks[k]!);
    summarize(keyedL1, off, words);
  }
  const regionClass = b.dense.map((c) => ids[c]!);
  const level2 = b.level2;
  for (let e = 0; e < b.level2Count; e++) level2[4 * e + L2_CLS] = ids[level2[4 * e + L2_CLS]!]!;
  return { field: b.field, space: b.space, regionClass, classCount: b.classCount, l1Shift, l1Count, level1, keyed: keyedL1, level2, level2Count: b.level2Count, defaults: b.defaults };
}

/** The level-1 entry of a class id of field `f`. */
export function l1Entry(f: FieldIndex, cls: number): number {
  return cls >>> f.l1Shift;
}

const level2Maps = new WeakMap<FieldIndex, Map<number, number>>();

/** The default and level-2 word of a field for a block and class (used by the simulator). */
export function level2Word(f: FieldIndex, block: number, cls: number): Word {
  let m = level2Maps.get(f);
  if (!m) {
    m = new Map();
    for (let e = 0; e < f.level2Count; e++) m.set(f.level2[4 * e + L2_BLOCK]! * 2 ** 32 + f.level2[4 * e + L2_CLS]!, e);
    level2Maps.set(f, m);
  }
  const e = m.get(block * 2 ** 32 + cls);
  return e !== undefined ? { lo: f.level2[4 * e + L2_LO]!, hi: f.level2[4 * e + L2_HI]! } : { lo: f.defaults[2 * block]!, hi: f.defaults[2 * block + 1]! };
}
