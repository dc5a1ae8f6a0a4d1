/**
 * `-m icmp` (IPv4, libipt_icmp.c) and `-m icmp6` (IPv6, libip6t_icmp6.c; also loaded as
 * `icmpv6` and `ipv6-icmp`). `--icmp-type`/`--icmpv6-type` is mandatory, and the kernel wants
 * the rule's protocol to be exactly ICMP / ICMPv6, not negated.
 */
import type { Family, Icmp6Match, IcmpMatch, IcmpType, Neg } from '../../../ir.js';
import { parseIcmpType } from '../../../values/icmp-types.js';
import { defineMatch, type MatchSpec } from '../spec.js';
import { requireProtocol } from './tcp-udp.js';

interface IcmpState {
  icmpType?: Neg<IcmpType>;
}

function icmpModule(module: 'icmp' | 'icmp6', option: string, family: Family, proto: number, protoName: string, aliases: string[]): MatchSpec {
  return defineMatch<IcmpState>({
    name: module,
    aliases,
    family,
    options: [
      {
        names: [option],
        args: 1,
        invert: true,
        apply(state, call) {
          const t = call.value(parseIcmpType(call.arg(), family));
          if (t) state.icmpType = call.neg(t);
        },
      },
    ],
    init: () => ({}),
    finish(state, call): IcmpMatch | Icmp6Match | undefined {
      if (!state.icmpType && !call.given.includes(option)) {
        call.error('E207', { option: `-m ${module}`, needs: `--${option}` });
        return undefined;
      }
      if (!requireProtocol(call, module, proto, protoName) || !state.icmpType) return undefined;
      return { kind: 'match', module, span: call.span, icmpType: state.icmpType };
    },
  });
}

export const icmpMatch = icmpModule('icmp', 'icmp-type', 'ipv4', 1, 'icmp', []);
export const icmp6Match = icmpModule('icmp6', 'icmpv6-type', 'ipv6', 58, 'ipv6-icmp', ['icmpv6', 'ipv6-icmp']);
