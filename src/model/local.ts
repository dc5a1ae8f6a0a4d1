/**
 * What the kernel's local routing table knows about addresses, reduced to the host's
 * configured addresses (`ModelEnv.localAddresses`) plus loopback: address types for
 * `-m addrtype`, subnet-directed broadcasts, and "is this one of mine" for reply sources.
 */
import type { AddrType } from '../compiler/ir.js';
import {
  addressBytes,
  broadcastOf,
  equalAddresses,
  inPrefix,
  ipv6AddrType,
  IPV6_ADDR,
  isIpv4LimitedBroadcast,
  isIpv4Loopback,
  isIpv4Multicast,
  isIpv4Zeronet,
  networkOf,
} from './address.js';
import type { LocalAddress, ModelEnv } from './env.js';

interface Parsed {
  bytes: Uint8Array;
  prefix: number;
  interface: string;
}

function parsed(env: ModelEnv, length: 4 | 16): Parsed[] {
  return (env.localAddresses ?? [])
    .map((a: LocalAddress) => ({ bytes: addressBytes(a.address), prefix: a.prefix, interface: a.interface }))
    .filter((a) => a.bytes.length === length);
}

/**
 * True if `addr` is an address of this host: a configured address (on `device` only, when
 * given), 127.0.0.0/8 or ::1 (on `lo`).
 */
export function isLocalAddress(addr: Uint8Array, env: ModelEnv, device: string | null = null): boolean {
  if (addr.length === 4 && isIpv4Loopback(addr)) return device === null || device === 'lo';
  if (addr.length === 16 && (ipv6AddrType(addr) & IPV6_ADDR.LOOPBACK) !== 0) return device === null || device === 'lo';
  return parsed(env, addr.length === 4 ? 4 : 16).some(
    (a) => equalAddresses(a.bytes, addr) && (device === null || a.interface === device),
  );
}

/**
 * True if `device` has joined the multicast group `addr` (`env.multicastGroups`; false when
 * the list is missing: callers check for that first).
 */
export function isJoinedGroup(addr: Uint8Array, env: ModelEnv, device: string): boolean {
  return (env.multicastGroups ?? []).some((g) => g.interface === device && equalAddresses(addressBytes(g.address), addr));
}

/** The subnet broadcast (`prefix | ~mask`, prefixes shorter than /31) of a local IPv4 network. */
export function isSubnetBroadcast(addr: Uint8Array, env: ModelEnv, device: string | null = null): boolean {
  return subnetAddressOf(addr, env, device) !== null;
}

/**
 * The local IPv4 address whose subnet has `addr` as its broadcast address (on `device` only,
 * when given), the first one configured; null when `addr` is no subnet broadcast. It is the
 * preferred source of the broadcast route `fib_add_ifaddr` adds.
 */
export function subnetAddressOf(addr: Uint8Array, env: ModelEnv, device: string | null = null): Uint8Array | null {
  if (addr.length !== 4) return null;
  const owner = parsed(env, 4).find(
    (a) => a.prefix < 31 && equalAddresses(broadcastOf(a.bytes, a.prefix), addr) && (device === null || a.interface === device),
  );
  return owner?.bytes ?? null;
}

/**
 * The orig's route is broadcast or multicast (`RTCF_BROADCAST | RTCF_MULTICAST`): limited or
 * subnet broadcast, or 224.0.0.0/4.
 */
export function ipv4RouteIsBroadcast(dst: Uint8Array, env: ModelEnv): boolean {
  return isIpv4LimitedBroadcast(dst) || isIpv4Multicast(dst) || isSubnetBroadcast(dst, env);
}

/**
 * `inet_dev_addr_type(net, dev, addr)` (net/ipv4/fib_frontend.c): 0.0.0.0 and
 * 255.255.255.255 are BROADCAST, 224/4 MULTICAST; then the local table decides (LOCAL,
 * BROADCAST for subnet broadcasts, only counted when its device is `device` if given);
 * anything else is UNICAST.
 */
export function addrType4(addr: Uint8Array, env: ModelEnv, device: string | null): AddrType {
  if (isIpv4Zeronet(addr) || isIpv4LimitedBroadcast(addr)) return 'BROADCAST';
  if (isIpv4Multicast(addr)) return 'MULTICAST';
  if (isLocalAddress(addr, env, device)) return 'LOCAL';
  if (isSubnetBroadcast(addr, env, device)) return 'BROADCAST';
  return 'UNICAST';
}

/**
 * `match_type6` (net/netfilter/xt_addrtype.c): every type in `types` must hold (the mask is
 * tested bit by bit). MULTICAST, UNICAST and UNSPEC come from the address itself; LOCAL,
 * ANYCAST and UNREACHABLE need a route lookup, which the model answers from the local addresses:
 * LOCAL = a local address, ANYCAST = the subnet-router anycast address (network address) of an
 * on-link local prefix shorter than /127, UNREACHABLE never (every destination is assumed
 * routable). Types ip6tables refuses (BROADCAST, BLACKHOLE, PROHIBIT and later) never match.
 */
export function matchAddrType6(addr: Uint8Array, types: AddrType[], env: ModelEnv, device: string | null): boolean {
  const kind = ipv6AddrType(addr);
  const set = new Set(types);
  for (const refused of ['BROADCAST', 'BLACKHOLE', 'PROHIBIT', 'THROW', 'NAT', 'XRESOLVE'] as const) {
    if (set.has(refused)) return false;
  }
  if (set.has('MULTICAST') && !(kind & IPV6_ADDR.MULTICAST)) return false;
  if (set.has('UNICAST') && !(kind & IPV6_ADDR.UNICAST)) return false;
  if (set.has('UNSPEC') && kind !== IPV6_ADDR.ANY) return false;
  if (set.has('LOCAL') || set.has('ANYCAST') || set.has('UNREACHABLE')) {
    const found = new Set<AddrType>();
    if (isLocalAddress(addr, env, device)) found.add('LOCAL');
    if (isSubnetAnycast6(addr, env, device)) found.add('ANYCAST');
    return [...set].some((t) => found.has(t));
  }
  return true;
}

function isSubnetAnycast6(addr: Uint8Array, env: ModelEnv, device: string | null): boolean {
  return parsed(env, 16).some(
    (a) =>
      a.prefix < 127 &&
      inPrefix(addr, a.bytes, a.prefix) &&
      equalAddresses(networkOf(a.bytes, a.prefix), addr) &&
      (device === null || a.interface === device),
  );
}
