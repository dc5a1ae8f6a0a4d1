import { describe, expect, it } from 'vitest';
import { diag, formatDiagnostic, sortDiagnostics } from '../src/compiler/diagnostics.js';
import { LineMap } from '../src/compiler/span.js';

describe('diagnostics', () => {
  const text = '*filter\n-A INPUT -m xyz -j ACCEPT\r\nCOMMIT\n';
  const lines = new LineMap('rules.txt', text);

  it('maps offsets to 1-based line and column, CRLF lines without the CR', () => {
    const at = text.indexOf('xyz');
    expect(lines.position(at)).toEqual({ line: 2, column: 13, offset: at });
    expect(lines.lineText(2)).toBe('-A INPUT -m xyz -j ACCEPT');
    expect(lines.position(text.indexOf('COMMIT')).line).toBe(3);
  });

  it('renders file:line:col, the code, a code frame and a caret under the span', () => {
    const at = text.indexOf('xyz');
    const d = diag('E201', lines.span(at, at + 3), { module: 'xyz' });
    expect(d.severity).toBe('error');
    expect(formatDiagnostic(d, lines.lineText(2))).toBe(
      [
        'rules.txt:2:13: error[E201]: unsupported match module "xyz"',
        '  |',
        '2 | -A INPUT -m xyz -j ACCEPT',
        '  |             ^^^',
      ].join('\n'),
    );
  });

  it('adds the table help as a note and sorts by position', () => {
    const a = diag('E208', lines.span(20, 24), { value: 'example.org' });
    const b = diag('W100', lines.span(0, 7));
    expect(a.notes?.[0]).toMatch(/no DNS/);
    expect(sortDiagnostics([a, b]).map((d) => d.code)).toEqual(['W100', 'E208']);
  });
});
