/**
 * Counters of the ruleset rejectc applied to an interface: per rule and per chain policy
 * (live counters of the current generation plus what earlier generations carried over), and
 * replies sent by kind and suppressed by reason. Formatting follows `iptables -L -v -n`.
 */
import { existsSync } from 'node:fs';
import { REPLY_STATS_ENTRIES, summarizeReplyStats, type ReplyStats } from '../layout/index.js';
import { LIMIT_MAPS, summarizeBudgetStats, type BudgetStats } from '../model/limits/bpf-layout.js';
import { UserError } from '../errors.js';
import type { CounterSlot, Hook, IpFamily } from './artifact.js';
import { slotIdentities } from './artifact.js';
import { physicalPinPath, pinDirOf } from './bpffs.js';
import { readCounterSlots, zeroCounterMap } from './counters.js';
import { withInterfaceLock } from './lock.js';
import { BpfMap, u32 } from './map.js';
import { findIfindex } from './netns.js';
import { openInstanceMap } from './pins.js';
import { type InterfaceState, type PacketCount, readState, writeState } from './state.js';
import { formatRateStats, readRateStats, type RateStats } from './rate-stats.js';

/** One rule's counters. */
export interface RuleStats extends PacketCount {
  file: string;
  line: number;
  text: string;
  target: string;
  /** Which copy (0-based) of a multi-address rule, and how many there are. */
  expansion?: number;
  expansions?: number;
}

/** One chain: its policy counters (built-in chains) and its rules in source order. */
export interface ChainStats {
  family: IpFamily;
  chain: string;
  policy?: 'ACCEPT' | 'DROP';
  policyCount?: PacketCount;
  rules: RuleStats[];
}

/** Everything `rejectc stats` shows for an interface. */
export interface InterfaceStats {
  ifname: string;
  hook: Hook;
  source: string;
  appliedAt: string;
  /** Program instance and active generation (diagnostics). */
  instance: number;
  gen: 0 | 1;
  chains: ChainStats[];
  replies: ReplyStats;
  /** Reply budget outcomes per kind (sent, refused by the global or the per-source bucket), when the program has a budget. */
  budget?: BudgetStats;
  /** -m limit buckets and hashlimit tables of the ruleset, when it has some. */
  rateLimits?: RateStats;
}

function targetOf(slot: CounterSlot): string {
  if (slot.target !== undefined) return slot.target;
  const m = /\s-[jg]\s+(\S+)/.exec(` ${slot.rule?.text ?? ''}`);
  return m ? m[1]! : '';
}

const BUILTIN_ORDER = ['INPUT', 'FORWARD', 'OUTPUT'];
const chainRank = (c: ChainStats) => {
  const i = BUILTIN_ORDER.indexOf(c.chain);
  return (c.family === 'ipv4' ? 0 : 1000) + (i < 0 ? BUILTIN_ORDER.length : i);
};

/**
 * Groups slots and their totals into chains — per family (IPv4 first) the built-in chains in
 * the kernel's order, then user chains in order of appearance — and rules in source order.
 */
export function groupStats(slots: readonly CounterSlot[], totals: Readonly<Record<string, PacketCount>>): ChainStats[] {
  const ids = slotIdentities(slots);
  const chains = new Map<string, ChainStats>();
  const seen = new Set<string>();
  slots.forEach((slot, i) => {
    const key = `${slot.family}|${slot.chain}`;
    let chain = chains.get(key);
    if (!chain) {
      chain = { family: slot.family, chain: slot.chain, rules: [] };
      chains.set(key, chain);
    }
    const id = ids[i]!;
    if (seen.has(id)) return;
    seen.add(id);
    const count = totals[id] ?? { packets: 0, bytes: 0 };
    if (slot.kind === 'policy') {
      chain.policy = slot.policy ?? 'ACCEPT';
      chain.policyCount = { ...count };
    } else if (slot.rule) {
      chain.rules.push({
        file: slot.rule.file,
        line: slot.rule.line,
        text: slot.rule.text,
        target: targetOf(slot),
        ...(slot.expansions ? { expansion: slot.expansion ?? 0, expansions: slot.expansions } : {}),
        ...count,
      });
    }
  });
  const order = (a: RuleStats, b: RuleStats) =>
    a.file !== b.file ? (a.file < b.file ? -1 : 1) : a.line !== b.line ? a.line - b.line : (a.expansion ?? 0) - (b.expansion ?? 0);
  for (const c of chains.values()) c.rules.sort(order);
  // Array.prototype.sort is stable: user chains keep their order of appearance.
  return [...chains.values()].sort((a, b) => chainRank(a) - chainRank(b));
}

function requireState(ifname: string): InterfaceState {
  const state = readState(ifname);
  if (!state || findIfindex(ifname) !== state.ifindex) throw new UserError(`rejectc has no ruleset on ${ifname} (apply one with "rejectc apply RULES --dev ${ifname}")`);
  return state;
}

/** Opens a shared map pinned beside the instances (./pins.ts), if it is there. */
function openShared(pinDir: string, name: string): BpfMap | undefined {
  const path = `${pinDir}/${name}`;
  return existsSync(path) ? BpfMap.openPinned(path) : undefined;
}

/** Totals of a per-CPU u64 array's first `n` entries (plus `carried`). */
function perCpuTotals(map: BpfMap | undefined, n: number, carried: readonly number[] = []): number[] {
  return Array.from({ length: n }, (_, i) => {
    let sum = carried[i] ?? 0;
    if (map && i < map.maxEntries) for (const v of map.lookupPerCpu(u32(i)) ?? []) sum += Number(Buffer.from(v).readBigUInt64LE(0));
    return sum;
  });
}

/** Runs `fn` on the shared map `name` (undefined when not pinned), closing it after. */
function withShared<T>(pinDir: string, name: string, fn: (map: BpfMap | undefined) => T): T {
  const map = openShared(pinDir, name);
  try {
    return fn(map);
  } finally {
    map?.close();
  }
}

/**
 * Reads the counters of `ifname` (live + carried over). Throws {@link UserError} when rejectc
 * has no ruleset on it.
 */
export function readInterfaceStats(ifname: string): InterfaceStats {
  const state = requireState(ifname);
  const pinDir = physicalPinPath(pinDirOf(ifname));
  const totals: Record<string, PacketCount> = structuredClone(state.carried);
  const slots = state.counters?.slots ?? [];
  if (state.counters) {
    const map = openInstanceMap(pinDir, state.instance, state.counters.map);
    if (map) {
      try {
        const live = readCounterSlots(map, slots);
        slotIdentities(slots).forEach((id, i) => {
          const acc = (totals[id] ??= { packets: 0, bytes: 0 });
          acc.packets += live[i]!.packets;
          acc.bytes += live[i]!.bytes;
        });
      } finally {
        map.close();
      }
    }
  }
  const replies = withShared(pinDir, 'rjc_reply_stats', (m) => summarizeReplyStats(perCpuTotals(m, REPLY_STATS_ENTRIES, state.carriedReplies)));
  const budget = withShared(pinDir, LIMIT_MAPS.budgetStats, (m) => (m ? summarizeBudgetStats(perCpuTotals(m, m.maxEntries)) : undefined));
  const rateLimits = readRateStats(state.rates, pinDir);
  return {
    ifname,
    hook: state.hook,
    source: state.source.file,
    appliedAt: state.source.appliedAt,
    instance: state.instance,
    gen: state.gen,
    chains: groupStats(slots, totals),
    replies,
    ...(budget ? { budget } : {}),
    ...(rateLimits ? { rateLimits } : {}),
  };
}

/** Zeroes every counter of `ifname` (live maps and carried counts), under its lock. */
export async function zeroInterfaceStats(ifname: string): Promise<void> {
  await withInterfaceLock(ifname, () => {
    const state = requireState(ifname);
    const pinDir = physicalPinPath(pinDirOf(ifname));
    if (state.counters) {
      const map = openInstanceMap(pinDir, state.instance, state.counters.map);
      try {
        if (map) zeroCounterMap(map, state.counters.slots);
      } finally {
        map?.close();
      }
    }
    for (const name of ['rjc_reply_stats', LIMIT_MAPS.budgetStats]) {
      withShared(pinDir, name, (m) => {
        for (let i = 0; m && i < m.maxEntries; i++) m.updatePerCpu(u32(i), Buffer.alloc(m.valueSize));
      });
    }
    writeState({ ...state, carried: {}, carriedReplies: [] });
  });
}

/** A count as `iptables -L -v` prints it without `-x`: up to 99999 as is, then K, M, G, T. */
export function formatCount(n: number): string {
  if (n <= 99999) return String(n);
  let v = n;
  for (const unit of ['K', 'M', 'G', 'T']) {
    v = Math.floor((v + 500) / 1000);
    if (v <= 9999 || unit === 'T') return `${v}${unit}`;
  }
  return String(n);
}

/**
 * The stats in the layout of `iptables -L -v -n`: per family and chain a header with the
 * policy and its counters, then one line per rule with packets, bytes, target, the rule text
 * and file:line; then replies sent by kind and suppressed by reason. `exact` prints exact
 * numbers (like `-x`).
 */
export function formatStats(stats: InterfaceStats, exact = false): string {
  const num = (n: number, width: number) => (exact ? String(n) : formatCount(n)).padStart(width);
  const lines: string[] = [`# ${stats.ifname}: ${stats.source} (${stats.hook}, applied ${stats.appliedAt})`];
  let family: IpFamily | undefined;
  for (const c of stats.chains) {
    if (c.family !== family) {
      family = c.family;
      lines.push('', `# ${family === 'ipv4' ? 'iptables' : 'ip6tables'}`);
    } else {
      lines.push('');
    }
    lines.push(
      c.policy
        ? `Chain ${c.chain} (policy ${c.policy} ${c.policyCount?.packets ?? 0} packets, ${c.policyCount?.bytes ?? 0} bytes)`
        : `Chain ${c.chain}`,
    );
    lines.push(` ${'pkts'.padStart(5)} ${'bytes'.padStart(5)} ${'target'.padEnd(10)} rule`);
    for (const r of c.rules) {
      const copy = r.expansions ? `, address ${(r.expansion ?? 0) + 1} of ${r.expansions}` : '';
      lines.push(` ${num(r.packets, 5)} ${num(r.bytes, 5)} ${r.target.padEnd(10)} ${r.text}  (${r.file}:${r.line}${copy})`);
    }
  }
  if (stats.rateLimits) lines.push(...formatRateStats(stats.rateLimits));
  lines.push('', 'Replies sent');
  for (const [kind, n] of Object.entries(stats.replies.sent)) lines.push(` ${num(n, 8)} ${kind}`);
  if (stats.budget) {
    lines.push('', 'Reply budget (sent / refused by the global bucket / refused by the per-source bucket)');
    for (const [kind, b] of Object.entries(stats.budget)) lines.push(` ${num(b.sent, 8)} ${num(b.global, 8)} ${num(b.peer, 8)} ${kind}`);
  }
  lines.push('', 'Replies suppressed (the packet was dropped without a reply)');
  for (const [reason, n] of Object.entries(stats.replies.suppressed)) if (n > 0 || exact) lines.push(` ${num(n, 8)} ${reason}`);
  if (Object.values(stats.replies.suppressed).every((n) => n === 0) && !exact) lines.push('        0 (none)');
  return `${lines.join('\n')}\n`;
}
