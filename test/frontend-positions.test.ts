/**
 * Every position the front end reports is right: for each span of the IR and of the
 * diagnostics, line and column are what the offset gives when computed the plain way
 * ({@link LineMap}), and the span lies inside the text. The front end computes positions in
 * faster ways (sequential line hints, the end from the start's line, word spans built only when
 * asked for, spans joined from word offsets); this holds them to the plain answer on real files,
 * on generated save files and scripts, and on token soup in both forms.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRuleset } from '../src/compiler/frontend.js';
import { Positions } from '../src/compiler/lower/positions.js';
import { joinSpans, LineMap, type Position, type Span } from '../src/compiler/span.js';

function isSpan(x: unknown): x is Span {
  return typeof x === 'object' && x !== null && 'file' in x && 'start' in x && 'end' in x;
}

/** Every span reachable from `root` (IR nodes, diagnostics). */
function spansIn(root: unknown): Span[] {
  const out: Span[] = [];
  const seen = new Set<object>();
  const walk = (x: unknown): void => {
    if (typeof x !== 'object' || x === null || seen.has(x)) return;
    seen.add(x);
    if (isSpan(x)) out.push(x);
    for (const v of Object.values(x)) walk(v);
  };
  walk(root);
  return out;
}

/** Asserts every span of parsing `text` against the plain computation; returns how many. */
function checkPositions(text: string, options: Parameters<typeof parseRuleset>[2] = {}): number {
  const plain = new LineMap('t', text);
  const r = parseRuleset(text, 't', options);
  const spans = spansIn([r.ruleset, r.diagnostics]);
  const wrong: unknown[] = [];
  const right = (p: Position) => {
    const q = plain.position(p.offset);
    return p.line === q.line && p.column === q.column && p.offset >= 0 && p.offset <= text.length;
  };
  for (const s of spans) {
    if (s.file !== 't' || !right(s.start) || !right(s.end) || s.start.offset > s.end.offset) wrong.push(s);
  }
  expect(wrong).toEqual([]);
  return spans.length;
}

describe('Positions', () => {
  it('answers like LineMap for offsets and spans in any order', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', ' ', '\n', '\r'), maxLength: 80 }), fc.array(fc.tuple(fc.nat(), fc.nat())), (text, pairs) => {
        const fast = new Positions('t', text);
        const plain = new LineMap('t', text);
        for (const [a, b] of pairs) {
          const start = a % (text.length + 1);
          const end = start + (b % (text.length + 1 - start));
          const span = fast.span(start, end);
          expect({ file: span.file, start: span.start, end: span.end }).toEqual(plain.span(start, end));
          expect(JSON.parse(JSON.stringify(span))).toEqual(plain.span(start, end));
          // Joined with a span after it, lazily: as the plain join of the plain spans.
          const joined = joinSpans(fast.span(0, start), span);
          expect({ file: joined.file, start: joined.start, end: joined.end }).toEqual(joinSpans(plain.span(0, start), plain.span(start, end)));
          expect(fast.position(end)).toEqual(plain.position(end));
        }
      }),
      { numRuns: 300 },
    );
  });
});

const RULES = [
  '-A INPUT -s 192.0.2.0/24 -p tcp -m tcp --dport 22 -j ACCEPT',
  '-A INPUT ! -d 2001:db8::1 -j DROP',
  '-A INPUT -p tcp --dport 23 -j REJECT --reject-with tcp-reset',
  '-A FORWARD -i eth0 -o eth1 -m state --state NEW,ESTABLISHED -j x',
  '-A OUTPUT -m comment --comment "two words" -p udp -m multiport --dports 53,123 -j LOG --log-prefix "a b"',
  '-A x -p icmp --icmp-type 8 -m limit --limit 5/min -j RETURN',
  '-A INPUT -s 300.1.2.3 -j DROP',
  '-A INPUT -p tcp -m tcp --dport 70000 -j DROP',
  '-A INPUT -m nosuch --opt 1 -j DROP',
  '-A INPUT -j nowhere',
  '[1:2] -A INPUT -o eth0 -j ACCEPT',
];
const ruleLines = fc.array(fc.constantFrom(...RULES), { maxLength: 12 });

describe('every reported position is right', () => {
  it('in generated save files (CR LF, blank lines, prose and errors included)', () => {
    fc.assert(
      fc.property(ruleLines, fc.constantFrom('\n', '\r\n'), fc.boolean(), (rules, eol, prose) => {
        const lines = [...(prose ? ['some prose', ''] : []), '*filter', ':INPUT ACCEPT [0:0]', ':x - [0:0]', ...rules, '  ', 'COMMIT', ''];
        const text = lines.join(eol);
        checkPositions(text);
        // And the spans cover the right words: the rule, its addresses, its target.
        const at = (s: Span) => text.slice(s.start.offset, s.end.offset);
        for (const chain of parseRuleset(text, 't').ruleset.families[0]?.tables[0]?.chains ?? []) {
          for (const rule of chain.rules) {
            expect(at(rule.span)).toBe(rule.source);
            if (rule.base.src) expect(at(rule.base.src.span)).toMatch(/^-s \S+$/);
            if (rule.base.dst) expect(at(rule.base.dst.span)).toMatch(/^! -d \S+$/);
            if (rule.target) expect(at(rule.target.span)).toMatch(/^-j \S+/);
            for (const m of rule.matches) expect(at(m.span)).toMatch(/^(-m \S+|--[a-z-]+ \S+)/);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('in generated scripts (continuations, variables, other commands)', () => {
    fc.assert(
      fc.property(ruleLines, fc.boolean(), (rules, continued) => {
        const lines = ['#!/bin/sh', 'IPT=/sbin/iptables', 'echo start', '$IPT -N x'];
        for (const r of rules) {
          const words = r.replace(/^\[1:2\] /, '').split(' ');
          lines.push(continued ? `$IPT ${words.slice(0, 3).join(' ')} \\\n    ${words.slice(3).join(' ')}` : `iptables ${words.join(' ')}`);
        }
        checkPositions(`${lines.join('\n')}\n`);
      }),
      { numRuns: 150 },
    );
  });

  const PIECES = ['*filter', ':INPUT', 'ACCEPT', 'COMMIT', '[0:0]', '-A', 'INPUT', '-s', '1.2.3.4', '-p', 'tcp', '--dport', '22', '-j', 'DROP', '"a b"', '"open', '!', '\\', '$X', '#', 'iptables', '\u00e9', '\u00a0'];
  const soup = fc
    .array(fc.tuple(fc.constantFrom(...PIECES), fc.constantFrom(' ', '\n', '\r\n', '\t')), { maxLength: 40 })
    .map((parts) => parts.map(([p, sep]) => p + sep).join(''));

  it('in token soup, in both forms', () => {
    fc.assert(
      fc.property(soup, (text) => {
        checkPositions(text, { form: 'save' });
        checkPositions(text, { form: 'script' });
      }),
      { numRuns: 300 },
    );
  });

  const CORPUS = join(import.meta.dirname, '..', '..', 'shared', 'corpus', 'real');
  const files = existsSync(CORPUS) ? readdirSync(CORPUS).filter((f) => /\.(rules|sh)$/.test(f)) : [];
  it.runIf(files.length > 0)('in the real corpus', () => {
    let spans = 0;
    for (const f of files) spans += checkPositions(readFileSync(join(CORPUS, f), 'utf8'));
    expect(spans).toBeGreaterThan(10_000);
  });
});
