/**
 * Maps every rejectc program of a network namespace shares, as the kernel's own tables are
 * per namespace: the `-m recent` tables (bpf/rjc_recent.h) and the conntrack shadow table
 * (bpf/rjc_ct_kernel.h). Pinned once per namespace, beside the interface directories:
 *
 *     /sys/fs/bpf/rejectc/<scope>/ns:shared/<map>     (":" cannot occur in an interface name)
 *
 * A new program reuses them when its map has the same layout (a recent ring of another size
 * gets a map of its own, which then becomes the namespace's).
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LoadedRuleset } from './load-artifact.js';
import { BpfMap } from './map.js';

/** The namespace-wide maps, by name. */
export const NAMESPACE_MAPS: readonly string[] = ['rjc_recent', 'rjc_ct_shadow'];

/** The namespace's shared pin directory, beside the interface pin directory `pinDir`. */
export function namespaceMapDir(pinDir: string): string {
  return `${dirname(pinDir)}/ns:shared`;
}

/** Opens the namespace maps pinned so far. Close them after load. */
export function openNamespaceMaps(pinDir: string): Map<string, BpfMap> {
  const out = new Map<string, BpfMap>();
  for (const name of NAMESPACE_MAPS) {
    const path = `${namespaceMapDir(pinDir)}/${name}`;
    if (existsSync(path)) out.set(name, BpfMap.openPinned(path));
  }
  return out;
}

/** Pins the namespace maps of `loaded` that did not reuse the pinned ones. */
export function pinNamespaceMaps(pinDir: string, loaded: LoadedRuleset): void {
  const dir = namespaceMapDir(pinDir);
  for (const name of NAMESPACE_MAPS) {
    const map = loaded.obj.maps.get(name);
    if (!map || loaded.reused.includes(name)) continue;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    rmSync(`${dir}/${name}`, { force: true });
    map.pin(`${dir}/${name}`);
  }
}

/** Removes the namespace maps' pins (when the namespace's last rejectc interface goes). */
export function removeNamespaceMaps(pinDir: string): boolean {
  const dir = namespaceMapDir(pinDir);
  if (!existsSync(dir)) return false;
  rmSync(dir, { recursive: true, force: true });
  return true;
}
