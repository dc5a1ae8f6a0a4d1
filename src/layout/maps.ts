/**
 * The configuration and statistics maps of the BPF reply path, and their key/value structs.
 * The runtime fills the config maps from the host (sysctls, routes, addresses; see each doc)
 * before packets flow; the program reads them in bpf/rjc_*.h. `bpf/rjc_layout.h` declares
 * exactly these maps and structs (generated; see ./c-header.ts).
 *
 * Unfilled config is safe: a missing `rjc_config` entry (all zero) means the kernel defaults
 * (TTL 64, hop limit 64); empty route/address maps mean "no hoplimit metrics" and "no
 * broadcast addresses known" (then a subnet-directed broadcast can only be recognised through
 * the FIB: see bpf/README.md).
 */
import { layoutStruct, type StructDef, type StructLayout } from './struct.js';
import { REPLY_STATS_ENTRIES } from './codes.js';

export const CONFIG_STRUCT: StructDef = {
  name: 'rjc_config',
  doc: 'Host-wide reply defaults, read by the runtime from sysctls. 0 in a field means "kernel default".',
  fields: [
    { name: 'ip_default_ttl', type: 'u8', doc: 'net.ipv4.ip_default_ttl: TTL of RSTs and ICMP errors without a route hoplimit metric (0: 64)' },
    { name: 'ipv6_all_hop_limit', type: 'u8', doc: 'net.ipv6.conf.all.hop_limit: IPv6 hop limit when the egress device has no rjc_dev entry (0: 64)' },
    { name: 'flags', type: 'u8', doc: 'RJC_CFG_F_* bits (CONFIG_FLAGS in codes.ts), from sysctls' },
    { name: 'pad', type: 'u8', doc: 'zero' },
    { name: 'reserved', type: 'u32', doc: 'zero; room for later host-wide settings' },
  ],
};

export const DEV_STRUCT: StructDef = {
  name: 'rjc_dev_config',
  doc: 'Per-device settings, keyed by ifindex (__u32).',
  fields: [
    { name: 'ipv6_hop_limit', type: 'u8', doc: 'net.ipv6.conf.<dev>.hop_limit: hop limit of IPv6 replies leaving this device without a route metric (0: use all.hop_limit)' },
    { name: 'pad', type: 'u8', doc: 'zero' },
    { name: 'mac', type: 'u8', count: 6, doc: 'the device\'s MAC address: source of replies to frames sent to a broadcast/multicast MAC (all zero: unknown)' },
  ],
};

export const ROUTE4_KEY: StructDef = {
  name: 'rjc_route4_key',
  doc: 'LPM key of rjc_route4: a main-table IPv4 route prefix.',
  fields: [
    { name: 'prefixlen', type: 'u32', doc: 'prefix length in bits (0..32), host order (LPM trie convention)' },
    { name: 'addr', type: 'ipv4', doc: 'network address, network byte order' },
  ],
};

export const ROUTE6_KEY: StructDef = {
  name: 'rjc_route6_key',
  doc: 'LPM key of rjc_route6: a main-table IPv6 route prefix.',
  fields: [
    { name: 'prefixlen', type: 'u32', doc: 'prefix length in bits (0..128), host order' },
    { name: 'addr', type: 'ipv6', doc: 'network address, network byte order' },
  ],
};

export const ROUTE_INFO: StructDef = {
  name: 'rjc_route_info',
  doc: 'Value of rjc_route4/rjc_route6: what the reply path needs from a route.',
  fields: [
    { name: 'hoplimit', type: 'u8', doc: 'the route\'s RTAX_HOPLIMIT metric (`ip route ... hoplimit N`); 0 = none' },
    { name: 'pad', type: 'u8', count: 3, doc: 'zero' },
  ],
};

export const ADDR4_KEY: StructDef = {
  name: 'rjc_addr4_key',
  doc: 'Key of rjc_addr4.',
  fields: [{ name: 'addr', type: 'ipv4', doc: 'the address, network byte order' }],
};

export const ADDR6_KEY: StructDef = {
  name: 'rjc_addr6_key',
  doc: 'Key of rjc_addr6. Link-local addresses are only local on their own device (ipv6_chk_addr).',
  fields: [
    { name: 'ifindex', type: 'u32', doc: 'the device for link-local (fe80::/10) addresses; 0 for every other scope' },
    { name: 'addr', type: 'ipv6', doc: 'the address, network byte order' },
  ],
};

export const ADDR_INFO: StructDef = {
  name: 'rjc_addr_info',
  doc: 'Value of rjc_addr4/rjc_addr6: one entry of the local routing table (`ip route show table local`).',
  fields: [
    { name: 'type', type: 'u8', doc: 'RJC_ADDR_LOCAL, RJC_ADDR_BROADCAST or RJC_ADDR_ANYCAST' },
    { name: 'pad', type: 'u8', count: 3, doc: 'zero' },
    { name: 'ifindex', type: 'u32', doc: 'device the entry belongs to (informational)' },
  ],
};

export const HARNESS_STRUCT: StructDef = {
  name: 'rjc_harness_config',
  doc: 'Test harness only (test/bpf/harness.bpf.c): what to do with every packet.',
  fields: [
    { name: 'reject_with', type: 'u8', doc: 'RJC_REJECT_* code to reject every IP packet with; 0 = accept everything' },
    { name: 'chain', type: 'u8', doc: 'forced chain id (RJC_CHAIN_*), or RJC_CHAIN_NONE to detect it' },
    { name: 'pad', type: 'u8', count: 2, doc: 'zero' },
  ],
};

export const HARNESS_RESULT: StructDef = {
  name: 'rjc_harness_result',
  doc: 'Test harness only: what the last packet was seen as (written by the harness, read by tests).',
  fields: [
    { name: 'parse', type: 'u8', doc: 'RJC_PARSE_* result of rjc_parse()' },
    { name: 'chain', type: 'u8', doc: 'chain id that rjc_chain() returned' },
    { name: 'reply', type: 'u8', doc: '1 if a reply was built, 0 if not' },
    { name: 'reason', type: 'u8', doc: 'RJC_NOREPLY_* code when no reply was built, else 255' },
  ],
};

export const SCRATCH_STRUCT: StructDef = {
  name: 'rjc_scratch',
  doc: 'Per-CPU scratch space of the reply path (checksum chunks, header copies). Program-internal.',
  fields: [
    { name: 'chunk', type: 'u8', count: 512, doc: 'packet bytes being summed (bpf_csum_diff takes at most 512)' },
    { name: 'hdr', type: 'u8', count: 64, doc: 'the original IPv4 header with options, as the filter hook sees it' },
    { name: 'out', type: 'u8', count: 96, doc: 'reply IP + ICMP headers under construction' },
  ],
};

/** Map types used; the C name is `BPF_MAP_TYPE_<type>`. */
export type MapType = 'ARRAY' | 'PERCPU_ARRAY' | 'HASH' | 'LPM_TRIE';

export interface MapDef {
  /** Map name in the ELF object and in libbpf (max 15 characters). */
  name: string;
  type: MapType;
  /** A struct, or a scalar C type name for simple keys. */
  key: StructDef | { scalar: 'u32'; doc: string };
  value: StructDef | { scalar: 'u64'; doc: string };
  maxEntries: number;
  /** BPF_F_NO_PREALLOC (required by LPM tries). */
  noPrealloc?: boolean;
  /** Who writes it and when. */
  doc: string;
  /** Declared only when the including program defines RJC_TEST_HARNESS. */
  testOnly?: boolean;
}

export const MAPS: readonly MapDef[] = [
  {
    name: 'rjc_config',
    type: 'ARRAY',
    key: { scalar: 'u32', doc: 'always 0' },
    value: CONFIG_STRUCT,
    maxEntries: 1,
    doc: 'Host-wide reply defaults. Runtime: ip_default_ttl, conf.all.hop_limit.',
  },
  {
    name: 'rjc_dev',
    type: 'HASH',
    key: { scalar: 'u32', doc: 'ifindex' },
    value: DEV_STRUCT,
    maxEntries: 1024,
    doc: 'Per-device IPv6 hop_limit and MAC address. Runtime: one entry per interface of the namespace.',
  },
  {
    name: 'rjc_route4',
    type: 'LPM_TRIE',
    key: ROUTE4_KEY,
    value: ROUTE_INFO,
    maxEntries: 16384,
    noPrealloc: true,
    doc: 'Main-table IPv4 routes (all of them, so the longest match is the kernel\'s) with their hoplimit metric.',
  },
  {
    name: 'rjc_route6',
    type: 'LPM_TRIE',
    key: ROUTE6_KEY,
    value: ROUTE_INFO,
    maxEntries: 16384,
    noPrealloc: true,
    doc: 'Main-table IPv6 routes with their hoplimit metric.',
  },
  {
    name: 'rjc_addr4',
    type: 'HASH',
    key: ADDR4_KEY,
    value: ADDR_INFO,
    maxEntries: 4096,
    doc: 'IPv4 local table: local and broadcast addresses of this host (INPUT detection, broadcast gate).',
  },
  {
    name: 'rjc_addr6',
    type: 'HASH',
    key: ADDR6_KEY,
    value: ADDR_INFO,
    maxEntries: 4096,
    doc: 'IPv6 local and anycast addresses of this host (ICMPv6 source selection).',
  },
  {
    name: 'rjc_reply_stats',
    type: 'PERCPU_ARRAY',
    key: { scalar: 'u32', doc: 'replyStatsIndex(): reply kind, or REPLY_KINDS.length + no-reply reason' },
    value: { scalar: 'u64', doc: 'packets' },
    maxEntries: REPLY_STATS_ENTRIES,
    doc: 'Replies sent by kind and REJECTs without reply by reason. Written by the program only.',
  },
  {
    name: 'rjc_scratch',
    type: 'PERCPU_ARRAY',
    key: { scalar: 'u32', doc: 'always 0' },
    value: SCRATCH_STRUCT,
    maxEntries: 1,
    doc: 'Scratch space, program-internal (never read or written from user space).',
  },
  {
    name: 'rjc_harness',
    type: 'ARRAY',
    key: { scalar: 'u32', doc: 'always 0' },
    value: HARNESS_STRUCT,
    maxEntries: 1,
    doc: 'Test harness control.',
    testOnly: true,
  },
  {
    name: 'rjc_harness_out',
    type: 'ARRAY',
    key: { scalar: 'u32', doc: 'always 0' },
    value: HARNESS_RESULT,
    maxEntries: 1,
    doc: 'Test harness result of the last packet.',
    testOnly: true,
  },
];

/** Structs declared in the header, in declaration order. */
export const STRUCTS: readonly StructDef[] = [
  CONFIG_STRUCT,
  DEV_STRUCT,
  ROUTE4_KEY,
  ROUTE6_KEY,
  ROUTE_INFO,
  ADDR4_KEY,
  ADDR6_KEY,
  ADDR_INFO,
  SCRATCH_STRUCT,
  HARNESS_STRUCT,
  HARNESS_RESULT,
];

const layouts = new Map<string, StructLayout>(STRUCTS.map((s) => [s.name, layoutStruct(s)]));

/** The computed layout of one of STRUCTS, by C tag. */
export function structLayout(name: string): StructLayout {
  const l = layouts.get(name);
  if (!l) throw new Error(`no struct "${name}" in src/layout`);
  return l;
}

/** A map definition by name. */
export function mapDef(name: string): MapDef {
  const m = MAPS.find((x) => x.name === name);
  if (!m) throw new Error(`no map "${name}" in src/layout`);
  return m;
}
