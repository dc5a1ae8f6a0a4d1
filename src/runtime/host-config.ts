/**
 * Reads the host configuration a reply depends on (../shared/spec/nf-reject.md §4–§7):
 * TTL and hop-limit defaults, route `hoplimit` metrics, the interfaces' addresses and
 * prefixes, and the ICMP rate-limit settings. The kernel answers from these; the BPF program
 * gets them through the config maps the bpf engineer defines in src/layout/.
 *
 * Everything is read in the calling thread's network namespace: sysctls from /proc/sys/net
 * and routes/addresses from iproute2's JSON output (`ip -j`).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { EnvironmentError } from '../errors.js';

export type AddressFamily = 'ipv4' | 'ipv6';

/** One address of an interface. */
export interface HostAddress {
  family: AddressFamily;
  /** Canonical text (dotted quad, or IPv6 as iproute2 prints it: RFC 5952). */
  address: string;
  prefixLen: number;
  /** `host`, `link`, `global`, ... */
  scope: string;
  /** IPv4 broadcast address when configured (`ip addr add ... brd`). */
  broadcast?: string;
}

/** An interface and its addresses. */
export interface HostInterface {
  name: string;
  ifindex: number;
  /** MAC address, lower-case colon form; '' when the link has none. */
  mac: string;
  mtu: number;
  up: boolean;
  addresses: HostAddress[];
}

/** A route of any table (`ip -j route show table all`). */
export interface HostRoute {
  family: AddressFamily;
  /** Destination prefix address ('0.0.0.0' / '::' for default). */
  dst: string;
  prefixLen: number;
  /** `unicast`, `local`, `broadcast`, `multicast`, `unreachable`, ... */
  type: string;
  /** Table name or number as iproute2 prints it (`main` when omitted). */
  table: string;
  dev?: string;
  gateway?: string;
  prefsrc?: string;
  /** The route's `hoplimit` metric, when set. */
  hoplimit?: number;
}

/** ICMP error rate limits of one family (net.ipv4.icmp_* / net.ipv6.icmp.*). */
export interface IcmpRateConfig {
  /** Minimum ms between errors to one peer (token refill period); 0 disables the per-peer limit. */
  ratelimitMs: number;
  /** ICMP types subject to the limit, as inclusive ranges (IPv4 bitmask converted). */
  ratemask: Array<[number, number]>;
}

/** What {@link readHostConfig} returns. */
export interface HostConfig {
  /** The kernel's CONFIG_HZ (jiffies per second), which its rate limiters count in. */
  hz: number;
  ipv4: {
    /** net.ipv4.ip_default_ttl */
    defaultTtl: number;
    icmp: IcmpRateConfig;
    /**
     * lo's reverse-path filter mode as the kernel applies it (IN_DEV_RPFILTER: the larger of
     * net.ipv4.conf.all.rp_filter and conf.lo.rp_filter): 0 off, 1 strict, 2 loose. Strict
     * makes a reply from a remote address that enters through lo a martian. Optional: 0
     * when absent.
     */
    loRpFilter?: number;
  };
  ipv6: {
    /** net.ipv6.conf.all.hop_limit */
    allHopLimit: number;
    /** net.ipv6.conf.<dev>.hop_limit for each interface that has IPv6. */
    devHopLimit: Record<string, number>;
    icmp: IcmpRateConfig;
  };
  /** The global ICMP budget shared by both families (net.ipv4.icmp_msgs_per_sec / _burst). */
  icmpGlobal: { msgsPerSec: number; msgsBurst: number };
  /** net.ipv4.fwmark_reflect / net.ipv6.fwmark_reflect: replies keep the packet's mark. */
  fwmarkReflect: { ipv4: boolean; ipv6: boolean };
  interfaces: HostInterface[];
  routes: HostRoute[];
}

function sysctl(path: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${path}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function sysctlInt(path: string, fallback: number): number {
  const v = sysctl(path);
  const n = v === undefined ? Number.NaN : Number.parseInt(v, 10);
  return Number.isFinite(n) ? n : fallback;
}

/** net.ipv4.icmp_ratemask: a 32-bit mask, bit n = ICMP type n. */
export function ratemaskFromBits(mask: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let t = 0; t < 32; t++) {
    if (((mask >>> t) & 1) === 0) continue;
    const last = out[out.length - 1];
    if (last && last[1] === t - 1) last[1] = t;
    else out.push([t, t]);
  }
  return out;
}

/** net.ipv6.icmp.ratemask: a list like `0-1,3-127` (empty: no type is limited). */
export function ratemaskFromList(text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) continue;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from <= to && to <= 255) out.push([from, to]);
  }
  return out;
}

function ipJson(args: string[]): Record<string, unknown>[] {
  const res = spawnSync('ip', ['-j', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (res.error) throw new EnvironmentError(`cannot run ip: ${res.error.message}`, 'install iproute2');
  if (res.status !== 0) throw new EnvironmentError(`ip ${args.join(' ')} failed: ${res.stderr.trim()}`);
  const text = res.stdout.trim();
  return text ? (JSON.parse(text) as Record<string, unknown>[]) : [];
}

/** Parses `ip -j addr show` rows. */
export function parseInterfaces(rows: Record<string, unknown>[]): HostInterface[] {
  return rows.map((row) => {
    const flags = Array.isArray(row['flags']) ? (row['flags'] as string[]) : [];
    const infos = Array.isArray(row['addr_info']) ? (row['addr_info'] as Record<string, unknown>[]) : [];
    return {
      name: String(row['ifname']),
      ifindex: Number(row['ifindex']),
      mac: typeof row['address'] === 'string' && row['link_type'] === 'ether' ? (row['address'] as string) : '',
      mtu: Number(row['mtu'] ?? 0),
      up: flags.includes('UP'),
      addresses: infos
        .filter((a) => a['family'] === 'inet' || a['family'] === 'inet6')
        .map((a) => ({
          family: a['family'] === 'inet' ? ('ipv4' as const) : ('ipv6' as const),
          address: String(a['local']),
          prefixLen: Number(a['prefixlen']),
          scope: String(a['scope'] ?? 'global'),
          ...(typeof a['broadcast'] === 'string' ? { broadcast: a['broadcast'] as string } : {}),
        })),
    };
  });
}

/** Parses `ip -j -4|-6 route show table all` rows. */
export function parseRoutes(family: AddressFamily, rows: Record<string, unknown>[]): HostRoute[] {
  return rows.map((row) => {
    const dstText = String(row['dst'] ?? 'default');
    const [addr, len] = dstText === 'default' ? [family === 'ipv4' ? '0.0.0.0' : '::', 0] : dstText.split('/');
    const metrics = Array.isArray(row['metrics']) ? (row['metrics'] as Record<string, unknown>[]) : [];
    const hoplimit = metrics.map((m) => m['hoplimit']).find((h) => typeof h === 'number') as number | undefined;
    return {
      family,
      dst: String(addr),
      prefixLen: len === undefined ? (family === 'ipv4' ? 32 : 128) : Number(len),
      type: typeof row['type'] === 'string' ? (row['type'] as string) : 'unicast',
      table: typeof row['table'] === 'string' ? (row['table'] as string) : 'main',
      ...(typeof row['dev'] === 'string' ? { dev: row['dev'] as string } : {}),
      ...(typeof row['gateway'] === 'string' ? { gateway: row['gateway'] as string } : {}),
      ...(typeof row['prefsrc'] === 'string' ? { prefsrc: row['prefsrc'] as string } : {}),
      ...(hoplimit !== undefined ? { hoplimit } : {}),
    };
  });
}

/** A multicast group one interface has joined. */
export interface HostMulticastGroup {
  family: AddressFamily;
  /** Canonical text as iproute2 prints it. */
  address: string;
  /** The interface that joined it. */
  interface: string;
}

/** Parses `ip -j maddr show` rows (link-layer entries are left out). */
export function parseMulticastGroups(rows: Record<string, unknown>[]): HostMulticastGroup[] {
  return rows.flatMap((row) => {
    const entries = Array.isArray(row['maddr']) ? (row['maddr'] as Record<string, unknown>[]) : [];
    return entries
      .filter((e) => e['family'] === 'inet' || e['family'] === 'inet6')
      .map((e) => ({ family: e['family'] === 'inet' ? ('ipv4' as const) : ('ipv6' as const), address: String(e['address']), interface: String(row['ifname']) }));
  });
}

/**
 * The multicast groups the interfaces of the calling thread's namespace have joined right now
 * (`ip maddr`). The BPF program reads them live from the kernel (bpf/rjc_kdev.h); this is for
 * the model (`ModelEnv.multicastGroups`) and for tests.
 */
export function readMulticastGroups(): HostMulticastGroup[] {
  return parseMulticastGroups(ipJson(['maddr', 'show']));
}

const KNOWN_HZ = [100, 250, 300, 1000];

/** The kernel's jiffies now (from /proc/timer_list), or undefined when it cannot be read. */
export function jiffiesNow(): number | undefined {
  try {
    const m = /^jiffies: (\d+)$/m.exec(readFileSync('/proc/timer_list', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

let hzCache: number | undefined;

/**
 * The kernel's CONFIG_HZ: from /proc/config.gz or /boot/config-<release>; failing that,
 * measured from the jiffies counter in /proc/timer_list over 100 ms and rounded to the
 * nearest value the kernel offers. Falls back to 250 (Debian's) when neither works.
 */
export function kernelHz(): number {
  if (hzCache !== undefined) return hzCache;
  const texts: string[] = [];
  try {
    texts.push(gunzipSync(readFileSync('/proc/config.gz')).toString('utf8'));
  } catch {
    // not built with CONFIG_IKCONFIG_PROC
  }
  try {
    texts.push(readFileSync(`/boot/config-${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}`, 'utf8'));
  } catch {
    // no config file
  }
  for (const t of texts) {
    const m = /^CONFIG_HZ=(\d+)$/m.exec(t);
    if (m) return (hzCache = Number(m[1]));
  }
  const j0 = jiffiesNow();
  const t0 = process.hrtime.bigint();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  const j1 = jiffiesNow();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (j0 === undefined || j1 === undefined) return (hzCache = 250);
  const measured = (j1 - j0) / seconds;
  return (hzCache = KNOWN_HZ.reduce((best, hz) => (Math.abs(hz - measured) < Math.abs(best - measured) ? hz : best)));
}

/**
 * Reads the host configuration of the calling thread's network namespace. `devices` limits
 * the interfaces listed (default: all).
 */
export function readHostConfig(devices?: readonly string[]): HostConfig {
  const all = parseInterfaces(ipJson(['addr', 'show']));
  const interfaces = devices ? all.filter((i) => devices.includes(i.name)) : all;
  const devHopLimit: Record<string, number> = {};
  for (const i of interfaces) {
    const v = sysctl(`net/ipv6/conf/${i.name}/hop_limit`);
    if (v !== undefined) devHopLimit[i.name] = Number.parseInt(v, 10);
  }
  return {
    hz: kernelHz(),
    ipv4: {
      defaultTtl: sysctlInt('net/ipv4/ip_default_ttl', 64),
      icmp: {
        ratelimitMs: sysctlInt('net/ipv4/icmp_ratelimit', 1000),
        ratemask: ratemaskFromBits(sysctlInt('net/ipv4/icmp_ratemask', 6168)),
      },
      loRpFilter: Math.max(sysctlInt('net/ipv4/conf/all/rp_filter', 0), sysctlInt('net/ipv4/conf/lo/rp_filter', 0)),
    },
    ipv6: {
      allHopLimit: sysctlInt('net/ipv6/conf/all/hop_limit', 64),
      devHopLimit,
      icmp: {
        ratelimitMs: sysctlInt('net/ipv6/icmp/ratelimit', 1000),
        ratemask: ratemaskFromList(sysctl('net/ipv6/icmp/ratemask') ?? '0-1,3-127'),
      },
    },
    icmpGlobal: {
      msgsPerSec: sysctlInt('net/ipv4/icmp_msgs_per_sec', 1000),
      msgsBurst: sysctlInt('net/ipv4/icmp_msgs_burst', 50),
    },
    fwmarkReflect: {
      ipv4: sysctlInt('net/ipv4/fwmark_reflect', 0) !== 0,
      ipv6: sysctlInt('net/ipv6/fwmark_reflect', 0) !== 0,
    },
    interfaces,
    routes: [
      ...parseRoutes('ipv4', ipJson(['-4', 'route', 'show', 'table', 'all'])),
      ...parseRoutes('ipv6', ipJson(['-6', 'route', 'show', 'table', 'all'])),
    ],
  };
}
