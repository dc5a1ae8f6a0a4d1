/**
 * Test helper for the option level: lowers one rule's option text and prints it back as
 * iptables-save would (`-A CHAIN ...` lines), or returns the diagnostics.
 */
import { lowerRuleOptions } from '../../src/compiler/lower/options/index.js';
import type { LoweredRuleOptions, RuleContext } from '../../src/compiler/lower/words.js';
import { printRule } from '../../src/compiler/print.js';
import type { Rule } from '../../src/compiler/ir.js';
import { splitWords, V4 } from './words.js';

export function lower(text: string, ctx: RuleContext = V4): LoweredRuleOptions {
  return lowerRuleOptions(splitWords(text), ctx);
}

export function ruleOf(r: LoweredRuleOptions, source = '', withCounters = false): Rule {
  const span = { file: 'test.rules', start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 1, offset: 0 } };
  const rule: Rule = { kind: 'rule', span, source, base: r.base, matches: r.matches, target: r.target };
  if (withCounters && r.counters) rule.counters = r.counters;
  return rule;
}

/** The canonical text of a rule's options (without `-A CHAIN `), lines joined by ` | `. */
export function canon(text: string, ctx: RuleContext = V4): string {
  const r = lower(text, ctx);
  const errors = r.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new Error(`unexpected errors for "${text}": ${errors.map((d) => `${d.code} ${d.message}`).join('; ')}`);
  const prefix = `-A ${ctx.chain}`;
  return printRule(ruleOf(r, text), ctx.chain, ctx.family)
    .map((l) => (l === prefix ? '' : l.slice(prefix.length + 1)))
    .join(' | ');
}

/** The error codes a rule's options produce (empty when valid). */
export function errors(text: string, ctx: RuleContext = V4): string[] {
  return lower(text, ctx).diagnostics.filter((d) => d.severity === 'error').map((d) => d.code);
}

export function warnings(text: string, ctx: RuleContext = V4): string[] {
  return lower(text, ctx).diagnostics.filter((d) => d.severity === 'warning').map((d) => d.code);
}
