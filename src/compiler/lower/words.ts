/**
 * The contract between the statement level of the front end (grammar/ and
 * lower/ruleset.ts: tables, chains, commands, shell scripts) and the option level
 * (lower/options/: base options, match modules, targets).
 *
 * The grammar does not know which options take values (`--syn` takes none, `--dport` one,
 * `--tcp-flags` two): it hands each rule over as a flat list of words, and the option level
 * interprets them with its tables of modules.
 */
import type { Diagnostic } from '../diagnostics.js';
import type { BaseMatches, Backend, Counters, Family, Match, Target, TableName } from '../ir.js';
import { joinSpans, type Span } from '../span.js';
import type { SpanSource } from './positions.js';

/** One shell word of a rule, after quote removal and continuation joining. */
export interface Word {
  /** The word's value: quotes removed, escapes resolved. */
  text: string;
  /** Where the word is in the source (quotes included). */
  span: Span;
  /** True if any part of the word was quoted (a quoted "!" is a value, not a negation). */
  quoted: boolean;
}

/**
 * A word read from the source text, whose span is computed when first asked for. Most words
 * only lend their start or end to a longer span ({@link spanOfWords}), so their own span is
 * never built.
 */
export class SourceWord implements Word {
  private placed: Span | undefined;

  /** `start`/`end`: offsets of the word in the text `source` places (quotes included). */
  constructor(
    readonly text: string,
    readonly quoted: boolean,
    readonly start: number,
    readonly end: number,
    readonly source: SpanSource,
  ) {}

  get span(): Span {
    return (this.placed ??= this.source.span(this.start, this.end));
  }
}

/** The span from the start of word `from` to the end of word `to` (`to` not before `from`). */
export function spanOfWords(from: Word, to: Word): Span {
  if (from instanceof SourceWord && to instanceof SourceWord && from.source === to.source) return from.source.span(from.start, to.end);
  return joinSpans(from.span, to.span);
}

/** What the option level needs to know about where a rule appears. */
export interface RuleContext {
  family: Family;
  table: TableName;
  chain: string;
  backend: Backend;
}

/** The option-level result for one rule's words (everything after `-A CHAIN` / `-I CHAIN [n]`). */
export interface LoweredRuleOptions {
  base: BaseMatches;
  matches: Match[];
  target: Target | null;
  diagnostics: Diagnostic[];
  /** `-c PKTS BYTES` / `-c PKTS,BYTES` (`--set-counters`) given among the options, if any. */
  counters?: Counters;
}
