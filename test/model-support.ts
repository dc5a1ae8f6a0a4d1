/**
 * Hand-made IR for the model's tests: short builders for rules and rulesets, so that each test
 * states exactly the IR it evaluates (independent of the front end).
 */
import type {
  Chain,
  FamilyRuleset,
  Family,
  Match,
  Policy,
  RejectWith,
  Rule,
  Target,
  BaseMatches,
} from '../src/compiler/ir.js';
import type { Span } from '../src/compiler/span.js';

export const SPAN: Span = { file: 'test.rules', start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 1, offset: 0 } };

/** A rule; `source` defaults to a readable summary. */
export function rule(base: BaseMatches, matches: Match[], target: Target | null, source = 'rule'): Rule {
  return { kind: 'rule', span: SPAN, source, base, matches, target };
}

export const accept: Target = { kind: 'target', span: SPAN, target: 'ACCEPT' };
export const drop: Target = { kind: 'target', span: SPAN, target: 'DROP' };
export const ret: Target = { kind: 'target', span: SPAN, target: 'RETURN' };
export const log: Target = { kind: 'target', span: SPAN, target: 'LOG' };

export function reject(withType: RejectWith): Target {
  return { kind: 'target', span: SPAN, target: 'REJECT', with: withType };
}

export function jump(chain: string, goto = false): Target {
  return { kind: 'target', span: SPAN, target: 'jump', chain, goto };
}

export function proto(protocol: number, negated = false): BaseMatches['protocol'] {
  return { negated, protocol, span: SPAN };
}

export function addrs(list: string[], negated = false): NonNullable<BaseMatches['src']> {
  return {
    negated,
    span: SPAN,
    addresses: list.map((a) => {
      const [address, prefix] = a.split('/');
      return { address: address!, prefix: prefix ? Number(prefix) : address!.includes(':') ? 128 : 32 };
    }),
  };
}

export function neg<T>(value: T, negated = false): { value: T; negated: boolean; span: Span } {
  return { value, negated, span: SPAN };
}

/** A filter-table ruleset: built-in chains in kernel order first, then user chains. */
export function ruleset(
  family: Family,
  chains: Record<string, { policy?: Policy; rules: Rule[] }>,
): FamilyRuleset {
  const builtin = ['INPUT', 'FORWARD', 'OUTPUT'];
  const names = [...builtin, ...Object.keys(chains).filter((n) => !builtin.includes(n))];
  const list: Chain[] = names.map((name) => {
    const c = chains[name] ?? { rules: [] };
    const isBuiltin = builtin.includes(name);
    return {
      kind: 'chain',
      name,
      builtin: isBuiltin,
      ...(isBuiltin && c.policy ? { policy: { verdict: c.policy, span: SPAN } } : {}),
      span: SPAN,
      rules: c.rules,
    };
  });
  return { kind: 'family', family, tables: [{ kind: 'table', name: 'filter', span: SPAN, chains: list }] };
}
