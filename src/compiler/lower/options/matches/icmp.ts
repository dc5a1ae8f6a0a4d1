/**
 * `-m icmp` (IPv4, libipt_icmp.c) and `-m icmp6` (IPv6, libip6t_icmp6.c; also loaded as
 * `icmpv6` and `ipv6-icmp`). `--icmp-type`/`--icmpv6-type` is mandatory, and the kernel wants
 * the rule's protocol to be exactly ICMP / ICMPv6, not negated.
 */
import type { Icmp6Match, IcmpMatch, IcmpType, Neg } from '../../../ir.js';
import { parseIcmpType } from '../../../values/icmp-types.js';
import { defineMatch } from '../spec.js';
import { requireProtocol } from './tcp-udp.js';

interface IcmpState {
  icmpType?: Neg<IcmpType>;
}

export const icmpMatch = defineMatch<IcmpState>({
  name: 'icmp',
  family: 'ipv4',
  options: [
    {
      names: ['icmp-type'],
      args: 1,
      invert: true,
      apply(state, call) {
        const t = call.value(parseIcmpType(call.arg(), 'ipv4'));
        if (t) state.icmpType = call.neg(t);
      },
    },
  ],
  init: () => ({}),
  finish(state, call): IcmpMatch | undefined {
    if (!state.icmpType && !call.given.includes('icmp-type')) {
      call.error('E207', { option: '-m icmp', needs: '--icmp-type' });
      return undefined;
    }
    if (!requireProtocol(call, 'icmp', 1, 'icmp') || !state.icmpType) return undefined;
    return { kind: 'match', module: 'icmp', span: call.span, icmpType: state.icmpType };
  },
});

export const icmp6Match = defineMatch<IcmpState>({
  name: 'icmp6',
  aliases: ['icmpv6', 'ipv6-icmp'],
  family: 'ipv6',
  options: [
    {
      names: ['icmpv6-type'],
      args: 1,
      invert: true,
      apply(state, call) {
        const t = call.value(parseIcmpType(call.arg(), 'ipv6'));
        if (t) state.icmpType = call.neg(t);
      },
    },
  ],
  init: () => ({}),
  finish(state, call): Icmp6Match | undefined {
    if (!state.icmpType && !call.given.includes('icmpv6-type')) {
      call.error('E207', { option: '-m icmp6', needs: '--icmpv6-type' });
      return undefined;
    }
    if (!requireProtocol(call, 'icmp6', 58, 'ipv6-icmp') || !state.icmpType) return undefined;
    return { kind: 'match', module: 'icmp6', span: call.span, icmpType: state.icmpType };
  },
});
