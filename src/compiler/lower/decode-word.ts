/**
 * Turns the raw text of one word token into a {@link Word}: quotes removed, escapes resolved,
 * the way the program that reads the input would do it.
 *
 * - Save form: iptables-restore's `add_param_to_argv`: `"` opens and closes a quoted part in
 *   which `\x` stands for `x`; everything else, single quotes and backslashes included, is
 *   literal.
 * - Script form: the shell: `'...'` literal, `"..."` with `\$ \` \" \\` escapes, `\x` outside
 *   quotes, and expansions (`$NAME`, `${NAME}`, `$(...)`, `` `...` ``) that rejectc cannot
 *   perform. Expansions are reported, and their text is kept as written.
 */
import type { InputForm } from '../../../grammar/tokens.js';
import type { SpanSource } from './positions.js';
import { SourceWord, type Word } from './words.js';

/** A shell expansion found in a word: `name` is `IPT` for `$IPT`/`${IPT}`, or `$(...)` as written. */
export interface Expansion {
  name: string;
  /** Where the expansion is (the `$` through its end). */
  start: number;
  end: number;
}

/** A decoded word plus what the decoder noticed on the way. */
export interface DecodedWord {
  word: Word;
  /** Expansions outside single quotes, in order (script form only). */
  expansions: Expansion[];
  /** A quote was opened and not closed before the end of the line. */
  unterminated: boolean;
}

/**
 * Decodes the token text `image` found at offset `start` of the source. Never throws.
 * Preconditions: `image` is one word token of the given form (no unquoted blanks).
 */
export function decodeWord(image: string, start: number, form: InputForm, lines: SpanSource): DecodedWord {
  const out = form === 'save' ? decodeRestore(image) : decodeShell(image, start);
  return {
    word: new SourceWord(out.text, out.quoted, start, start + image.length, lines),
    expansions: out.expansions,
    unterminated: out.unterminated,
  };
}

/**
 * The save-form fast path: just the {@link Word} (no expansions exist in that form). Use
 * {@link restoreUnterminated} to ask whether a quote was left open.
 */
export function restoreWord(image: string, start: number, lines: SpanSource): Word {
  const end = start + image.length;
  if (!image.includes('"')) return new SourceWord(image, false, start, end, lines);
  const d = decodeRestore(image);
  return new SourceWord(d.text, d.quoted, start, end, lines);
}

/** The text of an iptables-restore word (quotes removed), without a place. */
export function restoreText(image: string): string {
  return image.includes('"') ? decodeRestore(image).text : image;
}

/** True if an iptables-restore word opens a double quote it does not close. */
export function restoreUnterminated(image: string): boolean {
  return image.includes('"') && decodeRestore(image).unterminated;
}

interface Decoded {
  text: string;
  quoted: boolean;
  unterminated: boolean;
  expansions: Expansion[];
}

/** Shared by every word without expansions (never mutated). */
const NONE: Expansion[] = [];

function decodeRestore(image: string): Decoded {
  if (!image.includes('"')) return { text: image, quoted: false, unterminated: false, expansions: NONE };
  let text = '';
  let open = false;
  let quoted = false;
  for (let i = 0; i < image.length; i++) {
    const c = image[i]!;
    if (open) {
      if (c === '\\' && i + 1 < image.length) text += image[++i];
      else if (c === '"') open = false;
      else text += c;
    } else if (c === '"') {
      open = true;
      quoted = true;
    } else {
      text += c;
    }
  }
  return { text, quoted, unterminated: open, expansions: NONE };
}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;
const SPECIAL_PARAMETER = /[0-9@*#?$!-]/;

/** Length of the expansion starting with `$` at `i` (0 if the `$` is literal), and its name. */
function expansionAt(image: string, i: number): { length: number; name: string } {
  const next = image[i + 1];
  if (next === '{') {
    const close = image.indexOf('}', i + 2);
    const end = close < 0 ? image.length : close + 1;
    const inner = image.slice(i + 2, close < 0 ? image.length : close);
    const name = /^[A-Za-z_][A-Za-z0-9_]*|^[0-9@*#?$!-]/.exec(inner)?.[0] ?? inner;
    return { length: end - i, name };
  }
  if (next === '(') {
    const close = image.indexOf(')', i + 2);
    const end = close < 0 ? image.length : close + 1;
    return { length: end - i, name: image.slice(i, end) };
  }
  if (next !== undefined && NAME_START.test(next)) {
    let j = i + 2;
    while (j < image.length && NAME_CHAR.test(image[j]!)) j++;
    return { length: j - i, name: image.slice(i + 1, j) };
  }
  if (next !== undefined && SPECIAL_PARAMETER.test(next)) return { length: 2, name: next };
  return { length: 0, name: '' };
}

/** Characters that make a shell word more than its own text: quotes, escapes, expansions. */
const SHELL_SPECIAL = /["'\\$`]/;

function decodeShell(image: string, start: number): Decoded {
  if (!SHELL_SPECIAL.test(image)) return { text: image, quoted: false, unterminated: false, expansions: NONE };
  let text = '';
  let quoted = false;
  let unterminated = false;
  const expansions: Expansion[] = [];
  const expand = (i: number): number => {
    const e = expansionAt(image, i);
    if (e.length === 0) {
      text += '$';
      return i + 1;
    }
    expansions.push({ name: e.name, start: start + i, end: start + i + e.length });
    text += image.slice(i, i + e.length);
    return i + e.length;
  };
  let i = 0;
  while (i < image.length) {
    const c = image[i]!;
    if (c === '\\') {
      quoted = true;
      if (i + 1 < image.length) text += image[i + 1];
      i += 2;
    } else if (c === "'") {
      quoted = true;
      const close = image.indexOf("'", i + 1);
      if (close < 0) {
        unterminated = true;
        text += image.slice(i + 1);
        i = image.length;
      } else {
        text += image.slice(i + 1, close);
        i = close + 1;
      }
    } else if (c === '"') {
      quoted = true;
      i++;
      let closed = false;
      while (i < image.length) {
        const d = image[i]!;
        if (d === '"') {
          closed = true;
          i++;
          break;
        }
        if (d === '\\' && i + 1 < image.length && '$`"\\'.includes(image[i + 1]!)) {
          text += image[i + 1];
          i += 2;
        } else if (d === '$') {
          i = expand(i);
        } else if (d === '`') {
          i = backtick(i);
        } else {
          text += d;
          i++;
        }
      }
      if (!closed) unterminated = true;
    } else if (c === '$') {
      i = expand(i);
    } else if (c === '`') {
      i = backtick(i);
    } else {
      text += c;
      i++;
    }
  }
  return { text, quoted, unterminated, expansions };

  function backtick(i: number): number {
    const close = image.indexOf('`', i + 1);
    const end = close < 0 ? image.length : close + 1;
    if (close < 0) unterminated = true;
    expansions.push({ name: image.slice(i, end), start: start + i, end: start + end });
    text += image.slice(i, end);
    return end;
  }
}
