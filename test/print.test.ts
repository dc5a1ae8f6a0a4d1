/** Canonical printing of whole rulesets: table blocks, chain lines, families, expansion. */
import { describe, expect, it } from 'vitest';
import type { Chain, FamilyRuleset, Rule, Ruleset, Table } from '../src/compiler/ir.js';
import { printRule, printRuleset } from '../src/compiler/print.js';
import { saveString } from '../src/compiler/print/quote.js';
import { lower, ruleOf } from './support/option-harness.js';
import { V4, V6 } from './support/words.js';

const span = { file: 't', start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 1, offset: 0 } };

function rule(text: string, family: 'ipv4' | 'ipv6' = 'ipv4'): Rule {
  return ruleOf(lower(text, family === 'ipv4' ? V4 : V6), text, true);
}

function chain(name: string, rules: Rule[], extra: Partial<Chain> = {}): Chain {
  return { kind: 'chain', name, builtin: ['INPUT', 'FORWARD', 'OUTPUT', 'PREROUTING', 'POSTROUTING'].includes(name), span, rules, ...extra };
}

function table(name: Table['name'], chains: Chain[]): Table {
  return { kind: 'table', name, span, chains };
}

function ruleset(families: FamilyRuleset[]): Ruleset {
  return { kind: 'ruleset', file: 'fw.rules', backend: 'unknown', families };
}

describe('printRuleset', () => {
  it('prints one block per table with chain lines, rules and COMMIT', () => {
    const rs = ruleset([
      {
        kind: 'family',
        family: 'ipv4',
        tables: [
          table('filter', [
            chain('INPUT', [rule('-p tcp --dport 22 -j ACCEPT'), rule('-j LOGDROP')], { policy: { verdict: 'DROP', span } }),
            chain('FORWARD', []),
            chain('OUTPUT', [], { counters: { packets: 5, bytes: 300 } }),
            chain('LOGDROP', [rule('-j LOG --log-prefix "drop: "'), rule('-j DROP')]),
          ]),
          table('nat', [chain('POSTROUTING', [])]),
        ],
      },
    ]);
    expect(printRuleset(rs)).toBe(
      [
        '# iptables-save format, printed by rejectc from fw.rules',
        '*filter',
        ':INPUT DROP [0:0]',
        ':FORWARD ACCEPT [0:0]',
        ':OUTPUT ACCEPT [5:300]',
        ':LOGDROP - [0:0]',
        '-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT',
        '-A INPUT -j LOGDROP',
        '-A LOGDROP -j LOG --log-prefix "drop: "',
        '-A LOGDROP -j DROP',
        'COMMIT',
        '*nat',
        ':POSTROUTING ACCEPT [0:0]',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it('prints IPv4 tables before IPv6 tables, each after its family header', () => {
    const v6: FamilyRuleset = { kind: 'family', family: 'ipv6', tables: [table('filter', [chain('INPUT', [rule('-p icmpv6 -j ACCEPT', 'ipv6')])])] };
    const v4: FamilyRuleset = { kind: 'family', family: 'ipv4', tables: [table('filter', [chain('INPUT', [])])] };
    const text = printRuleset(ruleset([v6, v4]));
    expect(text.split('\n')).toEqual([
      '# iptables-save format, printed by rejectc from fw.rules',
      '*filter',
      ':INPUT ACCEPT [0:0]',
      'COMMIT',
      '# ip6tables-save format, printed by rejectc from fw.rules',
      '*filter',
      ':INPUT ACCEPT [0:0]',
      '-A INPUT -p ipv6-icmp -j ACCEPT',
      'COMMIT',
      '',
    ]);
  });

  it('prints nothing for an empty ruleset', () => {
    expect(printRuleset(ruleset([]))).toBe('');
  });
});

describe('printRule', () => {
  it('expands address lists source outer, destination inner', () => {
    expect(printRule(rule('-s 192.0.2.1,192.0.2.2 -d 198.51.100.0/24,203.0.113.9 -j DROP'), 'FORWARD')).toEqual([
      '-A FORWARD -s 192.0.2.1/32 -d 198.51.100.0/24 -j DROP',
      '-A FORWARD -s 192.0.2.1/32 -d 203.0.113.9/32 -j DROP',
      '-A FORWARD -s 192.0.2.2/32 -d 198.51.100.0/24 -j DROP',
      '-A FORWARD -s 192.0.2.2/32 -d 203.0.113.9/32 -j DROP',
    ]);
  });

  it('prints rule counters when the input had them', () => {
    expect(printRule(rule('-c 3 120 -j ACCEPT'), 'INPUT')).toEqual(['[3:120] -A INPUT -j ACCEPT']);
  });

  it('prints a rule without target', () => {
    expect(printRule(rule('-i eth0'), 'INPUT')).toEqual(['-A INPUT -i eth0']);
  });
});

describe('saveString (xtables_save_string)', () => {
  it.each([
    ['abc', 'abc'],
    ['a_b-C9', 'a_b-C9'],
    ['', '""'],
    ['a b', '"a b"'],
    ['a:b', '"a:b"'],
    ['a"b', '"a\\"b"'],
    ["it's", '"it\\\'s"'],
    ['back\\slash', '"back\\\\slash"'],
    ['$x', '"$x"'],
  ])('%j -> %s', (input, expected) => {
    expect(saveString(input)).toBe(expected);
  });
});
