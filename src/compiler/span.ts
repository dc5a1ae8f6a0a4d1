/**
 * Source positions. Every IR node and every diagnostic carries a {@link Span}.
 * Lines and columns are 1-based (as editors and `file:line:col` show them);
 * offsets are 0-based UTF-16 indexes into the source text.
 */
export interface Position {
  line: number;
  column: number;
  offset: number;
}

export interface Span {
  /** The file name as the user gave it (`-` or `<stdin>` for standard input). */
  file: string;
  start: Position;
  /** Exclusive end. */
  end: Position;
}

/** A span covering `a` through `b` (b's end). Both must be in the same file. */
export function joinSpans(a: Span, b: Span): Span {
  return { file: a.file, start: a.start, end: b.end };
}

/** A zero-width span at a position, for things with no text of their own. */
export function pointSpan(file: string, pos: Position): Span {
  return { file, start: pos, end: pos };
}

/** Computes line/column for offsets of one text. Build once per file, query many times. */
export class LineMap {
  private readonly starts: number[] = [0];

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    for (let i = 0; i < text.length; i++) {
      if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
    }
  }

  position(offset: number): Position {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.starts[lo]! + 1, offset };
  }

  span(startOffset: number, endOffset: number): Span {
    return { file: this.file, start: this.position(startOffset), end: this.position(endOffset) };
  }

  /** The text of a 1-based line, without its line terminator. */
  lineText(line: number): string {
    const start = this.starts[line - 1];
    if (start === undefined) return '';
    const next = this.starts[line];
    let end = next === undefined ? this.text.length : next - 1;
    if (end > start && this.text.charCodeAt(end - 1) === 13) end--;
    return this.text.slice(start, end);
  }
}
