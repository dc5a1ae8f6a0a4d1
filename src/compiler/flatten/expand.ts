import type { Rule } from '../ir.js';
import type { Expansion } from './types.js';

/** The one copy of a rule without networks, for all such rules (expansions are never changed). */
const WHOLE: readonly Expansion[] = [{ index: 0, count: 1 }];

/**
 * The copies iptables makes of a rule with several `-s`/`-d` networks: one per pair, source
 * outer, destination inner (iptables/xshared.c loops over saddrs then daddrs). A rule with at
 * most one network per side has exactly one copy.
 */
export function expandAddresses(rule: Rule): readonly Expansion[] {
  if (!rule.base.src && !rule.base.dst) return WHOLE;
  const srcs = rule.base.src?.addresses ?? [undefined];
  const dsts = rule.base.dst?.addresses ?? [undefined];
  const count = srcs.length * dsts.length;
  const out: Expansion[] = [];
  for (const src of srcs) {
    for (const dst of dsts) {
      const e: Expansion = { index: out.length, count };
      if (src) e.src = src;
      if (dst) e.dst = dst;
      out.push(e);
    }
  }
  return out;
}

/** How many copies {@link expandAddresses} makes, without making them. */
export function expansionCount(rule: Rule): number {
  return (rule.base.src?.addresses.length ?? 1) * (rule.base.dst?.addresses.length ?? 1);
}
