/**
 * Flattening: per family and built-in filter chain (INPUT, FORWARD, OUTPUT), user chains are
 * inlined, RETURN and goto become skips, and multi-address rules are expanded as iptables
 * expands them, giving one linear rule list per chain (see ./types.ts for its evaluation).
 *
 * Inlining `-j C` from a rule R (matches M) emits: R itself as a `continue` rule (it counts the
 * packets that enter C), then C's rules with M prepended to their conditions; a RETURN in C
 * skips to the rule after C's block. `-g C` is the same, except that C returns to where the
 * chain holding R would return, and a synthetic `goto-end` rule (conditions M) after C's block
 * sends packets that fell off C's end there too.
 */
import { diag, type Diagnostic } from '../diagnostics.js';
import { FILTER_HOOKS, type Chain, type FamilyRuleset, type Rule, type Table } from '../ir.js';
import { expandAddresses, expansionCount } from './expand.js';
import type { CounterInfo, FlatAction, FlatChain, FlatRule, FlatRuleset, PathStep } from './types.js';

export type * from './types.js';
export { expandAddresses } from './expand.js';

/** The most flat rules one chain may expand to (the classifier's capacity, see classify/). */
export const MAX_FLAT_RULES_PER_CHAIN = 200_000;

export interface FlattenResult {
  flat: FlatRuleset;
  diagnostics: Diagnostic[];
}

/** The actions without parameters, one object each for all flat rules (an action is replaced, never changed). */
const ACCEPT: FlatAction = { kind: 'accept' };
const DROP: FlatAction = { kind: 'drop' };
const CONTINUE: FlatAction = { kind: 'continue' };

/** A position in the flat list that is known only after the block before it is emitted. */
interface Label {
  pos: number;
}

/** The filter table of a family, if it has one. */
export function filterTable(family: FamilyRuleset): Table | undefined {
  return family.tables.find((t) => t.name === 'filter');
}

/**
 * Flattens the filter table of every family. Precondition: the front end's structure checks
 * passed (targets name existing chains, no loops); violations are reported here too (E300,
 * E303) rather than looping. A chain expanding past {@link MAX_FLAT_RULES_PER_CHAIN} is E403.
 * Families without a filter table get no chains (their packets are not filtered).
 */
export function flattenRuleset(families: readonly FamilyRuleset[]): FlattenResult {
  const diagnostics: Diagnostic[] = [];
  const chains: FlatChain[] = [];
  const counters: CounterInfo[] = [];
  for (const family of families) {
    const table = filterTable(family);
    if (!table) continue;
    const flattener = new Flattener(family, table, counters, diagnostics);
    for (const hook of FILTER_HOOKS) {
      const flat = flattener.flattenHook(hook);
      if (flat) chains.push(flat);
    }
  }
  return { flat: { chains, counters }, diagnostics };
}

class Flattener {
  private readonly byName = new Map<string, Chain>();
  /** Counter id of each (rule, expansion), by chain and rule position: the rule's first id, expansions follow. */
  private readonly counterBase = new Map<Chain, number[]>();
  private readonly sizes = new Map<string, number>();
  private out: FlatRule[] = [];
  private readonly pending: { rule: FlatRule; label: Label }[] = [];

  constructor(
    private readonly family: FamilyRuleset,
    table: Table,
    counters: CounterInfo[],
    private readonly diagnostics: Diagnostic[],
  ) {
    for (const chain of table.chains) {
      this.byName.set(chain.name, chain);
      const bases: number[] = [];
      this.counterBase.set(chain, bases);
      chain.rules.forEach((rule, i) => {
        bases.push(counters.length);
        const expansions = expansionCount(rule);
        for (let e = 0; e < expansions; e++) {
          counters.push({
            id: counters.length,
            family: family.family,
            chain: chain.name,
            ruleNumber: i + 1,
            expansion: e,
            expansions,
            rule,
          });
        }
      });
    }
  }

  flattenHook(hook: (typeof FILTER_HOOKS)[number]): FlatChain | undefined {
    const chain = this.byName.get(hook);
    const flat: FlatChain = {
      family: this.family.family,
      chain: hook,
      policy: chain?.policy?.verdict ?? 'ACCEPT',
      rules: [],
    };
    if (chain?.policy) flat.policySpan = chain.policy.span;
    if (!chain) return flat;
    const size = this.size(chain, []);
    if (size === undefined) return undefined;
    if (size > MAX_FLAT_RULES_PER_CHAIN) {
      this.reportTooLarge(chain, size);
      return undefined;
    }
    this.out = [];
    const end: Label = { pos: -1 };
    this.emitChain(chain, [], end);
    end.pos = this.out.length;
    for (const { rule, label } of this.pending.splice(0)) rule.action = { kind: 'skip', to: label.pos };
    flat.rules = this.out;
    return flat;
  }

  /**
   * How many flat rules a chain expands to, or undefined after reporting a missing chain or
   * a loop. Memoised: a chain called from many places is sized once.
   */
  private size(chain: Chain, stack: string[]): number | undefined {
    const known = this.sizes.get(chain.name);
    if (known !== undefined) return known;
    if (stack.includes(chain.name)) {
      this.diagnostics.push(diag('E303', chain.span, { path: [...stack, chain.name].join(' -> ') }));
      return undefined;
    }
    let total = 0;
    for (const rule of chain.rules) {
      let per = 1;
      const target = rule.target;
      if (target?.target === 'jump') {
        const callee = this.callee(rule);
        if (!callee) return undefined;
        const inner = this.size(callee, [...stack, chain.name]);
        if (inner === undefined) return undefined;
        per += inner + (target.goto ? 1 : 0);
      }
      total += per * expansionCount(rule);
    }
    this.sizes.set(chain.name, total);
    return total;
  }

  private callee(rule: Rule): Chain | undefined {
    if (rule.target?.target !== 'jump') return undefined;
    const callee = this.byName.get(rule.target.chain);
    if (!callee) this.diagnostics.push(diag('E300', rule.target.span, { chain: rule.target.chain }));
    return callee;
  }

  private reportTooLarge(hook: Chain, size: number): void {
    // Blame the rule of the built-in chain whose jump contributes most.
    let worst: { rule: Rule; size: number } | undefined;
    for (const rule of hook.rules) {
      const callee = rule.target?.target === 'jump' ? this.byName.get(rule.target.chain) : undefined;
      const contribution = (1 + (callee ? (this.sizes.get(callee.name) ?? 0) : 0)) * expansionCount(rule);
      if (!worst || contribution > worst.size) worst = { rule, size: contribution };
    }
    const detail =
      `chain ${hook.name} expands to ${size} rules after inlining user chains and expanding ` +
      `multi-address rules (limit ${MAX_FLAT_RULES_PER_CHAIN}); this rule alone contributes ${worst?.size ?? size}`;
    this.diagnostics.push(diag('E403', worst?.rule.span ?? hook.span, { detail }));
  }

  private push(path: PathStep[], action: FlatAction, role: FlatRule['role'], counter: number | null): FlatRule {
    const rule: FlatRule = { index: this.out.length, path, action, role, counter };
    this.out.push(rule);
    return rule;
  }

  private skipTo(path: PathStep[], label: Label, role: FlatRule['role'], counter: number | null): void {
    const rule = this.push(path, { kind: 'skip', to: -1 }, role, counter);
    this.pending.push({ rule, label });
  }

  /** Emits a chain's rules with `prefix` prepended; RETURN and the chain's end go to `ret`. */
  private emitChain(chain: Chain, prefix: PathStep[], ret: Label): void {
    const bases = this.counterBase.get(chain)!;
    chain.rules.forEach((rule, i) => {
      const base = bases[i]!;
      for (const expansion of expandAddresses(rule)) {
        const path = [...prefix, { rule, chain: chain.name, ruleNumber: i + 1, expansion }];
        const counter = base + expansion.index;
        this.emitRule(rule, path, counter, ret);
      }
    });
  }

  private emitRule(rule: Rule, path: PathStep[], counter: number, ret: Label): void {
    const target = rule.target;
    if (target === null || target.target === 'LOG') {
      this.push(path, CONTINUE, 'rule', counter);
      return;
    }
    switch (target.target) {
      case 'ACCEPT':
        this.push(path, ACCEPT, 'rule', counter);
        return;
      case 'DROP':
        this.push(path, DROP, 'rule', counter);
        return;
      case 'REJECT':
        this.push(path, { kind: 'reject', with: target.with }, 'rule', counter);
        return;
      case 'RETURN':
        this.skipTo(path, ret, 'return', counter);
        return;
      case 'jump': {
        const callee = this.byName.get(target.chain)!;
        this.push(path, CONTINUE, 'jump', counter);
        if (target.goto) {
          this.emitChain(callee, path, ret);
          this.skipTo(path, ret, 'goto-end', null);
        } else {
          const after: Label = { pos: -1 };
          this.emitChain(callee, path, after);
          after.pos = this.out.length;
        }
        return;
      }
      case 'other':
        // Refused before flattening (E401); a caller that skipped the check gets a no-op rule.
        this.push(path, CONTINUE, 'rule', counter);
        return;
    }
  }
}
