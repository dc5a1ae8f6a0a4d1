/**
 * Comparing IR without source positions: `iptables -D CHAIN rule` deletes the first rule with
 * the same specification, and property tests compare a reparsed IR with the original.
 */
import type { Rule } from '../ir.js';

/** Keys that say where a node came from, not what it means. */
const SOURCE_KEYS = new Set(['span', 'source']);

/** A deep copy of `value` without `span` and `source` keys (plain JSON data in, plain data out). */
export function stripSpans<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => stripSpans(v)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (!SOURCE_KEYS.has(k) && v !== undefined) out[k] = stripSpans(v);
    return out as T;
  }
  return value;
}

/** Deep equality of plain JSON data, ignoring `span`/`source` keys and undefined properties. */
export function equalIgnoringSpans(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => equalIgnoringSpans(x, b[i]));
  }
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object' || Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => !SOURCE_KEYS.has(k) && (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => !SOURCE_KEYS.has(k) && (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => equalIgnoringSpans((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** Same rule specification: base matches, matches and target equal; spans, text and counters aside. */
export function sameRuleSpec(a: Rule, b: Rule): boolean {
  return equalIgnoringSpans(a.base, b.base) && equalIgnoringSpans(a.matches, b.matches) && equalIgnoringSpans(a.target, b.target);
}
