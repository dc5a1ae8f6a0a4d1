/**
 * From the compiler's maps.json (src/compiler/emit/manifest.ts, schema in
 * src/compiler/schema/maps.schema.json) to what the runtime loads and counts:
 * the entries of generation 0 or 1 of every `ruleset` map plus the `rjc_gen` control value,
 * the counter slots of a generation, and the {@link RulesetArtifact} for a fresh program.
 *
 * Generations (see the schema): every ruleset map has room for generations 0 and 1, and the
 * program reads `rjc_gen` once per packet. A new ruleset of the same shape is written into
 * the inactive generation and `rjc_gen` is flipped (./apply.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { forGeneration } from '../compiler/emit/map-entries.js';
import type { MapJson, MapsJson } from '../compiler/emit/manifest.js';
import { validateMapsJson } from '../compiler/schema/validate.js';
import type { CounterSlot, RulesetArtifact } from './artifact.js';
import type { MapEntry } from './host-maps.js';
import { u32 } from './map.js';

export type { MapsJson } from '../compiler/emit/manifest.js';

/** A generation number of the ruleset maps. */
export type Gen = 0 | 1;

/** File names `rejectc compile` writes into its output directory. */
export const COMPILED_FILES = { object: 'rejectc.bpf.o', maps: 'maps.json', c: 'rejectc.bpf.c' } as const;

/**
 * Reads and validates `dir/maps.json`. Throws {@link UserError} when it is missing, not JSON,
 * or not a valid manifest (with the schema's complaint).
 */
export function readManifest(dir: string): MapsJson {
  const path = join(dir, COMPILED_FILES.maps);
  if (!existsSync(path)) throw new UserError(`${dir} has no ${COMPILED_FILES.maps} (a directory written by "rejectc compile" is expected)`);
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UserError(`${path} is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const v = validateMapsJson(data);
  if (!v.ok) throw new UserError(`${path} is not a valid rejectc maps.json: ${v.errors.slice(0, 3).join('; ')}`);
  return v.value;
}

/** The split entries of one map's generation-`gen` data. */
function decodeEntries(map: MapJson, gen: Gen): MapEntry[] {
  if (!map.entries || map.entries.count === 0) return [];
  const encoded = forGeneration(
    { count: map.entries.count, keys: Buffer.from(map.entries.keys, 'hex'), values: Buffer.from(map.entries.values, 'hex') },
    map.generation,
    map.keySize,
    gen,
  );
  return Array.from({ length: encoded.count }, (_, i) => ({
    key: encoded.keys.subarray(i * map.keySize, (i + 1) * map.keySize),
    value: encoded.values.subarray(i * map.valueSize, (i + 1) * map.valueSize),
  }));
}

/** The `ruleset` maps' entries for generation `gen`, by map name. */
export function rulesetEntries(m: MapsJson, gen: Gen): Array<{ name: string; entries: MapEntry[] }> {
  return m.maps.filter((map) => map.role === 'ruleset').map((map) => ({ name: map.name, entries: decodeEntries(map, gen) }));
}

/** The `rjc_gen` entry that makes `gen` the active generation. */
export function generationSelector(m: MapsJson, gen: Gen): { name: string; entries: MapEntry[] } {
  const map = m.maps.find((x) => x.name === m.generation.map);
  if (!map) throw new UserError(`maps.json names the generation map "${m.generation.map}" but does not define it`);
  const value = Buffer.alloc(map.valueSize);
  const field = map.value.fields.find((f) => f.name === m.generation.field);
  value.writeUInt32LE(gen, field?.offset ?? 0);
  return { name: map.name, entries: [{ key: u32(0), value }] };
}

/** The counter map (role `counters`) and its per-generation stride. */
export function counterMap(m: MapsJson): { name: string; stride: number } | undefined {
  const map = m.maps.find((x) => x.role === 'counters');
  if (!map) return undefined;
  return { name: map.name, stride: map.generation.kind === 'index' ? map.generation.stride : 0 };
}

/**
 * The counter slots of generation `gen`: one per counter of `counters` (a kernel rule, or one
 * copy of a multi-address rule) and one per chain policy, at their rjc_cnt index.
 */
export function counterSlots(m: MapsJson, gen: Gen): CounterSlot[] {
  const cm = counterMap(m);
  if (!cm) return [];
  const base = gen * cm.stride;
  const rules: CounterSlot[] = m.counters.map((c) => ({
    index: base + c.id,
    family: c.family,
    chain: c.chain,
    kind: 'rule',
    rule: { file: c.file, line: c.line, text: c.text },
    ...(c.expansions > 1 ? { expansion: c.expansion, expansions: c.expansions } : {}),
  }));
  const policies: CounterSlot[] = m.chains.map((ch) => ({
    index: base + ch.policyCounter,
    family: ch.family,
    chain: ch.chain,
    kind: 'policy',
    policy: ch.policy,
  }));
  return [...rules, ...policies];
}

/** Program names by attach point; egress only when the ruleset needs it. */
export function programsOf(m: MapsJson): RulesetArtifact['programs'] {
  const find = (attach: string) => m.programs.find((p) => p.attach === attach);
  const ingress = m.hook === 'xdp' ? find('xdp') : find('tc-ingress');
  if (!ingress) throw new UserError(`maps.json lists no ${m.hook === 'xdp' ? 'xdp' : 'tc-ingress'} program`);
  const egress = m.hook === 'tc' ? find('tc-egress') : undefined;
  return { ingress: ingress.name, ...(egress?.needed ? { egress: egress.name } : {}) };
}

/**
 * The artifact for loading `objectPath` as a fresh program running generation `gen` (0 for a
 * new program): its ruleset entries, the generation selector and the counter slots.
 */
export function artifactFromManifest(m: MapsJson, objectPath: string, gen: Gen = 0): RulesetArtifact {
  const cm = counterMap(m);
  return {
    source: m.source,
    objectPath,
    hook: m.hook,
    programs: programsOf(m),
    mapSizes: [],
    mapEntries: [...rulesetEntries(m, gen), generationSelector(m, gen)],
    ...(cm ? { counters: { map: cm.name, slots: counterSlots(m, gen) } } : {}),
    shape: m.shape.id,
    manifest: m,
    gen,
  };
}
