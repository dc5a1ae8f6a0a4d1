/**
 * From flat rules to classifier slots: the entries of the index, in evaluation order.
 *
 * A flat rule becomes
 * - usually nothing more: a rule whose matches may hotdrop (tcp, udp, icmp, multiport, IPv6
 *   -p) is folded with its hotdrops into its own slot (see fold());
 * - otherwise one "hotdrop" slot before it for each of its own steps that can hotdrop, whose
 *   condition is the steps before that one plus "the header is in a state that step cannot
 *   read" (so the first slot that matches gives the kernel's outcome, hotdrop included); an
 *   identical hotdrop slot is not repeated until a skip target intervenes (the earlier one
 *   already fired);
 * - one slot per alternative of its condition (multiport --ports is "sport or dport"), all with
 *   the rule's action; continue/skip go past all of them.
 * Each list (family × chain) is padded to a multiple of {@link BLOCK} slots.
 *
 * Checks with side effects (./side-effects.ts: -m limit, -m hashlimit, a recent match that
 * changes its table) run whenever the kernel reaches them: when every step before them
 * matched, whatever the steps after them decide. So every post-check runs exactly once, where
 * the walk first meets it:
 * - a rule whose side-effecting check is followed by a step with header conditions (or a
 *   hotdrop) is split into segments at those points: a "gate" slot per segment but the last
 *   (its steps so far; action: go on at the next segment's first slot), then the rule's
 *   slot(s); each slot holds the checks of its own segment only (the gates ran the others);
 * - every slot with post-checks carries `fail`, the slot where the walk goes on when one of
 *   them fails: the rule cannot match any more, so the walk goes past it (the next rule; for
 *   a jump, the end of the inlined chain), so that no other alternative, gate or hotdrop
 *   slot of the rule, and no rule of the chain, runs a check of it again;
 * - the rules of an inlined chain leave the checks of the jump rules out: they are reached
 *   only when those checks passed at the jump rule's slot. (Re-running them would not only
 *   repeat side effects: a check that only reads, like `--rcheck`, may see what a rule of
 *   the chain changed.)
 */
import type { Family, FilterHook, Policy, RejectWith, Rule } from '../ir.js';
import type { Expansion, FlatChain, FlatRule, PathStep } from '../flatten/types.js';
import { intervalsOf, type Term } from './atoms.js';
import { fieldDef, HDR, HDR_MAX, type FieldId } from './fields.js';
import { ruleSteps, type FieldTerm, type PostCheck, type Step } from './steps.js';
import { NO_RATES, type RatePlan } from './rate-limits.js';
import { hasSideEffects } from './side-effects.js';

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
  /**
   * Header states (bit per HDR value) in which the slot, when it is the first match, drops the
   * packet as a hotdrop instead of taking its action (a rule folded with its hotdrop).
   */
  hotdrop: number;
  checks: PostCheck[];
  /**
   * Global slot where the walk goes on when one of `checks` fails: past the rule (or the chain
   * a jump rule inlines). 0 for a slot without checks.
   */
  fail: number;
  /** False when the slot can never match (padding, or a condition false at this hook). */
  live: boolean;
  action: SlotAction;
  /** Counter id moved when the slot decides or continues; null for hotdrop and padding. */
  counter: number | null;
  /** Index of the flat rule in its list; -1 for padding. */
  flat: number;
  /** `gate`: a rule's steps up to a side-effecting check (see the module comment). */
  role: 'rule' | 'hotdrop' | 'gate' | 'pad';
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

/** Per hook, the steps of each rule by expansion index (a rule belongs to one family). */
type StepCache = Map<FilterHook, Map<Rule, Step[][]>>;

/**
 * The steps of a path step's rule expansion at one hook. Those of a rule that can be asked for
 * again (a jump rule: the prefix of the rules it inlines; a rule of a user chain, inlined from
 * several places) are computed once per (rule, expansion); those of any other rule, asked for
 * exactly once, are not kept, so that they die young.
 */
function stepsAt(cache: StepCache, family: Family, hook: FilterHook, rates: RatePlan): (p: PathStep) => Step[] {
  let perRule = cache.get(hook);
  if (!perRule) cache.set(hook, (perRule = new Map()));
  const byRule = perRule;
  return ({ rule, expansion, chain }) => {
    if (chain === hook && rule.target?.target !== 'jump') return ruleSteps(rule, expansion, family, hook, rates);
    let perExpansion = byRule.get(rule);
    if (!perExpansion) byRule.set(rule, (perExpansion = []));
    return (perExpansion[expansion.index] ??= ruleSteps(rule, expansion, family, hook, rates));
  };
}

/** `steps` without their post-checks (run already, at a slot the walk passed to get here). */
function withoutChecks(steps: readonly Step[]): Step[] {
  return steps.map((s) => (s.checks.length > 0 ? { ...s, checks: [] } : s));
}

/** A step the index decides (or that can hotdrop, or never matches). */
function isTermStep(s: Step): boolean {
  return s.terms.length > 0 || s.anyOf !== undefined || s.hotdrop.length > 0 || s.never === true;
}

/**
 * A rule's own steps in segments: a segment ends before a step with header conditions when a
 * step of the segment has a side-effecting check. Without such checks: one segment.
 */
function segmentsOf(own: readonly Step[]): Step[][] {
  if (!own.some((s) => s.checks.length > 0)) return [own as Step[]];
  const out: Step[][] = [[]];
  let pending = false;
  for (const s of own) {
    if (pending && isTermStep(s)) {
      out.push([]);
      pending = false;
    }
    out[out.length - 1]!.push(s);
    if (s.checks.some(hasSideEffects)) pending = true;
  }
  return out;
}

/**
 * Where the walk goes on when flat rule `r` does not match: the next rule; for a jump, the
 * first rule after the chain it inlines (and after a goto's end rule).
 */
function noMatchTarget(rules: readonly FlatRule[], r: FlatRule): number {
  if (r.role !== 'jump') return r.index + 1;
  const depth = r.path.length - 1;
  const step = r.path[depth];
  let k = r.index + 1;
  while (k < rules.length && rules[k]!.path[depth] === step) k++;
  return k;
}

/** A condition in disjunctive form: alternatives of field-term lists, plus checks. */
interface Condition {
  alternatives: FieldTerm[][];
  checks: PostCheck[];
  never: boolean;
}

/** The checks of a condition without any: one array for all (conditions' checks are never changed). */
const NO_CHECKS: PostCheck[] = [];

/** The steps' conjunction, after `extra`; `withoutHdr`: leaving out the steps' own header-state terms. */
function conjunction(steps: readonly Step[], extra: FieldTerm[] = [], withoutHdr = false): Condition {
  // Every array in `alternatives` is made here, so terms are appended in place.
  let alternatives: FieldTerm[][] = [[...extra]];
  const checks: PostCheck[] = [];
  let never = false;
  for (const s of steps) {
    never ||= s.never === true;
    for (const c of s.checks) checks.push(c);
    for (const a of alternatives) for (const t of s.terms) if (!withoutHdr || t.field !== 'hdr') a.push(t);
    if (s.anyOf) alternatives = alternatives.flatMap((a) => s.anyOf!.map((alt) => [...a, ...alt]));
  }
  return { alternatives, checks: checks.length > 0 ? checks : NO_CHECKS, never };
}

/** True if a term has an empty interval (a range written backwards), which holds nothing. */
function hasEmptyInterval(t: Term): boolean {
  for (const a of t.atoms) if (a.kind === 'interval' && a.lo > a.hi) return true;
  return false;
}

function fieldMap(terms: FieldTerm[]): Map<FieldId, Term[]> {
  const m = new Map<FieldId, Term[]>();
  for (const { field, term: t } of terms) {
    const term = hasEmptyInterval(t) ? { ...t, atoms: t.atoms.filter((a) => a.kind !== 'interval' || a.lo <= a.hi) } : t;
    const list = m.get(field);
    if (list) list.push(term);
    else m.set(field, [term]);
  }
  return m;
}

function conditionKey(c: Condition): string {
  return JSON.stringify(c, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** Every slot is made here, with one property order (one object shape for the engine). */
function makeSlot(fields: Slot['fields'], hotdrop: number, checks: PostCheck[], live: boolean, action: SlotAction, counter: number | null, flat: number, role: Slot['role']): Slot {
  return { fields, hotdrop, checks, fail: 0, live, action, counter, flat, role };
}

const PAD: Slot = makeSlot(new Map(), 0, [], false, { kind: 'none' }, null, -1, 'pad');

/** Every header state, as a bit mask. */
const ALL_HDR_STATES = (1 << (HDR_MAX + 1)) - 1;

/** The header states (bit per HDR value) that every header-state term of a step accepts. */
function hdrMaskOf(s: Step): number {
  let mask = ALL_HDR_STATES;
  for (const ft of s.terms) if (ft.field === 'hdr') mask &= statesOf(ft.term);
  return mask;
}

/** The header states a header-state term accepts, as a bit mask. */
function statesOf(term: Term): number {
  let m = 0;
  for (const a of term.atoms) {
    if (a.kind !== 'interval') continue;
    for (let state = Math.max(0, a.lo); state <= Math.min(HDR_MAX, a.hi); state++) m |= 1 << state;
  }
  return term.negated ? ~m & ALL_HDR_STATES : m;
}

/** True if every term but the header state's is on a field UNREAD (no value) in `state`. */
function unreadIn(terms: readonly FieldTerm[], state: number): boolean {
  for (const ft of terms) {
    if (ft.field === 'hdr') continue;
    const def = fieldDef(ft.field);
    if (def.kind !== 'interval' || def.unreadIn?.includes(state) !== true) return false;
  }
  return true;
}

/**
 * A rule and its hotdrops as one slot, when exact. For each header state s where one of the
 * rule's own steps hotdrops (the first such step k(s)), every condition of the steps from k(s)
 * on must be on a field that has no value (UNREAD, accepted by every condition) in state s,
 * and no post-check may come after the first hotdrop step. Then the slot's header-state
 * condition becomes "the rule matches in s, or s reaches k(s)", and the slot hotdrops in the
 * latter states. Returns null when the rule has no hotdrop or cannot be folded.
 */
function fold(prefix: readonly Step[], own: readonly Step[]): { cond: Condition; hotdrop: number } | null {
  let first = -1;
  for (let j = 0; j < own.length && first < 0; j++) if (own[j]!.hotdrop.length > 0) first = j;
  if (first < 0) return null;
  for (let j = first; j < own.length; j++) if (own[j]!.checks.length > 0) return null;
  // k[state]: the first own step that hotdrops in the state, -1 for none.
  const k: number[] = new Array<number>(HDR_MAX + 1).fill(-1);
  for (let j = 0; j < own.length; j++) for (const state of own[j]!.hotdrop) if (k[state] === -1) k[state] = j;
  for (let state = 0; state <= HDR_MAX; state++) {
    const j = k[state]!;
    if (j < 0) continue;
    for (let i = j; i < own.length; i++) {
      const s = own[i]!;
      if (!unreadIn(s.terms, state) || (s.anyOf && !s.anyOf.every((alt) => unreadIn(alt, state)))) return null;
    }
  }
  // reaches[j]: the header states the header-state terms of `prefix` and own[0 .. j) accept.
  const reaches: number[] = [prefix.reduce((m, s) => m & hdrMaskOf(s), ALL_HDR_STATES)];
  for (let j = 0; j < own.length; j++) reaches.push(reaches[j]! & hdrMaskOf(own[j]!));
  let accept = 0;
  let hotdrop = 0;
  for (let state = 0; state <= HDR_MAX; state++) {
    const j = k[state]!;
    const drops = j >= 0 && (reaches[j]! & (1 << state)) !== 0;
    if (drops) hotdrop |= 1 << state;
    if (drops || (reaches[own.length]! & (1 << state)) !== 0) accept |= 1 << state;
  }
  // The steps' own header-state terms give way to the folded one.
  return { cond: conjunction([...prefix, ...own], [{ field: 'hdr', term: hdrStatesTerm(accept) }], true), hotdrop };
}

/** The header-state terms of folded slots, by their states (bit mask): made once, shared (terms are never changed). */
const HDR_STATE_TERMS = new Map<number, Term>();

function hdrStatesTerm(mask: number): Term {
  let t = HDR_STATE_TERMS.get(mask);
  if (!t) {
    const states: number[] = [];
    for (let state = 0; state <= HDR_MAX; state++) if (mask & (1 << state)) states.push(state);
    HDR_STATE_TERMS.set(mask, (t = { negated: false, atoms: intervalsOf(states) }));
  }
  return t;
}

/** Builds the slots of one flat chain starting at global slot `firstSlot` (a multiple of BLOCK). */
export function buildSlotList(flat: FlatChain, firstSlot: number, cache: StepCache = new Map(), rates: RatePlan = NO_RATES): SlotList {
  const { family, chain: hook } = flat;
  const slots: Slot[] = [];
  const flatFirstSlot: number[] = [];
  const stepsOf = stepsAt(cache, family, hook, rates);
  // The steps of the jump rules on a rule's path (their checks left out), by the path's last
  // jump step: the rules of one inlined chain share it.
  const prefixes = new Map<PathStep, Step[]>();
  const prefixOf = (r: FlatRule): Step[] => {
    if (r.path.length === 1) return [];
    const last = r.path[r.path.length - 2]!;
    let p = prefixes.get(last);
    if (!p) prefixes.set(last, (p = withoutChecks(r.path.slice(0, -1).flatMap(stepsOf))));
    return p;
  };
  const noMatch = new Map<FlatRule, number>();
  const failTarget = (r: FlatRule) => {
    let to = noMatch.get(r);
    if (to === undefined) noMatch.set(r, (to = noMatchTarget(flat.rules, r)));
    return to;
  };
  // Where the walk may resume past slots it did not look at: skip targets, and where a failed
  // check sends it past a jump rule's chain or past the later segments of a rule with side
  // effects. (Past the rest of any other rule, its remaining slots would fail the same way.)
  // Every such target lies after the rule that names it, so the set is complete for a rule
  // when the rules before it have been walked.
  const skipTargets = new Set<number>();
  const pending: { slot: Slot; flatTarget: number }[] = [];
  const pendingFails: { slot: Slot; flatTarget: number }[] = [];
  let seenHotdrops = new Set<string>();

  const add = (r: FlatRule, cond: Condition, action: SlotAction, counter: number | null, role: Slot['role'], hotdrop = 0): Slot[] =>
    cond.alternatives.map((alt) => {
      const slot = makeSlot(fieldMap(alt), hotdrop, cond.checks, !cond.never, action, counter, r.index, role);
      slots.push(slot);
      if (cond.checks.length > 0) pendingFails.push({ slot, flatTarget: failTarget(r) });
      return slot;
    });
  /** Hotdrop slots for the steps of `own` that can hotdrop, each after `before` and the steps of `own` before it. */
  const addHotdrops = (r: FlatRule, before: readonly Step[], own: readonly Step[]) => {
    own.forEach((step, j) => {
      if (step.hotdrop.length === 0) return;
      const cond = conjunction([...before, ...own.slice(0, j)], [{ field: 'hdr', term: { negated: false, atoms: hdrAtoms(step.hotdrop) } }]);
      if (cond.never) return;
      const key = conditionKey(cond);
      if (seenHotdrops.has(key)) return;
      seenHotdrops.add(key);
      add(r, cond, { kind: 'hotdrop' }, null, 'hotdrop');
    });
  };

  for (const r of flat.rules) {
    if (skipTargets.has(r.index)) seenHotdrops = new Set();
    const ownSteps = r.role === 'goto-end' ? [] : stepsOf(r.path[r.path.length - 1]!);
    let sideEffects = false;
    for (const st of ownSteps) for (const c of st.checks) sideEffects ||= hasSideEffects(c);
    if (r.action.kind === 'skip') skipTargets.add(r.action.to);
    if (sideEffects || (r.role === 'jump' && ownSteps.some((st) => st.checks.length > 0))) skipTargets.add(failTarget(r));
    flatFirstSlot.push(firstSlot + slots.length);
    // The jump rules on the way ran their checks already: this rule is reached only when
    // those passed.
    const prefix = prefixOf(r);
    let made: Slot[];
    if (r.role === 'goto-end') {
      // Synthetic: the goto rule's steps, which matched (and ran their checks) before its chain.
      made = add(r, conjunction([...prefix, ...withoutChecks(stepsOf(r.path[r.path.length - 1]!))]), terminal(r), r.counter, 'rule');
    } else {
      const segments = segmentsOf(ownSteps);
      const passed: Step[] = [];
      made = [];
      segments.forEach((own, i) => {
        // The gates before ran the checks of the segments passed.
        const before = passed.length === 0 ? prefix : [...prefix, ...withoutChecks(passed)];
        passed.push(...own);
        const lastSegment = i === segments.length - 1;
        const folded = segments.length === 1 ? fold(before, own) : null;
        if (!folded) addHotdrops(r, before, own);
        const cond = folded ? folded.cond : conjunction([...before, ...own]);
        if (lastSegment) {
          made = add(r, cond, terminal(r), r.counter, 'rule', folded?.hotdrop ?? 0);
          return;
        }
        const gates = add(r, cond, { kind: 'next', to: -1 }, null, 'gate');
        // The next segment's first slot comes next.
        for (const g of gates) g.action = { kind: 'next', to: firstSlot + slots.length };
      });
    }
    // A hotdrop slot stands for an identical one later only while the tables its checks read
    // stay as they were.
    if (sideEffects) seenHotdrops = new Set();
    const nextFlat = r.action.kind === 'continue' ? r.index + 1 : r.action.kind === 'skip' ? r.action.to : -1;
    if (nextFlat >= 0) for (const slot of made) pending.push({ slot, flatTarget: nextFlat });
  }
  flatFirstSlot.push(firstSlot + slots.length);
  for (const { slot, flatTarget } of pending) slot.action = { kind: 'next', to: flatFirstSlot[flatTarget]! };
  for (const { slot, flatTarget } of pendingFails) slot.fail = flatFirstSlot[flatTarget]!;
  while (slots.length % BLOCK !== 0 || slots.length === 0) slots.push(PAD);
  return { family, chain: hook, policy: flat.policy, firstSlot, slots, flatFirstSlot, flat };
}

function hdrAtoms(states: number[]) {
  return [...states].sort((a, b) => a - b).map((s) => ({ kind: 'interval' as const, lo: s, hi: s }));
}

/** The verdict actions without parameters, one object each for all slots (actions are replaced, never changed). */
const ACCEPT: SlotAction = { kind: 'accept' };
const DROP: SlotAction = { kind: 'drop' };

function terminal(r: FlatRule): SlotAction {
  switch (r.action.kind) {
    case 'accept':
      return ACCEPT;
    case 'drop':
      return DROP;
    case 'reject':
      return { kind: 'reject', with: r.action.with };
    default:
      return { kind: 'next', to: -1 };
  }
}

/** Lays out all lists one after another, each starting at a block boundary. */
export function buildSlotLists(chains: readonly FlatChain[], rates: RatePlan = NO_RATES): SlotList[] {
  const cache: StepCache = new Map();
  const out: SlotList[] = [];
  let next = 0;
  for (const chain of chains) {
    if (chain.rules.length === 0) continue;
    const list = buildSlotList(chain, next, cache, rates);
    out.push(list);
    next += list.slots.length;
  }
  return out;
}

/** Re-export for tests: the hdr state names. */
export { HDR };
