/**
 * `rejectc print <rules|-> [--family ipv4|ipv6]`: the ruleset in canonical iptables-save
 * spelling on stdout (see src/compiler/print.ts for the layout: IPv4 tables, then IPv6 tables,
 * each family after a `# iptables-save format` / `# ip6tables-save format` comment).
 * Exit 0 on success (warnings go to stderr); with errors in the input nothing is printed on
 * stdout, the diagnostics go to stderr as `rejectc check` shows them, and the exit code is 1.
 */
import { hasErrors } from '../compiler/diagnostics.js';
import { parseRuleset } from '../compiler/frontend.js';
import type { Family } from '../compiler/ir.js';
import { printRuleset } from '../compiler/print.js';
import { renderDiagnostics, summaryLine } from '../compiler/render.js';
import { EXIT } from '../errors.js';
import { readSource } from '../input.js';

/** Options of `rejectc print`. */
export interface PrintOptions {
  family?: Family;
}

/** Parses `text` and prints it canonically; `output` is undefined when the input has errors. Pure. */
export function printText(text: string, file: string, family?: Family): { output?: string; diagnostics: ReturnType<typeof parseRuleset>['diagnostics'] } {
  const { ruleset, diagnostics } = parseRuleset(text, file, family ? { family } : {});
  if (hasErrors(diagnostics)) return { diagnostics };
  return { output: printRuleset(ruleset), diagnostics };
}

/** The command. `rules` is a path or `-` for stdin. Returns the exit code. */
export default function printCommand(rules: string, options: PrintOptions = {}): number {
  const source = readSource(rules);
  const { output, diagnostics } = printText(source.text, source.file, options.family);
  if (diagnostics.length > 0) {
    process.stderr.write(`${renderDiagnostics(diagnostics, source.text, source.file)}\n\n`);
    if (output === undefined) process.stderr.write(`${source.file}: not printed: ${summaryLine(diagnostics)}\n`);
  }
  if (output === undefined) return EXIT.user;
  process.stdout.write(output);
  return EXIT.ok;
}
