/**
 * Small single-option match modules: mac, comment, pkttype, length, mark (libxt_mac.c,
 * libxt_comment.c, libxt_pkttype.c, libxt_length.c, libxt_mark.c).
 */
import type { CommentMatch, LengthMatch, MacMatch, MarkMatch, Neg, PkttypeMatch, Range } from '../../../ir.js';
import { parseUint, UINT16_MAX, UINT32_MAX } from '../../../values/numbers.js';
import { invalid, ok, type Parsed } from '../../../values/result.js';
import { defineMatch, type FinishCall, type OptionSpec } from '../spec.js';

/** A required, single, negatable option stored as `Neg<T>` under `key`. */
function negOption<T, K extends string>(name: string, key: K, parse: (text: string) => Parsed<T>, invert = true): OptionSpec<Partial<Record<K, Neg<T>>>> {
  return {
    names: [name],
    args: 1,
    invert,
    apply(state, call) {
      const v = call.value(parse(call.arg()));
      if (v !== undefined) (state as Record<K, Neg<T>>)[key] = call.neg(v);
    },
  };
}

function required<T>(call: FinishCall, value: T | undefined, module: string, option: string): value is T {
  if (value !== undefined) return true;
  if (!call.given.includes(option)) call.error('E207', { option: `-m ${module}`, needs: `--${option}` });
  return false;
}

/** `XX:XX:XX:XX:XX:XX`, one or two hex digits per byte; printed in lower case. */
export function parseMac(text: string): Parsed<string> {
  const parts = text.split(':');
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{1,2}$/.test(p))) return invalid('MAC address', text, 'expected six hex bytes separated by ":"');
  return ok(parts.map((p) => p.padStart(2, '0').toLowerCase()).join(':'));
}

export const macMatch = defineMatch<{ source?: Neg<string> }>({
  name: 'mac',
  options: [negOption('mac-source', 'source', parseMac)],
  init: () => ({}),
  finish(state, call): MacMatch | undefined {
    if (!required(call, state.source, 'mac', 'mac-source')) return undefined;
    const chain = call.ctx.chain;
    if (chain === 'OUTPUT' || chain === 'POSTROUTING') call.error('E213', { what: '-m mac', chain, reason: 'a source MAC address only exists on received packets (PREROUTING, INPUT, FORWARD)' });
    return { kind: 'match', module: 'mac', span: call.span, source: state.source };
  },
});

/** XT_MAX_COMMENT_LEN - 1. */
export const COMMENT_MAX = 255;

export const commentMatch = defineMatch<{ text?: string }>({
  name: 'comment',
  options: [
    {
      names: ['comment'],
      args: 1,
      apply(state, call) {
        if (call.arg().length > COMMENT_MAX) call.error('E204', { what: 'comment', value: `${call.arg().slice(0, 20)}...`, detail: `: at most ${COMMENT_MAX} characters` });
        else state.text = call.arg();
      },
    },
  ],
  init: () => ({}),
  finish(state, call): CommentMatch | undefined {
    if (!required(call, state.text, 'comment', 'comment')) return undefined;
    return { kind: 'match', module: 'comment', span: call.span, text: state.text };
  },
});

type PktType = PkttypeMatch['pktType']['value'];
/** libxt_pkttype's names in table order; `host` is an alias printed as `unicast`. */
const PKT_TYPES: readonly (readonly [string, PktType])[] = [
  ['unicast', 'unicast'],
  ['broadcast', 'broadcast'],
  ['multicast', 'multicast'],
  ['otherhost', 'otherhost'],
  ['outgoing', 'outgoing'],
  ['loopback', 'loopback'],
  ['host', 'unicast'],
];

function parsePktType(text: string): Parsed<PktType> {
  const t = PKT_TYPES.find(([n]) => n === text.toLowerCase());
  return t ? ok(t[1]) : invalid('packet type', text, 'expected unicast, broadcast, multicast, otherhost, outgoing, loopback or host');
}

export const pkttypeMatch = defineMatch<{ pktType?: Neg<PktType> }>({
  name: 'pkttype',
  options: [negOption('pkt-type', 'pktType', parsePktType)],
  init: () => ({}),
  finish(state, call): PkttypeMatch | undefined {
    if (!required(call, state.pktType, 'pkttype', 'pkt-type')) return undefined;
    return { kind: 'match', module: 'pkttype', span: call.span, pktType: state.pktType };
  },
});

/** `a`, `a:b`, `a:`, `:b`, `:` of numbers (base 0) in [0, max]. */
export function parseNumberRange(text: string, max: number, what: string): Parsed<Range> {
  const colon = text.indexOf(':');
  const lo = colon < 0 ? text : text.slice(0, colon);
  const hi = colon < 0 ? text : text.slice(colon + 1);
  const from = lo === '' ? 0 : parseUint(lo, 0, max);
  const to = hi === '' ? max : parseUint(hi, 0, max);
  if (from === undefined || to === undefined) return invalid(what, text, `expected a number 0 to ${max} or a range a:b`);
  if (from > to) return invalid(what, text, 'the first number is greater than the second');
  return ok({ from, to });
}

export const lengthMatch = defineMatch<{ length?: Neg<Range> }>({
  name: 'length',
  options: [negOption('length', 'length', (t) => parseNumberRange(t, UINT16_MAX, 'length'))],
  init: () => ({}),
  finish(state, call): LengthMatch | undefined {
    if (!required(call, state.length, 'length', 'length')) return undefined;
    return { kind: 'match', module: 'length', span: call.span, length: state.length };
  },
});

/** `value[/mask]` of 32-bit numbers (base 0); the mask defaults to 0xffffffff. */
export function parseMarkValue(text: string, what = 'mark'): Parsed<{ value: number; mask: number }> {
  const slash = text.indexOf('/');
  const value = parseUint(slash < 0 ? text : text.slice(0, slash), 0, UINT32_MAX);
  const mask = slash < 0 ? UINT32_MAX : parseUint(text.slice(slash + 1), 0, UINT32_MAX);
  if (value === undefined || mask === undefined) return invalid(what, text, 'expected value[/mask], numbers 0 to 0xffffffff');
  return ok({ value, mask });
}

export const markMatch = defineMatch<{ mark?: Neg<{ value: number; mask: number }> }>({
  name: 'mark',
  options: [negOption('mark', 'mark', (t) => parseMarkValue(t))],
  init: () => ({}),
  finish(state, call): MarkMatch | undefined {
    if (!required(call, state.mark, 'mark', 'mark')) return undefined;
    return { kind: 'match', module: 'mark', span: call.span, mark: state.mark };
  },
});
