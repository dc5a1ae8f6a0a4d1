/**
 * The front end: rules text → checked IR. Lexes and parses (grammar/), reads the statement
 * level (tables, chains, commands, shell lines: lower/), lowers each rule's options (the option
 * level, lower/options/), and runs the structure checks (check/).
 *
 * Pure: no I/O, no clock; the same text gives the same IR and diagnostics.
 */
import { detectForm } from '../../grammar/form.js';
import { parseText } from '../../grammar/parser.js';
import type { InputForm } from '../../grammar/tokens.js';
import { checkStructure } from './check/structure.js';
import { diag, sortDiagnostics, type Diagnostic } from './diagnostics.js';
import type { Family, Ruleset } from './ir.js';
import { lowerRuleOptions } from './lower/options/index.js';
import { RulesetBuilder, type OptionLowerer } from './lower/ruleset-builder.js';
import { lowerSaveFile } from './lower/save-file.js';
import { scriptInvocations } from './lower/script.js';
import { scanSaveLines } from './lower/save-lines.js';
import { lineSource, sourceLines } from './lower/source-lines.js';
import { Positions } from './lower/positions.js';

export interface ParseOptions {
  /**
   * Forces the family of an iptables-save file, and of script commands whose program does not
   * say (`$IPT` never assigned). `ip6tables` commands stay IPv6 and `iptables` ones IPv4.
   */
  family?: Family;
  /** Forces the input form instead of detecting it. */
  form?: InputForm;
  /** The option level; the real one by default (tests of the statement level may replace it). */
  lowerOptions?: OptionLowerer;
}

export interface ParseResult {
  ruleset: Ruleset;
  /** Sorted by position; duplicates (same code, place and message) removed. */
  diagnostics: Diagnostic[];
  /** The input form that was detected (or forced). */
  form: InputForm;
}

/**
 * Parses and checks a ruleset. `file` is the name diagnostics carry (`<stdin>` for standard
 * input). Never throws on any text: every problem is a diagnostic.
 */
export function parseRuleset(text: string, file: string, options: ParseOptions = {}): ParseResult {
  const lineMap = new Positions(file, text);
  const form = options.form ?? detectForm(text);
  const builder = new RulesetBuilder(file, options.lowerOptions ?? lowerRuleOptions, 'unknown');
  const diagnostics: Diagnostic[] = [];
  const forced = options.family ? { family: options.family } : {};

  // Save files usually take the fast path; anything unusual goes through the grammar.
  const fast = form === 'save' ? scanSaveLines(text) : undefined;
  if (fast) {
    lowerSaveFile(fast, text, lineMap, builder, forced);
  } else {
    const { cst, parseErrors } = parseText(text, form);
    for (const e of parseErrors) {
      // A token inserted by recovery has no position: anchor it to the token before it.
      const previous = (e as { previousToken?: { startOffset: number } }).previousToken;
      const at = Number.isNaN(e.token.startOffset) ? (previous?.startOffset ?? 0) : e.token.startOffset;
      const len = Number.isNaN(e.token.startOffset) ? 0 : e.token.image.length;
      diagnostics.push(diag('E100', lineMap.span(at, at + len), { detail: syntaxDetail(e.token.image) }));
    }
    const lines = sourceLines(cst);
    if (form === 'save') {
      lowerSaveFile(lineSource(lines), text, lineMap, builder, forced);
    } else {
      const script = scriptInvocations(lines, text, lineMap, { ...forced, onInvocation: (inv) => builder.execute(inv, inv.family!) });
      diagnostics.push(...script.diagnostics);
    }
  }
  const ruleset = builder.result();
  diagnostics.push(...builder.diagnostics, ...checkStructure(ruleset));
  return { ruleset, diagnostics: dedupe(sortDiagnostics(diagnostics)), form };
}

function syntaxDetail(image: string): string {
  return image === '' ? 'unexpected end of line' : `unexpected "${image}"`;
}

function dedupe(sorted: Diagnostic[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const d of sorted) {
    const prev = out[out.length - 1];
    if (prev && prev.code === d.code && prev.message === d.message && prev.span.start.offset === d.span.start.offset && prev.span.end.offset === d.span.end.offset) continue;
    out.push(d);
  }
  return out;
}
