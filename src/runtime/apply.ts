/**
 * Puts a compiled ruleset on interfaces, or replaces the one rejectc already put there,
 * atomically; and takes it off again.
 *
 * Apply, per invocation (all interfaces locked, in name order, for the whole operation):
 * 1. Prepare, touching no packet's fate: resolve every interface (a missing one fails the
 *    apply), then per interface either
 *    - flip (same shape as the running program): write the new rules into the inactive
 *      generation of the running program's pinned maps, or
 *    - swap (new shape, or no program yet): load the ruleset as a new program instance (a
 *      verifier refusal fails the apply), fill its maps, pin it.
 * 2. Switch, one kernel operation per attach point, so every packet is judged by the old
 *    ruleset or by the new one, never by both or neither: flip writes `rjc_gen` (the program
 *    reads it once per packet); swap uses tc `bpf_tc_attach` with BPF_TC_F_REPLACE on
 *    rejectc's filter, or XDP REPLACE with the expected old program. If any step fails, every
 *    step already done is undone in reverse order: the interfaces are as they were.
 * 3. Commit: the old ruleset's counters are carried over by rule identity into the state
 *    file (stats adds them), the state is written, an old instance's pins are removed.
 * Rate limits (-m limit, -m hashlimit) keep their state in maps every program of the
 * namespace shares; the slots of the new ruleset's buckets and tables are planned once per
 * apply, under the namespace lock (./rate-slots.ts).
 *
 * Detach removes only what the state file says rejectc attached, and only if it is still
 * what is attached (another tool may have replaced it meanwhile).
 */
import { existsSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Hook, RulesetArtifact } from './artifact.js';
import { physicalPinPath, pinDirOf } from './bpffs.js';
import { CONNTRACK_TABLE, ensureConntrack, releaseConntrackIfUnused } from './conntrack.js';
import { carryOver, readCounterSlots } from './counters.js';
import { replaceEntries } from './ipsets.js';
import { openNamespaceMaps, pinNamespaceMaps, removeNamespaceMaps } from './ns-maps.js';
import { LibbpfError } from './errors.js';
import { type HostConfig, readHostConfig } from './host-config.js';
import { HOST_MAP_NAMES, writeHostMaps } from './host-maps.js';
import { type LoadedRuleset, type RuntimeConfig, loadArtifact, writeEntries } from './load-artifact.js';
import { withInterfaceLock, withNamespaceLock } from './lock.js';
import { type Gen, counterSlots, generationSelector, rulesetEntries } from './manifest.js';
import type { BpfMap } from './map.js';
import { findIfindex, ifindexOf } from './netns.js';
import {
  collectDeadNamespaces,
  instanceDir,
  interfacePinDir,
  openInstanceMap,
  openSharedMaps,
  pinInstance,
  pinSharedMaps,
  removeInstance,
} from './pins.js';
import { BpfProgram } from './program.js';
import { RATE_STATE_MAPS, RateSlots, collectRateState } from './rate-slots.js';
import { type InterfaceState, type TcFilterState, readState, removeState, stateDirOf, writeState } from './state.js';
import { type TcDirection, attachTc, detachTc, queryTc, removeClsactIfUnused } from './tc.js';
import { type XdpMode, attachXdp, defaultXdpMode, detachXdp, queryXdp } from './xdp.js';

/** tc filter handle rejectc uses ('R'). */
export const TC_HANDLE = 0x52;
/** tc filter priority rejectc uses: first, before other filters of the clsact qdisc. */
export const TC_PRIORITY = 1;
/** How long a program may still be running a packet after it was replaced (generous). */
const IN_FLIGHT_MS = 20;

/** Options of {@link applyArtifact}. */
export interface ApplyOptions {
  ifnames: readonly string[];
  /** XDP mode; default: the one already in use, else generic on veth and native elsewhere. */
  xdpMode?: XdpMode;
  /** Where a refused program's verifier log is saved (default: a new /tmp directory). */
  verifierLogDir?: string;
  /** Host configuration (default: read from the calling thread's namespace). */
  hostConfig?: HostConfig;
  /** Always load a new program, even where flipping the generation would do. */
  forceSwap?: boolean;
  /** Run-time configuration maps (e.g. the reply budget), written in either case. */
  config?: RuntimeConfig;
  /** Progress messages (the CLI prints them on stderr). */
  log?: (line: string) => void;
}

/** What {@link applyArtifact} did on one interface. */
export interface ApplyOutcome {
  ifname: string;
  ifindex: number;
  /** `attached`: first ruleset; `replaced`: a new program swapped in; `flipped`: same program, new generation. */
  action: 'attached' | 'replaced' | 'flipped';
  hook: Hook;
  xdpMode?: XdpMode;
  /** Ids of the attached programs. */
  progIds: { ingress: number; egress?: number };
  instance: number;
  gen: Gen;
  /** Pin directory of the program instance (as the user sees it). */
  pinDir: string;
}

type Undo = { what: string; run: () => void };

interface Common {
  ifname: string;
  ifindex: number;
  pinDir: string;
  old: InterfaceState | undefined;
  /** The old ruleset's counter map (to carry its counts over after the switch). */
  oldCounters: BpfMap | undefined;
  artifact: RulesetArtifact;
  /** Where the new ruleset's rate limits keep their state (planned once per apply). */
  rates: RateSlots | undefined;
}

/** A new program instance, loaded, filled and pinned. */
interface Swap extends Common {
  kind: 'swap';
  loaded: LoadedRuleset;
  instance: number;
  shared: Map<string, BpfMap>;
}

/** The running program, with the new rules written into its inactive generation. */
interface Flip extends Common {
  kind: 'flip';
  old: InterfaceState;
  gen: Gen;
  /** The running program's rjc_gen map. */
  genMap: BpfMap;
}

type Prepared = Swap | Flip;

/** Runs `fn` holding the locks of all `ifnames` (taken in name order, so never deadlocking). */
async function withLocks<T>(ifnames: readonly string[], fn: () => Promise<T>): Promise<T> {
  const sorted = [...new Set(ifnames)].sort();
  const take = async (i: number): Promise<T> => (i === sorted.length ? fn() : withInterfaceLock(sorted[i]!, () => take(i + 1)));
  return take(0);
}

/**
 * The recorded state of `ifname` if it still describes what is attached there; otherwise
 * (interface recreated, programs gone) the stale state and pins are removed and undefined
 * is returned. Filters that are no longer rejectc's are dropped from the state.
 */
export function liveState(ifname: string, ifindex: number): InterfaceState | undefined {
  const state = readState(ifname);
  if (!state) return undefined;
  let live: InterfaceState | undefined = state.ifindex === ifindex ? { ...state } : undefined;
  if (live?.tc) {
    const filters = live.tc.filters.filter((f) => queryTc({ ifindex, ...f }) === f.progId);
    live = filters.length ? { ...live, tc: { ...live.tc, filters } } : undefined;
  } else if (live?.xdp) {
    const x = queryXdp(ifindex);
    if ((live.xdp.mode === 'native' ? x.nativeProgId : x.genericProgId) !== live.xdp.progId) live = undefined;
  }
  if (!live) {
    removeState(ifname);
    rmSync(physicalPinPath(pinDirOf(ifname)), { recursive: true, force: true });
  }
  return live;
}

function openOldCounters(pinDir: string, old: InterfaceState | undefined): BpfMap | undefined {
  return old?.counters ? openInstanceMap(pinDir, old.instance, old.counters.map) : undefined;
}

/** True when `artifact` can replace the running ruleset by a generation flip. */
function canFlip(old: InterfaceState | undefined, artifact: RulesetArtifact, options: ApplyOptions): old is InterfaceState {
  if (!old || options.forceSwap || !artifact.manifest || artifact.hook !== old.hook || artifact.shape !== old.source.shape) return false;
  if (options.xdpMode && old.xdp && options.xdpMode !== old.xdp.mode) return false;
  // The same attach points must be in use (the egress program is attached only when needed).
  const hasEgress = old.tc?.filters.some((f) => f.direction === 'egress') ?? false;
  return hasEgress === (artifact.programs.egress !== undefined);
}

/** Opens every pinned map of instance `n` named in `names`; undefined if one is missing. */
function openInstanceMaps(pinDir: string, n: number, names: readonly string[]): Map<string, BpfMap> | undefined {
  const out = new Map<string, BpfMap>();
  try {
    for (const name of names) {
      const map = openInstanceMap(pinDir, n, name);
      if (!map) {
        out.forEach((m) => m.close());
        return undefined;
      }
      out.set(name, map);
    }
    return out;
  } catch (err) {
    out.forEach((m) => m.close());
    throw err;
  }
}

/**
 * Clears generation `gen` of a ruleset map before it is refilled: array maps get the range
 * zeroed, maps keyed by generation lose the keys of that generation.
 */
function clearGeneration(map: BpfMap, generation: NonNullable<RulesetArtifact['manifest']>['maps'][number]['generation'], gen: Gen): void {
  if (generation.kind === 'index') {
    const keys = Array.from({ length: generation.stride }, (_, i) => Buffer.from(new Uint32Array([gen * generation.stride + i]).buffer));
    const zero = Buffer.alloc(map.valueSize);
    map.updateBatch(keys, keys.map(() => zero));
  } else if (generation.kind === 'key') {
    for (const key of [...map.keys()]) if (key.readUInt32LE(generation.offset) === gen) map.delete(key);
  }
}

/**
 * Writes the new rules into the inactive generation of the running program. Nothing a
 * packet sees changes until rjc_gen flips in the switch step.
 */
async function prepareFlip(base: Common & { old: InterfaceState }, host: HostConfig, config: RuntimeConfig | undefined): Promise<Flip | undefined> {
  const configMaps = new Map<string, BpfMap>();
  for (const name of new Set([...(config?.sizes ?? []), ...(config?.entries ?? [])].map((c) => c.name))) {
    const map = openInstanceMap(base.pinDir, base.old.instance, name);
    if (map) configMaps.set(name, map);
  }
  try {
    // A map that needs another size needs a new program.
    for (const size of config?.sizes ?? []) {
      const map = configMaps.get(size.name);
      if (map && ((size.maxEntries !== undefined && size.maxEntries !== map.maxEntries) || (size.valueSize !== undefined && size.valueSize !== map.valueSize))) return undefined;
    }
    // The running program must share the namespace's rate-limit state maps.
    if (base.rates && !ratesCanFlip(base.rates, base.pinDir, base.old.instance)) return undefined;
    const flip = await fillInactiveGeneration(base, host);
    if (!flip) return undefined;
    if (base.rates) {
      const rlSlot = openInstanceMap(base.pinDir, base.old.instance, 'rjc_rl_slot');
      if (!rlSlot) return undefined;
      try {
        base.rates.installFlip(rlSlot, flip.gen);
      } finally {
        rlSlot.close();
      }
    }
    for (const { name, entries, replace } of config?.entries ?? []) {
      const map = configMaps.get(name);
      if (map && replace) replaceEntries(map, entries);
      else if (map) writeEntries(map, entries);
    }
    return flip;
  } finally {
    configMaps.forEach((x) => x.close());
  }
}

/** True when the running instance `n` uses the namespace's rate-limit state maps. */
function ratesCanFlip(rates: RateSlots, pinDir: string, n: number): boolean {
  const running = openInstanceMaps(pinDir, n, RATE_STATE_MAPS);
  if (!running) return false;
  try {
    return rates.canFlip(running);
  } finally {
    running.forEach((m) => m.close());
  }
}

async function fillInactiveGeneration(base: Common & { old: InterfaceState }, host: HostConfig): Promise<Flip | undefined> {
  const m = base.artifact.manifest!;
  // The inactive generation may still be read by packets that started before the last flip.
  const since = Date.now() - base.old.flippedAt;
  if (since < IN_FLIGHT_MS) await sleep(IN_FLIGHT_MS - since);
  const names = m.maps.filter((x) => x.role === 'ruleset' || x.role === 'control' || x.role === 'counters').map((x) => x.name);
  const maps = openInstanceMaps(base.pinDir, base.old.instance, names);
  if (!maps) return undefined; // pins incomplete (e.g. made by another version): load a new program
  if (!layoutsMatch(m, maps)) {
    // Same shape, other map layouts (a program built by another rejectc version): load a new one.
    maps.forEach((x) => x.close());
    return undefined;
  }
  try {
    const genMap = maps.get(m.generation.map)!;
    const genOffset = m.maps.find((x) => x.name === m.generation.map)?.value.fields.find((f) => f.name === m.generation.field)?.offset ?? 0;
    const active = (genMap.lookup(Buffer.alloc(genMap.keySize))?.readUInt32LE(genOffset) ?? base.old.gen) as Gen;
    const gen: Gen = active === 0 ? 1 : 0;
    for (const spec of m.maps) {
      if (spec.role === 'ruleset' || spec.role === 'counters') clearGeneration(maps.get(spec.name)!, spec.generation, gen);
    }
    for (const { name, entries } of rulesetEntries(m, gen)) writeEntries(maps.get(name)!, entries);
    // Host maps are not per generation; refresh them for the running program too.
    const hostMaps = openHostMaps(base.pinDir, base.old.instance);
    try {
      writeHostMaps({ maps: hostMaps }, host);
    } finally {
      hostMaps.forEach((x) => x.close());
    }
    maps.delete(m.generation.map);
    maps.forEach((x) => x.close());
    return { ...base, kind: 'flip', gen, genMap };
  } catch (err) {
    maps.forEach((x) => x.close());
    throw err;
  }
}

/** True when every map of `m` that is open in `maps` has the key, value and entry counts `m` gives. */
function layoutsMatch(m: NonNullable<RulesetArtifact['manifest']>, maps: ReadonlyMap<string, BpfMap>): boolean {
  return m.maps.every((spec) => {
    const map = maps.get(spec.name);
    return !map || (map.keySize === spec.keySize && map.valueSize === spec.valueSize && map.maxEntries === spec.maxEntries);
  });
}

/** The pinned host-configuration maps of an instance (those it has). */
function openHostMaps(pinDir: string, n: number): Map<string, BpfMap> {
  const out = new Map<string, BpfMap>();
  for (const name of HOST_MAP_NAMES) {
    const map = openInstanceMap(pinDir, n, name);
    if (map) out.set(name, map);
  }
  return out;
}

function prepareSwap(base: Common, options: ApplyOptions, host: HostConfig): Swap {
  const instance = (base.old?.instance ?? 0) + 1;
  // Per-interface shared maps, and the namespace-wide ones (recent tables, conntrack shadow).
  const shared = new Map([...openSharedMaps(base.pinDir), ...openNamespaceMaps(base.pinDir)]);
  let loaded: LoadedRuleset | undefined;
  try {
    // Rate limits: the namespace's state maps, sized for what is in use.
    const config = base.rates ? { sizes: [...(options.config?.sizes ?? []), ...base.rates.sizes()], entries: options.config?.entries ?? [] } : options.config;
    loaded = loadArtifact(base.artifact, {
      hostConfig: host,
      reuse: new Map([...shared, ...(base.rates?.reuse() ?? [])]),
      ...(options.verifierLogDir ? { verifierLogDir: options.verifierLogDir } : {}),
      ...(config ? { config } : {}),
    });
    base.rates?.installNew(loaded.obj.maps, loaded.reused, base.artifact.gen ?? 0);
    // A program that reads the kernel's connection table needs conntrack running (rjc_ct.h).
    if (loaded.obj.maps.has('rjc_ct_scratch')) ensureConntrack();
    // Pinned now, so that the next interface of this apply reuses them.
    pinNamespaceMaps(base.pinDir, loaded);
    pinInstance(base.pinDir, instance, loaded);
    return { ...base, kind: 'swap', loaded, instance, shared };
  } catch (err) {
    loaded?.obj.close();
    shared.forEach((m) => m.close());
    removeInstance(base.pinDir, instance);
    throw err;
  }
}

async function prepare(artifact: RulesetArtifact, ifname: string, ifindex: number, options: ApplyOptions, host: HostConfig, rates: RateSlots | undefined): Promise<Prepared> {
  const old = liveState(ifname, ifindex);
  const pinDir = interfacePinDir(ifname);
  const oldCounters = openOldCounters(pinDir, old);
  try {
    const base: Common = { ifname, ifindex, pinDir, old, oldCounters, artifact, rates };
    const flip = canFlip(old, artifact, options) ? await prepareFlip({ ...base, old }, host, options.config) : undefined;
    return flip ?? prepareSwap(base, options, host);
  } catch (err) {
    oldCounters?.close();
    throw err;
  }
}

/** Frees what a prepared interface holds; `failed`: also removes a new instance's pins. */
function release(p: Prepared, failed: boolean): void {
  p.oldCounters?.close();
  if (p.kind === 'flip') {
    p.genMap.close();
    return;
  }
  p.loaded.obj.close();
  p.shared.forEach((m) => m.close());
  if (failed) removeInstance(p.pinDir, p.instance);
}

/** Re-attaches a program by id as a tc filter (undo of a replace or detach). */
function reattachTc(ifindex: number, f: TcFilterState): void {
  const prog = BpfProgram.openById(f.progId);
  try {
    attachTc(prog, { ifindex, direction: f.direction, handle: f.handle, priority: f.priority, replace: queryTc({ ifindex, ...f }) !== undefined });
  } finally {
    prog.close();
  }
}

function reattachXdp(ifindex: number, mode: XdpMode, progId: number, replacing?: number): void {
  const prog = BpfProgram.openById(progId);
  try {
    attachXdp(prog, { ifindex, mode, ...(replacing !== undefined ? { expectedProgId: replacing } : {}) });
  } finally {
    prog.close();
  }
}

/** Flips rjc_gen to the prepared generation. */
function switchFlip(p: Flip, undo: Undo[]): Pick<InterfaceState, 'tc' | 'xdp'> {
  const m = p.artifact.manifest!;
  const write = (gen: Gen) => {
    const { entries } = generationSelector(m, gen);
    p.genMap.update(entries[0]!.key, entries[0]!.value);
  };
  write(p.gen);
  undo.push({ what: 'flip rjc_gen back', run: () => write(p.gen === 0 ? 1 : 0) });
  return { ...(p.old.tc ? { tc: p.old.tc } : {}), ...(p.old.xdp ? { xdp: p.old.xdp } : {}) };
}

/** Swaps one interface to the prepared program; pushes the undo of each step it does. */
function switchSwap(p: Swap, options: ApplyOptions, undo: Undo[]): Pick<InterfaceState, 'tc' | 'xdp'> {
  const { ifindex, old, loaded } = p;
  const detachOldTc = () => {
    for (const f of old?.tc?.filters ?? []) {
      detachTc({ ifindex, ...f });
      undo.push({ what: `re-attach the old ${f.direction} filter`, run: () => reattachTc(ifindex, f) });
    }
    if (old?.tc) removeClsactIfUnused(ifindex, p.ifname, old.tc.createdQdisc);
  };
  const detachOldXdp = () => {
    if (!old?.xdp) return;
    const { mode, progId } = old.xdp;
    detachXdp(ifindex, mode, progId);
    undo.push({ what: 're-attach the old XDP program', run: () => reattachXdp(ifindex, mode, progId) });
  };

  if (p.artifact.hook === 'tc') {
    let createdQdisc = old?.tc?.createdQdisc ?? false;
    const filters: TcFilterState[] = [];
    for (const direction of ['ingress', 'egress'] as TcDirection[]) {
      const prog = direction === 'ingress' ? loaded.ingress : loaded.egress;
      const oldFilter = old?.tc?.filters.find((f) => f.direction === direction);
      if (!prog) {
        if (oldFilter) {
          detachTc({ ifindex, ...oldFilter });
          undo.push({ what: `re-attach the old ${direction} filter`, run: () => reattachTc(ifindex, oldFilter) });
        }
        continue;
      }
      const id = { ifindex, direction, handle: oldFilter?.handle ?? TC_HANDLE, priority: oldFilter?.priority ?? TC_PRIORITY };
      const att = attachTc(prog, { ...id, replace: oldFilter !== undefined });
      if (att.createdQdisc) createdQdisc = true;
      filters.push({ direction, handle: id.handle, priority: id.priority, progId: att.progId });
      undo.push(
        oldFilter
          ? { what: `restore the old ${direction} program`, run: () => reattachTc(ifindex, oldFilter) }
          : {
              what: `remove the new ${direction} filter`,
              run: () => {
                detachTc(id);
                removeClsactIfUnused(ifindex, p.ifname, att.createdQdisc);
              },
            },
      );
    }
    detachOldXdp();
    return { tc: { createdQdisc, filters } };
  }

  const forced = options.xdpMode;
  const mode = forced ?? old?.xdp?.mode ?? defaultXdpMode(p.ifname);
  const newId = loaded.ingress.id;
  if (old?.xdp && old.xdp.mode === mode) {
    const oldId = old.xdp.progId;
    attachXdp(loaded.ingress, { ifindex, mode, expectedProgId: oldId });
    undo.push({ what: 'restore the old XDP program', run: () => reattachXdp(ifindex, mode, oldId, newId) });
    return { xdp: { mode, progId: newId } };
  }
  let used = mode;
  try {
    attachXdp(loaded.ingress, { ifindex, mode });
  } catch (err) {
    // No native XDP in this driver: fall back to generic unless the user asked for native.
    if (forced || mode !== 'native' || !(err instanceof LibbpfError) || !['EOPNOTSUPP', 'ENOTSUPP', 'EINVAL'].includes(err.code)) throw err;
    used = 'generic';
    attachXdp(loaded.ingress, { ifindex, mode: used });
  }
  undo.push({ what: 'remove the new XDP program', run: () => detachXdp(ifindex, used, newId) });
  detachOldXdp();
  detachOldTc();
  return { xdp: { mode: used, progId: newId } };
}

function undoAll(undo: Undo[], log: (line: string) => void): void {
  for (const step of undo.reverse()) {
    try {
      step.run();
    } catch (err) {
      log(`rejectc: warning: could not ${step.what} while rolling back: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/** Writes the new state of a switched interface, carrying the old counters over. */
function commit(p: Prepared, attached: Pick<InterfaceState, 'tc' | 'xdp'>): ApplyOutcome {
  const { old, artifact } = p;
  const instance = p.kind === 'flip' ? p.old.instance : p.instance;
  const gen: Gen = p.kind === 'flip' ? p.gen : (artifact.gen ?? 0);
  const counters = artifact.counters && (p.kind === 'flip' ? { map: artifact.counters.map, slots: counterSlots(artifact.manifest!, gen) } : artifact.counters);
  const slots = counters?.slots ?? [];
  const carried =
    old?.counters && p.oldCounters ? carryOver(old.carried, old.counters.slots, readCounterSlots(p.oldCounters, old.counters.slots), slots) : {};
  if (p.kind === 'swap') pinSharedMaps(p.pinDir, p.loaded);
  const state: InterfaceState = {
    version: 1,
    ifname: p.ifname,
    ifindex: p.ifindex,
    hook: artifact.hook,
    ...attached,
    instance,
    gen,
    flippedAt: p.kind === 'flip' ? Date.now() : 0,
    source: { file: artifact.source, appliedAt: new Date().toISOString(), shape: artifact.shape },
    ...(counters ? { counters: { map: counters.map, slots: [...counters.slots] } } : {}),
    carried,
    carriedReplies: old?.carriedReplies ?? [],
    ...(p.rates ? { rates: [...p.rates.records] } : {}),
  };
  writeState(state);
  if (p.kind === 'swap' && old) removeInstance(p.pinDir, old.instance);
  const tcIn = state.tc?.filters.find((f) => f.direction === 'ingress');
  const tcOut = state.tc?.filters.find((f) => f.direction === 'egress');
  return {
    ifname: p.ifname,
    ifindex: p.ifindex,
    action: p.kind === 'flip' ? 'flipped' : old ? 'replaced' : 'attached',
    hook: artifact.hook,
    ...(state.xdp ? { xdpMode: state.xdp.mode } : {}),
    progIds: { ingress: state.xdp?.progId ?? tcIn!.progId, ...(tcOut ? { egress: tcOut.progId } : {}) },
    instance,
    gen,
    pinDir: instanceDir(pinDirOf(p.ifname), instance),
  };
}

/**
 * Applies `artifact` to `options.ifnames` (see the module comment). Throws, with every
 * interface as it was, on a missing interface, a refused program or a failed attach.
 */
export async function applyArtifact(artifact: RulesetArtifact, options: ApplyOptions): Promise<ApplyOutcome[]> {
  const targets = options.ifnames.map((ifname) => ({ ifname, ifindex: ifindexOf(ifname) }));
  const host = options.hostConfig ?? readHostConfig();
  collectDeadNamespaces();
  return withLocks(options.ifnames, () => withNamespaceLock(options.ifnames[0]!, () => applyLocked(artifact, options, targets, host)));
}

/** The apply, holding every lock: see the module comment. */
async function applyLocked(artifact: RulesetArtifact, options: ApplyOptions, targets: { ifname: string; ifindex: number }[], host: HostConfig): Promise<ApplyOutcome[]> {
  const log = options.log ?? (() => {});
  const first = options.ifnames[0]!;
  // Rate limits: slots planned once for all interfaces; state maps that must grow need new programs.
  const rates = artifact.manifest ? RateSlots.plan(artifact.manifest, host, first, interfacePinDir(first)) : undefined;
  try {
    const prepared: Prepared[] = [];
    const prepareOptions = rates?.grow ? { ...options, forceSwap: true } : options;
    try {
      for (const t of targets) prepared.push(await prepare(artifact, t.ifname, t.ifindex, prepareOptions, host, rates));
    } catch (err) {
      prepared.forEach((p) => release(p, true));
      throw err;
    }

    const undo: Undo[] = [];
    const attached: Array<Pick<InterfaceState, 'tc' | 'xdp'>> = [];
    try {
      for (const p of prepared) attached.push(p.kind === 'flip' ? switchFlip(p, undo) : switchSwap(p, options, undo));
    } catch (err) {
      undoAll(undo, log);
      prepared.forEach((p) => release(p, true));
      throw err;
    }

    // The old ruleset may finish packets already in flight on other CPUs; let it, so its
    // last counts are carried over below.
    if (prepared.some((p) => p.oldCounters)) await sleep(IN_FLIGHT_MS);
    const outcomes = prepared.map((p, i) => {
      try {
        const outcome = commit(p, attached[i]!);
        log(`rejectc: ${outcome.action === 'attached' ? 'attached to' : outcome.action === 'flipped' ? 'replaced the rules (same program) on' : 'replaced the program on'} ${p.ifname} (${outcome.hook}${outcome.xdpMode ? ` ${outcome.xdpMode}` : ''})`);
        return outcome;
      } finally {
        release(p, false);
      }
    });
    // A ruleset without state matches replaced the last one with them: conntrack goes off, as
    // with iptables (src/runtime/conntrack.ts).
    if (releaseConntrackIfUnused(first)) log(`rejectc: no program reads conntrack any more: removed nftables table inet ${CONNTRACK_TABLE}`);
    // Hashlimit tables no ruleset of the namespace uses any more: timers stopped, flows gone.
    collectRateState(first, interfacePinDir(first));
    return outcomes;
  } finally {
    rates?.close();
  }
}

/** Removes a directory if it is empty (a namespace's pin directory after its last interface). */
function removeEmptyDir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty, or gone
  }
}

/** What {@link detachInterface} did. */
export interface DetachOutcome {
  ifname: string;
  /** What was removed, e.g. `tc ingress filter`, `XDP program (generic)`, `pins`. */
  removed: string[];
  /** What was left because it is no longer rejectc's (replaced by another tool). */
  left: string[];
}

/** True when another interface of this namespace has rejectc state. */
function otherInterfacesApplied(ifname: string): boolean {
  const dir = dirname(stateDirOf(ifname));
  if (!existsSync(dir)) return false;
  return readdirSync(dir).some((e) => e !== ifname && existsSync(`${dir}/${e}/state.json`));
}

/**
 * Removes what rejectc attached to `ifname` and its pins and state. Filters or programs that
 * another tool replaced are left alone (reported in `left`). A vanished interface only gets
 * its pins and state removed (the kernel dropped its attachments).
 */
export async function detachInterface(ifname: string): Promise<DetachOutcome> {
  return withInterfaceLock(ifname, async () => {
    const removed: string[] = [];
    const left: string[] = [];
    const state = readState(ifname);
    const ifindex = findIfindex(ifname);
    if (state && ifindex === state.ifindex) {
      for (const f of state.tc?.filters ?? []) {
        const id = { ifindex, direction: f.direction, handle: f.handle, priority: f.priority };
        if (queryTc(id) === f.progId) {
          detachTc(id);
          removed.push(`tc ${f.direction} filter`);
        } else {
          left.push(`tc ${f.direction} filter handle 0x${f.handle.toString(16)} prio ${f.priority} (no longer rejectc's program)`);
        }
      }
      if (state.tc && removeClsactIfUnused(ifindex, ifname, state.tc.createdQdisc)) removed.push('clsact qdisc');
      if (state.xdp) {
        if (detachXdp(ifindex, state.xdp.mode, state.xdp.progId)) removed.push(`XDP program (${state.xdp.mode})`);
        else left.push(`XDP program (no longer rejectc's program ${state.xdp.progId})`);
      }
    }
    const pins = physicalPinPath(pinDirOf(ifname));
    if (existsSync(pins)) removed.push('pins');
    rmSync(pins, { recursive: true, force: true });
    // The namespace's recent tables and conntrack shadow go with its last rejectc interface.
    if (!otherInterfacesApplied(ifname) && removeNamespaceMaps(pins)) removed.push('namespace maps');
    removeEmptyDir(dirname(pins));
    if (state) removed.push('state');
    removeState(ifname);
    // Its hashlimit tables, unless another interface's ruleset uses them (./rate-slots.ts).
    await withNamespaceLock(ifname, () => collectRateState(ifname, pins));
    // No program of this namespace reads conntrack any more: it need not be kept on.
    if (releaseConntrackIfUnused(ifname)) removed.push(`nftables table inet ${CONNTRACK_TABLE}`);
    collectDeadNamespaces();
    return { ifname, removed, left };
  });
}
