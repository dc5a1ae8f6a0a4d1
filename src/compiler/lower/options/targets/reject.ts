/**
 * `-j REJECT` (libipt_REJECT.c, libip6t_REJECT.c; ../shared/spec/nf-reject.md §1-2).
 * `--reject-with` is matched the way iptables matches it: each row of the family's table in
 * enum order, name then alias, compared case-insensitively as a *prefix* of the row
 * (`strncasecmp(row, arg, strlen(arg))`); the first row that matches wins, so `""` means
 * icmp-net-unreachable and `tcp` means tcp-reset.
 */
import type { Family, RejectTarget, RejectWith } from '../../../ir.js';
import { defaultRejectWith } from '../../../ir.js';
import { defineTarget } from '../spec.js';

interface RejectRow {
  name: RejectWith;
  alias: string;
}

/** IPv4 rows in enum order (ECHOREPLY, enum 4, is not accepted and has no row). */
export const REJECT_TYPES_V4: readonly RejectRow[] = [
  { name: 'icmp-net-unreachable', alias: 'net-unreach' },
  { name: 'icmp-host-unreachable', alias: 'host-unreach' },
  { name: 'icmp-proto-unreachable', alias: 'proto-unreach' },
  { name: 'icmp-port-unreachable', alias: 'port-unreach' },
  { name: 'icmp-net-prohibited', alias: 'net-prohib' },
  { name: 'icmp-host-prohibited', alias: 'host-prohib' },
  { name: 'tcp-reset', alias: 'tcp-rst' },
  { name: 'icmp-admin-prohibited', alias: 'admin-prohib' },
];

/** IPv6 rows in enum order (NOT_NEIGHBOUR and ECHOREPLY are compiled out of ip6tables). */
export const REJECT_TYPES_V6: readonly RejectRow[] = [
  { name: 'icmp6-no-route', alias: 'no-route' },
  { name: 'icmp6-adm-prohibited', alias: 'adm-prohibited' },
  { name: 'icmp6-addr-unreachable', alias: 'addr-unreach' },
  { name: 'icmp6-port-unreachable', alias: 'port-unreach' },
  { name: 'tcp-reset', alias: 'tcp-reset' },
  { name: 'icmp6-policy-fail', alias: 'policy-fail' },
  { name: 'icmp6-reject-route', alias: 'reject-route' },
];

function isPrefixOf(arg: string, row: string): boolean {
  return row.length >= arg.length && row.slice(0, arg.length).toLowerCase() === arg.toLowerCase();
}

/** The reject type iptables picks for `--reject-with arg` in `family`, or undefined. */
export function lookupRejectWith(arg: string, family: Family): RejectWith | undefined {
  const rows = family === 'ipv4' ? REJECT_TYPES_V4 : REJECT_TYPES_V6;
  return rows.find((r) => isPrefixOf(arg, r.name) || isPrefixOf(arg, r.alias))?.name;
}

interface RejectState {
  with?: RejectWith;
}

export const rejectTarget = defineTarget<RejectState>({
  name: 'REJECT',
  options: [
    {
      names: ['reject-with'],
      args: 1,
      apply(state, call) {
        const arg = call.arg();
        const family = call.ctx.family;
        const found = lookupRejectWith(arg, family);
        if (found) {
          state.with = found;
          return;
        }
        if (/^echo-?reply$/i.test(arg)) {
          call.error('E209', { value: arg }, 0, ['echo-reply is no longer supported as a reject type']);
          return;
        }
        const other = lookupRejectWith(arg, family === 'ipv4' ? 'ipv6' : 'ipv4');
        if (other && arg !== '') {
          call.error('E307', { value: arg, family: family === 'ipv4' ? 'iptables (IPv4)' : 'ip6tables (IPv6)' });
          return;
        }
        const names = (family === 'ipv4' ? REJECT_TYPES_V4 : REJECT_TYPES_V6).map((r) => r.name).join(', ');
        call.error('E209', { value: arg }, 0, [`valid types: ${names}`]);
      },
    },
  ],
  init: () => ({}),
  finish(state, call): RejectTarget {
    const withType = state.with ?? defaultRejectWith(call.ctx.family);
    if (withType === 'tcp-reset') {
      const p = call.base.protocol;
      if (!p || p.protocol !== 6 || p.negated) call.error('E306', {}, call.span);
    }
    return { kind: 'target', target: 'REJECT', with: withType, span: call.span };
  },
});
