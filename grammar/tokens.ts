/**
 * Tokens of rejectc's input: iptables-save / iptables-restore files and shell scripts of
 * iptables command lines. Each token is declared once here.
 *
 * The two input forms split words differently, so the lexer has one mode per form:
 *
 * - `save`: iptables-restore's own tokenizer (`add_param_to_argv` in iptables/xshared.c).
 *   Only double quotes group (with `\` escapes inside them); single quotes and backslashes
 *   are ordinary characters; `#` starts a comment only in column 1, as do `*table`, `:chain`
 *   and `COMMIT` (iptables-restore looks at `buffer[0]`).
 * - `script`: the shell's word splitting, enough of it for iptables command lines: single and
 *   double quotes, backslash escapes, `$VAR`, `${VAR}`, `$(...)`, backticks, `\`-newline
 *   continuations, `#` comments at a word start, `;` `&&` `||` `|` `&` separators and
 *   redirections.
 *
 * Token order inside a mode is deliberate (chevrotain tries the patterns in order and takes
 * the first match, except where `longer_alt` says otherwise):
 * 1. `Newline` before `Whitespace`, so `\r\n` is one line end and a lone `\r` is blank space.
 * 2. `Continuation` (script) before everything that could start with a backslash.
 * 3. Column-1 tokens (`TableHeader`, `ChainDecl`, `Commit`, save `Comment`) before `Word`:
 *    their patterns only match at the start of a line, so in any other place the same
 *    characters fall through to `Word` (e.g. `-m comment --comment :x` keeps `:x` a word).
 * 4. `Counters` before `Word`, with `longer_alt: SaveWord` so `[1:2]x` stays one word.
 * 5. `Redirect` before `Operator` (script), because `&>` is a redirection, not `&`.
 * 6. `Word` last: everything no other token claims is part of a word, so the lexer never
 *    fails on any input.
 *
 * Lexing never errors and never throws: `Word` accepts every character the other tokens leave.
 */
import type { CustomPatternMatcherFunc, TokenType } from 'chevrotain';
import { createToken, Lexer } from './chevrotain.js';

/** The two lexer modes, one per input form. */
export type InputForm = 'save' | 'script';

// ---------------------------------------------------------------------------------------------
// Categories: the parser consumes these; the concrete tokens differ per mode.

/** Any word (an argument of a command). */
export const Word = createToken({ name: 'Word', pattern: Lexer.NA });
/** Any comment. */
export const Comment = createToken({ name: 'Comment', pattern: Lexer.NA });

// ---------------------------------------------------------------------------------------------
// Shared tokens.

/** A line end: `\n` or `\r\n`. Lines are the statements of both forms. */
export const Newline = createToken({ name: 'Newline', pattern: /\r?\n/, line_breaks: true, label: 'end of line' });

/** Blanks between words. A `\r` not followed by `\n` (stray CR) counts as blank. */
export const Whitespace = createToken({ name: 'Whitespace', pattern: /[ \t\f\v\r]+/, group: Lexer.SKIPPED });

// ---------------------------------------------------------------------------------------------
// Column-1 tokens of the save form.

function atLineStart(text: string, offset: number): boolean {
  return offset === 0 || text.charCodeAt(offset - 1) === 10;
}

/** Matches `re` (sticky) at `offset`, but only in column 1. */
function columnOne(re: RegExp): CustomPatternMatcherFunc {
  const sticky = new RegExp(re.source, 'y');
  return (text, offset) => {
    if (!atLineStart(text, offset)) return null;
    sticky.lastIndex = offset;
    return sticky.exec(text);
  };
}

/**
 * The patterns of the save form's tokens, shared with the save form's fast path
 * (src/compiler/lower/save-lines.ts), which must split words exactly as this lexer does.
 * The column-1 patterns hold only at the start of a line.
 */
export const SAVE_PATTERNS = {
  tableHeader: /\*[^\s]*/,
  chainDecl: /:[^\s]*/,
  commit: /COMMIT(?=[ \t\r\n]|$)/,
  comment: /#[^\n]*/,
  counters: /\[[0-9]+:[0-9]+\]/,
  word: /(?:[^\s"]|"(?:[^"\\\n]|\\[^\n])*"?)+/,
} as const;

/** `*filter`: starts a table block. The name is the rest of the word. */
export const TableHeader = createToken({
  name: 'TableHeader',
  pattern: columnOne(SAVE_PATTERNS.tableHeader),
  start_chars_hint: ['*'],
  line_breaks: false,
  label: '"*table"',
});

/** `:CHAIN`: declares a chain; the policy and `[p:b]` follow as separate tokens. */
export const ChainDecl = createToken({
  name: 'ChainDecl',
  pattern: columnOne(SAVE_PATTERNS.chainDecl),
  start_chars_hint: [':'],
  line_breaks: false,
  label: '":CHAIN"',
});

/** `COMMIT`: ends a table block. */
export const Commit = createToken({
  name: 'Commit',
  pattern: columnOne(SAVE_PATTERNS.commit),
  start_chars_hint: ['C'],
  line_breaks: false,
  label: '"COMMIT"',
});

/** `# ...` in column 1: iptables-restore's comment line. */
export const SaveComment = createToken({
  name: 'SaveComment',
  pattern: columnOne(SAVE_PATTERNS.comment),
  start_chars_hint: ['#'],
  line_breaks: false,
  categories: [Comment],
});

/**
 * One word as iptables-restore splits it: non-blank characters, where `"..."` may contain
 * blanks and `\x` escapes. An unterminated quote runs to the end of the line (the word
 * decoder reports it).
 */
export const SaveWord = createToken({
  name: 'SaveWord',
  pattern: SAVE_PATTERNS.word,
  categories: [Word],
  label: 'word',
});

/** `[packets:bytes]` counters (iptables-save -c); must be a whole word. */
export const Counters = createToken({
  name: 'Counters',
  pattern: SAVE_PATTERNS.counters,
  longer_alt: SaveWord,
  label: '"[packets:bytes]"',
});

// ---------------------------------------------------------------------------------------------
// Shell tokens of the script form.

/** Backslash-newline: the logical line continues on the next physical line. */
export const Continuation = createToken({
  name: 'Continuation',
  pattern: /\\\r?\n/,
  line_breaks: true,
  group: Lexer.SKIPPED,
});

/**
 * `#` at the start of a word, to the end of the line. A `#` inside a word (`root@host:~#`,
 * `$#`) is part of that word, because the word pattern swallows it first.
 */
export const ShellComment = createToken({ name: 'ShellComment', pattern: /#[^\n]*/, categories: [Comment] });

/** `2>&1`, `> /dev/null`, `&>>`, `<<EOF`...: a redirection operator (its file is the next word). */
export const Redirect = createToken({
  name: 'Redirect',
  pattern: /[0-9]*(?:&>>|&>|>>|>&|<&|>\||<<<|<<-|<<|<>|>|<)(?:[0-9]+-?|-)?/,
  label: 'redirection',
});

/** Command separators: `;` `;;` `&&` `||` `|` `&`. */
export const Operator = createToken({ name: 'Operator', pattern: /;;|;|&&|\|\||\||&/, label: 'separator' });

/**
 * One shell word: unquoted characters other than blanks and operators, `\x` escapes,
 * `'...'`, `"..."` (with `\x` escapes), `$(...)`, `${...}`, `` `...` ``. Quotes end at the end
 * of their line at the latest (an unterminated quote is reported by the word decoder, never
 * swallows the rest of the file).
 */
export const ShellWord = createToken({
  name: 'ShellWord',
  pattern:
    /(?:[^\s;&|<>'"\\`$]|\\(?!\r?\n)[\s\S]?|'[^'\n]*'?|"(?:[^"\\\n]|\\[^\n])*"?|\$\([^)\n]*\)?|\$\{[^}\n]*\}?|`[^`\n]*`?|\$)+/,
  categories: [Word],
  label: 'word',
});

// ---------------------------------------------------------------------------------------------

/** Tokens of each mode, in matching order (see the file comment for why this order). */
export const MODES: Record<InputForm, TokenType[]> = {
  save: [Newline, Whitespace, TableHeader, ChainDecl, Commit, SaveComment, Counters, SaveWord],
  script: [Newline, Continuation, Whitespace, ShellComment, Redirect, Operator, ShellWord],
};

/** Every token type the parser knows (categories included). */
export const ALL_TOKENS: TokenType[] = [
  Word,
  Comment,
  Newline,
  Whitespace,
  TableHeader,
  ChainDecl,
  Commit,
  SaveComment,
  SaveWord,
  Counters,
  Continuation,
  ShellComment,
  Redirect,
  Operator,
  ShellWord,
];

/** The one lexer instance. Positions are computed from offsets by the caller (LineMap). */
export const lexer = new Lexer(
  { modes: MODES, defaultMode: 'script' },
  // safeMode: the word patterns are complement sets, which chevrotain's first-char optimisation
  // cannot index; trying the few patterns of a mode in order is fast enough (see bench-parse).
  { positionTracking: 'onlyOffset', safeMode: true },
);
