/**
 * The shape of a compiled ruleset: which fields the program reads, which post-check modules
 * it runs, and the capacity of every map. Two rulesets with the same shape run on the same
 * program with the same maps, so the runtime can replace one by the other by writing maps
 * behind a generation flip (see emit/map-specs.ts). Everything that changes the generated
 * code or a map layout is part of the shape; capacities are rounded up to powers of two so
 * that small edits keep it.
 */
import { createHash } from 'node:crypto';
import { fieldDef, fieldOrder, type FieldId } from './fields.js';
import type { ClassifierIndex } from './index-build.js';
import { BLOCK } from './slots.js';

export interface FieldShape {
  id: FieldId;
  /** Number of the field in level-2 and stage-1 keys (its position in FIELDS). */
  code: number;
  /** Level-1 entry capacity per generation (classes with the same level-1 bitmaps share one; see index-build.ts). */
  classes: number;
  /** First level-1 entry of the field in rjc_l1 (within a generation). */
  l1Base: number;
  /** Level-2 entry capacity per generation. */
  level2: number;
  /** Stage-1 LPM/hash entry capacity per generation (0 for array tables). */
  stage1: number;
  /** Where stage 1 lives: a class table (entry `index` of the map, per generation) or an LPM/hash map. */
  s1: { map: 'rjc_s1_w' | 'rjc_s1_b'; index: number } | { map: 'rjc_s1_a4' | 'rjc_s1_a16' | 'rjc_s1_mac' };
}

export interface Shape {
  hook: 'tc' | 'xdp';
  /** Slot capacity per generation (a multiple of 64 and a power of two). */
  slots: number;
  blocks: number;
  /** u64 words of a level-1 bitmap (after the summary word). */
  words: number;
  counters: number;
  checks: number;
  /** Most post-checks one slot has (a power of two, or 0): the bound of the check loop. */
  checksPerSlot: number;
  fields: FieldShape[];
  /**
   * Rate-limit objects (-m limit buckets, hashlimit tables) per generation, a power of two;
   * absent when the program runs no rate limits (./rate-limits.ts).
   */
  rates?: number;
  /** The program runs -m hashlimit (reads what hashlimit keys on from every packet). */
  hashlimit?: true;
  /**
   * Post-check modules the program runs besides -m mark and the rate limits, each with its
   * own code and maps; absent when not used, so that shapes (and ids) without them stay as
   * they were. `conntrack`: -m state / -m conntrack (bpf/rjc_ct.h); `sets`: -m set
   * (bpf/rjc_set.h); `owner`: -m owner (bpf/rjc_owner.h); `recent`: -m recent
   * (bpf/rjc_recent.h), the time stamps its table entries hold (RJC_RECENT_STAMPS).
   */
  conntrack?: true;
  sets?: true;
  owner?: true;
  recent?: number;
}

/** The post-check modules of a shape (see {@link Shape}). */
export type ShapeModules = Pick<Shape, 'conntrack' | 'sets' | 'owner' | 'recent'>;

/** The most slots a program holds: 64 level-1 words of 64 blocks of 64 slots. */
export const MAX_SLOTS = 64 * 64 * 64;

export function pow2(n: number, min: number): number {
  let p = min;
  while (p < n) p *= 2;
  return p;
}

/**
 * A lower bound for a shape, for tests and benchmarks that run many rulesets on one program:
 * every field indexed (even where no rule uses it) and capacities at least these.
 */
export interface MinimumShape {
  allFields?: boolean;
  slots?: number;
  counters?: number;
  checks?: number;
  checksPerSlot?: number;
  classes?: number;
  level2?: number;
  stage1?: number;
  /** Rate-limit objects (0 or absent: none unless the ruleset has some). */
  rates?: number;
  /** Include -m hashlimit support. */
  hashlimit?: boolean;
  /** Include these post-check modules (recent: at least this many time stamps per entry). */
  modules?: ShapeModules;
}

export interface ShapeInputs {
  hook: 'tc' | 'xdp';
  minimum?: MinimumShape;
  index: ClassifierIndex;
  counters: number;
  checks: number;
  checksPerSlot: number;
  /** Stage-1 entry count per field (LPM prefixes, MAC hash entries). */
  stage1: Partial<Record<FieldId, number>>;
  /** Rate-limit objects of the ruleset, and whether some is a hashlimit table. */
  rates?: number;
  hashlimit?: boolean;
  /** The post-check modules the ruleset's checks use. */
  modules?: ShapeModules;
}

export function computeShape(inputs: ShapeInputs): Shape {
  const min = inputs.minimum ?? {};
  const slots = pow2(Math.max(inputs.index.slotCount, min.slots ?? 0), BLOCK);
  const blocks = slots / BLOCK;
  return {
    hook: inputs.hook,
    slots,
    blocks,
    words: Math.max(1, blocks / 64),
    counters: pow2(Math.max(inputs.counters, min.counters ?? 0), 64),
    checks: pow2(Math.max(inputs.checks, min.checks ?? 0), 1),
    checksPerSlot: Math.max(inputs.checksPerSlot, min.checksPerSlot ?? 0) === 0 ? 0 : pow2(Math.max(inputs.checksPerSlot, min.checksPerSlot ?? 0), 1),
    fields: fieldShapes(inputs, min),
    // Only present when used, so that shapes (and ids) of rulesets without limits stay as they were.
    ...rateShape(Math.max(inputs.rates ?? 0, min.rates ?? 0), inputs.hashlimit === true || min.hashlimit === true),
    ...moduleShape(inputs.modules ?? {}, min.modules ?? {}),
  };
}

/** The modules of both, each present only when used (see {@link Shape}). */
function moduleShape(a: ShapeModules, b: ShapeModules): ShapeModules {
  // (A ring holds at least the kernel's default 20 stamps: see recentStamps() in ./stateful.ts.)
  const recent = a.recent || b.recent ? Math.max(a.recent ?? 0, b.recent ?? 0, 20) : 0;
  return {
    ...(a.conntrack || b.conntrack ? { conntrack: true as const } : {}),
    ...(a.sets || b.sets ? { sets: true as const } : {}),
    ...(a.owner || b.owner ? { owner: true as const } : {}),
    ...(recent > 0 ? { recent } : {}),
  };
}

function rateShape(rates: number, hashlimit: boolean): Pick<Shape, 'rates' | 'hashlimit'> {
  if (rates === 0 && !hashlimit) return {};
  return { rates: pow2(rates, 16), ...(hashlimit ? { hashlimit: true as const } : {}) };
}

/** Class tables of 65536 values (rjc_s1_w) or of 256 (rjc_s1_b, also for the 8-value fields). */
export function tableMap(id: FieldId): 'rjc_s1_w' | 'rjc_s1_b' | undefined {
  const d = fieldDef(id);
  if (d.kind !== 'interval' || id === 'mac') return undefined;
  return d.max > 255 ? 'rjc_s1_w' : 'rjc_s1_b';
}

function fieldShapes(inputs: ShapeInputs, min: MinimumShape): FieldShape[] {
  let l1Base = 0;
  const tables = { rjc_s1_w: 0, rjc_s1_b: 0 };
  return inputs.index.fields.map((f) => {
    const id = f.field.id;
    const classes = pow2(Math.max(f.l1Count, min.classes ?? 0), 16);
    const table = tableMap(id);
    const lpm = f.space.kind === 'prefix' || id === 'mac';
    const shape: FieldShape = {
      id,
      code: fieldOrder(id),
      classes,
      l1Base,
      level2: pow2(Math.max(f.level2Count, min.level2 ?? 0), 64),
      stage1: lpm ? pow2(Math.max(inputs.stage1[id] ?? 0, min.stage1 ?? 0), 16) : 0,
      s1: table ? { map: table, index: tables[table]++ } : { map: id === 'mac' ? 'rjc_s1_mac' : f.space.kind === 'prefix' && f.space.bits === 32 ? 'rjc_s1_a4' : 'rjc_s1_a16' },
    };
    l1Base += classes;
    return shape;
  });
}

/** True if a ruleset classified to `actual` can be written into a program of shape `target`. */
export function fitsShape(actual: Shape, target: Shape): boolean {
  if (actual.hook !== target.hook || actual.slots > target.slots || actual.counters > target.counters || actual.checks > target.checks || actual.checksPerSlot > target.checksPerSlot) return false;
  if ((actual.rates ?? 0) > (target.rates ?? 0) || (actual.hashlimit === true && target.hashlimit !== true)) return false;
  // A module the ruleset needs must be in the program; a larger recent ring counts the same.
  if ((['conntrack', 'sets', 'owner'] as const).some((m) => actual[m] === true && target[m] !== true)) return false;
  if (actual.recent !== undefined && (target.recent === undefined || actual.recent > target.recent)) return false;
  if (actual.fields.length !== target.fields.length) return false;
  return actual.fields.every((f, i) => {
    const t = target.fields[i]!;
    return f.id === t.id && f.classes <= t.classes && f.level2 <= t.level2 && f.stage1 <= t.stage1;
  });
}

/** A stable identifier of a shape: equal shapes run on the same program. */
export function shapeId(shape: Shape): string {
  return createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 16);
}
