/**
 * From flat rules to classifier slots: the entries of the index, in evaluation order.
 *
 * A flat rule becomes
 * - one "hotdrop" slot before it for each of its own steps that can hotdrop, whose condition is
 *   the steps before that one plus "the header is in a state that step cannot read" (so the
 *   first slot that matches gives the kernel's outcome, hotdrop included); an identical hotdrop
 *   slot is not repeated until a skip target intervenes (the earlier one already fired);
 * - one slot per alternative of its condition (multiport --ports is "sport or dport"), all with
 *   the rule's action; continue/skip go past all of them.
 * Each list (family × chain) is padded to a multiple of {@link BLOCK} slots.
 */
import type { Family, FilterHook, Policy, RejectWith, Rule } from '../ir.js';
import type { Expansion, FlatChain, FlatRule } from '../flatten/types.js';
import type { Term } from './atoms.js';
import { HDR, type FieldId } from './fields.js';
import { ruleSteps, type FieldTerm, type PostCheck, type Step } from './steps.js';

/** Rules per block: one u64 word of the level-2 bitmaps. */
export const BLOCK = 64;

export type SlotAction =
  | { kind: 'accept' }
  | { kind: 'drop' }
  | { kind: 'reject'; with: RejectWith }
  /** Count, then go on searching at slot `to` (global slot number; the list's end = policy). */
  | { kind: 'next'; to: number }
  /** Drop at once, no counter (a match could not read the packet). */
  | { kind: 'hotdrop' }
  /** Padding: never matches. */
  | { kind: 'none' };

export interface Slot {
  /** Per field, the terms that must all hold; a field not present is unconstrained. */
  fields: Map<FieldId, Term[]>;
  checks: PostCheck[];
  /** False when the slot can never match (padding, or a condition false at this hook). */
  live: boolean;
  action: SlotAction;
  /** Counter id moved when the slot decides or continues; null for hotdrop and padding. */
  counter: number | null;
  /** Index of the flat rule in its list; -1 for padding. */
  flat: number;
  role: 'rule' | 'hotdrop' | 'pad';
}

export interface SlotList {
  family: Family;
  chain: FilterHook;
  policy: Policy;
  /** Global number of the list's first slot (a multiple of BLOCK). */
  firstSlot: number;
  /** Slots of this list, padded to a multiple of BLOCK. */
  slots: Slot[];
  /** Global slot of each flat rule's first slot; entry [rules.length] is the list's end. */
  flatFirstSlot: number[];
  flat: FlatChain;
}

type StepCache = WeakMap<Rule, Map<string, Step[]>>;

function cachedSteps(cache: StepCache, rule: Rule, expansion: Expansion, family: Family, hook: FilterHook): Step[] {
  let perRule = cache.get(rule);
  if (!perRule) cache.set(rule, (perRule = new Map()));
  const key = `${expansion.index}/${hook}`;
  let steps = perRule.get(key);
  if (!steps) perRule.set(key, (steps = ruleSteps(rule, expansion, family, hook)));
  return steps;
}

/** A condition in disjunctive form: alternatives of field-term lists, plus checks. */
interface Condition {
  alternatives: FieldTerm[][];
  checks: PostCheck[];
  never: boolean;
}

function conjunction(steps: readonly Step[], extra: FieldTerm[] = []): Condition {
  let alternatives: FieldTerm[][] = [[...extra]];
  const checks: PostCheck[] = [];
  let never = false;
  for (const s of steps) {
    never ||= s.never === true;
    checks.push(...s.checks);
    alternatives = alternatives.map((a) => [...a, ...s.terms]);
    if (s.anyOf) alternatives = alternatives.flatMap((a) => s.anyOf!.map((alt) => [...a, ...alt]));
  }
  return { alternatives, checks, never };
}

function fieldMap(terms: FieldTerm[]): Map<FieldId, Term[]> {
  const m = new Map<FieldId, Term[]>();
  for (const { field, term } of terms) {
    const atoms = term.atoms.filter((a) => a.kind !== 'interval' || a.lo <= a.hi);
    const list = m.get(field);
    if (list) list.push({ ...term, atoms });
    else m.set(field, [{ ...term, atoms }]);
  }
  return m;
}

function conditionKey(c: Condition): string {
  return JSON.stringify(c, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

const PAD: Slot = { fields: new Map(), checks: [], live: false, action: { kind: 'none' }, counter: null, flat: -1, role: 'pad' };

/** Builds the slots of one flat chain starting at global slot `firstSlot` (a multiple of BLOCK). */
export function buildSlotList(flat: FlatChain, firstSlot: number, cache: StepCache = new WeakMap()): SlotList {
  const { family, chain: hook } = flat;
  const slots: Slot[] = [];
  const flatFirstSlot: number[] = [];
  const skipTargets = new Set<number>();
  for (const r of flat.rules) if (r.action.kind === 'skip') skipTargets.add(r.action.to);
  const pending: { slot: Slot; flatTarget: number }[] = [];
  let seenHotdrops = new Set<string>();

  const add = (cond: Condition, make: () => Omit<Slot, 'fields' | 'checks' | 'live'>): Slot[] =>
    cond.alternatives.map((alt) => {
      const slot: Slot = { ...make(), fields: fieldMap(alt), checks: cond.checks, live: !cond.never };
      slots.push(slot);
      return slot;
    });

  for (const r of flat.rules) {
    if (skipTargets.has(r.index)) seenHotdrops = new Set();
    flatFirstSlot.push(firstSlot + slots.length);
    const prefix = r.path.slice(0, -1).flatMap((p) => cachedSteps(cache, p.rule, p.expansion, family, hook));
    const last = r.path[r.path.length - 1]!;
    const own = cachedSteps(cache, last.rule, last.expansion, family, hook);
    if (r.role !== 'goto-end') {
      own.forEach((step, j) => {
        if (step.hotdrop.length === 0) return;
        const cond = conjunction([...prefix, ...own.slice(0, j)], [{ field: 'hdr', term: { negated: false, atoms: hdrAtoms(step.hotdrop) } }]);
        if (cond.never) return;
        const key = conditionKey(cond);
        if (seenHotdrops.has(key)) return;
        seenHotdrops.add(key);
        add(cond, () => ({ action: { kind: 'hotdrop' }, counter: null, flat: r.index, role: 'hotdrop' }));
      });
    }
    const made = add(conjunction([...prefix, ...own]), () => ({ action: terminal(r), counter: r.counter, flat: r.index, role: 'rule' }));
    const nextFlat = r.action.kind === 'continue' ? r.index + 1 : r.action.kind === 'skip' ? r.action.to : -1;
    if (nextFlat >= 0) for (const slot of made) pending.push({ slot, flatTarget: nextFlat });
  }
  flatFirstSlot.push(firstSlot + slots.length);
  for (const { slot, flatTarget } of pending) slot.action = { kind: 'next', to: flatFirstSlot[flatTarget]! };
  while (slots.length % BLOCK !== 0 || slots.length === 0) slots.push(PAD);
  return { family, chain: hook, policy: flat.policy, firstSlot, slots, flatFirstSlot, flat };
}

function hdrAtoms(states: number[]) {
  return [...states].sort((a, b) => a - b).map((s) => ({ kind: 'interval' as const, lo: s, hi: s }));
}

function terminal(r: FlatRule): SlotAction {
  switch (r.action.kind) {
    case 'accept':
      return { kind: 'accept' };
    case 'drop':
      return { kind: 'drop' };
    case 'reject':
      return { kind: 'reject', with: r.action.with };
    default:
      return { kind: 'next', to: -1 };
  }
}

/** Lays out all lists one after another, each starting at a block boundary. */
export function buildSlotLists(chains: readonly FlatChain[]): SlotList[] {
  const cache: StepCache = new WeakMap();
  const out: SlotList[] = [];
  let next = 0;
  for (const chain of chains) {
    if (chain.rules.length === 0) continue;
    const list = buildSlotList(chain, next, cache);
    out.push(list);
    next += list.slots.length;
  }
  return out;
}

/** Re-export for tests: the hdr state names. */
export { HDR };
