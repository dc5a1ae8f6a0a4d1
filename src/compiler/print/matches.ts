/**
 * Each match module's options as its iptables `save` function writes them (order, spelling,
 * `!` placement), after ` -m NAME`.
 */
import type { Match, Neg, Range, TcpMatch, UdpMatch } from '../ir.js';
import { formatRange } from '../values/ports.js';
import { formatTcpFlags } from '../values/tcp-flags.js';

/** ` [!] --opt value` for an optional negatable value. */
export function negOpt<T>(flag: string, v: Neg<T> | undefined, format: (value: T) => string | string[]): string[] {
  if (!v) return [];
  const value = format(v.value);
  return [...(v.negated ? ['!'] : []), flag, ...(Array.isArray(value) ? value : [value])];
}

function ports(m: TcpMatch | UdpMatch): string[] {
  const range = (r: Range) => formatRange(r);
  return [...negOpt('--sport', m.sport, range), ...negOpt('--dport', m.dport, range)];
}

function saveTcp(m: TcpMatch): string[] {
  return [
    ...ports(m),
    ...negOpt('--tcp-option', m.option, String),
    ...negOpt('--tcp-flags', m.flags, (f) => [formatTcpFlags(f.mask), formatTcpFlags(f.comp)]),
  ];
}

/** The words after `-m NAME` for a match, exactly as iptables-save writes them. */
export function saveMatch(m: Match): string[] {
  switch (m.module) {
    case 'tcp':
      return saveTcp(m);
    case 'udp':
      return ports(m);
    default:
      return [`<unprinted ${m.module}>`];
  }
}
