import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { flattenRuleset, MAX_FLAT_RULES_PER_CHAIN, type FlatChain } from '../src/compiler/flatten/index.js';
import type { Chain, Rule } from '../src/compiler/ir.js';
import { chain, family, rule } from './compile-support.js';

/** Compact view of a flat chain: "source text:action" per rule. */
function view(flat: FlatChain): string[] {
  return flat.rules.map((r) => {
    const last = r.path[r.path.length - 1]!;
    const a = r.action;
    const act = a.kind === 'skip' ? `skip${a.to}` : a.kind === 'reject' ? `reject(${a.with})` : a.kind;
    return `${r.role === 'goto-end' ? `end-of-goto(${last.rule.source})` : last.rule.source}:${act}`;
  });
}

function flatInput(chains: Chain[]) {
  const result = flattenRuleset([family('ipv4', chains)]);
  expect(result.diagnostics).toEqual([]);
  return result.flat.chains.find((c) => c.chain === 'INPUT')!;
}

describe('flatten', () => {
  it('keeps a built-in chain in order with its policy', () => {
    const input = flatInput([
      chain('INPUT', [rule({ text: 'a', target: 'ACCEPT' }), rule({ text: 'b', target: 'LOG' }), rule({ text: 'c', target: { reject: 'tcp-reset' } })], 'DROP'),
    ]);
    expect(view(input)).toEqual(['a:accept', 'b:continue', 'c:reject(tcp-reset)']);
    expect(input.policy).toBe('DROP');
  });

  it('inlines a jump: the jump rule counts, RETURN continues after the block', () => {
    const input = flatInput([
      chain('INPUT', [rule({ text: 'j', target: { jump: 'C' } }), rule({ text: 'x', target: 'ACCEPT' })]),
      chain('C', [rule({ text: 'c1', target: 'RETURN' }), rule({ text: 'c2', target: 'DROP' })]),
    ]);
    expect(view(input)).toEqual(['j:continue', 'c1:skip3', 'c2:drop', 'x:accept']);
    expect(input.rules[1]!.path.map((p) => p.rule.source)).toEqual(['j', 'c1']);
    expect(input.rules[0]!.role).toBe('jump');
  });

  it('resolves goto: falling off or RETURN goes back to where the caller of the caller continues', () => {
    const input = flatInput([
      chain('INPUT', [rule({ text: 'a', target: { jump: 'B' } }), rule({ text: 'x', target: 'ACCEPT' })]),
      chain('B', [rule({ text: 'b1', target: { goto: 'C' } }), rule({ text: 'b2', target: 'DROP' })]),
      chain('C', [rule({ text: 'c1', target: 'RETURN' }), rule({ text: 'c2', target: 'LOG' })]),
    ]);
    expect(view(input)).toEqual([
      'a:continue',
      'b1:continue',
      'c1:skip6',
      'c2:continue',
      'end-of-goto(b1):skip6',
      'b2:drop',
      'x:accept',
    ]);
    expect(input.rules[4]!.counter).toBeNull();
  });

  it('a RETURN in a built-in chain and a goto from it end at the policy', () => {
    const input = flatInput([
      chain('INPUT', [rule({ text: 'r', target: 'RETURN' }), rule({ text: 'g', target: { goto: 'C' } })]),
      chain('C', [rule({ text: 'c', target: 'RETURN' })]),
    ]);
    expect(view(input)).toEqual(['r:skip4', 'g:continue', 'c:skip4', 'end-of-goto(g):skip4']);
  });

  it('expands multi-address rules source outer, each copy with its own counter', () => {
    const input = flatInput([chain('INPUT', [rule({ text: 'm', src: ['192.0.2.1', '192.0.2.2'], dst: ['198.51.100.0/24', '203.0.113.7'] })])]);
    expect(input.rules.map((r) => [r.path[0]!.expansion.src!.address, r.path[0]!.expansion.dst!.address])).toEqual([
      ['192.0.2.1', '198.51.100.0'],
      ['192.0.2.1', '203.0.113.7'],
      ['192.0.2.2', '198.51.100.0'],
      ['192.0.2.2', '203.0.113.7'],
    ]);
    expect(input.rules.map((r) => r.counter)).toEqual([0, 1, 2, 3]);
  });

  it('inlines a chain once per copy of a multi-address jump, sharing the callee counters', () => {
    const input = flatInput([
      chain('INPUT', [rule({ text: 'j', src: ['192.0.2.1', '192.0.2.0/24'], target: { jump: 'C' } })]),
      chain('C', [rule({ text: 'c', target: 'LOG' })]),
    ]);
    expect(view(input)).toEqual(['j:continue', 'c:continue', 'j:continue', 'c:continue']);
    expect(input.rules.map((r) => r.counter)).toEqual([0, 2, 1, 2]);
  });

  it('refuses a ruleset that expands past the bound with E403 on the responsible rule', () => {
    // Each level jumps twice to the next: 2^20 copies of the last chain.
    const chains: Chain[] = [];
    for (let i = 0; i < 20; i++) {
      chains.push(chain(i === 0 ? 'INPUT' : `C${i}`, [rule({ target: { jump: `C${i + 1}` } }), rule({ target: { jump: `C${i + 1}` } })]));
    }
    chains.push(chain('C20', [rule({ target: 'DROP' })]));
    const result = flattenRuleset([family('ipv4', chains)]);
    expect(result.diagnostics.map((d) => d.code)).toEqual(['E403']);
    expect(result.diagnostics[0]!.message).toMatch(new RegExp(`limit ${MAX_FLAT_RULES_PER_CHAIN}`));
  });

  it('reports a jump to a missing chain and a loop instead of recursing', () => {
    const missing = flattenRuleset([family('ipv4', [chain('INPUT', [rule({ target: { jump: 'NOPE' } })])])]);
    expect(missing.diagnostics.map((d) => d.code)).toEqual(['E300']);
    const loop = flattenRuleset([
      family('ipv4', [chain('INPUT', [rule({ target: { jump: 'A' } })]), chain('A', [rule({ target: { jump: 'B' } })]), chain('B', [rule({ target: { goto: 'A' } })])]),
    ]);
    expect(loop.diagnostics.map((d) => d.code)).toEqual(['E303']);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: the flat list's first-match evaluation equals iptables' stack-machine walk, with
// rule matching abstracted to "which rules match this packet" (a random set of rules).

interface Abstract {
  chains: Chain[];
  rules: Rule[];
}

const arbAbstract: fc.Arbitrary<Abstract> = fc
  .record({
    sizes: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 5 }),
    picks: fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 4 })), { minLength: 30, maxLength: 30 }),
  })
  .map(({ sizes, picks }) => {
    // Chain i may only call chains j > i: no loops.
    const names = sizes.map((_, i) => (i === 0 ? 'INPUT' : `U${i}`));
    const all: Rule[] = [];
    let k = 0;
    const chains = sizes.map((n, i) =>
      chain(
        names[i]!,
        Array.from({ length: n }, () => {
          const [kind, to] = picks[k++ % picks.length]!;
          const callee = i + 1 + (to % Math.max(1, sizes.length - i - 1));
          const canCall = callee < sizes.length;
          const t =
            kind <= 1 ? 'ACCEPT' : kind === 2 ? 'DROP' : kind === 3 ? 'LOG' : kind === 4 ? 'RETURN' : kind === 5 ? null
              : kind <= 7 && canCall ? { jump: names[callee]! } : canCall ? { goto: names[callee]! } : 'DROP';
          const r = rule({ target: t as never });
          all.push(r);
          return r;
        }),
        i === 0 ? 'DROP' : undefined,
      ),
    );
    return { chains, rules: all };
  });

function walk(chains: Chain[], matching: Set<Rule>): { verdict: string; counted: Rule[] } {
  const byName = new Map(chains.map((c) => [c.name, c]));
  const stack: { chain: Chain; i: number }[] = [];
  let frame = { chain: byName.get('INPUT')!, i: 0 };
  const counted: Rule[] = [];
  for (;;) {
    const r = frame.chain.rules[frame.i];
    if (!r) {
      const back = stack.pop();
      if (!back || frame.chain.name === 'INPUT') return { verdict: 'policy', counted };
      frame = { chain: back.chain, i: back.i + 1 };
      continue;
    }
    if (!matching.has(r)) {
      frame = { ...frame, i: frame.i + 1 };
      continue;
    }
    counted.push(r);
    const t = r.target;
    if (!t || t.target === 'LOG') frame = { ...frame, i: frame.i + 1 };
    else if (t.target === 'ACCEPT' || t.target === 'DROP') return { verdict: t.target, counted };
    else if (t.target === 'RETURN') {
      const back = stack.pop();
      if (!back) return { verdict: 'policy', counted };
      frame = { chain: back.chain, i: back.i + 1 };
    } else if (t.target === 'jump') {
      if (!t.goto) stack.push(frame);
      frame = { chain: byName.get(t.chain)!, i: 0 };
    }
  }
}

function runFlat(flat: FlatChain, matching: Set<Rule>): { verdict: string; counted: Rule[] } {
  const counted: Rule[] = [];
  let i = 0;
  while (i < flat.rules.length) {
    const r = flat.rules[i]!;
    if (!r.path.every((p) => matching.has(p.rule))) {
      i++;
      continue;
    }
    if (r.counter !== null) counted.push(r.path[r.path.length - 1]!.rule);
    const a = r.action;
    if (a.kind === 'continue') i++;
    else if (a.kind === 'skip') i = a.to;
    else return { verdict: a.kind.toUpperCase(), counted };
  }
  return { verdict: 'policy', counted };
}

describe('flatten property', () => {
  it('first match over the flat list equals the iptables walk, counters included', () => {
    fc.assert(
      fc.property(arbAbstract, fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }), ({ chains, rules }, bits) => {
        const matching = new Set(rules.filter((_, i) => bits[i % bits.length]));
        const result = flattenRuleset([family('ipv4', chains)]);
        const input = result.flat.chains.find((c) => c.chain === 'INPUT')!;
        expect(runFlat(input, matching)).toEqual(walk(chains, matching));
      }),
      { numRuns: 500 },
    );
  });
});
