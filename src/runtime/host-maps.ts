/**
 * Fills the reply path's configuration maps (src/layout/maps.ts: rjc_config, rjc_dev,
 * rjc_route4/6, rjc_addr4/6) from the host configuration (./host-config.ts), so the
 * program's TTL/hop limit, ICMP source and broadcast decisions are the kernel's; and the
 * classifier's `rjc_ifname` (maps.json role `host`: ifindex → 16-byte name, for -i/-o).
 *
 * {@link hostMapEntries} is pure (configuration in, encoded entries out); {@link writeHostMaps}
 * writes them into the maps a loaded object has (a program specialised to a ruleset may lack
 * some). Counters are never touched.
 *

 */
import { ADDR6_ANY_DEVICE, ADDR_TYPES, CONFIG_FLAGS, encodeStruct, structLayout } from '../layout/index.js';
import type { HostConfig, HostRoute } from './host-config.js';
import { u32, type BpfMap } from './map.js';

/** One encoded map entry. */
export interface MapEntry {
  key: Buffer;
  value: Buffer;
}

/** The maps filled from the host configuration. */
export const HOST_MAP_NAMES = ['rjc_config', 'rjc_dev', 'rjc_route4', 'rjc_route6', 'rjc_addr4', 'rjc_addr6', 'rjc_ifname'] as const;

/** Encoded entries of every host configuration map, by map name. */
export type HostMapEntries = Record<(typeof HOST_MAP_NAMES)[number], MapEntry[]>;

/** Bytes of an interface name in rjc_ifname (IFNAMSIZ). */
const IFNAMSIZ = 16;

const addrTypeCode = (name: string) => ADDR_TYPES.find((t) => t.name === name)?.code;
const configFlag = (name: string) => CONFIG_FLAGS.find((f) => f.name === name)?.code ?? 0;

/** rjc_config.flags from the host's sysctls. */
function configFlags(cfg: HostConfig): number {
  return (
    (cfg.fwmarkReflect.ipv4 ? configFlag('fwmark-reflect-ipv4') : 0) |
    (cfg.fwmarkReflect.ipv6 ? configFlag('fwmark-reflect-ipv6') : 0) |
    // Strict rp_filter on lo: a reply from a remote address entering lo would be a martian.
    (cfg.ipv4.loRpFilter === 1 ? configFlag('output-via-dev-ipv4') : 0)
  );
}

/** "02:00:00:00:00:0a" → 6 numbers; '' (no link-layer address) → zeros. */
function macBytes(mac: string): number[] {
  const parts = mac.split(':').map((x) => Number.parseInt(x, 16));
  return parts.length === 6 && parts.every((x) => Number.isInteger(x) && x >= 0 && x <= 255) ? parts : [0, 0, 0, 0, 0, 0];
}

/** Caps a TTL/hop limit to the u8 the maps hold (the kernel's range is 1..255). */
const u8 = (n: number) => Math.max(0, Math.min(255, Math.trunc(n)));

function isLinkLocal6(addr: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(addr);
}

/**
 * The entries for `cfg`. Routes: every route of the main table (so the trie's longest match is
 * the kernel's), with its hoplimit metric. Addresses: the local table's `local` and
 * `broadcast` (IPv4) / `local` and `anycast` (IPv6) entries; IPv6 link-local addresses are
 * keyed with their device, as the kernel only treats them as local there.
 */
export function hostMapEntries(cfg: HostConfig): HostMapEntries {
  const ifindexOf = new Map(cfg.interfaces.map((i) => [i.name, i.ifindex]));
  const config = structLayout('rjc_config');
  const dev = structLayout('rjc_dev_config');
  const route4 = structLayout('rjc_route4_key');
  const route6 = structLayout('rjc_route6_key');
  const routeInfo = structLayout('rjc_route_info');
  const addr4 = structLayout('rjc_addr4_key');
  const addr6 = structLayout('rjc_addr6_key');
  const addrInfo = structLayout('rjc_addr_info');

  const routeEntry = (r: HostRoute): MapEntry => ({
    key: encodeStruct(r.family === 'ipv4' ? route4 : route6, { prefixlen: r.prefixLen, addr: r.dst }),
    value: encodeStruct(routeInfo, { hoplimit: u8(r.hoplimit ?? 0) }),
  });
  const main = cfg.routes.filter((r) => r.table === 'main');
  const local = cfg.routes.filter((r) => r.table === 'local');

  const addr4Entries: MapEntry[] = [];
  const addr6Entries: MapEntry[] = [];
  const anyDevice = new Set<string>();
  for (const r of local) {
    const type = addrTypeCode(r.type);
    const ifindex = (r.dev && ifindexOf.get(r.dev)) || 0;
    if (type === undefined || (r.family === 'ipv4' && r.type === 'anycast') || (r.family === 'ipv6' && r.type === 'broadcast')) continue;
    if ((r.family === 'ipv4' && r.prefixLen !== 32) || (r.family === 'ipv6' && r.prefixLen !== 128)) continue;
    const value = encodeStruct(addrInfo, { type, ifindex });
    if (r.family === 'ipv4') addr4Entries.push({ key: encodeStruct(addr4, { addr: r.dst }), value });
    else {
      addr6Entries.push({ key: encodeStruct(addr6, { ifindex: isLinkLocal6(r.dst) ? ifindex : 0, addr: r.dst }), value });
      // -m addrtype looks addresses up without a device (match_lookup_rt6 with dev NULL): a
      // link-local entry of any device counts there, under the ADDR6_ANY_DEVICE key (the first
      // one listed, as the kernel's lookup takes the first matching route).
      if (isLinkLocal6(r.dst) && !anyDevice.has(r.dst)) {
        anyDevice.add(r.dst);
        addr6Entries.push({ key: encodeStruct(addr6, { ifindex: ADDR6_ANY_DEVICE, addr: r.dst }), value });
      }
    }
  }

  return {
    rjc_config: [
      {
        key: u32(0),
        value: encodeStruct(config, { ip_default_ttl: u8(cfg.ipv4.defaultTtl), ipv6_all_hop_limit: u8(cfg.ipv6.allHopLimit), flags: configFlags(cfg) }),
      },
    ],
    rjc_dev: cfg.interfaces.map((i) => ({
      key: u32(i.ifindex),
      value: encodeStruct(dev, { ipv6_hop_limit: u8(cfg.ipv6.devHopLimit[i.name] ?? 0), mac: macBytes(i.mac) }),
    })),
    rjc_route4: main.filter((r) => r.family === 'ipv4').map(routeEntry),
    rjc_route6: main.filter((r) => r.family === 'ipv6').map(routeEntry),
    rjc_addr4: addr4Entries,
    rjc_addr6: addr6Entries,
    rjc_ifname: cfg.interfaces.map((i) => {
      const value = Buffer.alloc(IFNAMSIZ);
      value.write(i.name.slice(0, IFNAMSIZ - 1), 'latin1');
      return { key: u32(i.ifindex), value };
    }),
  };
}

/** Replaces the contents of `map` with `entries` (stale keys deleted; arrays overwritten). */
export function replaceMapContents(map: BpfMap, entries: readonly MapEntry[]): void {
  const wanted = new Set(entries.map((e) => e.key.toString('hex')));
  if (!map.isArray) {
    for (const key of [...map.keys()]) if (!wanted.has(key.toString('hex'))) map.delete(key);
  }
  for (const e of entries) map.update(e.key, e.value);
}

/**
 * Writes the host configuration into the configuration maps `target` has (a loaded
 * {@link BpfObject}, or pinned maps by name). Returns the names of the maps written.
 */
export function writeHostMaps(target: { readonly maps: ReadonlyMap<string, BpfMap> }, cfg: HostConfig): string[] {
  const written: string[] = [];
  for (const [name, entries] of Object.entries(hostMapEntries(cfg))) {
    const map = target.maps.get(name);
    if (!map) continue;
    replaceMapContents(map, entries);
    written.push(name);
  }
  return written;
}
