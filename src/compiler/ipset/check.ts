/**
 * The rules' `-m set` matches against an ipset file: every set a filter rule names must be
 * defined there (the kernel refuses the rule otherwise: E404), and the file must be loadable
 * by the datapath (E270). Pure.
 */
import { diag, type Diagnostic } from '../diagnostics.js';
import type { Ruleset, SetMatch } from '../ir.js';
import { encodeProblems } from './encode.js';
import type { IpsetFile } from './types.js';

/** The set matches of the filter tables, in order. */
export function setMatchesOf(ruleset: Ruleset): SetMatch[] {
  const out: SetMatch[] = [];
  for (const f of ruleset.families) {
    for (const t of f.tables) {
      if (t.name !== 'filter') continue;
      for (const c of t.chains) for (const r of c.rules) for (const m of r.matches) if (m.module === 'set') out.push(m);
    }
  }
  return out;
}

/** Diagnostics for set names the file does not define and for a file the datapath cannot hold. */
export function checkSetReferences(ruleset: Ruleset, ipsets: IpsetFile): Diagnostic[] {
  const names = new Set(ipsets.sets.map((s) => s.name));
  const out = setMatchesOf(ruleset)
    .filter((m) => !names.has(m.name))
    .map((m) => diag('E404', m.span, { name: m.name }));
  const problems = encodeProblems(ipsets);
  if (problems.length > 0) {
    const at = ipsets.sets[0]!.span;
    for (const p of problems) out.push(diag('E270', at, { detail: p }));
  }
  return out;
}
