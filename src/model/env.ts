/**
 * What the model needs to know about the host besides the packet: the hook, interfaces, the
 * skb mark, this host's addresses, and the reply configuration the kernel would read from
 * sysctls and routes. Everything has a documented default, so tests state only what matters.
 */
import type { RateClock, RateLimitState } from './limits/ruleset-limits.js';
import type { FilterHook } from '../compiler/ir.js';
import type { L2Class } from './packet.js';
import type { ConnView } from './state/conntrack.js';
import type { IpsetFile } from '../compiler/ipset/types.js';
import type { RecentTables } from './state/recent.js';
import type { SocketOwner } from './state/owner.js';

/** One address configured on this host (as `ip addr` shows it). */
export interface LocalAddress {
  /** Canonical text, e.g. `192.0.2.2` or `2001:db8::2`. */
  address: string;
  /** Prefix length of the configured network (e.g. 24). */
  prefix: number;
  /** The interface it lives on (`lo` for loopback). */
  interface: string;
}

/** One multicast group a device has joined (as `ip maddr` shows it). */
export interface MulticastGroup {
  /** Canonical text, e.g. `224.0.0.1` or `ff02::1`. */
  address: string;
  /** The device that joined it. */
  interface: string;
}

/** What the kernel would read when building a reply (sysctls, routes, addresses). */
export interface ReplyConfig {
  /** `net.ipv4.ip_default_ttl` (default 64). */
  ipv4DefaultTtl: number;
  /**
   * `hoplimit` metric of the route toward the orig *source* (the IPv4 ICMP reply's route),
   * if it has one. Otherwise ICMP uses `ipv4DefaultTtl`.
   */
  ipv4ReplyRouteHoplimit?: number;
  /**
   * `hoplimit` metric of the orig packet's *own* route (the RST reuses it: in INPUT the local
   * route, in FORWARD the route toward the orig destination), if it has one.
   */
  ipv4OrigRouteHoplimit?: number;
  /**
   * IPv6 reply hop limit (`ip6_dst_hoplimit` of the route toward the orig source): the route's
   * `hoplimit` metric, else the egress device's `net.ipv6.conf.<dev>.hop_limit` (default 64).
   */
  ipv6HopLimit: number;
  /**
   * ICMP source when the orig was not addressed to this host (FORWARD, or OUTPUT to a remote
   * host): the address the route lookup toward the orig source selects. Also the address
   * `fib_compute_spec_dst` writes into Record Route / Timestamp options of forwarded packets.
   * Default: the kernel's last resort 192.0.0.8 (INADDR_DUMMY).
   */
  icmpSourceV4?: string;
  /** IPv6 counterpart of `icmpSourceV4` (source address selection toward the orig source). */
  icmpSourceV6?: string;
  /** MTU of the reply's route (the IPv4 ICMP quote is limited to min(mtu, 576)); default 1500. */
  routeMtu: number;
}

export interface ModelEnv {
  /**
   * Rate-limit state (`-m limit`, `-m hashlimit`; src/model/limits/ruleset-limits.ts) and this
   * packet's time. Without both, the model refuses those matches as unsupported.
   */
  rateLimits?: RateLimitState;
  now?: RateClock;
  /** The filter chain the packet traverses. */
  chain: FilterHook;
  /** Ingress interface name (INPUT, FORWARD); ignored at OUTPUT, where it is "". */
  inInterface?: string;
  /** Egress interface name (FORWARD, OUTPUT); ignored at INPUT, where it is "". */
  outInterface?: string;
  /**
   * Link-layer class of the frame (`skb->pkt_type`). Default: from the decoded frame's
   * destination MAC, else `unicast`. Always `unicast` (PACKET_HOST) at OUTPUT.
   */
  l2?: L2Class;
  /**
   * MAC address of the ingress device (INPUT, FORWARD), e.g. `02:00:00:00:00:02`. A frame sent
   * to another unicast MAC is PACKET_OTHERHOST, which `ip_rcv_core` / `ipv6_rcv` drop before
   * any hook. Default: unknown (every unicast frame is for this host).
   */
  inMac?: string;
  /**
   * The multicast groups each device has joined (`ip maddr`). A multicast destination the
   * ingress device has not joined never reaches INPUT (`ip_check_mc_rcu`, `ip6_mc_input`).
   * Default: unknown (every group counts as joined).
   */
  multicastGroups?: MulticastGroup[];
  /** `skb->mark` (default 0). */
  mark?: number;
  /**
   * This host's addresses: decide `-m addrtype`, subnet-directed broadcasts, whether an IPv6
   * orig was addressed to this host (ICMPv6 source) and Record Route fills. Default: none.
   */
  localAddresses?: LocalAddress[];
  /** Reply configuration; missing fields take {@link DEFAULT_REPLY_CONFIG}. */
  reply?: Partial<ReplyConfig>;
  /**
   * The skb is already marked checksum-verified (CHECKSUM_UNNECESSARY from the NIC, or a
   * locally generated CHECKSUM_PARTIAL skb at OUTPUT): REJECT then skips its checksum checks.
   * Default false: checksums are verified, as for CHECKSUM_NONE (veth, the golden captures).
   */
  checksumVerified?: boolean;
  /**
   * Run each reply through this ruleset's OUTPUT chain, as the kernel does (`ip_local_out`);
   * a reply it drops is not sent. Default false: a BPF hook sees only one packet, so rejectc
   * does not do this (docs/semantics.md). The golden `*-output-drop-noreply` cases set it.
   */
  filterRepliesThroughOutput?: boolean;
  /**
   * Milliseconds since midnight UTC, written into IPv4 Timestamp options the stack fills
   * (`inet_current_timestamp`). Default 0.
   */
  timestampMs?: number;
  /**
   * The packet's connection tracking state, for `-m state` / `-m conntrack` (what
   * bpf/rjc_ct.h computes at the hook). Default: no connection, i.e. INVALID.
   */
  conntrack?: ConnView;
  /** The sets `-m set` tests (the --ipset file); without it, set matches are refused as unsupported. */
  ipsets?: IpsetFile;
  /** `-m recent` tables (mutated by the walk) and `now` for their time; without both, recent is refused. */
  recent?: RecentTables;
  /** OUTPUT: the socket the packet was sent from (`-m owner`). Default: none. */
  socket?: SocketOwner;
}

export const DEFAULT_REPLY_CONFIG: ReplyConfig = {
  ipv4DefaultTtl: 64,
  ipv6HopLimit: 64,
  routeMtu: 1500,
};

/** INADDR_DUMMY, the IPv4 ICMP source of last resort (`__icmp_send`). */
export const INADDR_DUMMY = '192.0.0.8';

/** The reply configuration with defaults filled in. */
export function replyConfig(env: ModelEnv): ReplyConfig {
  return { ...DEFAULT_REPLY_CONFIG, ...env.reply };
}

/** Interface names as the filter hook passes them (`nulldevname` "" where there is none). */
export function hookInterfaces(env: ModelEnv): { in: string; out: string } {
  return {
    in: env.chain === 'OUTPUT' ? '' : (env.inInterface ?? ''),
    out: env.chain === 'INPUT' ? '' : (env.outInterface ?? ''),
  };
}
