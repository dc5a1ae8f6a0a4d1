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

/** Where a text's offsets are: its file, and the position of an offset. */
export interface OffsetSource {
  readonly file: string;
  position(offset: number): Position;
}

/**
 * A span that keeps its two offsets and computes `start` and `end` when they are read. The
 * front end makes several spans per rule and almost none is ever read (only diagnostics, the
 * manifest and comments in the generated C read them): one small object instead of three
 * keeps a 50,000-rule file's IR a third smaller. JSON (diagnostics in `--json`) sees a plain span.
 */
export class LazySpan implements Span {
  constructor(
    readonly source: OffsetSource,
    readonly from: number,
    readonly to: number,
  ) {}
  get file(): string {
    return this.source.file;
  }
  get start(): Position {
    return this.source.position(this.from);
  }
  get end(): Position {
    return this.source.position(this.to);
  }
  toJSON(): { file: string; start: Position; end: Position } {
    return { file: this.file, start: this.start, end: this.end };
  }
}

/** A span covering `a` through `b` (b's end). Both must be in the same file. */
export function joinSpans(a: Span, b: Span): Span {
  // Two lazy spans of one text join without working out their positions.
  if (a instanceof LazySpan && b instanceof LazySpan && a.source === b.source) return new LazySpan(a.source, a.from, b.to);
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
