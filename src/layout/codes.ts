/**
 * Numeric codes shared by the TypeScript side (compiler back end, runtime, stats) and the
 * hand-written BPF C in bpf/. This file is the single definition: `bpf/rjc_layout.h` is
 * generated from it by `scripts/gen-layout.ts` (see ./c-header.ts), never edited by hand.
 *
 * Every code is a small unsigned integer, stable once released: append, never renumber.
 */
import type { FilterHook, RejectWith } from '../compiler/ir.js';

/** One `--reject-with` value as the BPF reply path knows it. */
export interface RejectType {
  /** The canonical iptables/ip6tables name (`iptables-save` spelling). */
  name: RejectWith;
  /** Code passed to `rjc_reject()` and stored in the rule action map. Never 0. */
  code: number;
  /** C macro name of `code` in rjc_layout.h. */
  cName: string;
  /** `both` only for tcp-reset, which is one name in both tables. */
  family: 'ipv4' | 'ipv6' | 'both';
  /** ICMP / ICMPv6 type and code sent; absent for tcp-reset. (nf-reject.md §2) */
  icmp?: { type: number; code: number };
}

/** All reject types, in code order. ICMP codes per nf-reject.md §2 (ipt_REJECT.h / ip6t_REJECT.h). */
export const REJECT_TYPES: readonly RejectType[] = [
  { name: 'tcp-reset', code: 1, cName: 'RJC_REJECT_TCP_RESET', family: 'both' },
  { name: 'icmp-net-unreachable', code: 2, cName: 'RJC_REJECT_ICMP_NET_UNREACHABLE', family: 'ipv4', icmp: { type: 3, code: 0 } },
  { name: 'icmp-host-unreachable', code: 3, cName: 'RJC_REJECT_ICMP_HOST_UNREACHABLE', family: 'ipv4', icmp: { type: 3, code: 1 } },
  { name: 'icmp-proto-unreachable', code: 4, cName: 'RJC_REJECT_ICMP_PROTO_UNREACHABLE', family: 'ipv4', icmp: { type: 3, code: 2 } },
  { name: 'icmp-port-unreachable', code: 5, cName: 'RJC_REJECT_ICMP_PORT_UNREACHABLE', family: 'ipv4', icmp: { type: 3, code: 3 } },
  { name: 'icmp-net-prohibited', code: 6, cName: 'RJC_REJECT_ICMP_NET_PROHIBITED', family: 'ipv4', icmp: { type: 3, code: 9 } },
  { name: 'icmp-host-prohibited', code: 7, cName: 'RJC_REJECT_ICMP_HOST_PROHIBITED', family: 'ipv4', icmp: { type: 3, code: 10 } },
  { name: 'icmp-admin-prohibited', code: 8, cName: 'RJC_REJECT_ICMP_ADMIN_PROHIBITED', family: 'ipv4', icmp: { type: 3, code: 13 } },
  { name: 'icmp6-no-route', code: 9, cName: 'RJC_REJECT_ICMP6_NO_ROUTE', family: 'ipv6', icmp: { type: 1, code: 0 } },
  { name: 'icmp6-adm-prohibited', code: 10, cName: 'RJC_REJECT_ICMP6_ADM_PROHIBITED', family: 'ipv6', icmp: { type: 1, code: 1 } },
  { name: 'icmp6-addr-unreachable', code: 11, cName: 'RJC_REJECT_ICMP6_ADDR_UNREACHABLE', family: 'ipv6', icmp: { type: 1, code: 3 } },
  { name: 'icmp6-port-unreachable', code: 12, cName: 'RJC_REJECT_ICMP6_PORT_UNREACHABLE', family: 'ipv6', icmp: { type: 1, code: 4 } },
  { name: 'icmp6-policy-fail', code: 13, cName: 'RJC_REJECT_ICMP6_POLICY_FAIL', family: 'ipv6', icmp: { type: 1, code: 5 } },
  { name: 'icmp6-reject-route', code: 14, cName: 'RJC_REJECT_ICMP6_REJECT_ROUTE', family: 'ipv6', icmp: { type: 1, code: 6 } },
];

/** The code of a reject type. Precondition: `name` is a RejectWith of ir.ts. */
export function rejectCode(name: RejectWith): number {
  const found = REJECT_TYPES.find((t) => t.name === name);
  if (!found) throw new Error(`no reject code for "${name}"`);
  return found.code;
}

/** The reject type with this code, or undefined. */
export function rejectTypeByCode(code: number): RejectType | undefined {
  return REJECT_TYPES.find((t) => t.code === code);
}

/** Chain ids used by the program (`rjc_chain()`), in FILTER_HOOKS order. */
export const CHAIN_IDS: Readonly<Record<FilterHook, number>> = { INPUT: 0, FORWARD: 1, OUTPUT: 2 };

/**
 * `rjc_chain()` result meaning "no filter chain sees this packet here": the stack handles it
 * (it drops it, forwards it without a FORWARD hook at this interface, or it is our own reply).
 * Also the "not forced" value of the `forced` argument.
 */
export const CHAIN_NONE = 255;

/** A simple named code: C macro name, value, and what it means (for stats output). */
export interface NamedCode {
  /** Short stable identifier used in JSON output (`rejectc stats --json`). */
  name: string;
  code: number;
  cName: string;
  description: string;
}

/**
 * Kinds of reply sent. Index into the reply statistics map (see `replyStatsIndex`).
 * RSTs and ICMP errors are counted separately per family, like the kernel's reject paths.
 */
export const REPLY_KINDS: readonly NamedCode[] = [
  { name: 'tcp-reset-ipv4', code: 0, cName: 'RJC_REPLY_RST4', description: 'TCP RST (IPv4)' },
  { name: 'icmp-ipv4', code: 1, cName: 'RJC_REPLY_ICMP4', description: 'ICMP destination unreachable' },
  { name: 'tcp-reset-ipv6', code: 2, cName: 'RJC_REPLY_RST6', description: 'TCP RST (IPv6)' },
  { name: 'icmp-ipv6', code: 3, cName: 'RJC_REPLY_ICMP6', description: 'ICMPv6 destination unreachable' },
];

/**
 * Why a REJECT sent nothing (the packet is dropped either way). One code per condition of
 * nf-reject.md §4.1, §5.1, §6.1, §7.1 and §8, plus rejectc's own failure modes.
 */
export const NO_REPLY_REASONS: readonly NamedCode[] = [
  { name: 'fragment', code: 0, cName: 'RJC_NOREPLY_FRAGMENT', description: 'non-first fragment (fragment offset != 0)' },
  { name: 'truncated', code: 1, cName: 'RJC_NOREPLY_TRUNCATED', description: 'transport or ICMP header missing or truncated' },
  { name: 'rst-for-rst', code: 2, cName: 'RJC_NOREPLY_RST', description: 'no RST in reply to a RST' },
  { name: 'bad-checksum', code: 3, cName: 'RJC_NOREPLY_CHECKSUM', description: 'transport checksum invalid (checksum gate)' },
  { name: 'broadcast-dst', code: 4, cName: 'RJC_NOREPLY_BCAST_DST', description: 'IP destination is broadcast or multicast' },
  { name: 'l2-broadcast', code: 5, cName: 'RJC_NOREPLY_L2_BCAST', description: 'link-layer broadcast/multicast frame (ICMP only)' },
  { name: 'icmp-error', code: 6, cName: 'RJC_NOREPLY_ICMP_ERROR', description: 'no ICMP error about an ICMP error or unknown ICMP type' },
  { name: 'bad-source', code: 7, cName: 'RJC_NOREPLY_BAD_SRC', description: 'source or destination address cannot be answered (unspecified, multicast, v4-mapped)' },
  { name: 'ext-header', code: 8, cName: 'RJC_NOREPLY_EXTHDR', description: 'IPv6 extension header walk failed or no next header (59)' },
  { name: 'wrong-protocol', code: 9, cName: 'RJC_NOREPLY_PROTO', description: 'tcp-reset for a packet that is not TCP' },
  { name: 'no-route', code: 10, cName: 'RJC_NOREPLY_NO_ROUTE', description: 'no route back to the sender' },
  { name: 'budget', code: 11, cName: 'RJC_NOREPLY_BUDGET', description: 'reply budget exhausted (rate limit)' },
  { name: 'wrong-family', code: 12, cName: 'RJC_NOREPLY_FAMILY', description: 'reject type of the other IP family' },
  { name: 'build-failed', code: 13, cName: 'RJC_NOREPLY_FAILED', description: 'a packet helper failed while building the reply' },
  { name: 'ip-options', code: 14, cName: 'RJC_NOREPLY_IPOPTS', description: 'IPv4 options cannot be echoed (ip_options_echo fails)' },
];

/** Number of entries of the reply statistics map: kinds first, then reasons. */
export const REPLY_STATS_ENTRIES = REPLY_KINDS.length + NO_REPLY_REASONS.length;

/** Index in the reply statistics map of a reply kind or a no-reply reason. */
export function replyStatsIndex(entry: { kind: 'sent'; code: number } | { kind: 'suppressed'; code: number }): number {
  return entry.kind === 'sent' ? entry.code : REPLY_KINDS.length + entry.code;
}

/** `rjc_parse()` results. */
export const PARSE_RESULTS: readonly NamedCode[] = [
  { name: 'ok', code: 0, cName: 'RJC_PARSE_OK', description: 'IPv4/IPv6 packet the filter table would see' },
  { name: 'not-ip', code: 1, cName: 'RJC_PARSE_NOT_IP', description: 'not IPv4/IPv6 (ARP, ...): not for iptables' },
  { name: 'stack-drops', code: 2, cName: 'RJC_PARSE_STACK_DROPS', description: 'the stack drops it before netfilter (bad header, bad options, martian)' },
];

/** Route types of the local-address maps (values of `ip route show table local`). */
export const ADDR_TYPES: readonly NamedCode[] = [
  { name: 'local', code: 1, cName: 'RJC_ADDR_LOCAL', description: 'an address of this host' },
  { name: 'broadcast', code: 2, cName: 'RJC_ADDR_BROADCAST', description: 'a (subnet-directed) broadcast address' },
  { name: 'anycast', code: 3, cName: 'RJC_ADDR_ANYCAST', description: 'an anycast address of this host (IPv6)' },
];

/**
 * Bits of rjc_config.flags. The runtime sets them from sysctls; 0 is the kernel default.
 * `code` is the bit value.
 */
export const CONFIG_FLAGS: readonly NamedCode[] = [
  { name: 'fwmark-reflect-ipv4', code: 1, cName: 'RJC_CFG_F_FWMARK_REFLECT4', description: 'net.ipv4.fwmark_reflect=1: replies keep the orig\'s mark (else mark 0)' },
  { name: 'fwmark-reflect-ipv6', code: 2, cName: 'RJC_CFG_F_FWMARK_REFLECT6', description: 'net.ipv6.fwmark_reflect=1: replies keep the orig\'s mark (else mark 0)' },
  { name: 'output-via-dev-ipv4', code: 4, cName: 'RJC_CFG_F_OUTPUT_VIA_DEV4', description: 'strict rp_filter on lo (max of conf.all and conf.lo is 1): IPv4 OUTPUT replies enter through the hook device, not lo, where their remote source would be a martian' },
];

/** Hook directions, the `dir` argument of `rjc_chain()`. */
export const DIRECTIONS: readonly NamedCode[] = [
  { name: 'ingress', code: 0, cName: 'RJC_DIR_INGRESS', description: 'TC ingress or XDP: INPUT or FORWARD' },
  { name: 'egress', code: 1, cName: 'RJC_DIR_EGRESS', description: 'TC egress: OUTPUT (locally generated only)' },
];

/**
 * rjc_addr6_key.ifindex of the device-less copies of link-local entries: -m addrtype looks an
 * address up without a device (xt_addrtype's match_lookup_rt6 with dev NULL), so a link-local
 * address of any device counts there (src/runtime/host-maps.ts, rjc_addrtype()).
 */
export const ADDR6_ANY_DEVICE = 0xffffffff;
