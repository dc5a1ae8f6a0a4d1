/**
 * `rejectc check <rules|-> [--json] [--family ipv4|ipv6]`: parse and validate a ruleset.
 * Exit 0 if it has no errors (warnings are printed), 1 with diagnostics otherwise; an unreadable
 * file is a UserError (exit 1). Human output goes to stderr; `--json` prints exactly one JSON
 * document on stdout:
 *
 *   {"file", "valid", "diagnostics": [{code, severity, message, file, line, column, endLine,
 *    endColumn, notes?}], "summary": {"errors", "warnings", "rules", "families"}}
 */
import type { Diagnostic } from '../compiler/diagnostics.js';
import { parseRuleset } from '../compiler/frontend.js';
import type { Family, Ruleset } from '../compiler/ir.js';
import { renderDiagnostics, summaryLine } from '../compiler/render.js';
import { EXIT } from '../errors.js';
import { readSource } from '../input.js';

export interface CheckOptions {
  json?: boolean;
  family?: Family;
}

/** What `--json` prints. */
export interface CheckReport {
  file: string;
  valid: boolean;
  diagnostics: JsonDiagnostic[];
  summary: { errors: number; warnings: number; rules: number; families: Family[] };
}

export interface JsonDiagnostic {
  code: string;
  severity: string;
  message: string;
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  notes?: string[];
}

function ruleCount(ruleset: Ruleset): number {
  let n = 0;
  for (const f of ruleset.families) for (const t of f.tables) for (const c of t.chains) n += c.rules.length;
  return n;
}

function toJson(d: Diagnostic): JsonDiagnostic {
  const j: JsonDiagnostic = {
    code: d.code,
    severity: d.severity,
    message: d.message,
    file: d.span.file,
    line: d.span.start.line,
    column: d.span.start.column,
    endLine: d.span.end.line,
    endColumn: d.span.end.column,
  };
  if (d.notes) j.notes = d.notes;
  return j;
}

/** Checks `text` (named `file`): the diagnostics and the report `--json` prints. Pure. */
export function checkText(text: string, file: string, family?: Family): { report: CheckReport; diagnostics: Diagnostic[] } {
  const { ruleset, diagnostics } = parseRuleset(text, file, family ? { family } : {});
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const report: CheckReport = {
    file,
    valid: errors === 0,
    diagnostics: diagnostics.map(toJson),
    summary: {
      errors,
      warnings: diagnostics.length - errors,
      rules: ruleCount(ruleset),
      families: ruleset.families.map((f) => f.family),
    },
  };
  return { report, diagnostics };
}

/** The command. `rules` is a path or `-` for stdin. Returns the exit code. */
export default function checkCommand(rules: string, options: CheckOptions = {}): number {
  const source = readSource(rules);
  const { report, diagnostics } = checkText(source.text, source.file, options.family);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } else {
    if (diagnostics.length > 0) process.stderr.write(`${renderDiagnostics(diagnostics, source.text, source.file)}\n\n`);
    const { rules: n, families } = report.summary;
    const what = `${n} rule${n === 1 ? '' : 's'}${families.length > 0 ? ` (${families.join(', ')})` : ''}`;
    process.stderr.write(`${source.file}: ${report.valid ? 'valid' : 'invalid'}: ${what}; ${summaryLine(diagnostics)}\n`);
  }
  return report.valid ? EXIT.ok : EXIT.user;
}
