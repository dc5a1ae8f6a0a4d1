/**
 * Value parsers are pure functions from text to a typed value. They do not know where the
 * text came from, so instead of diagnostics they return a {@link Problem} (a message code and
 * its parameters) that the option level turns into a diagnostic at the word's span.
 */
import type { MessageCode } from '../messages.js';

export interface Problem {
  code: MessageCode;
  params: Record<string, string | number>;
  notes?: string[];
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: Problem };

export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

export function fail(code: MessageCode, params: Record<string, string | number> = {}, notes?: string[]): { ok: false; problem: Problem } {
  return notes ? { ok: false, problem: { code, params, notes } } : { ok: false, problem: { code, params } };
}

/**
 * E204 `invalid {what} "{value}"{detail}`. `detail` is a short reason without leading
 * punctuation ("must be 0..65535"); it is rendered after a colon.
 */
export function invalid(what: string, value: string, detail?: string): { ok: false; problem: Problem } {
  return fail('E204', { what, value, detail: detail ? `: ${detail}` : '' });
}
