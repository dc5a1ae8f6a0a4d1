/**
 * `-m addrtype` revision 1 (libxt_addrtype.c, kernel xt_addrtype.c). Type names are
 * case-insensitive; iptables-save lists them in bit order. `--limit-iface-in` is only valid in
 * PREROUTING, INPUT and FORWARD, `--limit-iface-out` in OUTPUT, POSTROUTING and FORWARD, and
 * IPv6 cannot match BROADCAST, BLACKHOLE or the route types from PROHIBIT on.
 */
import type { AddrType, AddrtypeMatch, Neg } from '../../../ir.js';
import { invalid, ok, type Parsed } from '../../../values/result.js';
import { defineMatch, type FinishCall } from '../spec.js';

/** In bit order (UNSPEC = 1 << 0 ... XRESOLVE = 1 << 11). */
export const ADDR_TYPES: readonly AddrType[] = ['UNSPEC', 'UNICAST', 'LOCAL', 'BROADCAST', 'ANYCAST', 'MULTICAST', 'BLACKHOLE', 'UNREACHABLE', 'PROHIBIT', 'THROW', 'NAT', 'XRESOLVE'];

const V6_REFUSED: readonly AddrType[] = ['BROADCAST', 'BLACKHOLE', 'PROHIBIT', 'THROW', 'NAT', 'XRESOLVE'];

function parseTypes(text: string): Parsed<AddrType[]> {
  const set = new Set<AddrType>();
  for (const item of text.split(',')) {
    const t = ADDR_TYPES.find((a) => a.toLowerCase() === item.toLowerCase());
    if (!t) return invalid('address type', item === '' ? text : item, `expected ${ADDR_TYPES.join(', ')}`);
    set.add(t);
  }
  return ok(ADDR_TYPES.filter((t) => set.has(t)));
}

interface AddrtypeState {
  srcType?: Neg<AddrType[]>;
  dstType?: Neg<AddrType[]>;
  limitIfaceIn?: boolean;
  limitIfaceOut?: boolean;
}

const IN_CHAINS = ['PREROUTING', 'INPUT', 'FORWARD'];
const OUT_CHAINS = ['OUTPUT', 'POSTROUTING', 'FORWARD'];
const BUILTINS = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'];

function checkChain(call: FinishCall, option: string, allowed: string[]): void {
  const chain = call.ctx.chain;
  if (BUILTINS.includes(chain) && !allowed.includes(chain)) {
    call.error('E213', { what: `"${option}"`, chain, reason: `it is only valid in ${allowed.join(', ')}` });
  }
}

export const addrtypeMatch = defineMatch<AddrtypeState>({
  name: 'addrtype',
  options: [
    {
      names: ['src-type'],
      args: 1,
      invert: true,
      apply(state, call) {
        const t = call.value(parseTypes(call.arg()));
        if (t) state.srcType = call.neg(t);
      },
    },
    {
      names: ['dst-type'],
      args: 1,
      invert: true,
      apply(state, call) {
        const t = call.value(parseTypes(call.arg()));
        if (t) state.dstType = call.neg(t);
      },
    },
    { names: ['limit-iface-in'], args: 0, conflicts: ['limit-iface-out'], apply: (s) => void (s.limitIfaceIn = true) },
    { names: ['limit-iface-out'], args: 0, conflicts: ['limit-iface-in'], apply: (s) => void (s.limitIfaceOut = true) },
  ],
  init: () => ({}),
  finish(state, call): AddrtypeMatch | undefined {
    if (!call.given.includes('src-type') && !call.given.includes('dst-type')) {
      call.error('E207', { option: '-m addrtype', needs: '--src-type or --dst-type' });
      return undefined;
    }
    if (state.limitIfaceIn) checkChain(call, '--limit-iface-in', IN_CHAINS);
    if (state.limitIfaceOut) checkChain(call, '--limit-iface-out', OUT_CHAINS);
    if (call.ctx.family === 'ipv6') {
      const bad = [...(state.srcType?.value ?? []), ...(state.dstType?.value ?? [])].filter((t) => V6_REFUSED.includes(t));
      if (bad.length > 0) call.error('E212', { what: `address type ${bad[0]}`, family: 'ip6tables' });
    }
    const m: AddrtypeMatch = { kind: 'match', module: 'addrtype', span: call.span };
    if (state.srcType) m.srcType = state.srcType;
    if (state.dstType) m.dstType = state.dstType;
    if (state.limitIfaceIn) m.limitIfaceIn = true;
    if (state.limitIfaceOut) m.limitIfaceOut = true;
    return m;
  },
});
