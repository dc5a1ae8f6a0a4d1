/**
 * The packet fields the classifier indexes. Each field maps a packet value to an equivalence
 * class (stage 1), and each class to the rules that accept it (levels 1 and 2, ./index-build.ts).
 *
 * Two kinds of value space:
 * - `interval`: integers 0..max (protocol, ports, ...); a stage-1 array maps each value to
 *   its class.
 * - `prefix`: bit strings of `bits` bits (addresses, interface names as 16 bytes); a stage-1
 *   LPM trie maps each value to its class.
 */

export type FieldId =
  | 'src4'
  | 'dst4'
  | 'src6'
  | 'dst6'
  | 'iif'
  | 'oif'
  | 'proto'
  | 'hdr'
  | 'sport'
  | 'dport'
  | 'msport'
  | 'mdport'
  | 'tcpflags'
  | 'icmp'
  | 'ttl'
  | 'length'
  | 'pkttype'
  | 'mac'
  | 'srctype'
  | 'dsttype';

export interface IntervalField {
  id: FieldId;
  kind: 'interval';
  /** Largest value (inclusive); the smallest is 0. */
  max: number;
  /**
   * Header states (HDR) in which the packet has no value for the field (the match reading it
   * could not): the field then takes the value max + 1, UNREAD, which every condition on the
   * field accepts. Rules reach such packets only through their header-state condition, which
   * is how a rule and its hotdrop share one slot (./slots.ts).
   */
  unreadIn?: readonly number[];
  doc: string;
}

export interface PrefixField {
  id: FieldId;
  kind: 'prefix';
  /** Width of a value in bits (32, 128). */
  bits: number;
  doc: string;
}

export type FieldDef = IntervalField | PrefixField;

/**
 * Transport header states ("hdr" field values): how far the matches that read the transport
 * header can read it. Computed per packet by the generated C from what the parser found; the
 * thresholds are the sizes the kernel's matches read with skb_header_pointer().
 */
export const HDR = {
  /** Not a non-first fragment; the transport header is complete for every match of its protocol. */
  full: 0,
  /** TCP with 4..19 bytes or UDP with 4..7: the ports (multiport) can be read, the header cannot. */
  short: 1,
  /** A port protocol with < 4 bytes, or ICMP/ICMPv6 with < 8: nothing can be read. */
  none: 2,
  /** Non-first fragment (fragment offset != 0). */
  frag: 3,
  /** IPv4 TCP fragment at offset 1 (8 bytes): tcp_mt() hotdrops it ("evil TCP offset=1 frag"). */
  frag1: 4,
  /** IPv6 transport header not found (ipv6_find_hdr failed): `-p` hotdrops. */
  noproto: 5,
} as const;

export const HDR_MAX = 7;

/** All fields, in the fixed order used by maps, C code and manifests. */
export const FIELDS: readonly FieldDef[] = [
  { id: 'src4', kind: 'prefix', bits: 32, doc: 'IPv4 source address' },
  { id: 'dst4', kind: 'prefix', bits: 32, doc: 'IPv4 destination address' },
  { id: 'src6', kind: 'prefix', bits: 128, doc: 'IPv6 source address' },
  { id: 'dst6', kind: 'prefix', bits: 128, doc: 'IPv6 destination address' },
  { id: 'iif', kind: 'prefix', bits: 128, doc: 'input interface name (16 bytes, NUL padded; "" where the hook has none)' },
  { id: 'oif', kind: 'prefix', bits: 128, doc: 'output interface name (16 bytes, NUL padded; "" where the hook has none)' },
  { id: 'proto', kind: 'interval', max: 255, unreadIn: [HDR.noproto], doc: 'transport protocol as ip(6)_packet_match sees it' },
  { id: 'hdr', kind: 'interval', max: HDR_MAX, doc: 'transport header state (HDR)' },
  { id: 'sport', kind: 'interval', max: 65535, unreadIn: [HDR.short, HDR.none, HDR.frag, HDR.frag1, HDR.noproto], doc: 'tcp/udp match source port (bytes 0-1 of the transport header)' },
  { id: 'dport', kind: 'interval', max: 65535, unreadIn: [HDR.short, HDR.none, HDR.frag, HDR.frag1, HDR.noproto], doc: 'tcp/udp match destination port (bytes 2-3)' },
  { id: 'msport', kind: 'interval', max: 65535, unreadIn: [HDR.none, HDR.frag, HDR.frag1, HDR.noproto], doc: 'multiport source port (readable from 4 transport bytes)' },
  { id: 'mdport', kind: 'interval', max: 65535, unreadIn: [HDR.none, HDR.frag, HDR.frag1, HDR.noproto], doc: 'multiport destination port' },
  { id: 'tcpflags', kind: 'interval', max: 255, unreadIn: [HDR.short, HDR.none, HDR.frag, HDR.frag1, HDR.noproto], doc: 'TCP flags byte (byte 13 of the TCP header)' },
  { id: 'icmp', kind: 'interval', max: 65535, unreadIn: [HDR.short, HDR.none, HDR.frag, HDR.frag1, HDR.noproto], doc: 'ICMP/ICMPv6 type << 8 | code' },
  { id: 'ttl', kind: 'interval', max: 255, doc: 'IPv4 TTL / IPv6 hop limit as the hook sees it (decremented before FORWARD)' },
  { id: 'length', kind: 'interval', max: 65535, doc: 'IPv4 total length / IPv6 payload length + 40 (u16)' },
  { id: 'pkttype', kind: 'interval', max: 7, doc: 'skb->pkt_type as xt_pkttype sees it' },
  { id: 'mac', kind: 'interval', max: 2 ** 48 - 1, doc: 'Ethernet source address as a 48-bit number' },
  { id: 'srctype', kind: 'interval', max: 127, doc: 'source address type (ADDRTYPE): IPv4 route type, or 64 + IPv6 properties' },
  { id: 'dsttype', kind: 'interval', max: 127, doc: 'destination address type (ADDRTYPE)' },
];

/**
 * Values of the address type fields (`-m addrtype`), what xt_addrtype's match functions
 * depend on:
 * - IPv4: the route type of the address, `inet_addr_type_dev_table()` (0..11, RTN_*): the
 *   program knows BROADCAST (0.0.0.0, 255.255.255.255, subnet broadcasts of this host),
 *   MULTICAST (224.0.0.0/4), LOCAL (127.0.0.0/8 and this host's addresses), else UNICAST;
 * - IPv6: 64 + a bit set of what `match_type6()` tests: `ipv6_addr_type()`'s ANY, MULTICAST and
 *   UNICAST, and the route lookup's LOCAL, ANYCAST (UNREACHABLE never: every destination is
 *   taken as routable, like the model).
 */
export const ADDRTYPE = {
  v6Base: 64,
  v6: { any: 1, multicast: 2, unicast: 4, local: 8, anycast: 16 },
  /** RTN_* route types (include/uapi/linux/rtnetlink.h) = bit numbers of XT_ADDRTYPE_*. */
  rtn: { UNSPEC: 0, UNICAST: 1, LOCAL: 2, BROADCAST: 3, ANYCAST: 4, MULTICAST: 5, BLACKHOLE: 6, UNREACHABLE: 7, PROHIBIT: 8, THROW: 9, NAT: 10, XRESOLVE: 11 },
} as const;

export function fieldDef(id: FieldId): FieldDef {
  return FIELDS.find((f) => f.id === id)!;
}

/** The UNREAD value of a field (max + 1), or undefined for fields that always have a value. */
export function unreadValue(f: FieldDef): number | undefined {
  return f.kind === 'interval' && f.unreadIn ? f.max + 1 : undefined;
}

/** Index of a field in {@link FIELDS} (its stable order). */
export function fieldOrder(id: FieldId): number {
  return FIELDS.findIndex((f) => f.id === id);
}
