/**
 * The shape of a compiled ruleset: which fields the program reads and the capacity of every
 * map. Two rulesets with the same shape run on the same program with the same maps, so the
 * runtime can replace one by the other by writing maps behind a generation flip (see
 * emit/map-specs.ts). Capacities are rounded up to powers of two so that small edits keep
 * the shape.
 */
import { createHash } from 'node:crypto';
import type { FieldId } from './fields.js';
import type { ClassifierIndex } from './index-build.js';
import { BLOCK } from './slots.js';

export interface FieldShape {
  id: FieldId;
  /** Class capacity (level-1 entries per generation). */
  classes: number;
  /** Level-2 entry capacity per generation. */
  level2: number;
  /** Stage-1 LPM/hash entry capacity per generation (0 for array tables). */
  stage1: number;
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
  fields: FieldShape[];
}

/** The most slots a program holds: 64 level-1 words of 64 blocks of 64 slots. */
export const MAX_SLOTS = 64 * 64 * 64;

export function pow2(n: number, min: number): number {
  let p = min;
  while (p < n) p *= 2;
  return p;
}

export interface ShapeInputs {
  hook: 'tc' | 'xdp';
  index: ClassifierIndex;
  counters: number;
  checks: number;
  /** Stage-1 entry count per field (LPM prefixes, MAC hash entries). */
  stage1: Partial<Record<FieldId, number>>;
}

export function computeShape(inputs: ShapeInputs): Shape {
  const slots = pow2(inputs.index.slotCount, BLOCK);
  const blocks = slots / BLOCK;
  return {
    hook: inputs.hook,
    slots,
    blocks,
    words: Math.max(1, blocks / 64),
    counters: pow2(inputs.counters, 64),
    checks: pow2(inputs.checks, 1),
    fields: inputs.index.fields.map((f) => ({
      id: f.field.id,
      classes: pow2(f.classCount, 16),
      level2: pow2(f.level2.length, 64),
      stage1: f.space.kind === 'prefix' || f.field.id === 'mac' ? pow2(inputs.stage1[f.field.id] ?? 0, 16) : 0,
    })),
  };
}

/** A stable identifier of a shape: equal shapes run on the same program. */
export function shapeId(shape: Shape): string {
  return createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 16);
}
