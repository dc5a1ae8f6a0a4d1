/**
 * Small queries on parsed rulesets for the front-end tests (test/frontend*.test.ts,
 * test/check*.test.ts).
 */
import type { Diagnostic } from '../../src/compiler/diagnostics.js';
import type { Family, Ruleset, Table } from '../../src/compiler/ir.js';

/** `line:col CODE` for every diagnostic, in order. */
export function positions(diagnostics: readonly Diagnostic[]): string[] {
  return diagnostics.map((d) => `${d.span.start.line}:${d.span.start.column} ${d.code}`);
}

/** The named table of a family; throws (failing the test) if it is not there. */
export function tableOf(r: Ruleset, name: string, family: Family = 'ipv4'): Table {
  const t = r.families.find((f) => f.family === family)?.tables.find((x) => x.name === name);
  if (!t) throw new Error(`no ${family} table ${name}`);
  return t;
}
