/**
 * The classify stage: flat chains → slots → the two-level index → a shape. Pure.
 * Refusals of what the classifier cannot compile are in ./support.ts (run before flattening).
 */
import { diag, type Diagnostic } from '../diagnostics.js';
import type { CounterInfo, FlatChain, FlatRuleset } from '../flatten/types.js';
import { buildIndex, type ClassifierIndex } from './index-build.js';
import { computeShape, MAX_SLOTS, type MinimumShape, type Shape, type ShapeModules } from './shape.js';
import { recentStamps } from './stateful.js';
import { buildSlotLists, type Slot, type SlotList } from './slots.js';
import type { PostCheck } from './steps.js';
import { NO_RATES, type RatePlan } from './rate-limits.js';

export { unsupportedParts } from './support.js';

/** The post-check modules `checks` need in the program (a recent ring as its largest --hitcount needs). */
function checkModules(checks: readonly PostCheck[]): ShapeModules {
  const uses = (kind: PostCheck['kind']) => checks.some((c) => c.kind === kind);
  return {
    ...(uses('ct') ? { conntrack: true as const } : {}),
    ...(uses('set') ? { sets: true as const } : {}),
    ...(uses('owner') ? { owner: true as const } : {}),
    ...(uses('recent') ? { recent: recentStamps(checks) } : {}),
  };
}

export interface Classified {
  /** Every flat chain (policies of chains without rules included). */
  chains: FlatChain[];
  /** The lists with rules, in slot order. */
  lists: SlotList[];
  /** All slots, globally numbered. */
  slots: Slot[];
  index: ClassifierIndex;
  /** Post-checks; slot s uses checks[checkFirst[s] .. + slots[s].checks.length]. */
  checks: PostCheck[];
  checkFirst: number[];
  counters: CounterInfo[];
  /** The rate-limit objects the checks index (src/compiler/classify/rate-limits.ts). */
  rates: RatePlan;
  shape: Shape;
}

/**
 * Builds the index of a flattened ruleset for a hook. E403 when it exceeds the program's
 * capacity. `rates` plans the ruleset's -m limit / -m hashlimit matches (planRates()).
 */
export function classify(flat: FlatRuleset, hook: 'tc' | 'xdp', minimum?: MinimumShape, rates: RatePlan = NO_RATES): { classified?: Classified; diagnostics: Diagnostic[] } {
  const lists = buildSlotLists(flat.chains, rates);
  const slots = lists.flatMap((l) => l.slots);
  if (slots.length > MAX_SLOTS) {
    const biggest = [...lists].sort((a, b) => b.slots.length - a.slots.length)[0]!;
    const at = biggest.flat.rules[0]?.path[0]?.rule.span;
    const detail = `the ${biggest.family} ${biggest.chain} chain needs ${biggest.slots.length} classifier slots and the program holds ${MAX_SLOTS} in all (a slot per rule after inlining and expansion, plus one per header-read check and per multiport --ports alternative)`;
    return { diagnostics: at ? [diag('E403', at, { detail })] : [] };
  }
  const index = buildIndex(slots, minimum?.allFields === true);
  const checks: PostCheck[] = [];
  const checkFirst = slots.map((s) => {
    const first = checks.length;
    for (const c of s.checks) checks.push(c);
    return first;
  });
  const stage1: Record<string, number> = {};
  for (const f of index.fields) {
    if (f.space.kind === 'prefix') stage1[f.field.id] = f.space.prefixes.length;
    else if (f.field.id === 'mac') stage1[f.field.id] = f.space.starts.length;
  }
  const checksPerSlot = slots.reduce((m, s) => Math.max(m, s.checks.length), 0);
  const hashlimit = rates.objects.some((o) => o.kind === 'hashlimit');
  const modules = checkModules(checks);
  const shape = computeShape({ hook, index, counters: flat.counters.length + 6, checks: checks.length, checksPerSlot, stage1, rates: rates.objects.length, hashlimit, modules, ...(minimum ? { minimum } : {}) });
  return { classified: { chains: flat.chains, lists, slots, index, checks, checkFirst, counters: flat.counters, rates, shape }, diagnostics: [] };
}
