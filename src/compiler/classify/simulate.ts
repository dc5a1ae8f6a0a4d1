/**
 * A TypeScript rendering of the lookups the generated BPF program performs, step for step
 * (stage 1, level 1 with its summary word and keyed bitmaps, level 2, live mask, actions and post-checks), and a
 * plain linear evaluation of the same slots. Tests compare the two to prove the index, and
 * tools can explain a classification without a kernel.
 */
import { INVALID_VIEW, type ConnView } from '../../model/state/conntrack.js';
import { ctCheckPasses, ownerCheckPasses, setCheckPasses, type RecentCheck } from './stateful.js';
import type { SocketOwner } from '../../model/state/owner.js';
import type { SetPacket } from '../ipset/match.js';
import type { IpsetFile } from '../ipset/types.js';
import type { PostCheck } from './steps.js';
import type { RateCheck } from './rate-limits.js';
import { termContains } from './atoms.js';
import { fieldDef, HDR, unreadValue, type FieldId } from './fields.js';
import { l1Entry, level2Word, type ClassifierIndex, type FieldIndex } from './index-build.js';
import { BLOCK, type Slot, type SlotAction } from './slots.js';
import { intervalRegion, prefixRegion } from './space.js';

/** The packet as the classifier sees it: one value per field (bigint for prefix fields). */
export type FieldValues = Partial<Record<FieldId, number | bigint>>;

/**
 * The values as the program computes them: fields that have no value in the packet's header
 * state take UNREAD (see fields.ts). `values.hdr` must be given.
 */
export function effectiveValues(values: FieldValues): FieldValues {
  const out: FieldValues = { ...values };
  const hdr = Number(values.hdr ?? HDR.full);
  for (const id of Object.keys(values) as FieldId[]) {
    const def = fieldDef(id) as ReturnType<typeof fieldDef> | undefined;
    if (def?.kind === 'interval' && def.unreadIn?.includes(hdr)) out[id] = def.max + 1;
  }
  return out;
}

/** What the post-checks and the hotdrop of folded slots read. */
export interface CheckInputs {
  mark: number;
  /** The header state (HDR); 0 if not given. */
  hdr?: number;
  /** The packet's connection (default: none, INVALID). */
  conntrack?: ConnView;
  /** The sets and the packet fields set checks read (a set check fails without them). */
  sets?: { file: IpsetFile; packet: SetPacket };
  /** Decides (and applies) a recent check; without it recent checks fail. */
  recent?: (check: RecentCheck) => boolean;
  /** The sending socket's owner (OUTPUT); undefined: no socket. */
  socket?: SocketOwner;
  /** Decides (and spends) a rate-limit check; without it rate checks do not match. */
  rate?: (check: RateCheck) => 'match' | 'nomatch' | 'hotdrop';
}

function classOf(f: FieldIndex, v: number | bigint): number {
  const s = f.space;
  const region = s.kind === 'interval' ? intervalRegion(s, Number(v)) : prefixRegion(s, BigInt(v));
  return f.regionClass[region]!;
}

function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/**
 * The blocks level 1 lets through for a packet in [firstBlock, lastBlock], in order: where some
 * slot accepts the packet on its key field (or has no key) and every field has a slot that
 * accepts it. Level 2 looks at these blocks only.
 */
export function candidateBlocks(index: ClassifierIndex, classes: readonly number[], firstBlock: number, lastBlock: number): number[] {
  const stride = (1 + index.words) * 2;
  // Level 1, word `at` (0: the summary): (OR of the keyed bitmaps, OR the keyless blocks) AND
  // (AND of the bitmaps).
  const word = (at: number): [number, number] => {
    let lo = 0xffffffff;
    let hi = 0xffffffff;
    let klo = index.nokey[at]!;
    let khi = index.nokey[at + 1]!;
    index.fields.forEach((f, i) => {
      const entry = l1Entry(f, classes[i]!) * stride;
      lo &= f.level1[entry + at]!;
      hi &= f.level1[entry + at + 1]!;
      klo |= f.keyed[entry + at]!;
      khi |= f.keyed[entry + at + 1]!;
    });
    return [lo & klo, hi & khi];
  };
  const out: number[] = [];
  const [sumLo, sumHi] = word(0);
  for (let w = Math.floor(firstBlock / 64); w <= Math.floor(lastBlock / 64); w++) {
    if (((w < 32 ? sumLo >>> w : sumHi >>> (w - 32)) & 1) === 0) continue;
    const [lo, hi] = word(2 + 2 * w);
    for (let bit = 0; bit < 64; bit++) {
      const block = w * 64 + bit;
      if (((bit < 32 ? lo >>> bit : hi >>> (bit - 32)) & 1) !== 0 && block >= firstBlock && block <= lastBlock) out.push(block);
    }
  }
  return out;
}

/** The packet's class in each field of the index. */
export function classesOf(index: ClassifierIndex, values: FieldValues): number[] {
  return index.fields.map((f) => classOf(f, values[f.field.id]!));
}

/**
 * The first slot in [start, end) whose indexed fields all accept the packet, by the index
 * (as the BPF program searches), or -1. Precondition: every field of the index has a value.
 */
export function searchIndex(index: ClassifierIndex, values: FieldValues, start: number, end: number): number {
  if (start >= end) return -1;
  const classes = classesOf(index, values);
  const firstBlock = Math.floor(start / BLOCK);
  const lastBlock = Math.floor((end - 1) / BLOCK);
  for (const block of candidateBlocks(index, classes, firstBlock, lastBlock)) {
    let mlo = index.live[2 * block]!;
    let mhi = index.live[2 * block + 1]!;
    index.fields.forEach((f, i) => {
      const word = level2Word(f, block, classes[i]!);
      mlo &= word.lo;
      mhi &= word.hi;
    });
    if (block === firstBlock) {
      // Keep slots >= start.
      const from = start % BLOCK;
      if (from >= 32) {
        mlo = 0;
        mhi &= ~((1 << (from - 32)) - 1);
      } else {
        mlo &= ~((1 << from) - 1);
      }
    }
    if (block === lastBlock) {
      // Keep slots < end.
      const to = ((end - 1) % BLOCK) + 1;
      if (to < 32) {
        mhi = 0;
        mlo &= (1 << to) - 1;
      } else if (to < 64) {
        mhi &= (1 << (to - 32)) - 1;
      }
    }
    if ((mlo | mhi) !== 0) return block * BLOCK + (mlo !== 0 ? ctz32(mlo) : 32 + ctz32(mhi));
  }
  return -1;
}

/** True if every indexed condition of the slot accepts the packet (terms evaluated directly). */
export function slotMatches(slot: Slot, values: FieldValues, bitsOf: (f: FieldId) => number): boolean {
  if (!slot.live) return false;
  for (const [field, terms] of slot.fields) {
    const v = values[field];
    if (v === undefined) return false;
    if (v === unreadValue(fieldDef(field))) continue;
    if (!terms.every((t) => termContains(t, v, bitsOf(field)))) return false;
  }
  return true;
}

/** The first slot in [start, end) matching by {@link slotMatches}, or -1. */
export function searchLinear(slots: readonly Slot[], values: FieldValues, start: number, end: number, bitsOf: (f: FieldId) => number): number {
  for (let s = start; s < end; s++) if (slotMatches(slots[s]!, values, bitsOf)) return s;
  return -1;
}

/** One check other than a rate limit (a recent check may change its table: `inputs.recent` decides). */
function checkPasses(c: Exclude<PostCheck, RateCheck>, inputs: CheckInputs): boolean {
  if (c.kind === 'ct') return ctCheckPasses(c, inputs.conntrack ?? INVALID_VIEW);
  if (c.kind === 'set') return inputs.sets !== undefined && setCheckPasses(c, inputs.sets.file, inputs.sets.packet);
  if (c.kind === 'recent') return inputs.recent?.(c) ?? false;
  if (c.kind === 'owner') return ownerCheckPasses(c, inputs.socket);
  return (((inputs.mark & c.mask) >>> 0) === c.value) !== c.negated;
}

/**
 * A slot's post-checks in order, as rjc_checks_pass() runs them: `pass`, or the first
 * failure; `hotdrop` when a rate check dropped the packet.
 */
export function runChecks(checks: readonly PostCheck[], inputs: CheckInputs): { pass: boolean; hotdrop: boolean } {
  for (const c of checks) {
    if (c.kind === 'rate') {
      const r = inputs.rate?.(c) ?? 'nomatch';
      if (r === 'hotdrop') return { pass: false, hotdrop: true };
      if (r === 'nomatch') return { pass: false, hotdrop: false };
      continue;
    }
    if (!checkPasses(c, inputs)) return { pass: false, hotdrop: false };
  }
  return { pass: true, hotdrop: false };
}

export function checksPass(checks: readonly PostCheck[], inputs: CheckInputs): boolean {
  return runChecks(checks, inputs).pass;
}

export interface SimDecision {
  /** The deciding slot, or -1 when the policy decided. */
  slot: number;
  action: SlotAction | { kind: 'policy' };
  /** Counter ids moved, in order. */
  counters: number[];
}

/**
 * Evaluates a list [start, end) with a search function, following actions as the program does:
 * post-checks, counting, `next`, terminal actions and hotdrop.
 */
export function runList(
  slots: readonly Slot[],
  start: number,
  end: number,
  search: (from: number) => number,
  inputs: CheckInputs,
): SimDecision {
  const counters: number[] = [];
  let from = start;
  for (let guard = 0; guard <= end - start + 1; guard++) {
    const s = search(from);
    if (s < 0) return { slot: -1, action: { kind: 'policy' }, counters };
    const slot = slots[s]!;
    const checked = runChecks(slot.checks, inputs);
    if (checked.hotdrop) return { slot: s, action: { kind: 'hotdrop' }, counters };
    if (!checked.pass) {
      // The rule cannot match: past it (and past the chain a jump rule inlines).
      from = slot.fail > s ? slot.fail : s + 1;
      continue;
    }
    if (slot.action.kind === 'hotdrop' || (slot.hotdrop & (1 << (inputs.hdr ?? 0))) !== 0) return { slot: s, action: { kind: 'hotdrop' }, counters };
    if (slot.counter !== null) counters.push(slot.counter);
    if (slot.action.kind === 'next') {
      from = slot.action.to;
      continue;
    }
    return { slot: s, action: slot.action, counters };
  }
  throw new Error('list evaluation did not terminate');
}
