/**
 * The pin layout of one interface (see ./state.ts):
 *
 *     /sys/fs/bpf/rejectc/<scope>/<ifname>/
 *       rjc_reply_stats        shared by every program instance (reused on replace)
 *       p<N>/prog_ingress      programs of instance N (each program load is an instance)
 *       p<N>/prog_egress
 *       p<N>/<map>             every other map of instance N, by name
 *
 * (An instance is one loaded program; within it, ruleset maps hold two generations of rules,
 * selected by rjc_gen — see ./manifest.ts.)
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { PIN_ROOT, ensurePinDir, physicalPinPath } from './bpffs.js';
import { NETNS_RUN_DIR } from './netns.js';
import { STATE_ROOT } from './state.js';
import { BpfMap } from './map.js';
import type { LoadedRuleset } from './load-artifact.js';

/**
 * Maps pinned beside the instances and reused by the next one (when its layout is the same),
 * so their counts and state survive a program swap: replies sent/suppressed, and the reply
 * budget's buckets and statistics (bpf/rjc_limit.h).
 */
export const SHARED_MAPS: readonly string[] = ['rjc_reply_stats', 'rjc_budget_glob', 'rjc_budget_peers', 'rjc_budget_stats'];

/** The (physical) pin directory of `ifname`, created if needed. */
export function interfacePinDir(ifname: string): string {
  return ensurePinDir(ifname);
}

/** The directory of program instance `n` under an interface pin directory. */
export function instanceDir(pinDir: string, n: number): string {
  return `${pinDir}/p${n}`;
}

/** True for libbpf's internal maps (`<obj>.bss`, `.rodata`, `.kconfig`): never pinned. */
const isInternalMap = (name: string) => name.includes('.');

/** Pins the programs and own maps of a loaded ruleset as instance `n`. */
export function pinInstance(pinDir: string, n: number, loaded: LoadedRuleset): void {
  const dir = instanceDir(pinDir, n);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
  loaded.ingress.pin(`${dir}/prog_ingress`);
  loaded.egress?.pin(`${dir}/prog_egress`);
  for (const map of loaded.obj.maps.values()) {
    if (isInternalMap(map.name) || SHARED_MAPS.includes(map.name)) continue;
    map.pin(`${dir}/${map.name}`);
  }
}

/** Opens the shared maps pinned for `ifname` (those that exist). Close them after load. */
export function openSharedMaps(pinDir: string): Map<string, BpfMap> {
  const out = new Map<string, BpfMap>();
  for (const name of SHARED_MAPS) {
    const path = `${pinDir}/${name}`;
    if (existsSync(path)) out.set(name, BpfMap.openPinned(path));
  }
  return out;
}

/** Pins the shared maps of `loaded` that did not reuse the pinned ones (replacing those pins). */
export function pinSharedMaps(pinDir: string, loaded: LoadedRuleset): void {
  for (const name of SHARED_MAPS) {
    const map = loaded.obj.maps.get(name);
    if (!map || loaded.reused.includes(name)) continue;
    rmSync(`${pinDir}/${name}`, { force: true });
    map.pin(`${pinDir}/${name}`);
  }
}

/** Opens a map of instance `n` by name; undefined when it is not pinned. */
export function openInstanceMap(pinDir: string, n: number, name: string): BpfMap | undefined {
  const path = `${instanceDir(pinDir, n)}/${name}`;
  return existsSync(path) ? BpfMap.openPinned(path) : undefined;
}

/** Removes the pins of instance `n` (idempotent). */
export function removeInstance(pinDir: string, n: number): void {
  rmSync(instanceDir(pinDir, n), { recursive: true, force: true });
}

/**
 * Removes the pins and state of network namespaces that no longer exist (`netns:<name>`
 * directories whose `ip netns` name is gone): a namespace deleted without `rejectc detach`
 * would otherwise keep its maps alive in bpffs. Returns the names collected.
 */
export function collectDeadNamespaces(): string[] {
  const dead = new Set<string>();
  for (const root of [physicalPinPath(PIN_ROOT), STATE_ROOT]) {
    let entries: string[];
    try {
      entries = readdirSync(root);
    } catch {
      continue;
    }
    for (const entry of entries) {
      const m = /^netns:(?!ino\d+$)(.+)$/.exec(entry);
      if (!m || existsSync(`${NETNS_RUN_DIR}/${m[1]}`)) continue;
      rmSync(`${root}/${entry}`, { recursive: true, force: true });
      dead.add(m[1]!);
    }
  }
  return [...dead];
}
