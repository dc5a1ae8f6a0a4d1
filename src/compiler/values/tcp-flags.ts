/**
 * TCP flag lists as libxt_tcp reads (`parse_tcp_flag`) and prints (`print_tcpf`) them.
 * Reading knows FIN SYN RST PSH ACK URG ALL NONE, case-insensitively (iptables 1.8.9 has no
 * ECE/CWR names); printing lists the single flags in bit order, or NONE.
 */
import { invalid, ok, type Parsed } from './result.js';

const SINGLE_FLAGS: readonly (readonly [string, number])[] = [
  ['FIN', 0x01],
  ['SYN', 0x02],
  ['RST', 0x04],
  ['PSH', 0x08],
  ['ACK', 0x10],
  ['URG', 0x20],
];

/** The names `parse_tcp_flag` knows, lower case, and their bits. */
const PARSE_NAMES = new Map<string, number>([...SINGLE_FLAGS, ['ALL', 0x3f] as const, ['NONE', 0] as const].map(([n, bit]) => [n.toLowerCase(), bit]));

/** A comma list of TCP flag names (`SYN,ACK`, `ALL`, `NONE`; empty items ignored) as bits. */
export function parseTcpFlagList(text: string): Parsed<number> {
  let bits = 0;
  for (const name of text.split(',')) {
    if (name === '') continue;
    const bit = PARSE_NAMES.get(name.toLowerCase());
    if (bit === undefined) return invalid('TCP flag', name, 'expected FIN, SYN, RST, PSH, ACK, URG, ALL or NONE');
    bits |= bit;
  }
  return ok(bits);
}

/** Flag bits as iptables-save prints them: `FIN,SYN,RST,ACK`, or `NONE`. */
export function formatTcpFlags(bits: number): string {
  const names = [...SINGLE_FLAGS, ['ECE', 0x40] as const, ['CWR', 0x80] as const].filter(([, bit]) => (bits & bit) !== 0).map(([n]) => n);
  return names.length > 0 ? names.join(',') : 'NONE';
}
