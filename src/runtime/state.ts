/**
 * What rejectc has put on an interface, remembered between invocations.
 *
 * - `/run/rejectc/<scope>/<ifname>/state.json`: this file's {@link InterfaceState} (written
 *   atomically: temporary file + rename), for `apply` (replace), `stats` and `detach`.
 * - `/sys/fs/bpf/rejectc/<scope>/<ifname>/`: the pins (./pins.ts); `p<N>/` holds the maps
 *   and programs of program instance N, and maps shared across instances sit beside it.
 *
 * `<scope>` is empty for the initial network namespace and `netns:<name>` otherwise
 * (./netns.ts), because interface names are only unique within a namespace.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { CounterSlot, Hook } from './artifact.js';
import type { RateRecord } from './rate-slots.js';
import { checkIfname, netnsScope } from './netns.js';
import type { TcDirection } from './tc.js';
import type { XdpMode } from './xdp.js';

/** Where rejectc keeps state files and locks. */
export const STATE_ROOT = '/run/rejectc';

/** Packets and bytes (JSON-safe: numbers; counters stay far below 2^53 in practice). */
export interface PacketCount {
  packets: number;
  bytes: number;
}

/** A tc filter rejectc attached. */
export interface TcFilterState {
  direction: TcDirection;
  handle: number;
  priority: number;
  progId: number;
}

/** The state of one interface. */
export interface InterfaceState {
  version: 1;
  ifname: string;
  /** The ifindex when applied: a different one now means the interface was recreated. */
  ifindex: number;
  hook: Hook;
  tc?: {
    /** True when rejectc created the clsact qdisc (then detach may remove it when empty). */
    createdQdisc: boolean;
    filters: TcFilterState[];
  };
  xdp?: { mode: XdpMode; progId: number };
  /** Program instance: its pins live in `<pin dir>/p<instance>/`. */
  instance: number;
  /** The active generation of the ruleset maps (rjc_gen), for compiled rulesets. */
  gen: 0 | 1;
  /** When rjc_gen was last flipped (ms since the epoch), 0 if never. */
  flippedAt: number;
  source: { file: string; appliedAt: string; shape: string };
  /** The counter map's name and slots of the applied ruleset. */
  counters?: { map: string; slots: CounterSlot[] };
  /**
   * Counts carried over from replaced rulesets and not in the live maps, by slot identity
   * (see slotIdentities in ./artifact.ts); `stats` adds them to the live counters.
   */
  carried: Record<string, PacketCount>;
  /** Replies sent/suppressed carried over when the reply statistics map could not be reused. */
  carriedReplies: number[];
  /** The active ruleset's -m limit buckets and hashlimit tables in the namespace's state maps (./rate-slots.ts). */
  rates?: RateRecord[];
}

/** The state directory of interface `ifname` in the calling thread's network namespace. */
export function stateDirOf(ifname: string): string {
  checkIfname(ifname);
  const scope = netnsScope();
  return scope ? `${STATE_ROOT}/${scope}/${ifname}` : `${STATE_ROOT}/${ifname}`;
}

const stateFile = (ifname: string) => `${stateDirOf(ifname)}/state.json`;

/** The state of `ifname`, or undefined when rejectc has nothing recorded there. */
export function readState(ifname: string): InterfaceState | undefined {
  const path = stateFile(ifname);
  if (!existsSync(path)) return undefined;
  const state = JSON.parse(readFileSync(path, 'utf8')) as InterfaceState;
  return state.version === 1 ? state : undefined;
}

/** Writes the state of `ifname` atomically. */
export function writeState(state: InterfaceState): void {
  const dir = stateDirOf(state.ifname);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${dir}/state.json.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, stateFile(state.ifname));
}

/** Removes the state of `ifname` (idempotent). */
export function removeState(ifname: string): void {
  rmSync(stateDirOf(ifname), { recursive: true, force: true });
}
