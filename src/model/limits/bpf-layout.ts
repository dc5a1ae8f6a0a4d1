/**
 * The map values of bpf/rjc_limit.h that userspace writes, described once (with the
 * struct language of src/layout/struct.ts) and encoded from the model's parameters. The
 * `_Static_assert` lines of rjc_limit.h are `limitStaticAsserts()` of these definitions;
 * test/limits-bpf.test.ts checks that they are all there, so C and TypeScript cannot drift.
 *
 * State fields (spin locks, timers, counters) are part of the values too: userspace writes
 * them as zero, which means "fresh" to the program.
 */
import { encodeStruct, layoutStruct, type StructDef, type StructLayout } from '../../layout/struct.js';
import type { HashlimitTableParams } from './hashlimit-config.js';
import type { LimitParams } from './limit-match.js';
import { REPLY_KINDS, REPLY_KIND_INDEX, type ReplyBudgetParams, type ReplyKind } from './reply-budget.js';

/** `struct rjc_limit`: one -m limit match, config then state. */
export const LIMIT_STRUCT: StructDef = {
  name: 'rjc_limit',
  doc: 'One -m limit match (rjc_limits, index = limit id): config written by userspace, state by the program.',
  fields: [
    { name: 'algo', type: 'u32', doc: 'RJC_LIMIT_NFT (1) or RJC_LIMIT_XT (2); 0 never matches' },
    { name: 'cpj', type: 'u32', doc: 'xt_limit: CREDITS_PER_JIFFY' },
    { name: 'cost', type: 'u64', doc: 'nft: ns per packet; xt: credits per packet' },
    { name: 'cap', type: 'u64', doc: 'nft: tokens_max; xt: credit_cap' },
    { name: 'lock', type: 'u32', doc: 'struct bpf_spin_lock (zero)' },
    { name: 'started', type: 'u32', doc: 'state: 0 until the first packet' },
    { name: 'last', type: 'u64', doc: 'state: nft ns / xt jiffies of the last packet' },
    { name: 'tokens', type: 'u64', doc: 'state: tokens (nft) or credit (xt)' },
  ],
};

/** `struct rjc_hashlimit_cfg`: a table's configuration (C: the `cfg` member of the table). */
export const HASHLIMIT_CFG_STRUCT: StructDef = {
  name: 'rjc_hashlimit_cfg',
  doc: 'A hashlimit table as its creating rule configured it.',
  fields: [
    { name: 'mode', type: 'u32', doc: 'XT_HASHLIMIT_* bits of the creating rule' },
    { name: 'max', type: 'u32', doc: 'entries at most' },
    { name: 'srcmask', type: 'u8', count: 16, doc: 'source address mask, network order' },
    { name: 'dstmask', type: 'u8', count: 16, doc: 'destination address mask, network order' },
    { name: 'expire', type: 'u64', doc: 'jiffies an idle flow lives' },
    { name: 'gc_interval', type: 'u64', doc: 'ns between garbage collections' },
    { name: 'cpj', type: 'u64', doc: 'credits per jiffy (packets: 64-bit CPJ; bytes: CPJ_B)' },
    { name: 'credit', type: 'u64', doc: 'a new flow\'s credit' },
    { name: 'credit_cap', type: 'u64', doc: 'packets: the cap; bytes: refills allowed' },
    { name: 'cost', type: 'u64', doc: 'credits per packet (bytes: per 16-byte chunk)' },
    { name: 'full', type: 'u64', doc: 'bytes: CPJ_B * HZ' },
    { name: 'rate', type: 'u64', doc: 'rate-match: rate' },
    { name: 'burst', type: 'u64', doc: 'rate-match: burst (s64 bit pattern)' },
    { name: 'interval', type: 'u64', doc: 'rate-match: interval in jiffies' },
  ],
};

/** `struct rjc_hashlimit_table`: config followed by state. */
export const HASHLIMIT_TABLE_STRUCT: StructDef = {
  name: 'rjc_hashlimit_table',
  doc: 'A hashlimit table (rjc_hl_tables, index = table id).',
  fields: [
    ...HASHLIMIT_CFG_STRUCT.fields,
    { name: 'count', type: 'u64', doc: 'state: flows in the table' },
    { name: 'gc_armed', type: 'u64', doc: 'state: GC timer started' },
    { name: 'gc', type: 'u64', count: 2, doc: 'struct bpf_timer (zero)' },
  ],
};

/** `struct rjc_budget_cfg`: one reply kind's budget. */
export const BUDGET_CFG_STRUCT: StructDef = {
  name: 'rjc_budget_cfg',
  doc: 'One reply kind\'s budget (rjc_budget_cfg, index = RJC_BUDGET_RST/ICMP/ICMP6).',
  fields: [
    { name: 'limited', type: 'u32', doc: '0: never limited' },
    { name: 'global_slot', type: 'u32', doc: 'global bucket index' },
    { name: 'msgs_per_sec', type: 'u32', doc: 'global refill per second' },
    { name: 'msgs_burst', type: 'u32', doc: 'global bucket size' },
    { name: 'hz', type: 'u32', doc: 'CONFIG_HZ' },
    { name: 'peer_timeout', type: 'u32', doc: 'jiffies per reply in a peer bucket; 0: no peer bucket' },
    { name: 'peer_burst', type: 'u32', doc: 'replies a peer bucket holds' },
    { name: 'consume_random', type: 'u32', doc: '1: 0..2 credits per reply; 0: exactly 1' },
  ],
};

export const LIMIT_LAYOUT: StructLayout = layoutStruct(LIMIT_STRUCT);
export const HASHLIMIT_TABLE_LAYOUT: StructLayout = layoutStruct(HASHLIMIT_TABLE_STRUCT);
export const BUDGET_CFG_LAYOUT: StructLayout = layoutStruct(BUDGET_CFG_STRUCT);

/** Map names of rjc_limit.h (for the manifest and the runtime). */
export const LIMIT_MAPS = {
  limits: 'rjc_limits',
  hashlimitTables: 'rjc_hl_tables',
  hashlimitEntries: 'rjc_hl_entries',
  budgetCfg: 'rjc_budget_cfg',
  budgetGlobal: 'rjc_budget_glob',
  budgetPeers: 'rjc_budget_peers',
  budgetStats: 'rjc_budget_stats',
} as const;

/** rjc_reply_budget() results, the second index of rjc_budget_stats. */
export const BUDGET_RESULTS = ['sent', 'global', 'peer'] as const;

/** The C path of a field in its struct (the table's config is the nested `cfg`). */
function cPath(def: StructDef, field: string): string {
  if (def === HASHLIMIT_TABLE_STRUCT && HASHLIMIT_CFG_STRUCT.fields.some((f) => f.name === field)) return `cfg.${field}`;
  return field;
}

/** The `_Static_assert` lines rjc_limit.h must carry for the layouts above. */
export function limitStaticAsserts(): string[] {
  const out: string[] = [];
  for (const layout of [LIMIT_LAYOUT, HASHLIMIT_TABLE_LAYOUT, BUDGET_CFG_LAYOUT]) {
    const name = layout.def.name;
    out.push(`_Static_assert(sizeof(struct ${name}) == ${layout.size}, "src/model/limits/bpf-layout.ts size of ${name}");`);
    for (const f of layout.fields) {
      out.push(
        `_Static_assert(__builtin_offsetof(struct ${name}, ${cPath(layout.def, f.name)}) == ${f.offset}, "src/model/limits/bpf-layout.ts offset of ${name}.${f.name}");`,
      );
    }
  }
  return out;
}

/** The value of rjc_limits for one -m limit match (fresh state). */
export function encodeLimit(p: LimitParams): Buffer {
  if (p.kind === 'nft-limit') return encodeStruct(LIMIT_LAYOUT, { algo: 1, cost: p.cost, cap: p.tokensMax });
  return encodeStruct(LIMIT_LAYOUT, { algo: 2, cpj: p.cpj, cost: BigInt(p.cost), cap: BigInt(p.creditCap) });
}

/** A prefix as a 16-byte network-order mask (IPv4 prefixes fill the first 4 bytes). */
function maskBytes(prefix: number): number[] {
  return Array.from({ length: 16 }, (_, i) => (0xff << (8 - Math.max(0, Math.min(8, prefix - i * 8)))) & 0xff);
}

/** The value of rjc_hl_tables for one table (fresh state: no flows, GC not started). */
export function encodeHashlimitTable(p: HashlimitTableParams): Buffer {
  const b = p.bucket;
  const v: Record<string, bigint | number | number[]> = {
    mode: p.mode,
    max: p.max,
    srcmask: maskBytes(p.srcmask),
    dstmask: maskBytes(p.dstmask),
    expire: p.expireJiffies,
    gc_interval: BigInt(p.gcIntervalMs) * 1_000_000n,
  };
  if (b.kind === 'packets') Object.assign(v, { cpj: b.cpj, credit: b.creditCap, credit_cap: b.creditCap, cost: b.cost });
  else if (b.kind === 'bytes') Object.assign(v, { cpj: b.cpj, credit: b.full, credit_cap: b.refills, cost: b.cost, full: b.full });
  else Object.assign(v, { rate: b.rate, burst: BigInt.asUintN(64, b.burst), interval: b.intervalJiffies });
  return encodeStruct(HASHLIMIT_TABLE_LAYOUT, v);
}

/** The value of rjc_budget_cfg for one kind. */
export function encodeBudgetCfg(p: ReplyBudgetParams, kind: ReplyKind): Buffer {
  const k = p.kinds[kind];
  return encodeStruct(BUDGET_CFG_LAYOUT, {
    limited: k.limited ? 1 : 0,
    global_slot: k.globalSlot,
    msgs_per_sec: k.msgsPerSec,
    msgs_burst: k.msgsBurst,
    hz: p.hz,
    peer_timeout: k.peerTimeout,
    peer_burst: k.peerBurst,
    consume_random: k.consume === 'random' ? 1 : 0,
  });
}

/** All three budget entries, by map index. */
export function encodeBudget(p: ReplyBudgetParams): { index: number; value: Buffer }[] {
  return REPLY_KINDS.map((kind) => ({ index: REPLY_KIND_INDEX[kind], value: encodeBudgetCfg(p, kind) }));
}

/** The rjc_hl_tables entries of a plan: table id → value (fresh state). */
export function encodeHashlimitTables(tables: readonly { id: number; params: HashlimitTableParams }[]): { index: number; value: Buffer }[] {
  return tables.map((t) => ({ index: t.id, value: encodeHashlimitTable(t.params) }));
}

/** Size of rjc_hl_entries for a set of tables: their maxima, plus a little room for races. */
export function hashlimitEntriesSize(tables: readonly { params: HashlimitTableParams }[]): number {
  return Math.max(1, tables.reduce((n, t) => n + t.params.max, 0) + 64);
}

/** Reply budget outcomes per kind, as `rejectc stats` shows them. */
export type BudgetStats = Record<ReplyKind, Record<(typeof BUDGET_RESULTS)[number], number>>;

/**
 * Names the counters of rjc_budget_stats. `perIndex` holds one total per map index (summed
 * over CPUs): index kind * 3 + result, kinds in REPLY_KIND_INDEX order.
 */
export function summarizeBudgetStats(perIndex: readonly (number | bigint)[]): BudgetStats {
  const out = {} as BudgetStats;
  for (const kind of REPLY_KINDS) {
    const base = REPLY_KIND_INDEX[kind] * BUDGET_RESULTS.length;
    out[kind] = { sent: 0, global: 0, peer: 0 };
    BUDGET_RESULTS.forEach((r, i) => (out[kind][r] = Number(perIndex[base + i] ?? 0)));
  }
  return out;
}
