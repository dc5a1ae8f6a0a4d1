/**
 * IPv6 extension-header matches: `-m frag` (libip6t_frag.c), `-m ipv6header`
 * (libip6t_ipv6header.c) and `-m rt` (libip6t_rt.c).
 */
import type { FragMatch, Ipv6headerMatch, Neg, Range, RtMatch } from '../../../ir.js';
import { formatIpv6, parseIpv6 } from '../../../values/addresses.js';
import { parseUint, UINT32_MAX } from '../../../values/numbers.js';
import { protocolName } from '../../../values/protocols.js';
import { invalid, ok, type Parsed } from '../../../values/result.js';
import { defineMatch, type OptionSpec } from '../spec.js';
import { parseNumberRange } from './simple.js';

function u32(text: string, what: string): Parsed<number> {
  const v = parseUint(text, 0, UINT32_MAX);
  return v === undefined ? invalid(what, text, 'expected 0 to 4294967295') : ok(v);
}

/** A range that iptables does not store: everything, not negated. */
function keepRange(r: Neg<Range> | undefined): Neg<Range> | undefined {
  return r && (r.negated || r.value.from !== 0 || r.value.to !== UINT32_MAX) ? r : undefined;
}

type FragState = Partial<Omit<FragMatch, 'kind' | 'module' | 'span'>>;

function fragFlag(name: string, key: 'reserved' | 'first' | 'more' | 'last', conflicts?: string[]): OptionSpec<FragState> {
  const spec: OptionSpec<FragState> = { names: [name], args: 0, apply: (s) => void (s[key] = true) };
  if (conflicts) spec.conflicts = conflicts;
  return spec;
}

export const fragMatch = defineMatch<FragState>({
  name: 'frag',
  family: 'ipv6',
  options: [
    {
      names: ['fragid'],
      args: 1,
      invert: true,
      apply(state, call) {
        const r = call.value(parseNumberRange(call.arg(), UINT32_MAX, 'fragment id'));
        if (r) state.id = call.neg(r);
      },
    },
    {
      names: ['fraglen'],
      args: 1,
      invert: true,
      apply(state, call) {
        const v = call.value(u32(call.arg(), 'fragment header length'));
        if (v !== undefined) state.len = call.neg(v);
      },
    },
    fragFlag('fragres', 'reserved'),
    fragFlag('fragfirst', 'first'),
    fragFlag('fragmore', 'more', ['fraglast']),
    fragFlag('fraglast', 'last', ['fragmore']),
  ],
  init: () => ({}),
  finish(state, call): FragMatch {
    const m: FragMatch = { kind: 'match', module: 'frag', span: call.span, ...state };
    const id = keepRange(state.id);
    if (id) m.id = id;
    else delete m.id;
    return m;
  },
});

/** ipv6header names in save order with their protocol numbers and short aliases. */
export const IPV6_HEADERS: readonly (readonly [name: string, proto: number, alias: string])[] = [
  ['hop-by-hop', 0, 'hop'],
  ['ipv6-opts', 60, 'dst'],
  ['ipv6-route', 43, 'route'],
  ['ipv6-frag', 44, 'frag'],
  ['ah', 51, 'auth'],
  ['esp', 50, 'esp'],
  ['ipv6-nonxt', 59, 'none'],
  ['protocol', 255, 'prot'],
];

function parseHeaders(text: string): Parsed<string[]> {
  const set = new Set<string>();
  for (const item of text.split(',')) {
    const n = parseUint(item, 0, 255);
    const proto = n ?? IPV6_HEADERS.find(([name, , alias]) => name === item || alias === item)?.[1];
    const row = IPV6_HEADERS.find(([, p]) => p === proto);
    if (!row) return invalid('IPv6 header', item, `${n !== undefined ? `protocol ${protocolName(n) ?? n} is not an extension header; ` : ''}expected hop-by-hop, ipv6-opts, ipv6-route, ipv6-frag, ah, esp, ipv6-nonxt or protocol`);
    set.add(row[0]);
  }
  return ok(IPV6_HEADERS.map(([name]) => name).filter((n) => set.has(n)));
}

interface Ipv6headerState {
  headers?: string[];
  negated: boolean;
  soft: boolean;
}

export const ipv6headerMatch = defineMatch<Ipv6headerState>({
  name: 'ipv6header',
  family: 'ipv6',
  options: [
    {
      names: ['header'],
      args: 1,
      invert: true,
      apply(state, call) {
        const h = call.value(parseHeaders(call.arg()));
        if (h) {
          state.headers = h;
          state.negated = call.negated;
        }
      },
    },
    { names: ['soft'], args: 0, apply: (s) => void (s.soft = true) },
  ],
  init: () => ({ negated: false, soft: false }),
  finish(state, call): Ipv6headerMatch | undefined {
    if (!state.headers) {
      if (!call.given.includes('header')) call.error('E207', { option: '-m ipv6header', needs: '--header' });
      return undefined;
    }
    return { kind: 'match', module: 'ipv6header', span: call.span, negated: state.negated, headers: state.headers, soft: state.soft };
  },
});

type RtState = Partial<Omit<RtMatch, 'kind' | 'module' | 'span'>>;

export const rtMatch = defineMatch<RtState>({
  name: 'rt',
  family: 'ipv6',
  options: [
    {
      names: ['rt-type'],
      args: 1,
      invert: true,
      apply(state, call) {
        const v = call.value(u32(call.arg(), 'routing header type'));
        if (v !== undefined) state.rtType = call.neg(v);
      },
    },
    {
      names: ['rt-segsleft'],
      args: 1,
      invert: true,
      apply(state, call) {
        const r = call.value(parseNumberRange(call.arg(), UINT32_MAX, 'segments left'));
        if (r) state.segsLeft = call.neg(r);
      },
    },
    {
      names: ['rt-len'],
      args: 1,
      invert: true,
      apply(state, call) {
        const v = call.value(u32(call.arg(), 'routing header length'));
        if (v !== undefined) state.len = call.neg(v);
      },
    },
    { names: ['rt-0-res'], args: 0, apply: (s) => void (s.reserved = true) },
    {
      names: ['rt-0-addrs'],
      args: 1,
      apply(state, call) {
        if (!state.rtType || state.rtType.negated || state.rtType.value !== 0) {
          return call.error('E207', { option: '--rt-0-addrs', needs: '--rt-type 0 before it' });
        }
        const addrs: string[] = [];
        for (const a of call.arg().split(',')) {
          const w = parseIpv6(a);
          if (!w) return call.error('E204', { what: 'IPv6 address', value: a, detail: '' });
          addrs.push(formatIpv6(w));
        }
        if (addrs.length > 16) return call.error('E204', { what: 'address list', value: call.arg(), detail: ': at most 16 addresses' });
        state.addrs = addrs;
      },
    },
    {
      names: ['rt-0-not-strict'],
      args: 0,
      apply(state, call) {
        if (!state.addrs) call.error('E207', { option: '--rt-0-not-strict', needs: '--rt-0-addrs before it' });
        else state.notStrict = true;
      },
    },
  ],
  init: () => ({}),
  finish(state, call): RtMatch {
    const m: RtMatch = { kind: 'match', module: 'rt', span: call.span, ...state };
    const seg = keepRange(state.segsLeft);
    if (seg) m.segsLeft = seg;
    else delete m.segsLeft;
    return m;
  },
});
