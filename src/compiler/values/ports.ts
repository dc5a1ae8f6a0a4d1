/**
 * Ports and port ranges as iptables parses them (`xtables_parse_port`, `parse_tcp_ports`,
 * libxt_multiport's `parse_multi_ports_v1`).
 */
import { ETC_SERVICES } from './services.js';
import { parseDecimal, parseUint, UINT16_MAX } from './numbers.js';
import { fail, invalid, ok, type Parsed } from './result.js';
import type { Range } from '../ir.js';

/**
 * getservbyname(name, proto): the first /etc/services row whose name or alias is `name` and
 * whose protocol is `proto` (any protocol when `proto` is undefined).
 */
export function serviceToPort(name: string, proto?: string): number | undefined {
  for (const [n, port, p, aliases] of ETC_SERVICES) {
    if (proto !== undefined && p !== proto) continue;
    if (n === name || aliases.includes(name)) return port;
  }
  return undefined;
}

/**
 * How a port number is written. `xtables` is libxtables' `xtables_parse_port` (tcp, multiport):
 * C base-0 numbers (`0x16`, `026`) and service names of the given protocol. `xtopt` is the
 * xtables option parser's port type (udp, conntrack): decimal only (`010` is 10, `0x16` is not
 * a number) and service names of any protocol. Both refuse values above 65535 (iptables'
 * xtopt silently wraps them; rejectc does not guess).
 */
export type PortStyle = 'xtables' | 'xtopt';

/** One port: a number 0..65535 or a service name (`ssh`, `domain`, `www`). Anything else is E204. */
export function parsePort(text: string, proto?: string, style: PortStyle = 'xtables'): Parsed<number> {
  const n = style === 'xtables' ? parseUint(text, 0, UINT16_MAX) : parseDecimal(text, 0, UINT16_MAX);
  if (n !== undefined) return ok(n);
  const byName = serviceToPort(text, style === 'xtables' ? proto : undefined);
  if (byName !== undefined) return ok(byName);
  if (/^\s*[-+]?\d/.test(text)) return invalid('port', text, 'ports are 0 to 65535');
  return invalid('port', text, `not a number or a ${style === 'xtables' && proto ? `${proto} ` : ''}service name`);
}

/**
 * A port range as tcp/udp/conntrack take it: `p`, `a:b`, `a:` (to 65535), `:b` (from 0) or `:`
 * (0:65535). `a` must not be greater than `b`.
 */
export function parsePortRange(text: string, proto?: string, style: PortStyle = 'xtables'): Parsed<Range> {
  const colon = text.indexOf(':');
  if (colon < 0) {
    const p = parsePort(text, proto, style);
    return p.ok ? ok({ from: p.value, to: p.value }) : p;
  }
  const lo = text.slice(0, colon);
  const hi = text.slice(colon + 1);
  const from = lo === '' ? ok(0) : parsePort(lo, proto, style);
  if (!from.ok) return from;
  const to = hi === '' ? ok(UINT16_MAX) : parsePort(hi, proto, style);
  if (!to.ok) return to;
  if (from.value > to.value) return invalid('port range', text, 'the first port is greater than the second');
  return ok({ from: from.value, to: to.value });
}

/** Multiport's limit: 15 entries, a range using two of them (XT_MULTI_PORTS). */
export const MULTIPORT_MAX = 15;

/**
 * A multiport list `p[,p|a:b]...`: up to 15 slots, a range taking two. iptables requires
 * `a < b` strictly here ("invalid portrange specified": `22:21` and `22:22` are refused), and
 * empty range ends are not allowed (`1024:` is "invalid port/service").
 */
export function parseMultiport(text: string, proto?: string): Parsed<Range[]> {
  const out: Range[] = [];
  let slots = 0;
  for (const item of text.split(',')) {
    const colon = item.indexOf(':');
    if (colon < 0) {
      const p = parsePort(item, proto);
      if (!p.ok) return p;
      out.push({ from: p.value, to: p.value });
      slots += 1;
    } else {
      const a = parsePort(item.slice(0, colon), proto);
      if (!a.ok) return a;
      const b = parsePort(item.slice(colon + 1), proto);
      if (!b.ok) return b;
      if (a.value >= b.value) return invalid('port range', item, 'the first port must be less than the second');
      out.push({ from: a.value, to: b.value });
      slots += 2;
    }
    if (slots > MULTIPORT_MAX) return fail('E204', { what: 'port list', value: text, detail: ': too many ports specified (at most 15, a range counts as two)' });
  }
  return ok(out);
}

/** `a:b` as iptables-save prints a range; a single port prints alone. */
export function formatRange(r: Range): string {
  return r.from === r.to ? String(r.from) : `${r.from}:${r.to}`;
}
