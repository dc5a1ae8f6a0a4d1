/**
 * The base part of a saved rule, in iptables-save's order: `-s`, `-d`, `-i`, `-o`, `-p`, `-f`,
 * each with its `!` before it (iptables/xshared.c `save_ipv4_addr`, `save_rule_details`).
 */
import type { BaseMatches, Cidr, InterfaceMatch } from '../ir.js';
import { formatCidr } from '../values/addresses.js';
import { formatProtocol } from '../values/protocols.js';

function address(flag: string, c: Cidr | undefined, negated: boolean): string[] {
  if (!c || (c.prefix === 0 && !negated)) return [];
  return [...(negated ? ['!'] : []), flag, formatCidr(c)];
}

function iface(flag: string, m: InterfaceMatch | undefined): string[] {
  if (!m) return [];
  if (m.name === '' && m.wildcard && !m.negated) return [];
  return [...(m.negated ? ['!'] : []), flag, m.name + (m.wildcard ? '+' : '')];
}

/**
 * The base words for one expanded rule: `src`/`dst` are the one source and destination network
 * of this line (a rule with `-s a,b` is saved as one line per network).
 */
export function saveBase(base: BaseMatches, src: Cidr | undefined, dst: Cidr | undefined): string[] {
  const out = [
    ...address('-s', src, base.src?.negated ?? false),
    ...address('-d', dst, base.dst?.negated ?? false),
    ...iface('-i', base.inInterface),
    ...iface('-o', base.outInterface),
  ];
  if (base.protocol && base.protocol.protocol !== 0) {
    if (base.protocol.negated) out.push('!');
    out.push('-p', formatProtocol(base.protocol.protocol));
  }
  if (base.fragment) {
    if (base.fragment.negated) out.push('!');
    out.push('-f');
  }
  return out;
}
