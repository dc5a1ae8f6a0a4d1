/**
 * One hashlimit table with its entries: `hashlimit_mt_common`, `rateinfo_recalc`,
 * `hashlimit_byte_cost` and the garbage collector (`htable_selective_cleanup` with `select_gc`)
 * of net/netfilter/xt_hashlimit.c, revision 3. Time is jiffies (bigint, unsigned long).
 */
import { HL_MODE, XT_HASHLIMIT_BYTE_SHIFT, type HashlimitBucketParams, type HashlimitTableParams } from './hashlimit-config.js';
import { hashlimitKey, keyString, type HashlimitKey, type HashlimitPacket } from './hashlimit-key.js';
import { u64 } from './kernel-constants.js';

/** One flow's bucket (`struct dsthash_ent` without the list plumbing). All u64. */
export interface HashlimitEntry {
  key: HashlimitKey;
  expires: bigint;
  prev: bigint;
  /** Packet/byte modes. */
  credit: bigint;
  creditCap: bigint;
  cost: bigint;
  /** Rate-match mode. */
  prevWindow: boolean;
  currentRate: bigint;
}

/** The outcome of one packet: the match's result, or the kernel's hotdrop (packet dropped). */
export type HashlimitResult = 'match' | 'nomatch' | 'hotdrop';

/** `rateinfo_init`: a fresh entry's bucket. */
function initEntry(key: HashlimitKey, b: HashlimitBucketParams, now: bigint, expires: bigint): HashlimitEntry {
  const e: HashlimitEntry = { key, expires, prev: now, credit: 0n, creditCap: 0n, cost: 0n, prevWindow: false, currentRate: 0n };
  if (b.kind === 'packets') {
    e.credit = b.creditCap;
    e.creditCap = b.creditCap;
    e.cost = b.cost;
  } else if (b.kind === 'bytes') {
    e.credit = b.full;
    e.cost = b.cost;
    e.creditCap = b.refills;
  }
  return e;
}

/** `rateinfo_recalc` for the table's mode. */
function recalc(e: HashlimitEntry, b: HashlimitBucketParams, now: bigint): void {
  const delta = u64(now - e.prev);
  if (delta === 0n) return;
  if (b.kind === 'rate') {
    if (delta < b.intervalJiffies) return;
    e.prev = now;
    e.prevWindow = u64(e.currentRate * b.intervalJiffies) > u64(delta * b.rate);
    e.currentRate = 0n;
    return;
  }
  e.prev = now;
  let cap: bigint;
  if (b.kind === 'bytes') {
    const old = e.credit;
    e.credit = u64(e.credit + u64(b.cpj * delta));
    cap = b.full;
    if (old >= e.credit) {
      e.credit = cap; // wrapped
      return;
    }
  } else {
    e.credit = u64(e.credit + u64(delta * b.cpj));
    cap = e.creditCap;
  }
  if (e.credit > cap) e.credit = cap;
}

/** `hashlimit_byte_cost`: a packet's cost in byte mode; refills an empty bucket if allowed. */
function byteCost(e: HashlimitEntry, len: number, full: bigint): bigint {
  let tmp = u64(BigInt((len >>> XT_HASHLIMIT_BYTE_SHIFT) + 1) * e.cost);
  if (tmp > full) tmp = full;
  if (e.credit < tmp && e.creditCap !== 0n) {
    e.creditCap -= 1n;
    e.credit = full;
  }
  return BigInt.asUintN(32, tmp);
}

/**
 * A hashlimit table. Entries live until the garbage collector removes them after they expire;
 * `gc(now)` runs one collection (the kernel runs it every `gcIntervalMs`, deferrably).
 */
export class HashlimitTable {
  private readonly entries = new Map<string, HashlimitEntry>();

  constructor(readonly params: HashlimitTableParams) {}

  get count(): number {
    return this.entries.size;
  }

  /** The entry a key maps to, for inspection. */
  entry(key: HashlimitKey): HashlimitEntry | undefined {
    return this.entries.get(keyString(key));
  }

  /**
   * One packet through a rule whose own mode bits are `ruleMode` (its INVERT, BYTES and
   * RATE_MATCH bits pick the decision; keying, init and refill follow the table's mode).
   */
  match(pkt: HashlimitPacket, ruleMode: number, now: bigint): HashlimitResult {
    const p = this.params;
    const key = hashlimitKey(pkt, p.mode, p.srcmask, p.dstmask);
    if (!key) return 'hotdrop';
    const id = keyString(key);
    const expires = u64(now + p.expireJiffies);
    let e = this.entries.get(id);
    if (!e) {
      if (p.max !== 0 && this.entries.size >= p.max) return 'hotdrop';
      e = initEntry(key, p.bucket, now, expires);
      this.entries.set(id, e);
    } else {
      e.expires = expires;
      recalc(e, p.bucket, now);
    }
    const invert = (ruleMode & HL_MODE.INVERT) !== 0;
    let under: boolean;
    if (ruleMode & HL_MODE.RATE_MATCH) {
      e.currentRate = u64(e.currentRate + (ruleMode & HL_MODE.BYTES ? BigInt(pkt.len) : 1n));
      // current_rate (u64) <= burst (s64): C compares them as u64.
      const burst = p.bucket.kind === 'rate' ? u64(p.bucket.burst) : 0n;
      under = !e.prevWindow && e.currentRate <= burst;
    } else {
      const full = p.bucket.kind === 'bytes' ? p.bucket.full : 0n;
      const cost = ruleMode & HL_MODE.BYTES ? byteCost(e, pkt.len, full) : e.cost;
      under = e.credit >= cost;
      if (under) e.credit -= cost;
    }
    return under !== invert ? 'match' : 'nomatch';
  }

  /** One garbage collection at `now`: removes entries with `now >= expires`. Returns how many. */
  gc(now: bigint): number {
    let removed = 0;
    for (const [id, e] of this.entries) {
      if (BigInt.asIntN(64, now - e.expires) >= 0n) {
        this.entries.delete(id);
        removed++;
      }
    }
    return removed;
  }
}
