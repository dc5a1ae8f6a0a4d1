/**
 * The shapes the option level is built from. Each iptables extension (match module or target)
 * is a {@link MatchSpec} / {@link TargetSpec}: its option table, a mutable parse state, and a
 * `finish` that runs the extension's final checks and builds the IR node. This mirrors
 * iptables' own split into `x6_options` + `x6_parse` + `x6_fcheck` per extension.
 */
import type { Diagnostic } from '../../diagnostics.js';
import type { MessageCode } from '../../messages.js';
import type { BaseMatches, Family, Match, Neg, Target } from '../../ir.js';
import type { Span } from '../../span.js';
import type { Parsed } from '../../values/result.js';
import type { RuleContext, Word } from '../words.js';

type Params = Record<string, string | number>;

/** One option of an extension (or of the base rule). */
export interface OptionSpec<S> {
  /** Long names without the leading `--`; the first is canonical and used in messages. */
  names: readonly string[];
  /** How many argument words the option takes. */
  args: 0 | 1 | 2;
  /** Whether `!` may precede the option. */
  invert?: boolean;
  /** May be given more than once (default: no, E205). */
  multi?: boolean;
  /** Canonical names of options of the same extension it cannot be combined with (E206). */
  conflicts?: readonly string[];
  apply(state: S, call: OptionCall): void;
}

/** What an option handler gets: its words, its negation and ways to report problems. */
export interface OptionCall {
  /** The option as written (`--dport`, `--destination-port`, `--dpo`). */
  readonly written: string;
  /** The option's canonical long name (`dport` is `destination-port`'s spec name[0]). */
  readonly name: string;
  readonly negated: boolean;
  readonly args: readonly Word[];
  /** The option word through its last argument, including a leading `!`. */
  readonly span: Span;
  readonly ctx: RuleContext;
  /** Text of argument `i`. */
  arg(i?: number): string;
  /** The value of a parse result, or undefined after reporting its problem at argument `i`. */
  value<T>(parsed: Parsed<T>, i?: number): T | undefined;
  /** Reports a diagnostic at argument `i` (or at the option when there are no arguments). */
  error(code: MessageCode, params?: Params, i?: number, notes?: string[]): void;
  /** Wraps a value with this option's negation and span. */
  neg<T>(value: T): Neg<T>;
}

/** What `finish` gets: the rule's final base matches and the extension's span. */
export interface FinishCall {
  readonly ctx: RuleContext;
  readonly base: BaseMatches;
  /** From `-m NAME` (or the first option of an implicit match) to its last option. */
  readonly span: Span;
  /** Canonical names of the options given, in order. */
  readonly given: readonly string[];
  /** For a target: the rule's finished match modules. Empty for matches. */
  readonly matches: readonly Match[];
  error(code: MessageCode, params?: Params, span?: Span, notes?: string[]): void;
}

export interface MatchSpec<S = unknown> {
  kind: 'match';
  /** The name used with `-m` and printed by iptables-save. */
  name: string;
  /** Other names `-m` accepts for it (`icmpv6` for `icmp6`). */
  aliases?: readonly string[];
  /** Restricts the module to one family (`icmp` is IPv4, `hl` IPv6). */
  family?: Family;
  options: readonly OptionSpec<S>[];
  init(ctx: RuleContext): S;
  finish(state: S, call: FinishCall): Match | undefined;
}

export interface TargetSpec<S = unknown> {
  kind: 'target';
  name: string;
  family?: Family;
  options: readonly OptionSpec<S>[];
  init(ctx: RuleContext): S;
  finish(state: S, call: FinishCall): Target | undefined;
}

/** Erases a spec's state type so specs of all extensions fit in one registry. */
export function defineMatch<S>(spec: Omit<MatchSpec<S>, 'kind'>): MatchSpec {
  return { kind: 'match', ...spec } as unknown as MatchSpec;
}

export function defineTarget<S>(spec: Omit<TargetSpec<S>, 'kind'>): TargetSpec {
  return { kind: 'target', ...spec } as unknown as TargetSpec;
}

export type Reporter = (d: Diagnostic) => void;
