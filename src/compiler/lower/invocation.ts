/**
 * An iptables invocation: one command line of a script (`iptables -A INPUT ...`) or one rule
 * line of an iptables-restore file (`-A INPUT ...`), with the words after the program name.
 * Both input forms produce these; the ruleset builder executes them.
 */
import type { Backend, Counters, Family } from '../ir.js';
import type { Span } from '../span.js';
import type { Word } from './words.js';

export interface Invocation {
  /** The family the program works on; `undefined` while a save file's family is not decided. */
  family: Family | undefined;
  /** The words after the program name (`iptables`), quotes removed. */
  args: Word[];
  /** iptables-restore line: the table comes from the `*table` block and `-t` is refused. */
  restore: boolean;
  /** `[p:b]` before a restore line. */
  counters?: { value: Counters; span: Span };
  /** The whole logical line (continuations included), from the program or first word on. */
  span: Span;
  /** The text of `span` with continuations joined, as the rule's `source`. */
  source: string;
  /** The program word, for diagnostics about the command as a whole (the first word if none). */
  head: Span;
  /** Which iptables the line names (`iptables-nft` → nft), if it says. */
  backend: Backend;
}

/** The text between two offsets, continuation lines joined by one blank. */
export function joinedSource(text: string, start: number, end: number): string {
  const source = text.slice(start, end);
  return source.includes('\n') ? source.replace(/[ \t]*\\\r?\n[ \t]*/g, ' ') : source;
}
