/**
 * Puts a compiled ruleset on interfaces, or replaces the one rejectc already put there,
 * atomically; and takes it off again.
 *
 * Apply, per invocation (all interfaces locked, in name order, for the whole operation):
 * 1. Prepare, touching no interface: resolve every interface (a missing one fails the
 *    apply), load the ruleset once per interface (a verifier refusal fails the apply), fill
 *    its maps with the host configuration and the rules, pin it as a new generation.
 * 2. Switch: each attach point swaps to the new program in one kernel operation — tc
 *    `bpf_tc_attach` with BPF_TC_F_REPLACE on rejectc's filter (handle/priority), XDP
 *    `bpf_xdp_attach` with REPLACE and the expected old program. Every packet is judged by
 *    the old program or by the new one, never by both or neither. If any step fails, every
 *    step already done is undone in reverse order, so the interfaces are as they were.
 * 3. Commit: counters of the old ruleset are carried over by rule identity into the state
 *    file (stats adds them), the state is written, the old generation's pins are removed.
 *
 * Detach removes only what the state file says rejectc attached, and only if it is still
 * what is attached (another tool may have replaced it meanwhile).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Hook, RulesetArtifact } from './artifact.js';
import { carryOver, readCounterSlots } from './counters.js';
import { LibbpfError } from './errors.js';
import type { HostConfig } from './host-config.js';
import { readHostConfig } from './host-config.js';
import { loadArtifact, type LoadedRuleset } from './load-artifact.js';
import { withInterfaceLock } from './lock.js';
import type { BpfMap } from './map.js';
import { ifindexOf, findIfindex } from './netns.js';
import {
  generationDir,
  interfacePinDir,
  openGenerationMap,
  openSharedMaps,
  pinGeneration,
  pinSharedMaps,
  removeGeneration,
} from './pins.js';
import { BpfProgram } from './program.js';
import { type InterfaceState, type TcFilterState, readState, removeState, writeState } from './state.js';
import { attachTc, detachTc, queryTc, removeClsactIfUnused, type TcDirection } from './tc.js';
import { attachXdp, defaultXdpMode, detachXdp, queryXdp, type XdpMode } from './xdp.js';
import { existsSync, rmSync } from 'node:fs';
import { pinDirOf, physicalPinPath } from './bpffs.js';

/** tc filter handle rejectc uses ('R'). */
export const TC_HANDLE = 0x52;
/** tc filter priority rejectc uses: first, before other filters of the clsact qdisc. */
export const TC_PRIORITY = 1;

/** Options of {@link applyArtifact}. */
export interface ApplyOptions {
  ifnames: readonly string[];
  /** XDP mode; default: the one already in use, else generic on veth and native elsewhere. */
  xdpMode?: XdpMode;
  /** Where a refused program's verifier log is saved (default: a new /tmp directory). */
  verifierLogDir?: string;
  /** Host configuration (default: read from the calling thread's namespace). */
  hostConfig?: HostConfig;
  /** Progress messages (the CLI prints them on stderr). */
  log?: (line: string) => void;
}

/** What {@link applyArtifact} did on one interface. */
export interface ApplyOutcome {
  ifname: string;
  ifindex: number;
  action: 'attached' | 'replaced';
  hook: Hook;
  xdpMode?: XdpMode;
  /** Ids of the attached programs. */
  progIds: { ingress: number; egress?: number };
  generation: number;
  /** Pin directory (as the user sees it). */
  pinDir: string;
}

interface Prepared {
  ifname: string;
  ifindex: number;
  pinDir: string;
  old: InterfaceState | undefined;
  oldCounters: BpfMap | undefined;
  loaded: LoadedRuleset;
  generation: number;
  shared: Map<string, BpfMap>;
}

type Undo = { what: string; run: () => void };

/** Runs `fn` holding the locks of all `ifnames` (taken in name order, so never deadlocking). */
async function withLocks<T>(ifnames: readonly string[], fn: () => Promise<T>): Promise<T> {
  const sorted = [...new Set(ifnames)].sort();
  const take = async (i: number): Promise<T> => (i === sorted.length ? fn() : withInterfaceLock(sorted[i]!, () => take(i + 1)));
  return take(0);
}

/**
 * The recorded state of `ifname` if it still describes what is attached there; otherwise
 * (interface recreated, programs gone) the stale state and pins are removed and undefined
 * is returned. Filters or programs that are no longer ours are dropped from the state.
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
  return old?.counters ? openGenerationMap(pinDir, old.generation, old.counters.map) : undefined;
}

function prepare(artifact: RulesetArtifact, ifname: string, ifindex: number, options: ApplyOptions, host: HostConfig): Prepared {
  const old = liveState(ifname, ifindex);
  const pinDir = interfacePinDir(ifname);
  const generation = (old?.generation ?? 0) + 1;
  const shared = openSharedMaps(pinDir);
  let loaded: LoadedRuleset | undefined;
  try {
    loaded = loadArtifact(artifact, { hostConfig: host, reuse: shared, ...(options.verifierLogDir ? { verifierLogDir: options.verifierLogDir } : {}) });
    pinGeneration(pinDir, generation, loaded);
    return { ifname, ifindex, pinDir, old, oldCounters: openOldCounters(pinDir, old), loaded, generation, shared };
  } catch (err) {
    loaded?.obj.close();
    shared.forEach((m) => m.close());
    removeGeneration(pinDir, generation);
    throw err;
  }
}

function release(p: Prepared): void {
  p.loaded.obj.close();
  p.oldCounters?.close();
  p.shared.forEach((m) => m.close());
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

/** Swaps one interface to the prepared ruleset; pushes the undo of each step it does. */
function switchInterface(p: Prepared, options: ApplyOptions, undo: Undo[]): Pick<InterfaceState, 'tc' | 'xdp'> {
  const { ifindex, old, loaded } = p;
  const hook = loaded.artifact.hook;
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

  if (hook === 'tc') {
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

/**
 * Applies `artifact` to `options.ifnames` (see the module comment). Throws, with every
 * interface as it was, on a missing interface, a refused program or a failed attach.
 */
export async function applyArtifact(artifact: RulesetArtifact, options: ApplyOptions): Promise<ApplyOutcome[]> {
  const log = options.log ?? (() => {});
  const targets = options.ifnames.map((ifname) => ({ ifname, ifindex: ifindexOf(ifname) }));
  const host = options.hostConfig ?? readHostConfig();
  return withLocks(options.ifnames, async () => {
    const prepared: Prepared[] = [];
    try {
      for (const t of targets) prepared.push(prepare(artifact, t.ifname, t.ifindex, options, host));
    } catch (err) {
      prepared.forEach((p) => {
        release(p);
        removeGeneration(p.pinDir, p.generation);
      });
      throw err;
    }

    const undo: Undo[] = [];
    const attached: Array<Pick<InterfaceState, 'tc' | 'xdp'>> = [];
    try {
      for (const p of prepared) attached.push(switchInterface(p, options, undo));
    } catch (err) {
      undoAll(undo, log);
      prepared.forEach((p) => {
        release(p);
        removeGeneration(p.pinDir, p.generation);
      });
      throw err;
    }

    // The old programs may finish packets already in flight on other CPUs; let them, so
    // their last counts are read below.
    if (prepared.some((p) => p.oldCounters)) await sleep(20);
    const outcomes: ApplyOutcome[] = [];
    prepared.forEach((p, i) => {
      const { old, loaded, generation } = p;
      const slots = loaded.artifact.counters?.slots ?? [];
      const carried =
        old?.counters && p.oldCounters ? carryOver(old.carried, old.counters.slots, readCounterSlots(p.oldCounters, old.counters.slots), slots) : {};
      pinSharedMaps(p.pinDir, loaded);
      const state: InterfaceState = {
        version: 1,
        ifname: p.ifname,
        ifindex: p.ifindex,
        hook: artifact.hook,
        ...attached[i]!,
        generation,
        source: { file: artifact.source, appliedAt: new Date().toISOString(), shape: artifact.shape },
        ...(artifact.counters ? { counters: { map: artifact.counters.map, slots: [...artifact.counters.slots] } } : {}),
        carried,
        carriedReplies: old?.carriedReplies ?? [],
      };
      writeState(state);
      if (old) removeGeneration(p.pinDir, old.generation);
      release(p);
      const tcIn = state.tc?.filters.find((f) => f.direction === 'ingress');
      const tcOut = state.tc?.filters.find((f) => f.direction === 'egress');
      outcomes.push({
        ifname: p.ifname,
        ifindex: p.ifindex,
        action: old ? 'replaced' : 'attached',
        hook: artifact.hook,
        ...(state.xdp ? { xdpMode: state.xdp.mode } : {}),
        progIds: { ingress: state.xdp?.progId ?? tcIn!.progId, ...(tcOut ? { egress: tcOut.progId } : {}) },
        generation,
        pinDir: generationDir(pinDirOf(p.ifname), generation),
      });
      log(`rejectc: ${old ? 'replaced the ruleset on' : 'attached to'} ${p.ifname} (${artifact.hook}${state.xdp ? ` ${state.xdp.mode}` : ''})`);
    });
    return outcomes;
  });
}

/** What {@link detachInterface} did. */
export interface DetachOutcome {
  ifname: string;
  /** What was removed, e.g. `tc ingress filter`, `XDP program (generic)`, `pins`. */
  removed: string[];
  /** What was left because it is no longer rejectc's (replaced by another tool). */
  left: string[];
}

/**
 * Removes what rejectc attached to `ifname` and its pins and state. Filters or programs that
 * another tool replaced are left alone (reported in `left`). A vanished interface only gets
 * its pins and state removed (the kernel dropped its attachments).
 */
export async function detachInterface(ifname: string): Promise<DetachOutcome> {
  return withInterfaceLock(ifname, () => {
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
    if (state) removed.push('state');
    removeState(ifname);
    return { ifname, removed, left };
  });
}
