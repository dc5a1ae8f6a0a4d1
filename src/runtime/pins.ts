/**
 * The pin layout of one interface (see ./state.ts):
 *
 *     /sys/fs/bpf/rejectc/<scope>/<ifname>/
 *       rjc_reply_stats        shared by every generation (reused on replace)
 *       g<N>/prog_ingress      programs of generation N
 *       g<N>/prog_egress
 *       g<N>/<map>             every other map of generation N, by name
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { ensurePinDir } from './bpffs.js';
import { BpfMap } from './map.js';
import type { LoadedRuleset } from './load-artifact.js';

/** Maps pinned beside the generations and reused by the next one, so their counts survive. */
export const SHARED_MAPS: readonly string[] = ['rjc_reply_stats'];

/** The (physical) pin directory of `ifname`, created if needed. */
export function interfacePinDir(ifname: string): string {
  return ensurePinDir(ifname);
}

/** The directory of generation `n` under an interface pin directory. */
export function generationDir(pinDir: string, n: number): string {
  return `${pinDir}/g${n}`;
}

/** True for libbpf's internal maps (`<obj>.bss`, `.rodata`, `.kconfig`): never pinned. */
const isInternalMap = (name: string) => name.includes('.');

/** Pins the programs and own maps of a loaded ruleset as generation `n`. */
export function pinGeneration(pinDir: string, n: number, loaded: LoadedRuleset): void {
  const dir = generationDir(pinDir, n);
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

/** Opens a map of generation `n` by name; undefined when it is not pinned. */
export function openGenerationMap(pinDir: string, n: number, name: string): BpfMap | undefined {
  const path = `${generationDir(pinDir, n)}/${name}`;
  return existsSync(path) ? BpfMap.openPinned(path) : undefined;
}

/** Removes the pins of generation `n` (idempotent). */
export function removeGeneration(pinDir: string, n: number): void {
  rmSync(generationDir(pinDir, n), { recursive: true, force: true });
}
