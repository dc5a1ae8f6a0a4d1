/**
 * ICMP and ICMPv6 type names (libipt_icmp.c, libip6t_icmp6.c). A name is matched the way
 * iptables matches it: case-insensitively as a prefix of the table's names, and a prefix that
 * fits several names is ambiguous (`echo-re`, `p`). Otherwise the text is `type[/code]` or
 * `type/min:max` in numbers. iptables-save prints numbers: `8`, `3/4`.
 */
import type { Family, IcmpType } from '../ir.js';
import { parseUint, UINT8_MAX } from './numbers.js';
import { fail, invalid, ok, type Parsed } from './result.js';

type Row = readonly [name: string, type: number, codeMin: number, codeMax: number];

export const ICMP_TYPES: readonly Row[] = [
  ['any', 0xff, 0, 0xff],
  ['echo-reply', 0, 0, 0xff],
  ['pong', 0, 0, 0xff],
  ['destination-unreachable', 3, 0, 0xff],
  ['network-unreachable', 3, 0, 0],
  ['host-unreachable', 3, 1, 1],
  ['protocol-unreachable', 3, 2, 2],
  ['port-unreachable', 3, 3, 3],
  ['fragmentation-needed', 3, 4, 4],
  ['source-route-failed', 3, 5, 5],
  ['network-unknown', 3, 6, 6],
  ['host-unknown', 3, 7, 7],
  ['network-prohibited', 3, 9, 9],
  ['host-prohibited', 3, 10, 10],
  ['TOS-network-unreachable', 3, 11, 11],
  ['TOS-host-unreachable', 3, 12, 12],
  ['communication-prohibited', 3, 13, 13],
  ['host-precedence-violation', 3, 14, 14],
  ['precedence-cutoff', 3, 15, 15],
  ['source-quench', 4, 0, 0xff],
  ['redirect', 5, 0, 0xff],
  ['network-redirect', 5, 0, 0],
  ['host-redirect', 5, 1, 1],
  ['TOS-network-redirect', 5, 2, 2],
  ['TOS-host-redirect', 5, 3, 3],
  ['echo-request', 8, 0, 0xff],
  ['ping', 8, 0, 0xff],
  ['router-advertisement', 9, 0, 0xff],
  ['router-solicitation', 10, 0, 0xff],
  ['time-exceeded', 11, 0, 0xff],
  ['ttl-exceeded', 11, 0, 0xff],
  ['ttl-zero-during-transit', 11, 0, 0],
  ['ttl-zero-during-reassembly', 11, 1, 1],
  ['parameter-problem', 12, 0, 0xff],
  ['ip-header-bad', 12, 0, 0],
  ['required-option-missing', 12, 1, 1],
  ['timestamp-request', 13, 0, 0xff],
  ['timestamp-reply', 14, 0, 0xff],
  ['address-mask-request', 17, 0, 0xff],
  ['address-mask-reply', 18, 0, 0xff],
];

/** ip6tables' names; the MLD names are those iptables 1.8.10+ added (1.8.9 lacks them). */
export const ICMPV6_TYPES: readonly Row[] = [
  ['destination-unreachable', 1, 0, 0xff],
  ['no-route', 1, 0, 0],
  ['communication-prohibited', 1, 1, 1],
  ['beyond-scope', 1, 2, 2],
  ['address-unreachable', 1, 3, 3],
  ['port-unreachable', 1, 4, 4],
  ['failed-policy', 1, 5, 5],
  ['reject-route', 1, 6, 6],
  ['packet-too-big', 2, 0, 0xff],
  ['time-exceeded', 3, 0, 0xff],
  ['ttl-exceeded', 3, 0, 0xff],
  ['ttl-zero-during-transit', 3, 0, 0],
  ['ttl-zero-during-reassembly', 3, 1, 1],
  ['parameter-problem', 4, 0, 0xff],
  ['bad-header', 4, 0, 0],
  ['unknown-header-type', 4, 1, 1],
  ['unknown-option', 4, 2, 2],
  ['echo-request', 128, 0, 0xff],
  ['ping', 128, 0, 0xff],
  ['echo-reply', 129, 0, 0xff],
  ['pong', 129, 0, 0xff],
  ['mld-listener-query', 130, 0, 0xff],
  ['mld-listener-report', 131, 0, 0xff],
  ['mld-listener-done', 132, 0, 0xff],
  ['mld-listener-reduction', 132, 0, 0xff],
  ['router-solicitation', 133, 0, 0xff],
  ['router-advertisement', 134, 0, 0xff],
  ['neighbour-solicitation', 135, 0, 0xff],
  ['neighbor-solicitation', 135, 0, 0xff],
  ['neighbour-advertisement', 136, 0, 0xff],
  ['neighbor-advertisement', 136, 0, 0xff],
  ['redirect', 137, 0, 0xff],
];

/**
 * `--icmp-type` / `--icmpv6-type`. For IPv4, type 255 is the kernel's "any type" whatever the
 * codes, so it is stored as `any` (255, 0..255).
 */
export function parseIcmpType(text: string, family: Family): Parsed<IcmpType> {
  const rows = family === 'ipv4' ? ICMP_TYPES : ICMPV6_TYPES;
  const what = family === 'ipv4' ? 'ICMP type' : 'ICMPv6 type';
  const lower = text.toLowerCase();
  const hits = rows.filter(([name]) => name.toLowerCase().startsWith(lower));
  if (hits.length > 1) return fail('E214', { what, value: text, candidates: hits.map(([n]) => n).join(', ') });
  if (hits.length === 1) {
    const [, type, codeMin, codeMax] = hits[0]!;
    return ok({ type, codeMin, codeMax });
  }
  const slash = text.indexOf('/');
  const typeText = slash < 0 ? text : text.slice(0, slash);
  const type = parseUint(typeText, 0, UINT8_MAX);
  if (type === undefined) return invalid(what, text, 'not a known name or a number 0 to 255');
  if (family === 'ipv4' && type === 0xff) return ok({ type, codeMin: 0, codeMax: 0xff });
  if (slash < 0) return ok({ type, codeMin: 0, codeMax: 0xff });
  const codeText = text.slice(slash + 1);
  const colon = codeText.indexOf(':');
  const min = parseUint(colon < 0 ? codeText : codeText.slice(0, colon), 0, UINT8_MAX);
  const max = colon < 0 ? min : parseUint(codeText.slice(colon + 1), 0, UINT8_MAX);
  if (min === undefined || max === undefined || min > max) return invalid('ICMP code', codeText, 'expected a number 0 to 255 or a range min:max');
  return ok({ type, codeMin: min, codeMax: max });
}

/**
 * The saved form: `any` for IPv4 type 255, else `type` when all codes match, `type/code` for
 * one code, and `type/min:max` for a code range (iptables 1.8.9 prints only `type/min` there,
 * which reads back as a different rule; rejectc keeps the range).
 */
export function formatIcmpType(t: IcmpType, family: Family): string {
  if (family === 'ipv4' && t.type === 0xff) return 'any';
  if (t.codeMin === 0 && t.codeMax === 0xff) return String(t.type);
  if (t.codeMin === t.codeMax) return `${t.type}/${t.codeMin}`;
  return `${t.type}/${t.codeMin}:${t.codeMax}`;
}
