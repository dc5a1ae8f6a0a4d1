/**
 * `-m state` (libxt_state.c) and `-m conntrack` revision 3 (libxt_conntrack.c). State names
 * are case-insensitive; iptables-save lists them in the fixed order INVALID, NEW, RELATED,
 * ESTABLISHED, UNTRACKED (SNAT, DNAT for conntrack).
 */
import type { Cidr, ConntrackMatch, CtState, CtStatus, Neg, Range, StateMatch } from '../../../ir.js';
import { canonicalAddress, parseMaskText } from '../../../values/addresses.js';
import { parseUint, UINT32_MAX } from '../../../values/numbers.js';
import { parsePortRange } from '../../../values/ports.js';
import { parseProtocol } from '../../../values/protocols.js';
import { fail, invalid, ok, type Parsed } from '../../../values/result.js';
import { defineMatch, type OptionSpec } from '../spec.js';

/** Save order of states. */
export const CT_STATES: readonly CtState[] = ['INVALID', 'NEW', 'RELATED', 'ESTABLISHED', 'UNTRACKED', 'SNAT', 'DNAT'];
/** Save order of conntrack statuses (NONE only alone). */
export const CT_STATUSES: readonly CtStatus[] = ['EXPECTED', 'SEEN_REPLY', 'ASSURED', 'CONFIRMED'];

const LOWER_CASE_NAMES = new WeakMap<readonly string[], Map<string, string>>();

/** `known` by lower-case name (the first of equal names wins, as a search in order would). */
function byLowerCase<T extends string>(known: readonly T[]): Map<string, T> {
  let map = LOWER_CASE_NAMES.get(known);
  if (!map) {
    map = new Map();
    for (const k of known) if (!map.has(k.toLowerCase())) map.set(k.toLowerCase(), k);
    LOWER_CASE_NAMES.set(known, map);
  }
  return map as Map<string, T>;
}

function parseNameList<T extends string>(text: string, known: readonly T[], what: string): Parsed<T[]> {
  const seen = new Set<T>();
  const names = byLowerCase(known);
  for (const item of text.split(',')) {
    const found = names.get(item.toLowerCase());
    if (!found) return invalid(what, item === '' ? text : item, `expected ${known.join(', ')}`);
    seen.add(found);
  }
  return ok(known.filter((k) => seen.has(k)));
}

/** The states `-m state` knows (conntrack adds SNAT and DNAT). */
const STATE_STATES = CT_STATES.slice(0, 5);

/** A comma list of state names (case-insensitive), in save order; SNAT/DNAT only for conntrack. */
export function parseStates(text: string, allowNat: boolean): Parsed<CtState[]> {
  return parseNameList(text, allowNat ? CT_STATES : STATE_STATES, 'state');
}

interface StateState {
  states?: CtState[];
  negated?: boolean;
}

export const stateMatch = defineMatch<StateState>({
  name: 'state',
  options: [
    {
      names: ['state'],
      args: 1,
      invert: true,
      apply(state, call) {
        const s = call.value(parseStates(call.arg(), false));
        if (s) {
          state.states = s;
          state.negated = call.negated;
        }
      },
    },
  ],
  init: () => ({}),
  finish(state, call): StateMatch | undefined {
    if (!state.states) {
      if (!call.given.includes('state')) call.error('E207', { option: '-m state', needs: '--state' });
      return undefined;
    }
    return { kind: 'match', module: 'state', span: call.span, negated: state.negated ?? false, states: state.states };
  },
});

/**
 * A conntrack address: `addr[/mask]`, kept as written (iptables does not clear host bits here
 * and prints `addr` alone for a full mask).
 */
export function parseCtAddress(text: string, family: 'ipv4' | 'ipv6'): Parsed<Cidr> {
  const slash = text.lastIndexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const address = canonicalAddress(addrText, family);
  if (address === undefined) {
    return /^[A-Za-z0-9_.-]+$/.test(addrText) && /[A-Za-z_]/.test(addrText) ? fail('E208', { value: addrText }) : invalid('address', addrText);
  }
  let prefix = family === 'ipv4' ? 32 : 128;
  if (slash >= 0) {
    const m = parseMaskText(text.slice(slash + 1), family);
    if (!m.ok) return m;
    prefix = m.value;
  }
  return ok({ address, prefix });
}

type CtState3 = Partial<Omit<ConntrackMatch, 'kind' | 'module' | 'span'>>;
type CtKey = keyof CtState3;

function ctOption(name: string, key: CtKey, invert: boolean, parse: (text: string, family: 'ipv4' | 'ipv6') => Parsed<unknown>): OptionSpec<CtState3> {
  return {
    names: [name],
    args: 1,
    invert,
    apply(state, call) {
      const v = call.value(parse(call.arg(), call.ctx.family));
      if (v === undefined) return;
      (state as Record<string, unknown>)[key] = key === 'ctdir' ? { value: v, span: call.span } : call.neg(v);
    },
  };
}

function parseCtProto(text: string): Parsed<number> {
  const p = parseProtocol(text);
  if (p.ok && p.value === 0) return invalid('protocol', text, 'conntrack cannot match protocol 0');
  return p;
}

function parseExpire(text: string): Parsed<Range> {
  const colon = text.indexOf(':');
  const lo = colon < 0 ? text : text.slice(0, colon);
  const hi = colon < 0 ? text : text.slice(colon + 1);
  const from = lo === '' ? 0 : parseUint(lo, 0, UINT32_MAX);
  const to = hi === '' ? UINT32_MAX : parseUint(hi, 0, UINT32_MAX);
  if (from === undefined || to === undefined) return invalid('expire time', text, 'expected seconds 0 to 4294967295 or a range a:b');
  if (from > to) return invalid('expire time', text, 'the first number is greater than the second');
  return ok({ from, to });
}

/** `--ctstatus`: names (NONE is the empty set); stored in save order, `['NONE']` when empty. */
function parseCtStatus(text: string): Parsed<CtStatus[]> {
  const list = parseNameList(text, ['NONE', ...CT_STATUSES] as const, 'conntrack status');
  if (!list.ok) return list;
  const set = list.value.filter((s) => s !== 'NONE');
  return ok(set.length > 0 ? set : ['NONE']);
}

const ctPort = (text: string) => parsePortRange(text, undefined, 'xtopt');

export const conntrackMatch = defineMatch<CtState3>({
  name: 'conntrack',
  options: [
    ctOption('ctstate', 'ctstate', true, (t) => parseStates(t, true)),
    ctOption('ctproto', 'ctproto', true, parseCtProto),
    ctOption('ctorigsrc', 'ctorigsrc', true, parseCtAddress),
    ctOption('ctorigdst', 'ctorigdst', true, parseCtAddress),
    ctOption('ctreplsrc', 'ctreplsrc', true, parseCtAddress),
    ctOption('ctrepldst', 'ctrepldst', true, parseCtAddress),
    ctOption('ctorigsrcport', 'ctorigsrcport', true, ctPort),
    ctOption('ctorigdstport', 'ctorigdstport', true, ctPort),
    ctOption('ctreplsrcport', 'ctreplsrcport', true, ctPort),
    ctOption('ctrepldstport', 'ctrepldstport', true, ctPort),
    ctOption('ctstatus', 'ctstatus', true, parseCtStatus),
    ctOption('ctexpire', 'ctexpire', true, parseExpire),
    ctOption('ctdir', 'ctdir', false, (t) => {
      const u = t.toUpperCase();
      return u === 'ORIGINAL' || u === 'REPLY' ? ok(u) : invalid('direction', t, 'expected ORIGINAL or REPLY');
    }),
  ],
  init: () => ({}),
  finish(state, call): ConntrackMatch | undefined {
    if (call.given.length === 0) {
      call.error('E207', { option: '-m conntrack', needs: 'at least one --ct option' });
      return undefined;
    }
    return { kind: 'match', module: 'conntrack', span: call.span, ...state };
  },
});
