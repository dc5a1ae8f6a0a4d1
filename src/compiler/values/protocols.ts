/**
 * IP protocol names and numbers the way iptables reads and prints them
 * (`xtables_parse_protocol`, `proto_to_name` in iptables/xshared.c).
 */
import { ETC_PROTOCOLS } from './protocols-table.js';
import { parseUint, UINT8_MAX } from './numbers.js';
import { fail, ok, type Parsed } from './result.js';

/** libxtables' `xtables_chain_protos`: the fallback when /etc/protocols does not know a name. */
const CHAIN_PROTOS: readonly (readonly [string, number])[] = [
  ['tcp', 6],
  ['sctp', 132],
  ['udp', 17],
  ['udplite', 136],
  ['icmp', 1],
  ['icmpv6', 58],
  ['ipv6-icmp', 58],
  ['esp', 50],
  ['ah', 51],
  ['ipv6-mh', 135],
  ['mh', 135],
  ['all', 0],
];

const BY_NAME = new Map<string, number>();
const BY_NUMBER = new Map<number, string>();
for (const [name, num, aliases] of ETC_PROTOCOLS) {
  for (const n of [name, ...aliases]) if (!BY_NAME.has(n)) BY_NAME.set(n, num);
  if (!BY_NUMBER.has(num)) BY_NUMBER.set(num, name);
}

/**
 * `xtables_parse_protocol(s)`: a number 0..255 (base 0), `all`, a name or alias from
 * /etc/protocols (case-sensitive, as getprotobyname is), or a libxtables fallback name.
 * The result is truncated to 8 bits as iptables stores it (`mptcp`, 262, becomes 6).
 * Callers that take `-p` lower-case the text first, as iptables does.
 */
export function parseProtocol(text: string): Parsed<number> {
  const n = parseUint(text, 0, UINT8_MAX);
  if (n !== undefined) return ok(n);
  if (text === 'all') return ok(0);
  const known = BY_NAME.get(text) ?? CHAIN_PROTOS.find(([name]) => name === text)?.[1];
  if (known !== undefined) return ok(known & 0xff);
  return fail('E204', { what: 'protocol', value: text, detail: ': not a protocol number or a name from /etc/protocols' });
}

/**
 * `proto_to_name(proto, 0)`: the name iptables-save prints for a protocol number, or undefined
 * when it prints the number. 0 has no name here (a rule with protocol 0 prints no `-p`).
 */
export function protocolName(proto: number): string | undefined {
  if (proto === 0) return undefined;
  return BY_NUMBER.get(proto) ?? CHAIN_PROTOS.find(([, num]) => num === proto)?.[0];
}

/** `-p` text as iptables-save prints it: the name if there is one, else the number. */
export function formatProtocol(proto: number): string {
  return protocolName(proto) ?? String(proto);
}

/**
 * The match extension `-p NAME` loads implicitly (iptables' `find_proto`): a numeric protocol is
 * first turned into its name; the names icmpv6/ipv6-icmp/icmp6 all mean the `icmp6` extension.
 * Returns undefined for "all"/0 and for protocols without a name.
 */
export function implicitModuleName(protocolText: string): string | undefined {
  const n = parseUint(protocolText, 0, UINT8_MAX);
  const name = n !== undefined ? protocolName(n) : protocolText;
  if (name === undefined) return undefined;
  return name === 'icmpv6' || name === 'ipv6-icmp' ? 'icmp6' : name;
}
