/**
 * Ruleset structure checks (src/compiler/check/structure.ts) with iptables' own reasons:
 * REJECT only in filter and only from INPUT/FORWARD/OUTPUT, loops reachable from a built-in
 * chain, jumps to missing or built-in chains. Checked on parsed input and on hand-made IR.
 */
import { describe, expect, it } from 'vitest';
import { checkStructure } from '../src/compiler/check/structure.js';
import { parseRuleset } from '../src/compiler/frontend.js';
import type { Ruleset, Table } from '../src/compiler/ir.js';

function parse(text: string) {
  return parseRuleset(text, 'rules');
}

function codes(text: string): string[] {
  return parse(text).diagnostics.map((d) => `${d.span.start.line}:${d.span.start.column} ${d.code} ${d.message}`);
}

function filterOf(r: Ruleset): Table {
  return r.families[0]!.tables.find((t) => t.name === 'filter')!;
}

describe('REJECT placement', () => {
  it.each(['nat', 'mangle', 'raw', 'security'])('refuses REJECT in the %s table (E304 at the target)', (table) => {
    const chain = table === 'raw' ? 'PREROUTING' : table === 'nat' ? 'PREROUTING' : 'INPUT';
    expect(codes(`*${table}\n-A ${chain} -j REJECT\nCOMMIT\n`)).toEqual([
      `2:${chain.length + 5} E304 REJECT is only valid in the filter table, not in "${table}"`,
    ]);
  });

  it('accepts REJECT in INPUT, FORWARD, OUTPUT and user chains reached from them', () => {
    const text = '*filter\n:u - [0:0]\n:unused - [0:0]\n-A INPUT -j u\n-A FORWARD -j REJECT\n-A OUTPUT -j REJECT\n-A u -j REJECT\n-A unused -j REJECT\nCOMMIT\n';
    expect(codes(text)).toEqual([]);
  });

  it('refuses REJECT in a user chain reached from a hook other than INPUT/FORWARD/OUTPUT (E305)', () => {
    // The filter table has no such hook; build the IR by hand to exercise the check.
    const r = parse('*filter\n:u - [0:0]\n-A INPUT -j u\n-A u -j REJECT\nCOMMIT\n').ruleset;
    const filter = filterOf(r);
    const u = filter.chains.find((c) => c.name === 'u')!;
    const input = filter.chains[0]!;
    filter.chains.push({ ...input, name: 'PREROUTING', rules: [input.rules[0]!] });
    const d = checkStructure(r);
    expect(d.map((x) => [x.code, x.message])).toEqual([
      ['E305', 'REJECT is only valid in INPUT, FORWARD and OUTPUT (and user chains reached only from them); chain "u" is reached from PREROUTING'],
    ]);
    expect(d[0]!.span).toEqual(u.rules[0]!.target!.span);
  });
});

describe('chain loops', () => {
  it('refuses a loop reachable from a built-in chain, at the jump that closes it, with the path', () => {
    const text = '*filter\n:a - [0:0]\n:b - [0:0]\n-A INPUT -j a\n-A a -j b\n-A b -g a\nCOMMIT\n';
    expect(codes(text)).toEqual(['6:6 E303 chain loop: INPUT -> a -> b -> a']);
  });

  it('refuses a chain jumping to itself when reachable', () => {
    expect(codes('*filter\n:a - [0:0]\n-A a -j a\n-A OUTPUT -j a\nCOMMIT\n')).toEqual(['3:6 E303 chain loop: OUTPUT -> a -> a']);
  });

  it('accepts a loop no built-in chain reaches (both iptables back ends do)', () => {
    expect(codes('*filter\n:a - [0:0]\n:b - [0:0]\n-A a -j b\n-A b -j a\nCOMMIT\n')).toEqual([]);
  });

  it('accepts a diamond (two paths to one chain are no loop)', () => {
    const text = '*filter\n:a - [0:0]\n:b - [0:0]\n:c - [0:0]\n-A INPUT -j a\n-A INPUT -j b\n-A a -j c\n-A b -j c\n-A FORWARD -j c\nCOMMIT\n';
    expect(codes(text)).toEqual([]);
  });

  it('reports each loop once even when several built-in chains reach it', () => {
    const text = '*filter\n:a - [0:0]\n-A INPUT -j a\n-A FORWARD -j a\n-A a -j a\nCOMMIT\n';
    expect(codes(text)).toEqual(['5:6 E303 chain loop: INPUT -> a -> a']);
  });
});

describe('jumps in hand-made IR', () => {
  it('E300 for a jump to a chain the table does not have, E316 for a jump to a built-in chain', () => {
    const r = parse('*filter\n:a - [0:0]\n-A INPUT -j a\n-A OUTPUT -j a\nCOMMIT\n').ruleset;
    const filter = filterOf(r);
    filter.chains = filter.chains.filter((c) => c.name !== 'a');
    const out = filter.chains.find((c) => c.name === 'OUTPUT')!;
    if (out.rules[0]!.target?.target === 'jump') out.rules[0]!.target.chain = 'INPUT';
    expect(checkStructure(r).map((d) => `${d.span.start.line} ${d.code} ${d.message}`)).toEqual([
      '3 E300 chain "a" does not exist',
      '4 E316 cannot jump to built-in chain "INPUT": only user-defined chains can be jump targets',
    ]);
  });
});

describe('determinism', () => {
  it('gives the same diagnostics for the same IR, every time', () => {
    const text = '*filter\n:a - [0:0]\n:b - [0:0]\n-A INPUT -j a\n-A a -j b\n-A b -j a\n-A b -j INPUT\nCOMMIT\n*nat\n-A OUTPUT -j REJECT\nCOMMIT\n';
    const { ruleset } = parse(text);
    const first = checkStructure(ruleset);
    expect(first.length).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) expect(checkStructure(structuredClone(ruleset))).toEqual(first);
  });
});
