/**
 * Offsets → line/column spans, tuned for the front end, which asks for positions in source
 * order: the line of the previous answer is tried first, so a whole file costs O(n) instead of
 * a binary search per word. Answers are the same as {@link LineMap}'s; spans compute theirs
 * when read.
 */
import type { Position, Span } from '../span.js';

/** What the statement level needs to place its nodes. */
export interface SpanSource {
  span(startOffset: number, endOffset: number): Span;
}

export class Positions implements SpanSource {
  private readonly starts: number[] = [0];
  private hint = 0;

  constructor(
    readonly file: string,
    text: string,
  ) {
    let i = text.indexOf('\n');
    while (i >= 0) {
      this.starts.push(i + 1);
      i = text.indexOf('\n', i + 1);
    }
  }

  /** 1-based line and column of a 0-based offset. */
  position(offset: number): Position {
    const s = this.starts;
    let line = this.hint;
    if (!(s[line]! <= offset && (line + 1 >= s.length || s[line + 1]! > offset))) {
      let lo = 0;
      let hi = s.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (s[mid]! <= offset) lo = mid;
        else hi = mid - 1;
      }
      line = lo;
      this.hint = lo;
    }
    return { line: line + 1, column: offset - s[line]! + 1, offset };
  }

  /** A span whose line and column are worked out when read (see {@link LazySpan}). */
  span(startOffset: number, endOffset: number): Span {
    return new LazySpan(this, startOffset, endOffset);
  }
}

/**
 * A span that keeps its two offsets and computes `start` and `end` when they are read. The
 * front end makes several spans per rule and almost none is ever read (only diagnostics and
 * comments in the generated C read them): one small object instead of three keeps a
 * 50,000-rule file's IR a third smaller. JSON (diagnostics in `--json`) sees a plain span.
 */
class LazySpan implements Span {
  constructor(
    private readonly at: Positions,
    private readonly from: number,
    private readonly to: number,
  ) {}
  get file(): string {
    return this.at.file;
  }
  get start(): Position {
    return this.at.position(this.from);
  }
  get end(): Position {
    return this.at.position(this.to);
  }
  toJSON(): { file: string; start: Position; end: Position } {
    return { file: this.file, start: this.start, end: this.end };
  }
}
