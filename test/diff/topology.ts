/**
 * The differential suite's networks: one "side" per firewall under comparison (the kernel's
 * iptables, rejectc at TC, rejectc at XDP), all built identically, so that the same frame
 * sent into each side can only have different fates because the firewalls differ.
 *
 *   client ns               server ns                          far ns
 *   c0 ─────── veth ─────── s0 [firewall] s1 ─────── veth ─────── f0
 *   (injects, captures)     192.0.2.2       198.51.100.1          (captures what was forwarded)
 *                           2001:db8::2     2001:db8:1::1
 *
 * - The client and far namespaces have no IP configuration (IPv6 disabled, everything dropped
 *   at raw PREROUTING): they never answer, they only inject and capture (test/diff/wire.py).
 * - The server routes like a small router: 192.0.2.0/24 and 2001:db8::/64 are on s0 (the
 *   client's link); everything else goes back to the client (default routes via 192.0.2.1 /
 *   2001:db8::1), except the "far" prefixes, routed via s1: {@link FAR_V4}, {@link FAR_V6}.
 *   So a packet is INPUT when addressed to the server, FORWARD to the far side (or back to the
 *   client: hairpin), and every reply to any source goes back to the client.
 * - Static (permanent) neighbours for every gateway and every on-link source the generators
 *   use ({@link ONLINK_SOURCES_V4}/{@link ONLINK_SOURCES_V6}): no ARP/ND ever delays a reply.
 * - Sysctls as in the spec's captures (nf-reject.md §11): ICMP rate limiting off
 *   (`icmp_ratemask=0`, `icmp.ratemask=` empty), rp_filter 0, no redirects, fragment queues
 *   that never expire during a run (an expiring queue would send an ICMP "time exceeded" at
 *   a random moment); tx checksum offload off on the server (wire.py does it with the ethtool
 *   ioctl), so checksums on the wire are final.
 * - Every interface has a fixed MAC address, the same on every side: the same frame bytes
 *   reach every server, and a reply's addresses cannot differ by side.
 *
 * Names are `rjc<pid><side><role><n>` (test/support/netns.ts): unique per process and run;
 * {@link DiffTopology.cleanup} deletes everything, and a process exit hook does too.
 */
import { createNetns, deleteNetns, execArgv, uniqueName, type Netns } from '../support/netns.js';

/** Which firewall a side runs. */
export type SideKind = 'kernel' | 'tc' | 'xdp';

export const SIDE_KINDS: readonly SideKind[] = ['kernel', 'tc', 'xdp'];

/** Fixed MAC addresses (locally administered), identical on every side. */
export const MAC = { client: '02:00:00:00:01:01', serverIn: '02:00:00:00:02:01', serverOut: '02:00:00:00:02:02', far: '02:00:00:00:03:01' } as const;

/** Interface names. */
export const IF = { client: 'c0', serverIn: 's0', serverOut: 's1', far: 'f0' } as const;

/** The server's own addresses (INPUT destinations). */
export const SERVER_V4 = ['192.0.2.2', '198.51.100.1'] as const;
export const SERVER_V6 = ['2001:db8::2', '2001:db8:1::1'] as const;
/** The client's address: the gateway of the server's default route, and the barrier's sender. */
export const CLIENT_V4 = '192.0.2.1';
export const CLIENT_V6 = '2001:db8::1';
/** Sources on the client's link the server has static neighbours for. */
export const ONLINK_SOURCES_V4 = ['192.0.2.1', '192.0.2.3', '192.0.2.77', '192.0.2.200', '192.0.2.254'] as const;
export const ONLINK_SOURCES_V6 = ['2001:db8::1', '2001:db8::3', '2001:db8::77', 'fe80::1', 'fe80::2'] as const;
/** Prefixes routed to the far namespace (FORWARD destinations), and their gateways. */
export const FAR_V4 = { prefix: '198.51.100.0/25', gateway: '198.51.100.2', link: '198.51.100.1/30' } as const;
export const FAR_V6 = { prefix: '2001:db8:2::/48', gateway: '2001:db8:1::2', link: '2001:db8:1::1/64' } as const;

/** One side: three namespaces. */
export interface Side {
  kind: SideKind;
  client: Netns;
  server: Netns;
  far: Netns;
}

/** All sides of a comparison. */
export interface DiffTopology {
  sides: Side[];
  /** Deletes every namespace (idempotent, never throws). */
  cleanup(): void;
}

/** Server-side interface names; the corpus renames them after a ruleset's own interfaces. */
export interface ServerInterfaces {
  /** Toward the client (default `s0`). */
  in: string;
  /** Toward the far namespace (default `s1`). */
  out: string;
}

export const DEFAULT_SERVER_INTERFACES: ServerInterfaces = { in: IF.serverIn, out: IF.serverOut };

const SILENT = ['iptables-legacy', 'ip6tables-legacy'].map((cmd) => `${cmd} -t raw -A PREROUTING -j DROP`);

/** A namespace with IPv6 off from the start: no DAD, MLD or router solicitations. */
function quietNetns(tag: string): Netns {
  const ns = createNetns(uniqueName(tag));
  ns.exec(['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  return ns;
}

function batch(ns: Netns, lines: readonly string[]): void {
  execArgv(['ip', '-n', ns.name, '-batch', '-'], { input: `${lines.join('\n')}\n` });
}

function serverSysctls(ifs: ServerInterfaces): string[] {
  // sysctl(8) reads dots as separators: an interface name with a dot (eth0.10) is written with '/'.
  const perIf = [ifs.in, ifs.out].map((i) => i.replace(/\./g, '/')).flatMap((i) => [`net.ipv4.conf.${i}.rp_filter=0`, `net.ipv4.conf.${i}.send_redirects=0`]);
  return [
    'net.ipv4.ip_forward=1',
    'net.ipv6.conf.all.forwarding=1',
    'net.ipv4.icmp_ratemask=0',
    'net.ipv4.conf.all.rp_filter=0',
    'net.ipv4.conf.default.rp_filter=0',
    'net.ipv4.conf.all.send_redirects=0',
    'net.ipv4.conf.default.send_redirects=0',
    'net.ipv4.ipfrag_time=86400',
    'net.ipv6.ip6frag_time=86400',
    ...perIf,
  ];
}

function buildSide(kind: SideKind, ifs: ServerInterfaces, made: Netns[]): Side {
  const tag = kind[0]!;
  const newNs = (role: string, quiet: boolean): Netns => {
    const ns = quiet ? quietNetns(`${tag}${role}`) : createNetns(uniqueName(`${tag}${role}`));
    made.push(ns);
    return ns;
  };
  const client = newNs('c', true);
  const server = newNs('s', false);
  // No duplicate address detection: a link-local address stays "tentative" (not yet local to
  // the kernel) for a second or two after link-up, while rejectc, applied at once, already
  // counts it as local. The interfaces created below take these defaults.
  server.exec(['sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
  const far = newNs('f', true);
  execArgv(['ip', '-n', client.name, 'link', 'add', IF.client, 'address', MAC.client, 'type', 'veth', 'peer', 'name', ifs.in, 'address', MAC.serverIn, 'netns', server.name]);
  execArgv(['ip', '-n', far.name, 'link', 'add', IF.far, 'address', MAC.far, 'type', 'veth', 'peer', 'name', ifs.out, 'address', MAC.serverOut, 'netns', server.name]);
  server.exec(['sysctl', '-qw', ...serverSysctls(ifs)]);
  server.sh('echo > /proc/sys/net/ipv6/icmp/ratemask');
  batch(server, [
    `addr add 192.0.2.2/24 dev ${ifs.in}`,
    `addr add 2001:db8::2/64 dev ${ifs.in} nodad`,
    `addr add ${FAR_V4.link} dev ${ifs.out}`,
    `addr add ${FAR_V6.link} dev ${ifs.out} nodad`,
    `link set ${ifs.in} up`,
    `link set ${ifs.out} up`,
    `route add default via ${CLIENT_V4} dev ${ifs.in}`,
    `route add ::/0 via ${CLIENT_V6} dev ${ifs.in}`,
    `route add ${FAR_V4.prefix} via ${FAR_V4.gateway} dev ${ifs.out}`,
    `route add ${FAR_V6.prefix} via ${FAR_V6.gateway} dev ${ifs.out}`,
    ...ONLINK_SOURCES_V4.map((a) => `neigh replace ${a} lladdr ${MAC.client} dev ${ifs.in} nud permanent`),
    ...ONLINK_SOURCES_V6.map((a) => `neigh replace ${a} lladdr ${MAC.client} dev ${ifs.in} nud permanent`),
    `neigh replace ${FAR_V4.gateway} lladdr ${MAC.far} dev ${ifs.out} nud permanent`,
    `neigh replace ${FAR_V6.gateway} lladdr ${MAC.far} dev ${ifs.out} nud permanent`,
  ]);
  for (const [ns, ifname] of [[client, IF.client], [far, IF.far]] as const) {
    batch(ns, [`link set ${ifname} up`]);
    ns.sh(SILENT.join(' && '));
  }
  // The observer: every packet that got past the filter table (security runs at priority 50).
  for (const cmd of ['iptables-legacy', 'ip6tables-legacy']) {
    for (const chain of ['INPUT', 'FORWARD']) server.exec([cmd, '-t', 'security', '-A', chain, '-j', 'NFLOG', '--nflog-group', '7']);
  }
  // The server's own MLD reports leave at random moments (link up, timers): drop them before
  // the filter table and any TC egress program, alike on every side.
  for (const type of ['131', '132', '143']) server.exec(['ip6tables-legacy', '-t', 'raw', '-A', 'OUTPUT', '-p', 'ipv6-icmp', '-m', 'icmp6', '--icmpv6-type', type, '-j', 'DROP']);
  return { kind, client, server, far };
}

/**
 * Builds one side of each kind in `kinds`. Throws (after deleting what it made) when a
 * command fails. `ifs` names the server's interfaces.
 */
export function createTopology(kinds: readonly SideKind[] = SIDE_KINDS, ifs: ServerInterfaces = DEFAULT_SERVER_INTERFACES): DiffTopology {
  const made: Netns[] = [];
  const cleanup = (): void => made.forEach((ns) => deleteNetns(ns));
  try {
    const sides = kinds.map((kind) => buildSide(kind, ifs, made));
    return { sides, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}
