/**
 * How many files of the real-world corpus (../shared/corpus/real, third-party data read at test
 * time) compile whole: parsed with no error and compiled for TC with no refused rule (no
 * E4xx). Printed before/after the stateful matches of issue 8: "before" counts the files that
 * compile now and use none of -m state/conntrack/set/recent/owner/connlimit (which were all
 * refused, E400, before);
 * "after" counts all that compile now. The numbers are asserted as floors so a regression
 * fails, and printed for the report.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../src/compiler/compile.js';
import { parseRuleset } from '../src/compiler/frontend.js';
import type { Ruleset } from '../src/compiler/ir.js';

const CORPUS = join(import.meta.dirname, '..', '..', 'shared', 'corpus', 'real');
const files = existsSync(CORPUS) ? readdirSync(CORPUS).filter((f) => f.endsWith('.rules') || f.endsWith('.sh')).sort() : [];

/** Modules this issue made compilable. */
const STATEFUL = new Set(['state', 'conntrack', 'set', 'recent', 'owner', 'connlimit']);

function usesStateful(r: Ruleset): boolean {
  return r.families.some((f) => f.tables.some((t) => t.name === 'filter' && t.chains.some((c) => c.rules.some((rule) => rule.matches.some((m) => STATEFUL.has(m.module))))));
}

/** Per file: compiles whole, uses the stateful modules, and the codes that refused it. */
export function corpusStatus(): { file: string; ok: boolean; stateful: boolean; refusals: string[] }[] {
  return files.map((file) => {
    const parsed = parseRuleset(readFileSync(join(CORPUS, file), 'utf8'), file);
    const parseErrors = parsed.diagnostics.filter((d) => d.severity === 'error');
    const result = parseErrors.length === 0 ? compile(parsed.ruleset, { hook: 'tc' }) : { diagnostics: parseErrors };
    const refusals = result.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.code} ${d.message}`);
    return { file, ok: refusals.length === 0, stateful: usesStateful(parsed.ruleset), refusals };
  });
}

describe.skipIf(files.length === 0)('corpus: files that compile whole', () => {
  it('counts the files with no refused rule, before and after the stateful matches', () => {
    const status = corpusStatus();
    const after = status.filter((s) => s.ok).length;
    const before = status.filter((s) => s.ok && !s.stateful).length;
    const reasons = new Map<string, number>();
    for (const s of status) for (const r of new Set(s.refusals.map((x) => x.replace(/"[^"]*"/g, '"…"').slice(0, 90)))) reasons.set(r, (reasons.get(r) ?? 0) + 1);
    console.log(`corpus: ${status.length} files; compile whole before the stateful matches: ${before}; after: ${after}`);
    console.log([...reasons].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([r, n]) => `  ${n} files: ${r}`).join('\n'));
    expect(after).toBeGreaterThan(before);
    expect(status.filter((s) => s.stateful && s.refusals.some((r) => /match "(state|conntrack)"/.test(r)) && !s.refusals.some((r) => /ctexpire|IPv6 conntrack/.test(r)))).toEqual([]);
  });
});
