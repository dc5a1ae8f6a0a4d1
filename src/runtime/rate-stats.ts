/**
 * The rate-limit state of an interface's ruleset for `rejectc stats`: for each -m limit bucket
 * the packets it would let through now (its tokens refilled to this moment, with the kernel's
 * arithmetic) out of its burst, and for each hashlimit table the flows it holds. Read from
 * the namespace's state maps (./rate-slots.ts) at the slots the interface's state records:
 * one lookup per object.
 */
import { LIMIT_LAYOUT, HASHLIMIT_TABLE_LAYOUT, LIMIT_MAPS } from '../model/limits/bpf-layout.js';
import { BpfMap, u32 } from './map.js';
import { jiffiesNow } from './host-config.js';
import { namespaceMapDir } from './ns-maps.js';
import type { RateRecord } from './rate-slots.js';
import { existsSync } from 'node:fs';

/** One -m limit bucket. */
export interface LimitStats {
  /** Where the rule is (its text, file:line; the copy of a multi-address rule). */
  where: string;
  /** nft (iptables-nft's limit, ns) or xt (xt_limit, jiffies). */
  algo: 'nft' | 'xt';
  /** Packets the bucket lets through now (null when the clock it counts in cannot be read). */
  available: number | null;
  /** Packets the bucket holds when full (the burst). */
  burst: number;
}

/** One hashlimit table. */
export interface TableStats {
  where: string;
  flows: number;
  /** Flows the table holds at most (new flows beyond are dropped). */
  max: number;
}

export interface RateStats {
  limits: LimitStats[];
  tables: TableStats[];
}

const L = Object.fromEntries(LIMIT_LAYOUT.fields.map((f) => [f.name, f.offset])) as Record<string, number>;
const T = Object.fromEntries(HASHLIMIT_TABLE_LAYOUT.fields.map((f) => [f.name, f.offset])) as Record<string, number>;

/** Tokens of a bucket value refilled to now, as rjc_limit_step() would before spending; null without a clock. */
function tokensNow(v: Buffer, nowNs: bigint, nowJiffies: bigint | undefined): bigint | null {
  const cap = v.readBigUInt64LE(L.cap!);
  if (v.readUInt32LE(L.started!) === 0) return cap;
  const last = v.readBigUInt64LE(L.last!);
  const tokens = v.readBigUInt64LE(L.tokens!);
  if (v.readUInt32LE(L.algo!) === 1) {
    const t = tokens + (nowNs > last ? nowNs - last : 0n);
    return t > cap ? cap : t;
  }
  if (nowJiffies === undefined) return null;
  // xt_limit: a u32 refill and a u32 credit.
  const inc = BigInt.asUintN(32, (nowJiffies > last ? nowJiffies - last : 0n) * BigInt(v.readUInt32LE(L.cpj!)));
  const c = BigInt.asUintN(32, tokens + inc);
  return c > cap ? cap : c;
}

/** The state of `records` in the namespace of interface pin directory `pinDir`; undefined when there is none. */
export function readRateStats(records: readonly RateRecord[] | undefined, pinDir: string): RateStats | undefined {
  if (!records?.length) return undefined;
  const dir = namespaceMapDir(pinDir);
  const open = (name: string) => (existsSync(`${dir}/${name}`) ? BpfMap.openPinned(`${dir}/${name}`) : undefined);
  const limits = open(LIMIT_MAPS.limits);
  const tables = open(LIMIT_MAPS.hashlimitTables);
  try {
    const nowNs = process.hrtime.bigint(); // CLOCK_MONOTONIC, as bpf_ktime_get_ns()
    const j = jiffiesNow();
    const out: RateStats = { limits: [], tables: [] };
    for (const r of records) {
      const v = (r.kind === 'limit' ? limits : tables)?.lookup(u32(r.slot));
      if (!v) continue;
      if (r.kind === 'limit') {
        const cost = v.readBigUInt64LE(L.cost!);
        if (cost === 0n) continue;
        const t = tokensNow(v, nowNs, j === undefined ? undefined : BigInt(j));
        out.limits.push({ where: r.where ?? r.identity, algo: v.readUInt32LE(L.algo!) === 1 ? 'nft' : 'xt', available: t === null ? null : Number(t / cost), burst: Number(v.readBigUInt64LE(L.cap!) / cost) });
      } else {
        out.tables.push({ where: r.where ?? r.identity, flows: Number(v.readBigUInt64LE(T.count!)), max: v.readUInt32LE(T.max!) });
      }
    }
    return out;
  } finally {
    limits?.close();
    tables?.close();
  }
}

/** The lines `rejectc stats` prints for the rate limits. */
export function formatRateStats(s: RateStats): string[] {
  const lines: string[] = [];
  if (s.limits.length > 0) {
    lines.push('', 'Rate limits (-m limit: packets the bucket lets through now / its burst)');
    for (const l of s.limits) lines.push(` ${String(l.available ?? '?').padStart(8)} / ${String(l.burst).padEnd(6)} ${l.where}`);
  }
  if (s.tables.length > 0) {
    lines.push('', 'Hashlimit tables (flows / at most)');
    for (const t of s.tables) lines.push(` ${String(t.flows).padStart(8)} / ${String(t.max).padEnd(6)} ${t.where}`);
  }
  return lines;
}
