/**
 * Properties of the option level and printing (fast-check):
 * - print → lower gives back the same IR (spans aside) for generated canonical rules of both
 *   families, covering every match module and target kind the generators know;
 * - `-s a,b -d c,d` lists print as the cross product, source outer, and each line lowers to
 *   the corresponding single-address rule;
 * - lowering never throws on arbitrary words, and every diagnostic points into the words.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Family, Rule } from '../src/compiler/ir.js';
import { lowerRuleOptions, MATCHES, TARGETS } from '../src/compiler/lower/options/index.js';
import { stripSpans } from '../src/compiler/lower/same-rule.js';
import type { RuleContext } from '../src/compiler/lower/words.js';
import { printRule } from '../src/compiler/print.js';
import { arbRule } from './support/arbitrary-ir.js';
import { splitWords } from './support/words.js';

const CHAIN = 'custom';
const ctx = (family: Family): RuleContext => ({ family, table: 'filter', chain: CHAIN, backend: 'unknown' });

function relower(line: string, family: Family) {
  const prefix = `-A ${CHAIN}`;
  expect(line.startsWith(prefix)).toBe(true);
  return lowerRuleOptions(splitWords(line.slice(prefix.length)), ctx(family));
}

function ir(rule: Pick<Rule, 'base' | 'matches' | 'target'>) {
  return stripSpans({ base: rule.base, matches: rule.matches, target: rule.target });
}

describe.each(['ipv4', 'ipv6'] as const)('%s', (family) => {
  it('print → lower is the identity on canonical rules', () => {
    fc.assert(
      fc.property(arbRule(family), (rule) => {
        const lines = printRule(rule, CHAIN, family);
        expect(lines).toHaveLength(1);
        const back = relower(lines[0]!, family);
        expect(back.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.code} ${d.message}`), lines[0]).toEqual([]);
        expect(ir(back), lines[0]).toEqual(ir(rule));
      }),
      { numRuns: 200 },
    );
  });

  it('address lists print as their cross product, source outer', () => {
    fc.assert(
      fc.property(arbRule(family, 3), (rule) => {
        const lines = printRule(rule, CHAIN, family);
        const srcs = rule.base.src?.addresses ?? [undefined];
        const dsts = rule.base.dst?.addresses ?? [undefined];
        expect(lines).toHaveLength(srcs.length * dsts.length);
        lines.forEach((line, i) => {
          const back = relower(line, family);
          expect(back.base.src?.addresses ?? [undefined]).toEqual([srcs[Math.floor(i / dsts.length)]]);
          expect(back.base.dst?.addresses ?? [undefined]).toEqual([dsts[i % dsts.length]]);
        });
      }),
      { numRuns: 60 },
    );
  });
});

const OPTION_WORDS = [
  '-p', 'tcp', 'udp', '6', '!', '-s', '-d', '-i', '-o', '-m', '-j', '-g', '-f', '-c', '--dport', '--sport', '--syn', '--tcp-flags',
  'tcp', 'multiport', 'state', 'conntrack', 'limit', 'hashlimit', '--hashlimit-upto', '--hashlimit-name', '--limit', 'REJECT', 'LOG',
  '--reject-with', '--log-prefix', '--state', 'NEW,ESTABLISHED', '1.2.3.4/24', '2001:db8::/32', '22:80', 'ACCEPT', 'DNAT',
  '--to-destination', 'recent', '--set', '--name', '--mask', 'icmp', '--icmp-type', 'any', 'set', '--match-set', 'src,dst', '=', '',
  // Every extension name and every option name the option level knows.
  ...MATCHES.map((m) => m.name),
  ...TARGETS.map((t) => t.name),
  ...[...MATCHES, ...TARGETS].flatMap((spec) => spec.options.flatMap((o) => o.names.map((n) => `--${n}`))),
];

describe('robustness', () => {
  it('never throws, and diagnostics point into the words', () => {
    const word = fc.oneof(fc.constantFrom(...OPTION_WORDS), fc.string({ maxLength: 12 }), fc.constantFrom('--dport=22', '-ptcp', '-s1.2.3.4', '--log-level', '5/sec'));
    fc.assert(
      fc.property(fc.array(word, { maxLength: 14 }), fc.constantFrom<Family>('ipv4', 'ipv6'), (ws, family) => {
        const text = ws.map((w) => (w === '' || /\s|"|'/.test(w) ? `"${w.replace(/["\\]/g, '\\$&')}"` : w)).join(' ');
        const words = splitWords(text);
        const r = lowerRuleOptions(words, { family, table: 'filter', chain: 'INPUT', backend: 'unknown' });
        for (const d of r.diagnostics) {
          expect(d.span.start.offset).toBeGreaterThanOrEqual(0);
          expect(d.span.end.offset).toBeLessThanOrEqual(text.length);
          expect(d.span.start.offset).toBeLessThanOrEqual(d.span.end.offset);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
