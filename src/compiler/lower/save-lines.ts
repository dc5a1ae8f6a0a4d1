/**
 * The fast path of the save form: the source lines of an iptables-save file read straight from
 * the text, without building tokens and a CST first.
 *
 * The general path (grammar/ lexer and CstParser, then {@link sourceLines}) spends most of its
 * time allocating tokens and CST nodes for what is, in a save file, a plain sequence of lines of
 * words. This scanner splits words with the save lexer mode's own patterns
 * ({@link SAVE_PATTERNS}) in the same order of preference, and gives the same
 * {@link SourceLine}s. Whenever the text holds something the general path would report (a
 * character no token matches, `[p:b]` after `*table` or `COMMIT`, which the grammar refuses), it
 * gives up and returns undefined, so the caller takes the general path and its diagnostics.
 * test/grammar-save-lines.test.ts checks the equivalence on arbitrary text.
 *
 * The scan keeps only offsets (one typed array); each {@link SourceLine} is built when the lines
 * are iterated, so a large file's lines never live all at once.
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

const LF = 10;

/** The save mode's blanks (`Whitespace`): space, tab, form feed, vertical tab, and CR (of CR LF too). */
function isBlank(c: number): boolean {
  return c === 32 || c === 9 || c === 12 || c === 11 || c === 13;
}

/** End of the match of sticky `re` at `at`, or -1. */
function matchEnd(re: RegExp, text: string, at: number): number {
  re.lastIndex = at;
  return re.test(text) ? re.lastIndex : -1;
}

/** Line kinds in the line table; a column-1 token starts every kind but `commands`. */
const COMMANDS = 0;
const COMMENT_LINE = 1;
const TABLE = 2;
const CHAIN = 3;
const COMMIT_LINE = 4;

/** The column-1 token at `at`: its line kind and end, if the line starts with one. */
function columnOne(text: string, at: number): { kind: number; end: number } | undefined {
  let kind: number;
  let re: RegExp;
  switch (text.charCodeAt(at)) {
    case 42 /* * */:
      [kind, re] = [TABLE, TABLE_HEADER];
      break;
    case 58 /* : */:
      [kind, re] = [CHAIN, CHAIN_DECL];
      break;
    case 67 /* C */:
      [kind, re] = [COMMIT_LINE, COMMIT];
      break;
    case 35 /* # */:
      [kind, re] = [COMMENT_LINE, COMMENT];
      break;
    default:
      return undefined;
  }
  const end = matchEnd(re, text, at);
  return end < 0 ? undefined : { kind, end };
}

/** A growable list of int32s. */
class IntList {
  data = new Int32Array(1024);
  length = 0;

  push(a: number, b: number, c: number): void {
    if (this.length + 3 > this.data.length) {
      const bigger = new Int32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = a;
    this.data[this.length++] = b;
    this.data[this.length++] = c;
  }
}

/**
 * The non-blank lines of a save-form text: a table of (kind, first token, token count) per
 * line and (start, end, is-counters) per token. Iterating builds the {@link SourceLine}s (or
 * only the comments, or only the commands' tokens); the table can be iterated any number of
 * times.
 */
export class SaveLines implements LineSource {
  constructor(
    private readonly text: string,
    private readonly lines: IntList,
    private readonly tokens: IntList,
  ) {}

  *[Symbol.iterator](): Iterator<SourceLine> {
    const l = this.lines.data;
    for (let i = 0; i < this.lines.length; i += 3) yield this.line(l[i]!, l[i + 1]!, l[i + 2]!);
  }

  *comments(): Iterable<RawToken> {
    const l = this.lines.data;
    for (let i = 0; i < this.lines.length; i += 3) if (l[i] === COMMENT_LINE) yield this.token(l[i + 1]!);
  }

  *commandTokens(): Iterable<RawToken[]> {
    const l = this.lines.data;
    for (let i = 0; i < this.lines.length; i += 3) if (l[i] === COMMANDS) yield this.range(l[i + 1]!, l[i + 1]! + l[i + 2]!);
  }

  private token(index: number): RawToken {
    const t = this.tokens.data;
    const start = t[3 * index]!;
    const end = t[3 * index + 1]!;
    return { image: this.text.slice(start, end), start, end, counters: t[3 * index + 2] === 1 };
  }

  private range(from: number, to: number): RawToken[] {
    const out: RawToken[] = [];
    for (let i = from; i < to; i++) out.push(this.token(i));
    return out;
  }

  private line(kind: number, first: number, count: number): SourceLine {
    if (kind === COMMANDS) {
      const tokens = this.range(first, first + count);
      return { kind: 'commands', commands: [{ tokens, redirects: [], start: tokens[0]!.start, end: tokens[count - 1]!.end }] };
    }
    const token = this.token(first);
    const rest = this.range(first + 1, first + count);
    if (kind === COMMENT_LINE) return { kind: 'comment', token };
    if (kind === CHAIN) return { kind: 'chain', token, words: rest };
    return { kind: kind === TABLE ? 'table' : 'commit', token, extra: rest };
  }
}

/**
 * The lines of a save-form text, as `sourceLines(parseText(text, 'save').cst)` gives them, or
 * undefined when the general path is needed. Never throws.
 */
export function scanSaveLines(text: string): SaveLines | undefined {
  const lines = new IntList();
  const tokens = new IntList();
  const n = text.length;
  let count = 0;
  let at = 0;
  while (at <= n) {
    const firstToken = count;
    const head = columnOne(text, at);
    if (head) {
      tokens.push(at, head.end, 0);
      count++;
      at = head.end;
    }
    let counters = false;
    // Words up to the end of the line (Counters before SaveWord, unless the word is longer).
    for (;;) {
      while (at < n && isBlank(text.charCodeAt(at))) at++;
      if (at >= n || text.charCodeAt(at) === LF) break;
      const wordEnd = matchEnd(WORD, text, at);
      const countersEnd = text.charCodeAt(at) === 91 /* [ */ ? matchEnd(COUNTERS, text, at) : -1;
      const isCounters = countersEnd >= 0 && wordEnd <= countersEnd;
      const end = isCounters ? countersEnd : wordEnd;
      if (end < 0) return undefined; // no token matches: the lexer reports it
      tokens.push(at, end, isCounters ? 1 : 0);
      count++;
      counters ||= isCounters;
      at = end;
    }
    const kind = head ? head.kind : COMMANDS;
    if (counters && (kind === TABLE || kind === COMMIT_LINE)) return undefined; // a syntax error
    if (count > firstToken) lines.push(kind, firstToken, count - firstToken);
    at++; // past the line feed (or past the end)
  }
  return new SaveLines(text, lines, tokens);
}
