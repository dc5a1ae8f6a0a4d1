/**
 * The fast path of the save form: the source lines of an iptables-save file read straight from
 * the text, without building tokens and a CST first.
 *
 * The general path (grammar/ lexer and CstParser, then {@link sourceLines}) spends most of its
 * time allocating tokens and CST nodes for what is, in a save file, a plain sequence of lines of
 * words. This reader splits words with the save lexer mode's own patterns
 * ({@link SAVE_PATTERNS}) in the same order of preference, and gives the same
 * {@link SourceLine}s. It is used only for texts where the general path reports nothing:
 *
 * - every character is matched by some token. The only characters no save token matches are
 *   the white space characters other than the lexer's blanks and line feed (U+00A0, U+2028,
 *   ...): `SaveWord` takes every other character, and `"` always opens a quoted part. A text
 *   with any of them anywhere takes the general path.
 * - the grammar accepts every line. In the save form the only lines it refuses are `*table` and
 *   `COMMIT` lines with a `[p:b]` token after them; a text where such a line holds anything like
 *   `[p:b]` takes the general path.
 *
 * test/grammar-save-lines.test.ts checks the equivalence on arbitrary text. Lines are split into
 * words when iterated, so a large file's lines never live all at once.
 */
import { SAVE_PATTERNS } from '../../../grammar/tokens.js';
import type { LineSource, RawToken, SourceLine } from './source-lines.js';

const sticky = (re: RegExp) => new RegExp(re.source, 'y');
const TABLE_HEADER = sticky(SAVE_PATTERNS.tableHeader);
const CHAIN_DECL = sticky(SAVE_PATTERNS.chainDecl);
const COMMIT = sticky(SAVE_PATTERNS.commit);
const COMMENT = sticky(SAVE_PATTERNS.comment);
const COUNTERS = sticky(SAVE_PATTERNS.counters);
const WORD = sticky(SAVE_PATTERNS.word);
/** The save lexer's blanks (`Whitespace`), CR included; a line ends at LF. */
const BLANKS = /[ \t\f\v\r]*/y;

/** White space no save token matches (anything `\s` but the blanks and LF). */
const UNMATCHED = /[^\S \t\f\v\r\n]/;
/** A `*table` or `COMMIT` line with something like `[p:b]` after the keyword. */
const COUNTERS_AFTER_KEYWORD = new RegExp(`^(?:\\*|${SAVE_PATTERNS.commit.source})[^\\n]*${SAVE_PATTERNS.counters.source}`, 'm');

/** End of the match of sticky `re` at `at`, or -1. */
function matchEnd(re: RegExp, text: string, at: number): number {
  re.lastIndex = at;
  return re.test(text) ? re.lastIndex : -1;
}

/** Makes what a line scan returns for the token at start .. end of `text`. */
type Make<T> = (text: string, start: number, end: number, counters: boolean) => T;

const TOKEN: Make<RawToken> = (text, start, end, counters) => ({ image: text.slice(start, end), start, end, counters });
const IMAGE: Make<string> = (text, start, end) => text.slice(start, end);

/** The tokens from `at` to the end of the line, each made by `make`: `Counters` before `SaveWord`, unless the word is longer. */
function scanLine<T>(text: string, at: number, make: Make<T>): T[] {
  const out: T[] = [];
  for (;;) {
    at = matchEnd(BLANKS, text, at);
    if (at >= text.length || text.charCodeAt(at) === 10) return out;
    const wordEnd = matchEnd(WORD, text, at);
    const countersEnd = text.charCodeAt(at) === 91 /* [ */ ? matchEnd(COUNTERS, text, at) : -1;
    const counters = countersEnd >= 0 && wordEnd <= countersEnd;
    const end = counters ? countersEnd : wordEnd;
    if (end < 0) return out; // not reached: scanSaveLines sends such texts to the general path
    out.push(make(text, at, end, counters));
    at = end;
  }
}

type HeadKind = Exclude<SourceLine['kind'], 'commands'>;

/** The column-1 token at `at`, if the line starts with one: its kind and end. */
function columnOne(text: string, at: number): { kind: HeadKind; end: number } | undefined {
  let kind: HeadKind;
  let re: RegExp;
  switch (text.charCodeAt(at)) {
    case 42 /* * */:
      [kind, re] = ['table', TABLE_HEADER];
      break;
    case 58 /* : */:
      [kind, re] = ['chain', CHAIN_DECL];
      break;
    case 67 /* C */:
      [kind, re] = ['commit', COMMIT];
      break;
    case 35 /* # */:
      [kind, re] = ['comment', COMMENT];
      break;
    default:
      return undefined;
  }
  const end = matchEnd(re, text, at);
  return end < 0 ? undefined : { kind, end };
}

/**
 * The non-blank lines of a save-form text where the fast path holds. Iterating splits each
 * line into its words; `comments()` and `commandImages()` split only the lines they return.
 * Can be iterated any number of times.
 */
export class SaveLines implements LineSource {
  constructor(private readonly text: string) {}

  *[Symbol.iterator](): Iterator<SourceLine> {
    for (let at = 0; at <= this.text.length; at = this.lineEnd(at) + 1) {
      const line = this.line(at);
      if (line) yield line;
    }
  }

  *comments(): Iterable<RawToken> {
    for (let at = 0; at <= this.text.length; at = this.lineEnd(at) + 1) {
      if (this.text.charCodeAt(at) !== 35 /* # */) continue;
      const line = this.line(at);
      if (line?.kind === 'comment') yield line.token;
    }
  }

  *commandImages(): Iterable<string[]> {
    for (let at = 0; at <= this.text.length; at = this.lineEnd(at) + 1) {
      if (columnOne(this.text, at)) continue;
      const images = scanLine(this.text, at, IMAGE);
      if (images.length > 0) yield images;
    }
  }

  private lineEnd(at: number): number {
    const end = this.text.indexOf('\n', at);
    return end < 0 ? this.text.length : end;
  }

  /** The line starting at `at`, or undefined for a blank line. */
  private line(at: number): SourceLine | undefined {
    const head = columnOne(this.text, at);
    if (!head) {
      const tokens = scanLine(this.text, at, TOKEN);
      if (tokens.length === 0) return undefined;
      return { kind: 'commands', commands: [{ tokens, redirects: [], start: tokens[0]!.start, end: tokens[tokens.length - 1]!.end }] };
    }
    const token = TOKEN(this.text, at, head.end, false);
    switch (head.kind) {
      case 'comment':
        return { kind: 'comment', token };
      case 'chain':
        return { kind: 'chain', token, words: scanLine(this.text, head.end, TOKEN) };
      default:
        return { kind: head.kind, token, extra: scanLine(this.text, head.end, TOKEN) };
    }
  }
}

/**
 * The lines of a save-form text, as `sourceLines(parseText(text, 'save').cst)` gives them, or
 * undefined when the general path is needed (see the file comment). Never throws.
 */
export function scanSaveLines(text: string): SaveLines | undefined {
  if (UNMATCHED.test(text) || COUNTERS_AFTER_KEYWORD.test(text)) return undefined;
  return new SaveLines(text);
}
