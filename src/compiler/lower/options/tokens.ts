/**
 * How getopt_long sees one word of a rule: `--name`, `--name=value`, `-x`, `-xVALUE`, a lone
 * `!` (iptables' negation), or a plain argument.
 */
import type { Span } from '../../span.js';
import type { Word } from '../words.js';

/** `written` is the option as typed, without an inline `=value` (for messages). */
export type OptionToken =
  | { kind: 'long'; word: Word; written: string; name: string; inline?: Word }
  | { kind: 'short'; word: Word; written: string; letter: string; inline?: Word }
  | { kind: 'bang'; word: Word }
  | { kind: 'arg'; word: Word };

/** The span of characters [from, to) of an unquoted single-line word; the whole word otherwise. */
export function subSpan(word: Word, from: number, to = word.text.length): Span {
  const { start, end } = word.span;
  if (word.quoted || start.line !== end.line || end.offset - start.offset !== word.text.length) return word.span;
  return {
    file: word.span.file,
    start: { line: start.line, column: start.column + from, offset: start.offset + from },
    end: { line: start.line, column: start.column + to, offset: start.offset + to },
  };
}

function inlineWord(word: Word, from: number): Word {
  return { text: word.text.slice(from), span: subSpan(word, from), quoted: word.quoted };
}

/** Classifies a word the way getopt_long does (a quoted `!` is an argument, not a negation). */
export function tokenize(word: Word): OptionToken {
  const t = word.text;
  if (t === '!' && !word.quoted) return { kind: 'bang', word };
  if (t.startsWith('--') && t.length > 2) {
    const eq = t.indexOf('=');
    if (eq > 2) return { kind: 'long', word, written: t.slice(0, eq), name: t.slice(2, eq), inline: inlineWord(word, eq + 1) };
    return { kind: 'long', word, written: t, name: t.slice(2) };
  }
  if (t.startsWith('-') && t.length > 1 && t !== '--') {
    const tok: OptionToken = { kind: 'short', word, written: t, letter: t[1]! };
    if (t.length > 2) tok.inline = inlineWord(word, 2);
    return tok;
  }
  return { kind: 'arg', word };
}
