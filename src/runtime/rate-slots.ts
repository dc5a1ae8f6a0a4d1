/**
 * Where the rate-limit state of applied rulesets lives. The kernel keeps one bucket per rule
 * entry and one hashlimit table per name in each network namespace, whatever the interface;
 * so every rejectc program of a namespace shares the state maps of bpf/rjc_limit.h
 * (rjc_limits, rjc_hl_tables, rjc_hl_entries), pinned beside the interfaces like the
 * -m recent tables (./ns-maps.ts), and each applied ruleset's objects (maps.json
 * `rateLimits`) get slots there, which its program finds through its rjc_rl_slot map.
 *
 * An apply (under the interface locks and the namespace lock) plans once for all interfaces:
 * - an object that survives a change (an nft limit, a hashlimit table: ./rate-limits.ts) and
 *   whose identity an active ruleset of the namespace already has keeps that slot, state and
 *   all, in both generations;
 * - any other object gets a slot no active ruleset uses, with fresh state (an xt_limit bucket
 *   restarts full on every change of the legacy table, as in the kernel);
 * - the maps are sized for what is in use at twice the need; when they must grow, the new
 *   program gets bigger maps and the live state is copied into them (a program of another
 *   interface keeps the old maps until that interface is applied again).
 * Each interface's state file records its active ruleset's slots (`rates`); what no record
 * names is free, and a freed table's timer and flows are cleared ({@link collectRateState}).
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { MapsJson } from '../compiler/emit/manifest.js';
import { pow2 } from '../compiler/classify/shape.js';
import { HASHLIMIT_TABLE_LAYOUT, LIMIT_MAPS } from '../model/limits/bpf-layout.js';
import type { MapSizing } from './artifact.js';
import type { HostConfig } from './host-config.js';
import { BpfMap, u32 } from './map.js';
import { findIfindex } from './netns.js';
import { namespaceMapDir } from './ns-maps.js';
import { hostRamBytes, rateObjectParams, type RateObjectParams } from './rate-limits.js';
import { readState, stateDirOf } from './state.js';

/** One object of an interface's active ruleset in the namespace's state maps (state.json `rates`). */
export interface RateRecord {
  kind: 'limit' | 'hashlimit';
  identity: string;
  slot: number;
  /** hashlimit: flows the table may hold. */
  maxFlows: number;
  /** For people: the rule (file:line and text) or the table (name and family). */
  where?: string;
}

/** The namespace-wide state maps. */
export const RATE_STATE_MAPS: readonly string[] = [LIMIT_MAPS.limits, LIMIT_MAPS.hashlimitTables, LIMIT_MAPS.hashlimitEntries];

interface Capacities {
  limits: number;
  tables: number;
  flows: number;
}

const TABLE_FIELD = Object.fromEntries(HASHLIMIT_TABLE_LAYOUT.fields.map((f) => [f.name, f.offset])) as Record<string, number>;
/** The table id in a rjc_hl_entries key (struct rjc_hashlimit_key: table first). */
const tableOfFlow = (key: Buffer) => key.readUInt32LE(0);

/** The records of every interface of the namespace whose ruleset is live (`anyIfname` names the namespace). */
export function liveRateRecords(anyIfname: string): RateRecord[] {
  const root = dirname(stateDirOf(anyIfname));
  if (!existsSync(root)) return [];
  const out: RateRecord[] = [];
  for (const name of readdirSync(root)) {
    let state;
    try {
      state = readState(name);
    } catch {
      continue; // not an interface directory (another namespace's, or a lock file)
    }
    if (state?.rates && findIfindex(name) === state.ifindex) out.push(...state.rates);
  }
  return out;
}

/** Opens the namespace's pinned state maps, all three or none. */
function openPinned(nsDir: string): Map<string, BpfMap> | undefined {
  if (!RATE_STATE_MAPS.every((n) => existsSync(`${nsDir}/${n}`))) return undefined;
  return new Map(RATE_STATE_MAPS.map((n) => [n, BpfMap.openPinned(`${nsDir}/${n}`)]));
}

function whereOf(p: RateObjectParams): string {
  const o = p.source;
  if (o.kind === 'hashlimit') return `hashlimit table "${o.name}" (${o.family}; created by ${o.file}:${o.line})`;
  const copy = o.expansions > 1 ? ` [copy ${o.expansion + 1}/${o.expansions}]` : '';
  const which = o.ordinal > 0 ? ` (-m limit #${o.ordinal + 1})` : '';
  return `${o.file}:${o.line}: ${o.text}${copy}${which}`;
}

function lowestFree(taken: Set<number>): number {
  let i = 0;
  while (taken.has(i)) i++;
  return i;
}

/** Distinct table slots' flow capacity, plus room for races. */
function flowsNeeded(records: readonly RateRecord[]): number {
  const bySlot = new Map<number, number>();
  for (const r of records) if (r.kind === 'hashlimit') bySlot.set(r.slot, Math.max(bySlot.get(r.slot) ?? 0, r.maxFlows));
  return [...bySlot.values()].reduce((n, m) => n + m, 64);
}

/** The slots of one apply; see the module comment. Close it when the apply is done. */
export class RateSlots {
  private constructor(
    /** The ruleset's objects with this host's parameters. */
    readonly params: readonly RateObjectParams[],
    /** Slot of each object (by rate index). */
    readonly slots: readonly number[],
    /** What the applied interfaces' state files record. */
    readonly records: readonly RateRecord[],
    /** Objects that start with fresh state. */
    private readonly fresh: readonly RateObjectParams[],
    private readonly capacities: Capacities,
    /** The namespace's pinned maps (undefined: none yet). */
    private pinned: Map<string, BpfMap> | undefined,
    /** New maps are needed (none yet, or too small): every interface loads a new program. */
    readonly grow: boolean,
    private readonly nsDir: string,
    /** Records of the active rulesets before this apply (copied over when the maps grow). */
    private readonly inUse: readonly RateRecord[],
  ) {}

  /**
   * Plans the slots of `manifest`'s rate-limit objects on `ifnames` (the interfaces of one
   * apply, their pin directory `pinDir`); undefined when the ruleset has none. Throws
   * UserError when this kernel refuses a setting (E261).
   */
  static plan(manifest: MapsJson, host: HostConfig, ifname: string, pinDir: string): RateSlots | undefined {
    if (!manifest.rateLimits?.length) return undefined;
    const params = rateObjectParams(manifest, host.hz, hostRamBytes());
    const nsDir = namespaceMapDir(pinDir);
    const inUse = liveRateRecords(ifname);
    const byIdentity = new Map(inUse.map((r) => [r.identity, r]));
    const taken = { limit: new Set<number>(), hashlimit: new Set<number>() };
    for (const r of inUse) taken[r.kind].add(r.slot);
    const slots: number[] = [];
    const records: RateRecord[] = [];
    const fresh: RateObjectParams[] = [];
    for (const p of params) {
      const kind = p.source.kind;
      const kept = p.keep ? byIdentity.get(p.identity) : undefined;
      let slot: number;
      if (kept) {
        slot = kept.slot;
      } else {
        slot = lowestFree(taken[kind]);
        taken[kind].add(slot);
        fresh.push(p);
      }
      slots[p.source.index] = slot;
      records.push({ kind, identity: p.identity, slot, maxFlows: p.maxFlows, where: whereOf(p) });
    }
    const need: Capacities = {
      limits: Math.max(0, ...taken.limit) + 1,
      tables: Math.max(0, ...taken.hashlimit) + 1,
      flows: flowsNeeded([...inUse, ...records]),
    };
    const pinned = openPinned(nsDir);
    const have = pinned && { limits: pinned.get(LIMIT_MAPS.limits)!.maxEntries, tables: pinned.get(LIMIT_MAPS.hashlimitTables)!.maxEntries, flows: pinned.get(LIMIT_MAPS.hashlimitEntries)!.maxEntries };
    const grow = !have || need.limits > have.limits || need.tables > have.tables || need.flows > have.flows;
    const capacities = grow
      ? {
          limits: Math.max(have?.limits ?? 0, pow2(2 * need.limits, 64)),
          tables: Math.max(have?.tables ?? 0, pow2(2 * need.tables, 16)),
          flows: Math.max(have?.flows ?? 0, pow2(need.flows, 1024)),
        }
      : have!;
    return new RateSlots(params, slots, records, fresh, capacities, pinned, grow, nsDir, inUse);
  }

  /** Sizes of the state maps of a new program. */
  sizes(): MapSizing[] {
    const c = this.capacities;
    return [
      { name: LIMIT_MAPS.limits, maxEntries: c.limits },
      { name: LIMIT_MAPS.hashlimitTables, maxEntries: c.tables },
      { name: LIMIT_MAPS.hashlimitEntries, maxEntries: c.flows },
    ];
  }

  /** The pinned maps a new program takes over (none when they must grow and no program of this apply made them yet). */
  reuse(): ReadonlyMap<string, BpfMap> {
    return (this.grow && !this.made) || !this.pinned ? new Map() : this.pinned;
  }

  /** A program of this apply made the namespace's maps (the others take them over). */
  private made = false;

  /**
   * A program loaded by this apply, with its maps (`reused`: those it took over): copies the
   * live state into grown maps and pins them as the namespace's, then writes the fresh
   * objects and generation `gen` of rjc_rl_slot.
   */
  installNew(maps: ReadonlyMap<string, BpfMap>, reused: readonly string[], gen: 0 | 1): void {
    const own = RATE_STATE_MAPS.filter((n) => !reused.includes(n));
    if (own.length > 0) {
      if (this.pinned) this.copyLiveState(this.pinned, maps);
      mkdirSync(this.nsDir, { recursive: true, mode: 0o700 });
      for (const name of own) {
        rmSync(`${this.nsDir}/${name}`, { force: true });
        maps.get(name)!.pin(`${this.nsDir}/${name}`);
      }
      this.pinned?.forEach((m) => m.close());
      this.pinned = openPinned(this.nsDir);
      this.made = true;
    }
    this.install(maps, maps.get('rjc_rl_slot')!, gen);
  }

  /**
   * True when the running program (its pinned maps `running`) uses the namespace's state maps,
   * so a generation flip keeps sharing them.
   */
  canFlip(running: ReadonlyMap<string, BpfMap>): boolean {
    if (this.grow || !this.pinned) return false;
    return RATE_STATE_MAPS.every((n) => running.get(n)?.id === this.pinned!.get(n)!.id);
  }

  /** A flip: fresh objects into the namespace's maps, generation `gen` of the running program's rjc_rl_slot. */
  installFlip(rlSlot: BpfMap, gen: 0 | 1): void {
    this.install(this.pinned!, rlSlot, gen);
  }

  private install(state: ReadonlyMap<string, BpfMap>, rlSlot: BpfMap, gen: 0 | 1): void {
    const limits = state.get(LIMIT_MAPS.limits)!;
    const tables = state.get(LIMIT_MAPS.hashlimitTables)!;
    const freshTables = new Set<number>();
    for (const p of this.fresh) {
      const slot = this.slots[p.source.index]!;
      if (p.source.kind === 'limit') limits.update(u32(slot), p.value);
      else {
        tables.update(u32(slot), p.value);
        freshTables.add(slot);
      }
    }
    // A fresh table starts empty (a slot may have held another table's flows).
    if (freshTables.size > 0) deleteFlows(state.get(LIMIT_MAPS.hashlimitEntries)!, (t) => freshTables.has(t));
    const stride = rlSlot.maxEntries / 2;
    const keys = this.slots.map((_, i) => u32(gen * stride + i));
    rlSlot.updateBatch(keys, this.slots.map((s) => u32(s)));
  }

  /** Copies the state of the active rulesets' objects from `from` into new maps `to`. */
  private copyLiveState(from: ReadonlyMap<string, BpfMap>, to: ReadonlyMap<string, BpfMap>): void {
    const copy = (name: string, slots: Iterable<number>, edit?: (v: Buffer) => void) => {
      const src = from.get(name)!;
      const dst = to.get(name)!;
      for (const slot of slots) {
        const v = src.lookup(u32(slot));
        if (!v) continue;
        edit?.(v);
        dst.update(u32(slot), v);
      }
    };
    const inUse = (kind: RateRecord['kind']) => new Set(this.inUse.filter((r) => r.kind === kind).map((r) => r.slot));
    copy(LIMIT_MAPS.limits, inUse('limit'));
    // The copied table's GC timer is not running in the new map: let the next packet start it.
    copy(LIMIT_MAPS.hashlimitTables, inUse('hashlimit'), (v) => v.writeBigUInt64LE(0n, TABLE_FIELD.gc_armed!));
    const flowsFrom = from.get(LIMIT_MAPS.hashlimitEntries)!;
    const flowsTo = to.get(LIMIT_MAPS.hashlimitEntries)!;
    const tables = inUse('hashlimit');
    for (const key of [...flowsFrom.keys()]) {
      if (!tables.has(tableOfFlow(key))) continue;
      const v = flowsFrom.lookup(key);
      if (v) flowsTo.update(key, v);
    }
  }

  close(): void {
    this.pinned?.forEach((m) => m.close());
  }
}

/** Deletes the flows of the tables `which` selects. */
function deleteFlows(flows: BpfMap, which: (table: number) => boolean): void {
  for (const key of [...flows.keys()]) if (which(tableOfFlow(key))) flows.delete(key);
}

/**
 * Frees the hashlimit tables no active ruleset of the namespace uses any more: clears their
 * configuration (which also stops their GC timer) and deletes their flows. `anyIfname` names
 * the namespace, `pinDir` is an interface pin directory of it. Returns how many it freed.
 */
export function collectRateState(anyIfname: string, pinDir: string): number {
  const pinned = openPinned(namespaceMapDir(pinDir));
  if (!pinned) return 0;
  try {
    const used = new Set(liveRateRecords(anyIfname).filter((r) => r.kind === 'hashlimit').map((r) => r.slot));
    const tables = pinned.get(LIMIT_MAPS.hashlimitTables)!;
    const freed = new Set<number>();
    for (let slot = 0; slot < tables.maxEntries; slot++) {
      if (used.has(slot)) continue;
      const v = tables.lookup(u32(slot));
      if (!v || v.readUInt32LE(TABLE_FIELD.max!) === 0) continue;
      tables.update(u32(slot), Buffer.alloc(tables.valueSize));
      freed.add(slot);
    }
    if (freed.size > 0) deleteFlows(pinned.get(LIMIT_MAPS.hashlimitEntries)!, (t) => freed.has(t));
    return freed.size;
  } finally {
    pinned.forEach((m) => m.close());
  }
}
