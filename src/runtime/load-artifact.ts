/**
 * Loads a compiled ruleset ({@link RulesetArtifact}) into the kernel without attaching it:
 * open, size maps, reuse maps that must outlive the program (e.g. reply statistics), load
 * (a verifier refusal saves the whole log to a file), write the host configuration maps and
 * the ruleset's own map entries. Nothing on any interface changes here, so a failure leaves
 * every interface as it was. Used by `apply` and by `rejectc run`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MapSizing, RulesetArtifact } from './artifact.js';
import type { MapEntry } from './host-maps.js';
import { VerifierError } from './errors.js';
import type { HostConfig } from './host-config.js';
import { writeHostMaps } from './host-maps.js';
import type { BpfMap } from './map.js';
import { BpfObject } from './object.js';
import { PROG_TYPE, type BpfProgram } from './program.js';

/** Options of {@link loadArtifact}. */
export interface LoadArtifactOptions {
  /** Host configuration for the config maps; absent: leave them empty (kernel defaults). */
  hostConfig?: HostConfig;
  /**
   * Existing maps to use instead of creating new ones, by map name (e.g. pinned reply
   * statistics). A map whose layout differs is not reused (a fresh one is created).
   */
  reuse?: ReadonlyMap<string, BpfMap>;
  /** Directory for a refused program's verifier log (default: a new directory in /tmp). */
  verifierLogDir?: string;
  /**
   * Run-time configuration beyond the ruleset (e.g. the reply budget): sizes set and entries
   * written for the maps among them that the object has (others are skipped).
   */
  config?: RuntimeConfig;
}

/** Run-time configuration maps: sizes before load, entries after (maps the object lacks are skipped). */
export interface RuntimeConfig {
  sizes: readonly MapSizing[];
  /** `replace`: the map holds exactly these entries afterwards (others are deleted; the sets of -m set). */
  entries: ReadonlyArray<{ name: string; entries: readonly MapEntry[]; replace?: boolean }>;
}

/** A loaded, filled, not yet attached ruleset. Close it when done (attached programs stay). */
export interface LoadedRuleset {
  artifact: RulesetArtifact;
  obj: BpfObject;
  ingress: BpfProgram;
  egress?: BpfProgram;
  /** Names of the maps that reuse an existing map. */
  reused: string[];
}

function sizeMap(map: BpfMap, size: MapSizing): void {
  if (size.maxEntries !== undefined) map.setMaxEntries(size.maxEntries);
  if (size.valueSize !== undefined) map.setValueSize(size.valueSize);
}

/** Writes entries into a map in one batch. */
export function writeEntries(map: BpfMap, entries: readonly MapEntry[]): void {
  if (entries.length) map.updateBatch(entries.map((e) => e.key), entries.map((e) => e.value));
}

function checkProgram(obj: BpfObject, name: string, artifact: RulesetArtifact): BpfProgram {
  const prog = obj.program(name);
  const want = artifact.hook === 'xdp' ? PROG_TYPE.xdp : PROG_TYPE.schedCls;
  if (prog.type !== want) throw new TypeError(`program "${name}" of ${artifact.objectPath} is not a ${artifact.hook} program (type ${prog.type})`);
  return prog;
}

/** Loads and fills `artifact`; see the module comment. */
export function loadArtifact(artifact: RulesetArtifact, options: LoadArtifactOptions = {}): LoadedRuleset {
  if (artifact.hook === 'xdp' && artifact.programs.egress) throw new TypeError('an XDP ruleset has no egress program');
  const obj = BpfObject.open(artifact.objectPath);
  try {
    const ingress = checkProgram(obj, artifact.programs.ingress, artifact);
    const egress = artifact.programs.egress ? checkProgram(obj, artifact.programs.egress, artifact) : undefined;
    // Programs the artifact does not attach (e.g. the other flavour) are not loaded.
    for (const prog of obj.programs.values()) if (prog !== ingress && prog !== egress) prog.setAutoload(false);
    for (const size of artifact.mapSizes) sizeMap(obj.map(size.name), size);
    for (const size of options.config?.sizes ?? []) {
      const map = obj.maps.get(size.name);
      if (map) sizeMap(map, size);
    }
    const reused: string[] = [];
    for (const [name, existing] of options.reuse ?? []) {
      const map = obj.maps.get(name);
      if (!map || !map.sameLayout(existing)) continue;
      map.reuse(existing);
      reused.push(name);
    }
    try {
      obj.load();
    } catch (err) {
      if (!(err instanceof VerifierError)) throw err;
      const dir = options.verifierLogDir ?? mkdtempSync(join(tmpdir(), 'rejectc-verifier-'));
      const file = join(dir, `${err.program}.log`);
      writeFileSync(file, err.log);
      throw new VerifierError(err.program, err.errno, err.log, file);
    }
    if (options.hostConfig) writeHostMaps(obj, options.hostConfig);
    for (const { name, entries } of artifact.mapEntries) writeEntries(obj.map(name), entries);
    for (const { name, entries } of options.config?.entries ?? []) {
      const map = obj.maps.get(name);
      if (map) writeEntries(map, entries);
    }
    return { artifact, obj, ingress, ...(egress ? { egress } : {}), reused };
  } catch (err) {
    obj.close();
    throw err;
  }
}
