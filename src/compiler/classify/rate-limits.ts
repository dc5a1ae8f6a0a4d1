/**
 * `-m limit` and `-m hashlimit` in the classifier: the ruleset's rate-limit objects and their
 * post-checks. Pure, and independent of the host's HZ: the kernel's parameters (costs,
 * credits) depend on HZ and are computed by the runtime when it loads the rules
 * (src/runtime/rate-limits.ts); here each object only gets an index and its raw settings.
 *
 * Objects (the ruleset's "rate index" space, in this order of first appearance):
 * - one `limit` object per -m limit match and per kernel entry of its rule (each expansion of
 *   `-s a,b -d c,d` has its own bucket, as iptables stores four rules);
 * - one `hashlimit` object per table: per family and `--hashlimit-name`, created by the first
 *   rule in file order that names it (src/model/limits/ruleset-limits.ts), shared by every
 *   rule that names it.
 *
 * The program maps a rate index to a slot of the namespace-wide state maps through the
 * ruleset map rjc_rl_slot (identity in maps.json; the runtime writes the slots it allocates),
 * so a limit's state can outlive a ruleset replace and be shared by every interface.
 *
 * Checks have side effects (a token is spent when the match is reached; ./side-effects.ts):
 * ./slots.ts evaluates each exactly once, when the steps before it matched, and sends the walk
 * past the rule (the slot's `fail`) when the rule cannot match from there.
 */
import type { Diagnostic } from '../diagnostics.js';
import type { Family, HashlimitMatch, LimitMatch, Match, Rule, Ruleset } from '../ir.js';
import { expansionCount } from '../flatten/expand.js';
import { effectiveBackend } from '../../model/limits/limit-match.js';
import { hashlimitCfg3, hashlimitModeBits, type HashlimitCfg3 } from '../../model/limits/hashlimit-config.js';
import { planRateLimits } from '../../model/limits/ruleset-limits.js';

/** The HZ values kernels are built with: compile-time refusals are those every one of them makes. */
export const KERNEL_HZ_VALUES: readonly number[] = [100, 250, 300, 1000];

/** rjc_check.kind of the rate-limit checks (RJC_CHK_LIMIT / RJC_CHK_HASHLIMIT in bpf/rjc_limit.h). */
export const RATE_CHECK_KIND = { limit: 20, hashlimit: 21 } as const;

/** Where a rule is written: family, chain, 1-based number, and the rule itself. */
interface RulePlace {
  family: Family;
  chain: string;
  ruleNumber: number;
  rule: Rule;
}

/** One -m limit bucket: a match of one kernel entry (expansion) of a rule. */
export interface LimitObject extends RulePlace {
  kind: 'limit';
  index: number;
  match: LimitMatch;
  /** Which -m limit of the rule (0-based), for rules with several. */
  ordinal: number;
  /** Which copy of a multi-address rule, and how many there are. */
  expansion: number;
  expansions: number;
  /** The algorithm the kernel runs: nft `limit` (iptables-nft, the default) or xt_limit. */
  backend: 'nft' | 'legacy';
}

/** One hashlimit table, as the rule that creates it configures it. */
export interface HashlimitObject extends RulePlace {
  kind: 'hashlimit';
  index: number;
  name: string;
  /** The creating match; its settings are the table's. */
  creator: HashlimitMatch;
  /** What iptables hands the kernel for it (revision 3), HZ-independent. */
  cfg: HashlimitCfg3;
}

export type RateObject = LimitObject | HashlimitObject;

export interface RatePlan {
  objects: RateObject[];
  /** The index of each limit match's expansion 0 (the other expansions follow it). */
  limitBase: Map<LimitMatch, number>;
  /** The table index of each hashlimit match. */
  tableOf: Map<HashlimitMatch, number>;
}

/**
 * A rate-limit post-check. Encoding in rjc_check: `kind` RATE_CHECK_KIND, `value` the rate
 * index, `mask` 0, `pad[0]` the rule's XT_HASHLIMIT_* mode bits (hashlimit). Where the walk
 * goes on when the rule stops matching is the slot's (rjc_action.fail, ./slots.ts).
 */
export interface RateCheck {
  kind: 'rate';
  module: 'limit' | 'hashlimit';
  rate: number;
  ruleMode: number;
  negated: false;
  value: number;
  mask: number;
}

function forEachFilterRule(ruleset: Ruleset, fn: (place: RulePlace) => void): void {
  for (const fam of ruleset.families) {
    for (const table of fam.tables) {
      if (table.name !== 'filter') continue;
      for (const chain of table.chains) chain.rules.forEach((rule, i) => fn({ family: fam.family, chain: chain.name, ruleNumber: i + 1, rule }));
    }
  }
}

/** True if a rule of a filter table has a -m limit or -m hashlimit match (one walk, nothing allocated). */
export function hasRateMatches(ruleset: Ruleset): boolean {
  for (const fam of ruleset.families) {
    for (const table of fam.tables) {
      if (table.name !== 'filter') continue;
      for (const chain of table.chains) {
        for (const rule of chain.rules) for (const m of rule.matches) if (m.module === 'limit' || m.module === 'hashlimit') return true;
      }
    }
  }
  return false;
}

/** The rate-limit objects of the filter tables and the index of each match. */
export function planRates(ruleset: Ruleset): RatePlan {
  const plan: RatePlan = { objects: [], limitBase: new Map(), tableOf: new Map() };
  const backend = effectiveBackend(ruleset.backend);
  // Table creators: the first rule in file order naming the table (what iptables-nft adds first).
  const hashlimits: { m: HashlimitMatch; place: RulePlace }[] = [];
  forEachFilterRule(ruleset, (place) => {
    for (const m of place.rule.matches) if (m.module === 'hashlimit') hashlimits.push({ m, place });
  });
  const creators = new Map<string, { m: HashlimitMatch; place: RulePlace }>();
  for (const h of [...hashlimits].sort((a, b) => a.place.rule.span.start.offset - b.place.rule.span.start.offset)) {
    const key = `${h.place.family}/${h.m.name}`;
    if (!creators.has(key)) creators.set(key, h);
  }
  const tables = new Map<string, number>();
  forEachFilterRule(ruleset, (place) => {
    let ordinal = 0;
    for (const m of place.rule.matches) {
      if (m.module === 'limit') {
        const count = expansionCount(place.rule);
        plan.limitBase.set(m, plan.objects.length);
        for (let e = 0; e < count; e++) {
          plan.objects.push({ kind: 'limit', index: plan.objects.length, ...place, match: m, ordinal, expansion: e, expansions: count, backend });
        }
        ordinal++;
      } else if (m.module === 'hashlimit') {
        const key = `${place.family}/${m.name}`;
        let index = tables.get(key);
        if (index === undefined) {
          const creator = creators.get(key)!;
          index = plan.objects.length;
          tables.set(key, index);
          plan.objects.push({ kind: 'hashlimit', index, ...creator.place, name: m.name, creator: creator.m, cfg: hashlimitCfg3(creator.m, place.family) });
        }
        plan.tableOf.set(m, index);
      }
    }
  });
  return plan;
}

/**
 * What the kernel would refuse or warn about when loading the rules: exactly, for a host with
 * `hz` jiffies per second; without `hz`, what every kernel HZ refuses (the runtime checks the
 * rest with the host's HZ when it loads the rules). Also W260 for a table shared by rules
 * with other settings.
 */
export function rateDiagnostics(ruleset: Ruleset, hz?: number): Diagnostic[] {
  const runs = (hz !== undefined ? [hz] : KERNEL_HZ_VALUES).map((h) => planRateLimits(ruleset, h).diagnostics);
  const key = (d: Diagnostic) => `${d.code}|${d.span.start.offset}|${d.message}`;
  const everywhere = runs.slice(1).reduce((kept, next) => {
    const keys = new Set(next.map(key));
    return kept.filter((d) => keys.has(key(d)));
  }, runs[0]!);
  return everywhere;
}

/** The check of a rate-limit match, for kernel entry `expansion` of its rule. */
export function rateCheck(m: Match, expansion: number, plan: RatePlan): RateCheck | undefined {
  if (m.module === 'limit') {
    const base = plan.limitBase.get(m);
    if (base === undefined) return undefined;
    return { kind: 'rate', module: 'limit', rate: base + expansion, ruleMode: 0, negated: false, value: base + expansion, mask: 0 };
  }
  if (m.module === 'hashlimit') {
    const table = plan.tableOf.get(m);
    if (table === undefined) return undefined;
    return { kind: 'rate', module: 'hashlimit', rate: table, ruleMode: hashlimitModeBits(m), negated: false, value: table, mask: 0 };
  }
  return undefined;
}

/** An empty plan (rulesets without rate limits, and callers that classify flat rules directly). */
export const NO_RATES: RatePlan = { objects: [], limitBase: new Map(), tableOf: new Map() };

