/**
 * maps.json: the map entries of a compiled ruleset and the manifest the runtime and `stats`
 * read (program and map names, key/value layouts, where the generation lives, every rule's
 * source, counters). The JSON schema is src/compiler/schema/maps.schema.json; the types here
 * are its TypeScript reading. Runtime consumers: see the schema's descriptions.
 */
import type { Family, FilterHook, Policy, RejectWith } from '../ir.js';
import type { Classified } from '../classify/index.js';
import { shapeId, type Shape } from '../classify/shape.js';
import type { FlatRule } from '../flatten/types.js';
import type { EncodedEntries } from './map-entries.js';
import type { Generation, MapRole, MapSpec, MapType } from './map-specs.js';
import type { ProgramSpec } from './programs.js';

export const MAPS_FORMAT = 'rejectc-maps/1';

export interface LayoutJson {
  name: string;
  size: number;
  fields: { name: string; type: string; offset: number; size: number; count?: number }[];
}

export interface MapJson {
  name: string;
  type: MapType;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: string[];
  role: MapRole;
  generation: Generation;
  key: LayoutJson;
  value: LayoutJson;
  doc: string;
  /** Generation 0's entries (ruleset and control maps): keys and values concatenated, hex. */
  entries?: { count: number; keys: string; values: string };
}

export interface SourceJson {
  file: string;
  line: number;
  column: number;
  /** The chain the rule is written in. */
  chain: string;
  /** 1-based position in that chain. */
  ruleNumber: number;
  /** Which copy of a multi-address rule (0-based, source outer). */
  expansion: number;
  text: string;
}

export interface ChainJson {
  family: Family;
  chain: FilterHook;
  /** rjc_ruleset list index: family (0 ipv4, 1 ipv6) * 3 + chain. */
  list: number;
  policy: Policy;
  policyCounter: number;
  firstSlot: number;
  endSlot: number;
  /** Indexes into `rules` of this chain's flat rules, in order. */
  rules: number[];
}

export interface RuleJson {
  family: Family;
  /** The built-in chain the flat rule belongs to. */
  chain: FilterHook;
  /** Position in the chain's flat list. */
  index: number;
  firstSlot: number;
  slotCount: number;
  role: FlatRule['role'];
  action: 'accept' | 'drop' | 'reject' | 'continue' | 'skip';
  rejectWith?: RejectWith;
  /** For `skip`: the flat index evaluation goes on at (the list's length: the policy). */
  skipTo?: number;
  counter: number | null;
  source: SourceJson;
  /** The jump/goto rules on the way here, outermost first. */
  via: { chain: string; ruleNumber: number; line: number }[];
}

export interface CounterJson {
  id: number;
  family: Family;
  chain: string;
  ruleNumber: number;
  expansion: number;
  expansions: number;
  file: string;
  line: number;
  text: string;
}

/** Where a rate-limit object's rule is written. */
interface RatePlaceJson {
  index: number;
  family: Family;
  chain: string;
  ruleNumber: number;
  file: string;
  line: number;
  column: number;
  text: string;
}

/** A -m limit bucket: one match of one kernel entry of a rule (rjc_rl_slot index `index`). */
export interface LimitJson extends RatePlaceJson {
  kind: 'limit';
  /** Which -m limit of the rule (0-based). */
  ordinal: number;
  expansion: number;
  expansions: number;
  /** nft: iptables-nft's native limit (ns); legacy: xt_limit (jiffies). */
  backend: 'nft' | 'legacy';
  /** What iptables stores: the interval in 1/10000 s, and the burst. */
  avg: number;
  burst: number;
}

/** A hashlimit table, as its creating rule (the place) configures it: struct hashlimit_cfg3. */
export interface HashlimitJson extends RatePlaceJson {
  kind: 'hashlimit';
  name: string;
  cfg: { mode: number; avg: number; burst: number; size: number; max: number; gcInterval: number; expire: number; srcmask: number; dstmask: number; interval: number };
}

export type RateLimitJson = LimitJson | HashlimitJson;

export interface MapsJson {
  format: typeof MAPS_FORMAT;
  source: string;
  hook: 'tc' | 'xdp';
  shape: Shape & { id: string };
  programs: ProgramSpec[];
  generation: { map: 'rjc_gen'; field: 'gen' };
  maps: MapJson[];
  chains: ChainJson[];
  rules: RuleJson[];
  counters: CounterJson[];
  /**
   * The rate-limit objects the program's -m limit / -m hashlimit checks index (absent when
   * there are none). Their kernel parameters depend on the host's HZ: the runtime computes
   * them when it loads the rules (src/runtime/rate-limits.ts).
   */
  rateLimits?: RateLimitJson[];
}

function layoutJson(l: MapSpec['key']): LayoutJson {
  return {
    name: l.def.name,
    size: l.size,
    fields: l.fields.map((f) => ({ name: f.name, type: f.type, offset: f.offset, size: f.size, ...(f.count !== undefined ? { count: f.count } : {}) })),
  };
}

function sourceOf(step: FlatRule['path'][number]): SourceJson {
  const s = step.rule.span;
  // (Spans work out their positions when read: read once.)
  const start = s.start;
  return { file: s.file, line: start.line, column: start.column, chain: step.chain, ruleNumber: step.ruleNumber, expansion: step.expansion.index, text: step.rule.source };
}

function rateLimitJson(o: Classified['rates']['objects'][number]): RateLimitJson {
  const s = o.rule.span;
  const start = s.start;
  const place: RatePlaceJson = { index: o.index, family: o.family, chain: o.chain, ruleNumber: o.ruleNumber, file: s.file, line: start.line, column: start.column, text: o.rule.source };
  if (o.kind === 'limit') {
    return { ...place, kind: 'limit', ordinal: o.ordinal, expansion: o.expansion, expansions: o.expansions, backend: o.backend, avg: o.match.avg, burst: o.match.burst };
  }
  const c = o.cfg;
  return {
    ...place,
    kind: 'hashlimit',
    name: o.name,
    cfg: { mode: c.mode, avg: Number(c.avg), burst: Number(c.burst), size: c.size, max: c.max, gcInterval: c.gcInterval, expire: c.expire, srcmask: c.srcmask, dstmask: c.dstmask, interval: c.interval },
  };
}

export function buildManifest(
  c: Classified,
  specs: readonly MapSpec[],
  entries: ReadonlyMap<string, EncodedEntries>,
  programs: ProgramSpec[],
  source: string,
): MapsJson {
  const rules: RuleJson[] = [];
  const chains: ChainJson[] = c.chains.map((chain) => {
    const list = (chain.family === 'ipv4' ? 0 : 3) + ['INPUT', 'FORWARD', 'OUTPUT'].indexOf(chain.chain);
    const slotList = c.lists.find((l) => l.flat === chain);
    const indexes: number[] = [];
    chain.rules.forEach((r, i) => {
      const first = slotList!.flatFirstSlot[i]!;
      const a = r.action;
      const rule: RuleJson = {
        family: chain.family,
        chain: chain.chain,
        index: r.index,
        firstSlot: first,
        slotCount: slotList!.flatFirstSlot[i + 1]! - first,
        role: r.role,
        action: a.kind,
        counter: r.counter,
        source: sourceOf(r.path[r.path.length - 1]!),
        via: r.path.length === 1 ? [] : r.path.slice(0, -1).map((p) => ({ chain: p.chain, ruleNumber: p.ruleNumber, line: p.rule.span.start.line })),
      };
      if (a.kind === 'reject') rule.rejectWith = a.with;
      if (a.kind === 'skip') rule.skipTo = a.to;
      indexes.push(rules.length);
      rules.push(rule);
    });
    const first = slotList?.firstSlot ?? 0;
    const end = slotList ? slotList.flatFirstSlot[slotList.flatFirstSlot.length - 1]! : 0;
    return { family: chain.family, chain: chain.chain, list, policy: chain.policy, policyCounter: c.counters.length + list, firstSlot: first, endSlot: end, rules: indexes };
  });
  return {
    format: MAPS_FORMAT,
    source,
    hook: c.shape.hook,
    shape: { ...c.shape, id: shapeId(c.shape) },
    programs,
    generation: { map: 'rjc_gen', field: 'gen' },
    maps: specs.map((s) => {
      const e = entries.get(s.name);
      const m: MapJson = {
        name: s.name,
        type: s.type,
        keySize: s.key.size,
        valueSize: s.value.size,
        maxEntries: s.maxEntries,
        flags: s.noPrealloc ? ['BPF_F_NO_PREALLOC'] : [],
        role: s.role,
        generation: s.generation,
        key: layoutJson(s.key),
        value: layoutJson(s.value),
        doc: s.doc,
      };
      if (e) m.entries = { count: e.count, keys: e.keys.toString('hex'), values: e.values.toString('hex') };
      return m;
    }),
    chains,
    rules,
    counters: c.counters.map((k) => ({
      id: k.id,
      family: k.family,
      chain: k.chain,
      ruleNumber: k.ruleNumber,
      expansion: k.expansion,
      expansions: k.expansions,
      file: k.rule.span.file,
      line: k.rule.span.start.line,
      text: k.rule.source,
    })),
    ...(c.rates.objects.length > 0 ? { rateLimits: c.rates.objects.map(rateLimitJson) } : {}),
  };
}

/** The flat rule (index into `rules`) a slot belongs to, or -1. */
export function ruleOfSlot(maps: MapsJson, slot: number): number {
  for (const chain of maps.chains) {
    if (slot < chain.firstSlot || slot >= chain.endSlot) continue;
    let lo = 0;
    let hi = chain.rules.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (maps.rules[chain.rules[mid]!]!.firstSlot <= slot) lo = mid;
      else hi = mid - 1;
    }
    return chain.rules[lo] ?? -1;
  }
  return -1;
}
