/**
 * The base options of iptables/ip6tables (`original_opts` in iptables/iptables.c and
 * xshared.c): the parts of `struct ipt_ip` (-s -d -i -o -p -f), -m/-j/-g, and the command-line
 * flags that may appear among a rule's options but do not change it (-v, -n, -w ...).
 */

export type BaseOptionId =
  | 'source'
  | 'destination'
  | 'protocol'
  | 'in-interface'
  | 'out-interface'
  | 'fragment'
  | 'match'
  | 'jump'
  | 'goto'
  | 'set-counters'
  | 'table'
  | 'ipv4'
  | 'ipv6'
  | 'flag'
  | 'wait'
  | 'command';

/** One base option as getopt_long knows it. */
export interface BaseOption {
  id: BaseOptionId;
  /** getopt_long names, in iptables' table order. */
  long: readonly string[];
  short?: string;
  args: 0 | 1;
  /** `!` allowed (iptables' `inverse_for_options`). */
  invert: boolean;
  /** Letter used in iptables' messages ("multiple -s flags not allowed"). */
  letter: string;
}

/** iptables' base option table, in its order (getopt looks names up in this order). */
export const BASE_OPTIONS: readonly BaseOption[] = [
  { id: 'command', long: ['append', 'delete', 'check', 'insert', 'replace', 'list', 'list-rules', 'flush', 'zero', 'new-chain', 'delete-chain', 'rename-chain', 'policy'], args: 0, invert: false, letter: 'A' },
  { id: 'source', long: ['source', 'src'], short: 's', args: 1, invert: true, letter: 's' },
  { id: 'destination', long: ['destination', 'dst'], short: 'd', args: 1, invert: true, letter: 'd' },
  { id: 'protocol', long: ['protocol'], short: 'p', args: 1, invert: true, letter: 'p' },
  { id: 'in-interface', long: ['in-interface'], short: 'i', args: 1, invert: true, letter: 'i' },
  { id: 'jump', long: ['jump'], short: 'j', args: 1, invert: false, letter: 'j' },
  { id: 'table', long: ['table'], short: 't', args: 1, invert: false, letter: 't' },
  { id: 'match', long: ['match'], short: 'm', args: 1, invert: false, letter: 'm' },
  { id: 'flag', long: ['numeric'], short: 'n', args: 0, invert: false, letter: 'n' },
  { id: 'out-interface', long: ['out-interface'], short: 'o', args: 1, invert: true, letter: 'o' },
  { id: 'flag', long: ['verbose'], short: 'v', args: 0, invert: false, letter: 'v' },
  { id: 'wait', long: ['wait'], short: 'w', args: 0, invert: false, letter: 'w' },
  { id: 'wait', long: ['wait-interval'], short: 'W', args: 0, invert: false, letter: 'W' },
  { id: 'flag', long: ['exact'], short: 'x', args: 0, invert: false, letter: 'x' },
  { id: 'fragment', long: ['fragments'], short: 'f', args: 0, invert: true, letter: 'f' },
  { id: 'flag', long: ['line-numbers'], args: 0, invert: false, letter: '0' },
  { id: 'set-counters', long: ['set-counters'], short: 'c', args: 1, invert: false, letter: 'c' },
  { id: 'goto', long: ['goto'], short: 'g', args: 1, invert: false, letter: 'g' },
  { id: 'ipv4', long: ['ipv4'], short: '4', args: 0, invert: false, letter: '4' },
  { id: 'ipv6', long: ['ipv6'], short: '6', args: 0, invert: false, letter: '6' },
];

/** Short letters of iptables commands (-A, -I ...), which cannot appear among rule options. */
export const COMMAND_LETTERS = new Set(['A', 'D', 'C', 'I', 'R', 'L', 'S', 'F', 'Z', 'N', 'X', 'E', 'P', 'V', 'h', 'M']);

/** IFNAMSIZ - 1: the longest interface name, `+` included. */
export const IFNAME_MAX = 15;
