/**
 * `-m iprange` revision 1 (libxt_iprange.c): `--src-range a[-b]`, `--dst-range a[-b]`, each
 * negatable; a single address means `a-a`. iptables does not require a <= b (such a range
 * never matches) and neither does rejectc.
 */
import type { AddressRange, Family, IprangeMatch, Neg } from '../../../ir.js';
import { canonicalAddress } from '../../../values/addresses.js';
import { fail, invalid, ok, type Parsed } from '../../../values/result.js';
import { defineMatch, type OptionSpec } from '../spec.js';

/** `a[-b]` of two addresses of the family (a single address is `a-a`); host names are E208. */
export function parseAddressRange(text: string, family: Family): Parsed<AddressRange> {
  const dash = text.indexOf('-');
  const parts = dash < 0 ? [text, text] : [text.slice(0, dash), text.slice(dash + 1)];
  const out: string[] = [];
  for (const p of parts) {
    const a = canonicalAddress(p, family);
    if (a === undefined) return /[A-Za-z_]/.test(p) && /^[A-Za-z0-9_.]+$/.test(p) ? fail('E208', { value: p }) : invalid('address', p, `expected an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} address in a range a-b`);
    out.push(a);
  }
  return ok({ from: out[0]!, to: out[1]! });
}

type IprangeState = { src?: Neg<AddressRange>; dst?: Neg<AddressRange> };

function rangeOption(name: string, key: 'src' | 'dst'): OptionSpec<IprangeState> {
  return {
    names: [name],
    args: 1,
    invert: true,
    apply(state, call) {
      const r = call.value(parseAddressRange(call.arg(), call.ctx.family));
      if (r) state[key] = call.neg(r);
    },
  };
}

export const iprangeMatch = defineMatch<IprangeState>({
  name: 'iprange',
  options: [rangeOption('src-range', 'src'), rangeOption('dst-range', 'dst')],
  init: () => ({}),
  finish(state, call): IprangeMatch | undefined {
    if (call.given.length === 0) {
      call.error('E207', { option: '-m iprange', needs: '--src-range or --dst-range' });
      return undefined;
    }
    if (!state.src && !state.dst) return undefined;
    return { kind: 'match', module: 'iprange', span: call.span, ...state };
  },
});
