/**
 * Hand-made IR for the model's tests: short builders for rules and rulesets, and a tiny parser
 * for the `rule` strings of the golden files (`iptables -A INPUT -p udp -j REJECT ...`), used
 * until the front end's parseRuleset can be called instead.
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
import { defaultRejectWith } from '../src/compiler/ir.js';
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

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, 'ipv6-icmp': 58 };

/**
 * Parses the golden files' `rule` field: `;`-separated `iptables|ip6tables[-legacy] -A CHAIN`
 * commands using only `-p`, `-j ACCEPT|DROP|REJECT` and `--reject-with`.
 */
export function parseGoldenRules(text: string): FamilyRuleset {
  const chains: Record<string, { rules: Rule[] }> = {};
  let family: Family = 'ipv4';
  for (const command of text.split(' ; ')) {
    const words = command.trim().split(/\s+/);
    if (words[0]!.startsWith('ip6tables')) family = 'ipv6';
    if (words[1] !== '-A') throw new Error(`unsupported golden rule: ${command}`);
    const chain = words[2]!;
    const base: BaseMatches = {};
    let verdict: string | null = null;
    let rejectWith: RejectWith | null = null;
    for (let i = 3; i < words.length; i += 2) {
      const [option, value] = [words[i]!, words[i + 1]!];
      if (option === '-p') base.protocol = proto(PROTOCOLS[value]!);
      else if (option === '-j') verdict = value;
      else if (option === '--reject-with') rejectWith = value as RejectWith;
      else throw new Error(`unsupported option ${option} in golden rule: ${command}`);
    }
    const target =
      verdict === 'REJECT' ? reject(rejectWith ?? defaultRejectWith(family)) : verdict === 'DROP' ? drop : verdict ? accept : null;
    (chains[chain] ??= { rules: [] }).rules.push(rule(base, [], target, command.replace(/^\S+\s+/, '')));
  }
  return ruleset(family, chains);
}
