/**
 * The sets of an `ipset save` file as run-time configuration of a program that uses `-m set`
 * (bpf/rjc_set.h): entries for its rjc_set_* maps, written after load, and on a same-shape
 * re-apply written into the running program's maps in place (entries no longer in the file
 * are deleted after the new ones are written), so sets change without reloading the program.
 */
import { encodeIpsets } from '../compiler/ipset/encode.js';
import type { IpsetFile } from '../compiler/ipset/types.js';
import type { MapEntry } from './host-maps.js';
import type { RuntimeConfig } from './load-artifact.js';
import type { BpfMap } from './map.js';

/** The rjc_set_* map names (bpf/rjc_set.h). */
export const SET_MAPS = ['rjc_set_desc', 'rjc_set_lpm4', 'rjc_set_lpm6', 'rjc_set_ipport', 'rjc_set_port'] as const;

/** Run-time configuration entries filling the set maps with `file` (replacing what they hold). */
export function ipsetConfig(file: IpsetFile): RuntimeConfig['entries'] {
  const enc = encodeIpsets(file);
  return SET_MAPS.map((name) => ({ name, entries: enc[name], replace: true }));
}

/** Writes `entries` into `map`, then deletes the keys it held that are not among them. */
export function replaceEntries(map: BpfMap, entries: readonly MapEntry[]): void {
  const keep = new Set(entries.map((e) => Buffer.from(e.key).toString('hex')));
  const stale = [...map.keys()].filter((k) => !keep.has(k.toString('hex')));
  for (const e of entries) map.update(e.key, e.value);
  for (const k of stale) map.delete(k);
}
