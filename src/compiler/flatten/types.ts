/**
 * The output of flattening: per family and built-in filter chain, one linear list of rules
 * whose first-match evaluation gives exactly iptables' verdict for that chain.
 *
 * Evaluation of a {@link FlatChain}: start at rule 0; find the first rule at or after the
 * current position whose every {@link PathStep} matches the packet; apply its action:
 * - `accept` / `drop` / `reject`: the chain's verdict;
 * - `continue` (LOG, a rule without target, a jump's own counter): count, go on at index + 1;
 * - `skip`: count (if the rule has a counter), go on at `to` (`to === rules.length` means the
 *   end of the chain, where the policy applies).
 * When no rule matches, the chain's policy decides.
 */
import type { Cidr, Family, FilterHook, Policy, RejectWith, Rule } from '../ir.js';
import type { Span } from '../span.js';

/** One copy of a multi-address rule: iptables stores `-s a,b -d c,d` as four rules. */
export interface Expansion {
  /** 0-based, source outer: for `-s a,b -d c,d` the copies are (a,c) (a,d) (b,c) (b,d). */
  index: number;
  /** How many copies the source rule has (1 for a rule with at most one address per side). */
  count: number;
  /** The copy's single source network; absent when the rule has no `-s`. */
  src?: Cidr;
  /** The copy's single destination network; absent when the rule has no `-d`. */
  dst?: Cidr;
}

/** A source rule (one expansion of it) on the way to a flat rule. */
export interface PathStep {
  rule: Rule;
  /** The chain the rule is written in (a user chain for inlined rules). */
  chain: string;
  /** 1-based position of the rule in its chain, as `iptables -L --line-numbers` shows it. */
  ruleNumber: number;
  expansion: Expansion;
}

export type FlatAction =
  | { kind: 'accept' }
  | { kind: 'drop' }
  | { kind: 'reject'; with: RejectWith }
  | { kind: 'continue' }
  | { kind: 'skip'; to: number };

/**
 * Why the flat rule exists:
 * - `rule`: a rule with a verdict, LOG or no target;
 * - `jump`: a `-j`/`-g` rule; it only counts, the called chain's rules follow it;
 * - `return`: a RETURN rule (skip to the caller's continuation);
 * - `goto-end`: synthetic, after a goto'd chain's inlined rules: the packet fell off the end of
 *   the chain, so evaluation resumes where the chain that did the goto would return to.
 */
export type FlatRole = 'rule' | 'jump' | 'return' | 'goto-end';

export interface FlatRule {
  /** Position in {@link FlatChain.rules}. */
  index: number;
  /**
   * The conditions in evaluation order: the jump/goto rules that lead here (outermost first),
   * then the rule itself (for `goto-end`: the goto rule is the last step). The flat rule matches
   * when every step matches.
   */
  path: PathStep[];
  action: FlatAction;
  role: FlatRole;
  /** The counter a match of this rule increments (see {@link CounterInfo}); null for `goto-end`. */
  counter: number | null;
}

export interface FlatChain {
  family: Family;
  chain: FilterHook;
  policy: Policy;
  /** Where the policy was set; absent when the chain kept the kernel's default (ACCEPT). */
  policySpan?: Span;
  rules: FlatRule[];
}

/**
 * One counter per kernel rule, as iptables keeps them: a rule of a user chain called from two
 * places still has one counter; each expansion of a multi-address rule has its own.
 */
export interface CounterInfo {
  id: number;
  family: Family;
  chain: string;
  ruleNumber: number;
  expansion: number;
  expansions: number;
  rule: Rule;
}

export interface FlatRuleset {
  chains: FlatChain[];
  /** Indexed by counter id; covers every filter rule of every family, reached or not. */
  counters: CounterInfo[];
}
