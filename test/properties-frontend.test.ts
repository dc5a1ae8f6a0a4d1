/**
 * Properties of the front end (fast-check):
 * - parse(print(ir)) == ir (spans and source text aside) for generated rulesets: both
 *   families, all tables, policies, counters, user chains, jumps and gotos, several rule shapes;
 * - the parser never throws on arbitrary text in either form, and its diagnostics point into
 *   the text;
 * - parsing and checking are deterministic.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkStructure } from '../src/compiler/check/structure.js';
import { parseRuleset } from '../src/compiler/frontend.js';
import { BUILTIN_CHAINS, type Family, type TableName } from '../src/compiler/ir.js';
import { equalIgnoringSpans, stripSpans } from '../src/compiler/lower/same-rule.js';
import { MESSAGES } from '../src/compiler/messages.js';
import { printRuleset } from '../src/compiler/print.js';
import type { Chain, FamilyRuleset, Rule, Ruleset, Table } from '../src/compiler/ir.js';
import { arbRule, SPAN } from './support/arbitrary-ir.js';

// ---------------------------------------------------------------------------------------------
// Generated rulesets, as iptables-save text (their IR is what parsing that text gives).

const USER_CHAINS = ['a', 'b', 'web-in', 'LOGDROP', 'x_1', 'ufw-user-input', 'Z9', 'syn-flood'];
const counters = fc.tuple(fc.nat(1_000_000), fc.nat(1_000_000_000)).map(([p, b]) => `[${p}:${b}]`);

function address(family: Family) {
  return family === 'ipv4'
    ? fc.tuple(fc.constantFrom('192.0.2.0', '198.51.100.7', '203.0.113.128', '10.0.0.0'), fc.constantFrom(32, 24, 25, 8)).map(([a, p]) => `${a}/${p}`)
    : fc.tuple(fc.constantFrom('2001:db8::', '2001:db8:1::1', 'fe80::'), fc.constantFrom(128, 64, 48, 10)).map(([a, p]) => `${a}/${p}`);
}

/**
 * Rule options that the option level reads back to themselves (no lists that print expands),
 * as fragments; `-i` / `-o` are dropped later where iptables refuses them.
 */
function ruleBody(family: Family) {
  const port = fc.integer({ min: 1, max: 65535 });
  const fragment = fc.oneof(
    address(family).map((a) => `-s ${a}`),
    address(family).map((a) => `! -d ${a}`),
    fc.constantFrom('-i eth0', '-o wlan+', '! -i lo'),
    port.map((p) => `-p tcp -m tcp --dport ${p}`),
    fc.tuple(port, port).map(([x, y]) => `-p udp -m udp --sport ${Math.min(x, y)}:${Math.max(x, y)}`),
  );
  const option = (s: string) => s.split(' ')[s.startsWith('!') ? 1 : 0];
  return fc.uniqueArray(fragment, { maxLength: 2, selector: option }).map((parts) => {
    // At most one -p: keep the first protocol fragment.
    const out: string[] = [];
    let proto = false;
    for (const p of parts) {
      const isProto = p.startsWith('-p ');
      if (isProto && proto) continue;
      proto ||= isProto;
      out.push(p);
    }
    return out;
  });
}

/** iptables refuses `-o` where packets have no output interface yet, `-i` where they have no input one. */
function allowedIn(chain: string, fragment: string): boolean {
  const incoming = chain === 'PREROUTING' || chain === 'INPUT';
  const outgoing = chain === 'POSTROUTING' || chain === 'OUTPUT';
  if (incoming && fragment.includes('-o ')) return false;
  if (outgoing && fragment.includes('-i ')) return false;
  return true;
}

interface GenTable {
  name: TableName;
  policies: ('ACCEPT' | 'DROP')[];
  users: string[];
  rules: { chain: number; body: string; target: string; counters: string | null }[];
}

function table(family: Family, name: TableName): fc.Arbitrary<GenTable> {
  const builtins = BUILTIN_CHAINS[name];
  return fc
    .record({
      policies: fc.array(fc.constantFrom('ACCEPT' as const, 'DROP' as const), { minLength: builtins.length, maxLength: builtins.length }),
      users: fc.uniqueArray(fc.constantFrom(...USER_CHAINS), { maxLength: 4 }),
      rules: fc.array(
        fc.record({ chain: fc.nat(20), body: ruleBody(family), target: fc.nat(20), kind: fc.nat(5), counters: fc.option(counters) }),
        { maxLength: 8 },
      ),
    })
    .map(({ policies, users, rules }) => {
      const chains = [...builtins, ...users];
      return {
        name,
        policies,
        users,
        rules: rules.map((r) => {
          const chain = r.chain % chains.length;
          // Jumps only go to user chains declared after the current one: no loops.
          const later = users.filter((_, i) => builtins.length + i > chain);
          let target: string;
          if (r.kind === 0 && later.length > 0) target = `-j ${later[r.target % later.length]}`;
          else if (r.kind === 1 && later.length > 0) target = `-g ${later[r.target % later.length]}`;
          else if (r.kind === 2 && name === 'filter') target = family === 'ipv4' ? '-j REJECT --reject-with icmp-host-prohibited' : '-j REJECT --reject-with icmp6-adm-prohibited';
          else target = ['-j ACCEPT', '-j DROP', '-j RETURN', ''][r.target % 4]!;
          return { chain, body: r.body.filter((f) => allowedIn(chains[chain]!, f)).join(' '), target, counters: r.counters };
        }),
      };
    });
}

function familyText(family: Family, tables: GenTable[]): string {
  const out = [`# Generated by ${family === 'ipv4' ? 'iptables' : 'ip6tables'}-save v1.8.9 (nf_tables) on a day`];
  for (const t of tables) {
    const builtins = BUILTIN_CHAINS[t.name];
    const chains = [...builtins, ...t.users];
    out.push(`*${t.name}`);
    builtins.forEach((c, i) => out.push(`:${c} ${t.policies[i]} [0:0]`));
    for (const u of t.users) out.push(`:${u} - [0:0]`);
    for (const r of t.rules) {
      const words = [r.counters, '-A', chains[r.chain], r.body, r.target].filter((w) => w);
      out.push(words.join(' '));
    }
    out.push('COMMIT');
  }
  return `${out.join('\n')}\n`;
}

const TABLES: TableName[] = ['filter', 'nat', 'mangle', 'raw'];

function familyTables(family: Family) {
  return fc.uniqueArray(fc.constantFrom(...TABLES), { minLength: 1, maxLength: 4 }).chain((names) => fc.tuple(...names.map((n) => table(family, n))));
}

/** One or both families, as the text of concatenated iptables-save and ip6tables-save output. */
const saveText = fc
  .record({ v4: fc.option(familyTables('ipv4'), { nil: undefined }), v6: fc.option(familyTables('ipv6'), { nil: undefined }) })
  .filter((r) => r.v4 !== undefined || r.v6 !== undefined)
  .map((r) => (r.v4 ? familyText('ipv4', r.v4) : '') + (r.v6 ? familyText('ipv6', r.v6) : ''));

describe('parse(print(ir)) == ir', () => {
  it('the generator makes non-trivial rulesets (rules, jumps, both families)', () => {
    const samples = fc.sample(saveText, { numRuns: 200, seed: 42 }).map((t) => parseRuleset(t, 'g').ruleset);
    const rules = samples.flatMap((r) => r.families.flatMap((f) => f.tables.flatMap((t) => t.chains.flatMap((c) => c.rules))));
    expect(rules.length).toBeGreaterThan(500);
    expect(rules.some((r) => r.target?.target === 'jump' && r.target.goto)).toBe(true);
    expect(rules.some((r) => r.target?.target === 'REJECT')).toBe(true);
    expect(rules.some((r) => r.counters !== undefined)).toBe(true);
    expect(samples.some((r) => r.families.length === 2)).toBe(true);
  });

  it('holds for generated rulesets (spans and source text aside)', () => {
    fc.assert(
      fc.property(saveText, (text) => {
        const first = parseRuleset(text, 'gen.rules');
        expect(first.diagnostics).toEqual([]);
        const printed = printRuleset(first.ruleset);
        const second = parseRuleset(printed, 'gen.rules');
        expect(second.diagnostics).toEqual([]);
        // The back end is said by the generated header only; print does not repeat it.
        const a = { ...stripSpans(first.ruleset), backend: 'unknown' };
        const b = stripSpans(second.ruleset);
        expect(b).toEqual(a);
        expect(equalIgnoringSpans(second.ruleset.families, first.ruleset.families)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('printing is a fixed point after one round', () => {
    fc.assert(
      fc.property(saveText, (text) => {
        const once = printRuleset(parseRuleset(text, 'gen.rules').ruleset);
        expect(printRuleset(parseRuleset(once, 'gen.rules').ruleset)).toBe(once);
      }),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Generated IR (the option level's canonical rule generators) → print → parse.

/** The table a generated rule's target may live in (iptables restricts some targets). */
function tableFor(rule: Rule): TableName {
  const t = rule.target;
  if (t?.target === 'other' && (t.name === 'NOTRACK' || t.name === 'TRACE')) return 'raw';
  if (t?.target === 'other' && t.name === 'MARK') return 'mangle';
  return 'filter';
}

/**
 * A canonical ruleset IR: every built-in chain with its policy and counters, user chains u0..u3
 * holding generated rules, jumps retargeted to a later user chain (no loops) or dropped.
 */
function arbRulesetIr(family: Family): fc.Arbitrary<Ruleset> {
  return fc.array(fc.tuple(arbRule(family), fc.nat(3), fc.nat(3)), { maxLength: 12 }).map((items) => {
    const tables = new Map<TableName, Table>();
    const tableOf = (name: TableName): Table => {
      let t = tables.get(name);
      if (!t) {
        const builtins: Chain[] = BUILTIN_CHAINS[name].map((c) => ({ kind: 'chain', name: c, builtin: true, policy: { verdict: 'ACCEPT', span: SPAN }, counters: { packets: 0, bytes: 0 }, span: SPAN, rules: [] }));
        const users: Chain[] = [0, 1, 2, 3].map((i) => ({ kind: 'chain', name: `u${i}`, builtin: false, counters: { packets: 0, bytes: 0 }, span: SPAN, rules: [] }));
        t = { kind: 'table', name, span: SPAN, chains: [...builtins, ...users] };
        tables.set(name, t);
      }
      return t;
    };
    for (const [rule, at, to] of items) {
      const t = tableOf(tableFor(rule));
      const users = t.chains.filter((c) => !c.builtin);
      const target = rule.target;
      if (target?.target === 'jump') {
        if (at >= 3) continue;
        target.chain = `u${at + 1 + (to % (3 - at))}`;
      }
      users[at]!.rules.push(rule);
    }
    const fam: FamilyRuleset = { kind: 'family', family, tables: [...tables.values()] };
    return { kind: 'ruleset', file: 'gen.rules', backend: 'unknown', families: fam.tables.length > 0 ? [fam] : [] };
  });
}

describe('parse(print(ir)) == ir with generated IR', () => {
  it.each<Family>(['ipv4', 'ipv6'])('%s: any canonical rule of the option level, in user chains of their tables', (family) => {
    fc.assert(
      fc.property(arbRulesetIr(family), (ir) => {
        const printed = printRuleset(ir);
        const back = parseRuleset(printed, 'gen.rules');
        expect(back.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
        expect(stripSpans(back.ruleset)).toEqual(stripSpans(ir));
      }),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Arbitrary text.

const PIECES = [
  '*filter', '*nat', '*bogus', ':INPUT', ':x', 'ACCEPT', 'DROP', '-', '[0:0]', '[1:2]x', 'COMMIT', '-A', '-I', '-D', '-R', '-N',
  '-X', '-P', '-F', '-E', '-t', 'nat', 'INPUT', 'x', '1', '0', '99999999999', '-j', '-g', '-p', 'tcp', '--dport', '!', '-s',
  '192.0.2.1', '2001:db8::1', '-m', 'comment', '--comment', '"', "'", '"a b"', '\\', '\\\n', '$X', '${Y}', '$(z)', '`w`', '#',
  '# c', ';', '&&', '||', '|', '&', '>', '2>&1', 'iptables', 'ip6tables', '$IPT', 'sudo', 'root@h:~#', 'echo', 'if', 'then',
  'fi', '\t', ' ', '\r', '\n', '\r\n', '\u00e9', '\u0000', 'REJECT', '--reject-with', 'tcp-reset', '-c', '--table=nat', '--constructor', '--__proto__', '-_', '--toString=1',
];
const noise = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 6 })), fc.constantFrom(' ', ' ', '\n', '')), { maxLength: 60 })
  .map((ps) => ps.map(([piece, sep]) => piece + sep).join(''));

function assertWellFormed(text: string, form?: 'save' | 'script') {
  const r = parseRuleset(text, 'noise', form ? { form } : {});
  for (const d of r.diagnostics) {
    expect(d.span.start.offset).toBeGreaterThanOrEqual(0);
    expect(d.span.start.offset).toBeLessThanOrEqual(d.span.end.offset);
    expect(d.span.end.offset).toBeLessThanOrEqual(text.length);
    // Every placeholder of the message template was filled (unless the input itself says "{x}").
    for (const hole of MESSAGES[d.code].text.match(/\{\w+\}/g) ?? []) {
      if (!text.includes(hole)) expect(d.message).not.toContain(hole);
    }
  }
  return r;
}

describe('the parser never throws', () => {
  it('on arbitrary strings, in both forms', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        assertWellFormed(text);
        assertWellFormed(text, 'save');
        assertWellFormed(text, 'script');
      }),
      { numRuns: 300 },
    );
  });

  it('on token soup made of the grammar’s own pieces, in both forms', () => {
    fc.assert(
      fc.property(noise, (text) => {
        assertWellFormed(text, 'save');
        assertWellFormed(text, 'script');
      }),
      { numRuns: 400 },
    );
  });

  it('on generated save files with random lines dropped or duplicated', () => {
    fc.assert(
      fc.property(saveText, fc.array(fc.nat(), { maxLength: 6 }), (text, cuts) => {
        let lines = text.split('\n');
        for (const c of cuts) {
          const i = c % Math.max(1, lines.length);
          lines = c % 2 === 0 ? lines.filter((_, j) => j !== i) : [...lines.slice(0, i), lines[i] ?? '', ...lines.slice(i)];
        }
        assertWellFormed(lines.join('\n'));
      }),
      { numRuns: 150 },
    );
  });
});

describe('determinism', () => {
  it('parse + check give the same result for the same text', () => {
    fc.assert(
      fc.property(fc.oneof(saveText, noise), (text) => {
        expect(parseRuleset(text, 'd')).toEqual(parseRuleset(text, 'd'));
      }),
      { numRuns: 150 },
    );
  });

  it('check gives the same diagnostics for the same IR, also after a deep copy', () => {
    // Loops and misplaced REJECT included: rewire some jumps backwards and into other tables.
    fc.assert(
      fc.property(saveText, fc.nat(), (text, seed) => {
        const { ruleset } = parseRuleset(text, 'd');
        for (const f of ruleset.families) {
          for (const t of f.tables) {
            const users = t.chains.filter((c) => !c.builtin);
            for (const [i, c] of users.entries()) {
              const last = c.rules.at(-1);
              if (last?.target?.target === 'jump' && (seed + i) % 2 === 0) last.target.chain = users[0]!.name;
            }
          }
        }
        const first = checkStructure(ruleset);
        expect(checkStructure(structuredClone(ruleset))).toEqual(first);
        expect(checkStructure(ruleset)).toEqual(first);
      }),
      { numRuns: 150 },
    );
  });
});
