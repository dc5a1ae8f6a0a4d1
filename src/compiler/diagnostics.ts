import type { Span } from './span.js';
import { MESSAGES, type MessageCode, type MessageEntry } from './messages.js';

export type Severity = 'error' | 'warning';

/**
 * A problem found in the user's input. The compiler returns these; it never throws for
 * user mistakes. `code` keys the message table in `messages.ts`; `message` is the rendered text.
 */
export interface Diagnostic {
  code: MessageCode;
  severity: Severity;
  message: string;
  span: Span;
  /** Optional extra lines printed after the code frame ("help: use an address"). */
  notes?: string[];
}

type Params = Record<string, string | number>;

function render(template: string, params: Params): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) =>
    key in params ? String(params[key]) : whole,
  );
}

/** Builds a diagnostic from the message table. The table decides the severity. */
export function diag(code: MessageCode, span: Span, params: Params = {}, notes?: string[]): Diagnostic {
  const entry: MessageEntry = MESSAGES[code];
  const d: Diagnostic = {
    code,
    severity: entry.severity,
    message: render(entry.text, params),
    span,
  };
  const allNotes = [...(entry.help ? [render(entry.help, params)] : []), ...(notes ?? [])];
  if (allNotes.length > 0) d.notes = allNotes;
  return d;
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

/** Stable order for output: by file, then position, then code. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort(
    (a, b) =>
      (a.span.file === b.span.file ? 0 : a.span.file.localeCompare(b.span.file)) ||
      a.span.start.offset - b.span.start.offset ||
      a.code.localeCompare(b.code),
  );
}

/**
 * Renders `file:line:col: error[CODE]: message`, then the source line with a caret under the
 * span (one caret per column, at least one), then notes. `sourceLine` is the text of the span's
 * first line.
 */
export function formatDiagnostic(d: Diagnostic, sourceLine: string | undefined): string {
  const { file, start, end } = d.span;
  const head = `${file}:${start.line}:${start.column}: ${d.severity}[${d.code}]: ${d.message}`;
  const out = [head];
  if (sourceLine !== undefined) {
    const gutter = String(start.line);
    const pad = ' '.repeat(gutter.length);
    const width =
      end.line === start.line ? Math.max(1, end.column - start.column) : Math.max(1, sourceLine.length - start.column + 1);
    // Tabs keep their width in the caret line so the caret lines up under the text.
    const lead = sourceLine.slice(0, start.column - 1).replace(/[^\t]/g, ' ');
    out.push(`${pad} |`);
    out.push(`${gutter} | ${sourceLine}`);
    out.push(`${pad} | ${lead}${'^'.repeat(width)}`);
  }
  for (const note of d.notes ?? []) out.push(`  = ${note}`);
  return out.join('\n');
}
