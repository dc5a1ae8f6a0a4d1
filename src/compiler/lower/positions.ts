/**
 * Offsets → line/column spans, tuned for the front end, which asks for positions in source
 * order: the line of the previous answer is tried first, so a whole file costs O(n) instead of
 * a binary search per word. Answers are the same as {@link LineMap}'s; spans compute theirs
 * when read.
 */
import { LazySpan, type OffsetSource, type Position, type Span } from '../span.js';

/** What the statement level needs to place its nodes. */
export interface SpanSource {
  span(startOffset: number, endOffset: number): Span;
}

export class Positions implements SpanSource, OffsetSource {
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
