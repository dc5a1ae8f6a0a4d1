/**
 * The rejectc intermediate representation: the single contract between the front end
 * (grammar/ + src/compiler/lower) and everything after it (check, print, flatten, classify,
 * emit, the model in src/model/). Nothing downstream reads the CST.
 *
 * Conventions:
 * - Every node has a `span` pointing at the text it came from.
 * - Values are stored canonically (what iptables itself stores after parsing), so that
 *   printing gives exactly `iptables-save`'s spelling. E.g. `--dport ssh` is stored as the
 *   range {from: 22, to: 22}; `-p TCP` as protocol 6.
 * - Addresses are strings in canonical text form (IPv4 dotted quad, IPv6 RFC 5952) with the
 *   host bits already cleared, exactly as iptables-save prints them.
 * - Numbers are host numbers (not network byte order); byte order is the emitter's business.
 * - `negated` means iptables' `!` applies to that option.
 * - The IR is plain data (JSON-serialisable, no classes, no bigint) so tests can compare it
 *   with `toEqual` and tools can print it.
 */
import type { Span } from './span.js';

export type Family = 'ipv4' | 'ipv6';

export type TableName = 'filter' | 'nat' | 'mangle' | 'raw' | 'security';

/** Where the rules were read from and which iptables produced them, when the text tells. */
export type Backend = 'nft' | 'legacy' | 'unknown';

/** A whole input: one IR per family present in the text (ipv4 first). */
export interface Ruleset {
  kind: 'ruleset';
  /** The file name as given by the user (`-` for stdin). */
  file: string;
  /** `nft` if the text says iptables-nft / "(nf_tables)", `legacy` for iptables-legacy. */
  backend: Backend;
  families: FamilyRuleset[];
}

export interface FamilyRuleset {
  kind: 'family';
  family: Family;
  /** Tables in the order they first appear. */
  tables: Table[];
}

export interface Table {
  kind: 'table';
  name: TableName;
  span: Span;
  /** Built-in chains first in the kernel's order, then user chains in order of creation. */
  chains: Chain[];
}

export type Policy = 'ACCEPT' | 'DROP';

export interface Counters {
  packets: number;
  bytes: number;
}

export interface Chain {
  kind: 'chain';
  name: string;
  builtin: boolean;
  /** Built-in chains only; absent means ACCEPT (the kernel's default). */
  policy?: { verdict: Policy; span: Span };
  /** `[p:b]` from `:CHAIN POLICY [p:b]`, when present. */
  counters?: Counters;
  span: Span;
  rules: Rule[];
}

export interface Rule {
  kind: 'rule';
  span: Span;
  /** The rule's own text as written (one logical line, continuations joined). */
  source: string;
  /** `[p:b]` prefix of iptables-save -c output, when present. */
  counters?: Counters;
  /** `-s` `-d` `-i` `-o` `-p` `-f`: the "base" matches of struct ipt_ip / ip6t_ip6. */
  base: BaseMatches;
  /** `-m` modules in the order iptables keeps them (implicit `-m tcp` included). */
  matches: Match[];
  /** `null` for a rule without `-j`/`-g` (counts packets, decides nothing). */
  target: Target | null;
}

// ---------------------------------------------------------------------------------------------
// Base matches

/** An address with a prefix length. `address` has its host bits cleared. */
export interface Cidr {
  address: string;
  prefix: number;
}

export interface AddressMatch {
  negated: boolean;
  /**
   * One or more networks. iptables expands a comma list into one rule per element (and the
   * cross product for `-s a,b -d c,d`, source outer); printing and flattening do the same.
   */
  addresses: Cidr[];
  span: Span;
}

export interface InterfaceMatch {
  negated: boolean;
  /** Without the trailing `+`. With `wildcard`, matches any interface whose name starts so. */
  name: string;
  wildcard: boolean;
  span: Span;
}

export interface ProtocolMatch {
  negated: boolean;
  /** IP protocol / IPv6 next header number, 0..255. `-p all` is no protocol match at all. */
  protocol: number;
  span: Span;
}

export interface BaseMatches {
  src?: AddressMatch;
  dst?: AddressMatch;
  inInterface?: InterfaceMatch;
  outInterface?: InterfaceMatch;
  protocol?: ProtocolMatch;
  /** IPv4 `-f` / `! -f`: second and further fragments. Not valid for IPv6. */
  fragment?: { negated: boolean; span: Span };
}

// ---------------------------------------------------------------------------------------------
// Match modules

/** A value with iptables' `!`. The span covers the option and its value(s). */
export interface Neg<T> {
  negated: boolean;
  value: T;
  span: Span;
}

/** Inclusive range. A single value has from === to. */
export interface Range {
  from: number;
  to: number;
}

export interface TcpFlags {
  /** Flags examined, bit values FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 URG=0x20 ECE=0x40 CWR=0x80. */
  mask: number;
  /** Flags that must be set among `mask`. */
  comp: number;
}

interface MatchBase {
  kind: 'match';
  span: Span;
}

export interface TcpMatch extends MatchBase {
  module: 'tcp';
  sport?: Neg<Range>;
  dport?: Neg<Range>;
  /** `--syn` is stored as mask FIN|SYN|RST|ACK, comp SYN (as iptables does). */
  flags?: Neg<TcpFlags>;
  /** `--tcp-option N`. */
  option?: Neg<number>;
}

export interface UdpMatch extends MatchBase {
  module: 'udp';
  sport?: Neg<Range>;
  dport?: Neg<Range>;
}

/** ICMP type with a code range; `any` is type 255 codes 0..255 in iptables' encoding. */
export interface IcmpType {
  type: number;
  codeMin: number;
  codeMax: number;
}

export interface IcmpMatch extends MatchBase {
  module: 'icmp';
  icmpType?: Neg<IcmpType>;
}

export interface Icmp6Match extends MatchBase {
  module: 'icmp6';
  icmpType?: Neg<IcmpType>;
}

export interface MultiportMatch extends MatchBase {
  module: 'multiport';
  negated: boolean;
  direction: 'sports' | 'dports' | 'ports';
  /** Up to 15 entries, a range counting as two. */
  ports: Range[];
}

export type CtState = 'INVALID' | 'NEW' | 'ESTABLISHED' | 'RELATED' | 'UNTRACKED' | 'SNAT' | 'DNAT';

export interface StateMatch extends MatchBase {
  module: 'state';
  negated: boolean;
  states: CtState[];
}

export type CtStatus = 'NONE' | 'EXPECTED' | 'SEEN_REPLY' | 'ASSURED' | 'CONFIRMED';

export interface ConntrackMatch extends MatchBase {
  module: 'conntrack';
  ctstate?: Neg<CtState[]>;
  ctproto?: Neg<number>;
  /**
   * Conntrack addresses keep the address as written (iptables does not clear host bits here and
   * iptables-save prints `1.2.3.4/24`); compare `address & mask` with `tuple & mask`.
   */
  ctorigsrc?: Neg<Cidr>;
  ctorigdst?: Neg<Cidr>;
  ctreplsrc?: Neg<Cidr>;
  ctrepldst?: Neg<Cidr>;
  ctorigsrcport?: Neg<Range>;
  ctorigdstport?: Neg<Range>;
  ctreplsrcport?: Neg<Range>;
  ctrepldstport?: Neg<Range>;
  ctstatus?: Neg<CtStatus[]>;
  ctexpire?: Neg<Range>;
  ctdir?: { value: 'ORIGINAL' | 'REPLY'; span: Span };
}

export interface LimitMatch extends MatchBase {
  module: 'limit';
  /** Average interval in units of 1/10000 s (XT_LIMIT_SCALE), as iptables stores it. */
  avg: number;
  /** Bucket depth in packets; iptables' default 5. */
  burst: number;
}

export type HashlimitMode = 'srcip' | 'srcport' | 'dstip' | 'dstport';

/**
 * The option level fills every optional field with what iptables stores after its final check
 * (masks 32/128, htable size/max 0, gcinterval 1000, expire in ms, rateInterval 0 without
 * rate-match), so the IR is the kernel's configuration, defaults included.
 */
export interface HashlimitMatch extends MatchBase {
  module: 'hashlimit';
  /** `upto` matches while under the limit; `above` (the INVERT flag) while over it. */
  direction: 'upto' | 'above';
  /** Rate in packets: avg in 1/1,000,000 s (revision 3 scale). Bytes mode: see `bytes`. */
  avg: number;
  burst: number;
  /** Bytes mode (`Nb/s`, `Nkb/s`, `Nmb/s`): the rate in bytes per second as given. */
  bytes?: { perSecond: number };
  mode: HashlimitMode[];
  srcmask?: number;
  dstmask?: number;
  name: string;
  htableSize?: number;
  htableMax?: number;
  htableExpire?: number;
  htableGcinterval?: number;
  /** Revision 3 `--hashlimit-rate-match` / `--hashlimit-rate-interval`. */
  rateMatch?: boolean;
  rateInterval?: number;
}

export type AddrType =
  | 'UNSPEC'
  | 'UNICAST'
  | 'LOCAL'
  | 'BROADCAST'
  | 'ANYCAST'
  | 'MULTICAST'
  | 'BLACKHOLE'
  | 'UNREACHABLE'
  | 'PROHIBIT'
  | 'THROW'
  | 'NAT'
  | 'XRESOLVE';

export interface AddrtypeMatch extends MatchBase {
  module: 'addrtype';
  srcType?: Neg<AddrType[]>;
  dstType?: Neg<AddrType[]>;
  limitIfaceIn?: boolean;
  limitIfaceOut?: boolean;
}

export interface RecentMatch extends MatchBase {
  module: 'recent';
  /** `--set`, `--rcheck`, `--update` or `--remove`; `!` inverts the result. */
  command: Neg<'set' | 'rcheck' | 'update' | 'remove'>;
  name: string;
  side: 'rsource' | 'rdest';
  seconds?: number;
  reap?: boolean;
  hitcount?: number;
  rttl?: boolean;
  mask?: string;
}

export interface OwnerMatch extends MatchBase {
  module: 'owner';
  uid?: Neg<Range>;
  gid?: Neg<Range>;
  socketExists?: Neg<true>;
  suppGroups?: boolean;
}

export interface MacMatch extends MatchBase {
  module: 'mac';
  /** `--mac-source`, lower-case colon-separated as iptables-save prints it (`04:01:aa:...`). */
  source: Neg<string>;
}

export interface CommentMatch extends MatchBase {
  module: 'comment';
  text: string;
}

/** Shared by `-m ttl` (IPv4) and `-m hl` (IPv6): eq, ne (`! --ttl-eq`), lt, gt. */
export interface HopMatch extends MatchBase {
  module: 'ttl' | 'hl';
  op: 'eq' | 'ne' | 'lt' | 'gt';
  value: number;
}

export interface AddressRange {
  from: string;
  to: string;
}

export interface IprangeMatch extends MatchBase {
  module: 'iprange';
  src?: Neg<AddressRange>;
  dst?: Neg<AddressRange>;
}

export interface SetMatch extends MatchBase {
  module: 'set';
  negated: boolean;
  name: string;
  /** One direction per dimension of the set, e.g. ['src', 'dst'] for hash:ip,port as src,dst. */
  flags: ('src' | 'dst')[];
  /** Further options (`--return-nomatch`, `! --update-counters`, `--packets-gt` ...), canonical text. */
  options: string[];
}

export interface PkttypeMatch extends MatchBase {
  module: 'pkttype';
  pktType: Neg<'unicast' | 'broadcast' | 'multicast' | 'host' | 'otherhost' | 'outgoing' | 'loopback'>;
}

export interface LengthMatch extends MatchBase {
  module: 'length';
  length: Neg<Range>;
}

export interface MarkMatch extends MatchBase {
  module: 'mark';
  mark: Neg<{ value: number; mask: number }>;
}

export interface ConnlimitMatch extends MatchBase {
  module: 'connlimit';
  /** `--connlimit-upto N` (matches while count <= N) or `--connlimit-above N`. */
  direction: 'upto' | 'above';
  limit: number;
  mask?: number;
  side: 'saddr' | 'daddr';
}

export interface StatisticMatch extends MatchBase {
  module: 'statistic';
  mode: 'random' | 'nth';
  negated: boolean;
  probability?: number;
  every?: number;
  packet?: number;
}

export interface PhysdevMatch extends MatchBase {
  module: 'physdev';
  physdevIn?: Neg<{ name: string; wildcard: boolean }>;
  physdevOut?: Neg<{ name: string; wildcard: boolean }>;
  isIn?: Neg<true>;
  isOut?: Neg<true>;
  isBridged?: Neg<true>;
}

export interface TosMatch extends MatchBase {
  module: 'tos';
  tos: Neg<{ value: number; mask: number }>;
}

export interface DscpMatch extends MatchBase {
  module: 'dscp';
  dscp: Neg<number>;
}

export interface EcnMatch extends MatchBase {
  module: 'ecn';
  tcpCwr?: Neg<true>;
  tcpEce?: Neg<true>;
  ipEct?: Neg<number>;
}

/** IPv6 `-m frag`. */
export interface FragMatch extends MatchBase {
  module: 'frag';
  id?: Neg<Range>;
  len?: Neg<number>;
  reserved?: boolean;
  first?: boolean;
  more?: boolean;
  last?: boolean;
}

/** IPv6 `-m ipv6header`. */
export interface Ipv6headerMatch extends MatchBase {
  module: 'ipv6header';
  negated: boolean;
  /** Header names in iptables' canonical spelling (hop, dst, route, frag, auth, esp, none, prot). */
  headers: string[];
  soft: boolean;
}

/** IPv6 `-m rt`. */
export interface RtMatch extends MatchBase {
  module: 'rt';
  rtType?: Neg<number>;
  segsLeft?: Neg<Range>;
  len?: Neg<number>;
  reserved?: boolean;
  addrs?: string[];
  notStrict?: boolean;
}

export type Match =
  | TcpMatch
  | UdpMatch
  | IcmpMatch
  | Icmp6Match
  | MultiportMatch
  | StateMatch
  | ConntrackMatch
  | LimitMatch
  | HashlimitMatch
  | AddrtypeMatch
  | RecentMatch
  | OwnerMatch
  | MacMatch
  | CommentMatch
  | HopMatch
  | IprangeMatch
  | SetMatch
  | PkttypeMatch
  | LengthMatch
  | MarkMatch
  | ConnlimitMatch
  | StatisticMatch
  | PhysdevMatch
  | TosMatch
  | DscpMatch
  | EcnMatch
  | FragMatch
  | Ipv6headerMatch
  | RtMatch;

export type MatchModule = Match['module'];

// ---------------------------------------------------------------------------------------------
// Targets

export type RejectWith4 =
  | 'icmp-net-unreachable'
  | 'icmp-host-unreachable'
  | 'icmp-proto-unreachable'
  | 'icmp-port-unreachable'
  | 'icmp-net-prohibited'
  | 'icmp-host-prohibited'
  | 'tcp-reset'
  | 'icmp-admin-prohibited';

export type RejectWith6 =
  | 'icmp6-no-route'
  | 'icmp6-adm-prohibited'
  | 'icmp6-addr-unreachable'
  | 'icmp6-port-unreachable'
  | 'tcp-reset'
  | 'icmp6-policy-fail'
  | 'icmp6-reject-route';

export type RejectWith = RejectWith4 | RejectWith6;

interface TargetBase {
  kind: 'target';
  span: Span;
}

export interface VerdictTarget extends TargetBase {
  target: 'ACCEPT' | 'DROP' | 'RETURN';
}

export interface RejectTarget extends TargetBase {
  target: 'REJECT';
  /** Always filled: iptables' default is icmp-port-unreachable / icmp6-port-unreachable. */
  with: RejectWith;
}

export interface JumpTarget extends TargetBase {
  target: 'jump';
  chain: string;
  /** `-g`: the chain's end (or RETURN) returns to the caller's caller. */
  goto: boolean;
}

export interface LogTarget extends TargetBase {
  target: 'LOG';
  level?: number;
  prefix?: string;
  tcpSequence?: boolean;
  tcpOptions?: boolean;
  ipOptions?: boolean;
  uid?: boolean;
  macDecode?: boolean;
}

/**
 * Targets of other tables (nat, mangle, raw) and non-terminal filter targets rejectc keeps
 * but does not compile (NFLOG, TCPMSS, MARK, ...). `options` is their canonical text, in
 * iptables-save spelling, e.g. ['--to-destination', '192.0.2.1:80'].
 */
export interface OtherTarget extends TargetBase {
  target: 'other';
  name: string;
  options: string[];
}

export type Target = VerdictTarget | RejectTarget | JumpTarget | LogTarget | OtherTarget;

// ---------------------------------------------------------------------------------------------
// Helpers

export const BUILTIN_CHAINS: Record<TableName, readonly string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
  security: ['INPUT', 'FORWARD', 'OUTPUT'],
};

/** The filter chains rejectc compiles, in the order the program's chain ids use. */
export const FILTER_HOOKS = ['INPUT', 'FORWARD', 'OUTPUT'] as const;
export type FilterHook = (typeof FILTER_HOOKS)[number];

/** Default reject type when `--reject-with` is absent. */
export function defaultRejectWith(family: Family): RejectWith {
  return family === 'ipv4' ? 'icmp-port-unreachable' : 'icmp6-port-unreachable';
}
