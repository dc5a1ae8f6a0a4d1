/**
 * The real-world corpus (../shared/corpus/real/, read at test time, never copied here) through
 * the back end: for every file, the filter rules rejectc compiles — rules the front end or the
 * back end refuses are left out and counted by reason (E400 module, E401 target, front-end
 * errors) — are compiled for TC; the largest files' programs are built with clang and loaded:
 * the verifier accepts them and their maps take the entries; XDP too where there are no
 * OUTPUT rules. Prints a table: file, filter rules, compiled, refused by reason, slots, shape.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compile } from '../src/compiler/compile.js';
import type { Diagnostic } from '../src/compiler/diagnostics.js';
import { parseRuleset } from '../src/compiler/frontend.js';
import type { Rule, Ruleset } from '../src/compiler/ir.js';
import { LoadedRuleset } from '../src/commands/run.js';
import { readHostConfig } from '../src/runtime/host-config.js';
import { canUseKernel, createNetns, deleteNetns } from './support/netns.js';

const CORPUS = join(import.meta.dirname, '..', '..', 'shared', 'corpus', 'real');
const files = existsSync(CORPUS) ? readdirSync(CORPUS).filter((f) => f.endsWith('.rules') || f.endsWith('.sh')).sort() : [];
/** How many of the largest files are built and loaded (each is its own program). */
const LOADED = 8;

interface Report {
  file: string;
  filterRules: number;
  compiled: number;
  refused: Map<string, number>;
  slots: number;
  fields: string;
  outputRules: boolean;
}

function within(d: Diagnostic, r: Rule): boolean {
  return d.span.file === r.span.file && d.span.start.offset >= r.span.start.offset && d.span.start.offset < Math.max(r.span.end.offset, r.span.start.offset + 1);
}

/** Why a rule is left out: the first error on it, as "CODE detail". */
function reasonOf(errors: Diagnostic[], r: Rule): string | undefined {
  const d = errors.find((e) => within(e, r));
  if (!d) return undefined;
  const m = /^match "([^"]+)"|^target "([^"]+)"/.exec(d.message);
  return `${d.code}${m ? ` ${m[1] ?? m[2]}` : ''}`;
}

/** The ruleset without the filter rules any error points into (and without other tables). */
function compilable(text: string, file: string): { ruleset: Ruleset; report: Report } {
  const parsed = parseRuleset(text, file);
  const refusedBy = compile(parsed.ruleset, { hook: 'tc' }).diagnostics;
  const errors = [...parsed.diagnostics, ...refusedBy].filter((d) => d.severity === 'error');
  const refused = new Map<string, number>();
  let filterRules = 0;
  let compiled = 0;
  let outputRules = false;
  const families = parsed.ruleset.families.map((f) => ({
    ...f,
    tables: f.tables
      .filter((t) => t.name === 'filter')
      .map((t) => ({
        ...t,
        chains: t.chains.map((ch) => ({
          ...ch,
          rules: ch.rules.filter((r) => {
            filterRules++;
            const why = reasonOf(errors, r);
            if (why) refused.set(why, (refused.get(why) ?? 0) + 1);
            else {
              compiled++;
              if (ch.name === 'OUTPUT') outputRules = true;
            }
            return !why;
          }),
        })),
      })),
  }));
  return {
    ruleset: { ...parsed.ruleset, families },
    report: { file, filterRules, compiled, refused, slots: 0, fields: '', outputRules },
  };
}

const reports: Report[] = [];

describe.runIf(files.length > 0)('the real corpus through the back end', () => {
  afterAll(() => {
    const lines = reports.map(
      (r) =>
        `${r.file.padEnd(46)} ${String(r.filterRules).padStart(5)} ${String(r.compiled).padStart(5)} ${String(r.slots).padStart(6)}  ` +
        `${[...r.refused].map(([k, n]) => `${n}x ${k}`).join(', ') || '-'}`,
    );
    const total = reports.reduce((a, r) => ({ rules: a.rules + r.filterRules, compiled: a.compiled + r.compiled }), { rules: 0, compiled: 0 });
    console.log(
      `compile-corpus: ${reports.length} files, ${total.rules} filter rules, ${total.compiled} compiled\n` +
        `${'file'.padEnd(46)} rules comp.  slots  refused (by code and name)\n${lines.join('\n')}`,
    );
  });

  for (const file of files) {
    it(`${file}: its compilable filter rules compile`, () => {
      const { ruleset, report } = compilable(readFileSync(join(CORPUS, file), 'utf8'), file);
      const r = compile(ruleset, { hook: 'tc' });
      expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      report.slots = r.classified!.slots.length;
      report.fields = r.classified!.shape.fields.map((f) => f.id).join(',');
      reports.push(report);
      // Every filter rule is either compiled or refused with a reason.
      expect(report.compiled + [...report.refused.values()].reduce((a, b) => a + b, 0)).toBe(report.filterRules);
    });
  }

  describe.runIf(canUseKernel())('the largest files load: the verifier accepts the programs', () => {
    const largest = files
      .map((f) => ({ f, n: compilable(readFileSync(join(CORPUS, f), 'utf8'), f).report.compiled }))
      .sort((a, b) => b.n - a.n)
      .slice(0, LOADED);
    for (const { f, n } of largest) {
      it(`${f} (${n} rules)`, () => {
        const { ruleset, report } = compilable(readFileSync(join(CORPUS, f), 'utf8'), f);
        const ns = createNetns();
        try {
          for (const hook of report.outputRules ? (['tc'] as const) : (['tc', 'xdp'] as const)) {
            const r = compile(ruleset, { hook });
            expect(r.artifacts, `${hook} compiles`).toBeDefined();
            ns.run(() => {
              const loaded = LoadedRuleset.load({ maps: r.artifacts!.maps, c: r.artifacts!.c }, readHostConfig());
              try {
                // The maps took the ruleset: generation 0 is ready.
                expect(loaded.obj.maps.get('rjc_ruleset')!.lookup(Buffer.alloc(4))!.length).toBeGreaterThan(0);
                expect(loaded.generation()).toBe(0);
              } finally {
                loaded.close();
              }
            });
          }
        } finally {
          deleteNetns(ns);
        }
      });
    }
  });
});
