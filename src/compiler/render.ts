/**
 * Diagnostics as the CLI prints them: `file:line:col: error[CODE]: message`, a code frame with a
 * caret under the span, notes, then a summary line. Pure: returns text, prints nothing.
 */
import { formatDiagnostic, type Diagnostic } from './diagnostics.js';
import { LineMap } from './span.js';

/**
 * Renders each diagnostic with its code frame (from `text`, the source all spans point into),
 * separated by blank lines. Spans into other files get no frame.
 */
export function renderDiagnostics(diagnostics: readonly Diagnostic[], text: string, file: string): string {
  const lines = new LineMap(file, text);
  return diagnostics
    .map((d) => formatDiagnostic(d, d.span.file === file ? lines.lineText(d.span.start.line) : undefined))
    .join('\n\n');
}

/** `2 errors, 1 warning` (or `no problems`). */
export function summaryLine(diagnostics: readonly Diagnostic[]): string {
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.length - errors;
  if (errors === 0 && warnings === 0) return 'no problems';
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return [errors > 0 ? plural(errors, 'error') : '', warnings > 0 ? plural(warnings, 'warning') : ''].filter(Boolean).join(', ');
}
