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
  /** Class of each region of {@link space}. */
  regionClass: Uint32Array;
  classCount: number;
  /** Per class: 1 + words u64 as (lo, hi) u32 pairs: the summary, then the bitmap over blocks. */
  level1: Uint32Array;
  /** Per class, laid out as {@link level1}: the blocks with a slot keyed on this field accepting the class. */
  keyed: Uint32Array;
  /** {@link level2Count} entries of 4 u32 (L2_BLOCK, L2_CLS, L2_LO, L2_HI), by class then block. */
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
  const used = new Set<FieldId>();
  slots.forEach((s, i) => {
    if (!s.live) return;
    setBit(live, i);
    for (const f of s.fields.keys()) used.add(f);
  });
  const built = FIELDS.filter((f) => allFields || used.has(f.id)).map((f) => buildField(f, slots, blockCount, words, live));
  const keys = chooseKeys(slots, built);
  const nokey = new Uint32Array((1 + words) * 2);
  slots.forEach((s, i) => {
    if (s.live && keys[i] === -1) setBit(nokey, 64 + Math.floor(i / BLOCK));
  });
  summarize(nokey, 0, words);
  const hdr = built.findIndex((b) => b.index.field.id === 'hdr');
  built.forEach((b, fi) => buildKeyed(b, fi, keys, built[hdr], words));
  return { slotCount: slots.length, blockCount, words, live, fields: built.map((b) => b.index), nokey, keys };
}

interface StoredSet {
  slot: number;
  positive: boolean;
  ranges: RangeList;
}

/** A field's index and what the key choice and the keyed bitmaps need while building. */
interface BuiltField {
  index: FieldIndex;
  /** Per constraining live slot: its stored regions; positive: the accepted set, else its complement. */
  stored: StoredSet[];
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
    for (const { slot, positive, ranges } of b.stored) {
      if (!positive) continue;
      let cost = 0;
      for (const r of ranges) {
        const to = r.to === b.unreadRegion ? r.to - 1 : r.to;
        if (to < r.from) continue;
        if (to === r.from) cost = Math.max(cost, b.accepting[r.from]!);
        else cost = Math.max(cost, (b.rangeMax ??= rangeMaxOf(b.accepting))(r.from, to));
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
  const st = b.stored[at]!;
  const inStored = st.ranges.some((x) => x.from <= r && r <= x.to);
  return inStored === st.positive;
}

/** Fills `b.index.keyed`; slots keyed on `b` and reached when it is UNREAD go into `hdr`'s. */
function buildKeyed(b: BuiltField, fi: number, keys: Int16Array, hdr: BuiltField | undefined, words: number): void {
  const f = b.index;
  const stride = (1 + words) * 2;
  const def = f.field;
  const unreadHdr = def.kind === 'interval' && def.unreadIn && hdr ? def.unreadIn.map((v) => intervalRegion(hdr.index.space as IntervalSpace, v)) : [];
  const touched = new Set<number>();
  const hdrTouched = new Set<number>();
  for (const { slot, positive, ranges } of b.stored) {
    if (keys[slot] !== fi || !positive) continue;
    const bit = 64 + Math.floor(slot / BLOCK);
    for (const r of ranges) {
      for (let x = r.from; x <= r.to; x++) {
        if (x === b.unreadRegion && hdr) {
          // No value in this header state: reach the slot through the header state instead.
          for (const hr of unreadHdr) {
            if (!slotAccepts(hdr, slot, hr)) continue;
            const c = hdr.index.regionClass[hr]!;
            setBit(hdr.index.keyed, c * stride * 32 + bit);
            hdrTouched.add(c);
          }
          continue;
        }
        const c = f.regionClass[x]!;
        setBit(f.keyed, c * stride * 32 + bit);
        touched.add(c);
      }
    }
  }
  for (const c of touched) summarize(f.keyed, c * stride, words);
  if (hdr) for (const c of hdrTouched) summarize(hdr.index.keyed, c * stride, words);
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
  let acc: RangeList = [{ from: 0, to: n - 1 }];
  for (const t of terms) {
    let u = normalize(t.atoms.map((a) => atomRegions(space, a, index)));
    if (t.negated) u = complement(u, n);
    if (unread) u = normalize([...u, { from: n - 1, to: n - 1 }]);
    acc = intersect(acc, u);
  }
  return acc;
}

function buildField(field: FieldDef, slots: readonly Slot[], blockCount: number, words: number, live: Uint32Array): BuiltField {
  const atoms: Atom[] = [];
  for (const s of slots) {
    if (!s.live) continue;
    const terms = s.fields.get(field.id);
    if (terms) for (const t of terms) for (const a of t.atoms) atoms.push(a);
  }
  // Header states: one region and class each, so that slots reached through the header state
  // (buildKeyed) are keyed on exactly the states in which their key field is UNREAD.
  const perValue = field.id === 'hdr' && field.kind === 'interval';
  if (perValue) for (let v = 0; v <= field.max; v++) atoms.push({ kind: 'interval', lo: v, hi: v });
  const space = buildSpace(field, atoms);
  const n = regionCount(space);
  const index = space.kind === 'prefix' ? prefixIndex(space) : undefined;
  const unread = unreadValue(field) !== undefined;

  // Per constrained slot, the regions its stored set names (the smaller of the accepted set
  // and its complement; complemented slots are in the block default).
  const defaults = new Uint32Array(blockCount * 2);
  const stored: StoredSet[] = [];
  const storedOf = new Int32Array(slots.length).fill(-1);
  const counts = new Uint32Array(n + 1);
  // Per region, the slots accepting it, as a difference array.
  const diff = new Int32Array(n + 1);
  slots.forEach((s, i) => {
    if (!s.live) return;
    const terms = s.fields.get(field.id);
    if (!terms) {
      setBit(defaults, i);
      return;
    }
    const acc = acceptedRegions(terms, space, n, index, unread);
    const positive = size(acc) * 2 <= n;
    const ranges = positive ? acc : complement(acc, n);
    if (!positive) setBit(defaults, i);
    storedOf[i] = stored.length;
    stored.push({ slot: i, positive, ranges });
    for (const r of ranges) for (let x = r.from; x <= r.to; x++) counts[x + 1]!++;
    const d = positive ? 1 : -1;
    if (!positive) {
      diff[0]!++;
      diff[n]!--;
    }
    for (const r of ranges) {
      diff[r.from]! += d;
      diff[r.to + 1]! -= d;
    }
  });
  // Mentions in one flat array (CSR): region r's are flat[start[r] .. start[r + 1]), in slot order.
  const start = new Uint32Array(n + 1);
  for (let r = 0; r < n; r++) start[r + 1] = start[r]! + counts[r + 1]!;
  const flat = new Uint32Array(start[n]!);
  const fill = start.slice(0, n);
  for (const { slot, positive, ranges } of stored) {
    const code = slot * 2 + (positive ? 0 : 1);
    for (const r of ranges) for (let x = r.from; x <= r.to; x++) flat[fill[x]!++] = code;
  }

  // Classes: regions with the same mentions are accepted by exactly the same slots. Hashed,
  // then compared exactly against the class's representative.
  const regionClass = new Uint32Array(n);
  // Hash -> the first class with it; further classes with the same hash in `collisions`.
  const byHash = new Map<number, number>();
  const collisions = new Map<number, number[]>();
  const representative: number[] = [];
  const sameMentions = (a: number, b: number): boolean => {
    const la = start[a + 1]! - start[a]!;
    if (la !== start[b + 1]! - start[b]!) return false;
    for (let k = 0; k < la; k++) if (flat[start[a]! + k] !== flat[start[b]! + k]) return false;
    return true;
  };
  // The UNREAD region is a class of its own (keyed slots reach it through the header state), as
  // is every header state.
  const unreadRegion = unread ? n - 1 : -1;
  for (let r = 0; r < n; r++) {
    let c: number | undefined;
    if (r !== unreadRegion && !perValue) {
      let h1 = 0x811c9dc5;
      let h2 = 0x01000193;
      for (let k = start[r]!; k < start[r + 1]!; k++) {
        h1 = Math.imul(h1 ^ flat[k]!, 0x01000193);
        h2 = Math.imul(h2 + flat[k]!, 0x5bd1e995) ^ (h2 >>> 15);
      }
      // 53 bits: h1, and h2 mixed with the mention count.
      const key = (h1 >>> 0) * 0x200000 + ((h2 ^ (start[r + 1]! - start[r]!)) & 0x1fffff);
      const first = byHash.get(key);
      if (first === undefined) {
        byHash.set(key, (c = representative.length));
      } else if (sameMentions(representative[first]!, r)) {
        c = first;
      } else {
        const more = collisions.get(key);
        c = more?.find((cls) => sameMentions(representative[cls]!, r));
        if (c === undefined) {
          c = representative.length;
          if (more) more.push(c);
          else collisions.set(key, [c]);
        }
      }
    }
    if (c === undefined || c === representative.length) {
      c = representative.length;
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
  let level2 = new Uint32Array(4 * 1024);
  let level2Count = 0;
  const word = new Uint32Array(2);
  for (let c = 0; c < classCount; c++) {
    const off = c * stride;
    const bitmap = level1.subarray(off + 2, off + stride);
    bitmap.set(base);
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
      if (((word[0]! & live[2 * block]!) | (word[1]! & live[2 * block + 1]!)) !== 0) setBit(bitmap, block);
      else clearBit(bitmap, block);
    }
    const summary = level1.subarray(off, off + 2);
    for (let w = 0; w < words; w++) {
      if ((bitmap[2 * w]! | bitmap[2 * w + 1]!) !== 0) setBit(summary, w);
    }
  }
  const accepting = new Uint32Array(n);
  let run = 0;
  for (let r = 0; r < n; r++) accepting[r] = run += diff[r]!;
  const keyed = new Uint32Array(classCount * stride);
  return {
    index: { field, space, regionClass, classCount, level1, keyed, level2: level2.slice(0, 4 * level2Count), level2Count, defaults },
    stored,
    storedOf,
    accepting,
    unreadRegion,
  };
}

const level2Maps = new WeakMap<FieldIndex, Map<number, number>>();

/** The default and level-2 word of a field for a block and class (used by the simulator). */
export function level2Word(f: FieldIndex, block: number, cls: number): Word {
  let m = level2Maps.get(f);
  if (!m) {
    m = new Map();
    for (let e = 0; e < f.level2Count; e++) m.set(f.level2[4 * e + L2_BLOCK]! * f.classCount + f.level2[4 * e + L2_CLS]!, e);
    level2Maps.set(f, m);
  }
  const e = m.get(block * f.classCount + cls);
  return e !== undefined ? { lo: f.level2[4 * e + L2_LO]!, hi: f.level2[4 * e + L2_HI]! } : { lo: f.defaults[2 * block]!, hi: f.defaults[2 * block + 1]! };
}
