/**
 * `xt_limit` (the `-m limit` of iptables-legacy): a token bucket counted in jiffies with u32
 * credits. Mirrors net/netfilter/xt_limit.c (`user2credits`, `limit_mt_check`, `limit_mt`)
 * bit for bit, including the u32 wrap-arounds; limit-algorithms.md §1.
 */
import { U32_MAX, cpj32, u32 } from './kernel-constants.js';

/** XT_LIMIT_SCALE: `avg` is the interval between packets in 1/10000 s. */
export const XT_LIMIT_SCALE = 10_000;

/** What `limit_mt_check` derives from the rule (all u32). */
export interface XtLimitParams {
  kind: 'xt-limit';
  /** CREDITS_PER_JIFFY for this HZ. */
  cpj: number;
  /** Credits one packet costs: `user2credits(avg)`. */
  cost: number;
  /** Bucket size: `user2credits(avg * burst)` (the product wraps in u32). */
  creditCap: number;
}

/** Why the kernel refuses a rule (`limit_mt_check` returns -ERANGE). */
export type XtLimitRefusal = 'burst-zero' | 'overflow';

export type XtLimitCheck = { ok: true; params: XtLimitParams } | { ok: false; reason: XtLimitRefusal };

/**
 * `user2credits(user)` with u32 math: multiply first unless that would overflow.
 * Precondition: `user` is a u32.
 */
export function xtUser2Credits(user: number, hz: number): number {
  const hzCpj = hz * cpj32(hz);
  if (user > Math.floor(U32_MAX / hzCpj)) return u32(BigInt(Math.floor(user / XT_LIMIT_SCALE)) * BigInt(hzCpj));
  return u32((BigInt(user) * BigInt(hzCpj)) / BigInt(XT_LIMIT_SCALE));
}

/**
 * The rule-load check and constants of `limit_mt_check`. `avg` and `burst` are what iptables
 * stores (u32). The kernel refuses burst 0 and an `avg * burst` whose credits overflow.
 */
export function xtLimitParams(avg: number, burst: number, hz: number): XtLimitCheck {
  const product = u32(BigInt(avg) * BigInt(burst));
  if (burst === 0) return { ok: false, reason: 'burst-zero' };
  const cap = xtUser2Credits(product, hz);
  const cost = xtUser2Credits(avg, hz);
  if (cap < cost) return { ok: false, reason: 'overflow' };
  return { ok: true, params: { kind: 'xt-limit', cpj: cpj32(hz), cost, creditCap: cap } };
}

/** Per-rule state (`struct xt_limit_priv`): `prev` in jiffies (unsigned long), `credit` u32. */
export interface XtLimitState {
  prev: bigint;
  credit: number;
}

/** State right after the rule is loaded at jiffies `now`: a full bucket. */
export function xtLimitInit(params: XtLimitParams, now: bigint): XtLimitState {
  return { prev: now, credit: params.creditCap };
}

/**
 * One packet at jiffies `now` (>= state.prev): true when the match matches (under the limit).
 * Updates `state` exactly as `limit_mt` does; its fast path (no credit, same jiffy) leaves the
 * state as the slow path would.
 */
export function xtLimitMatch(state: XtLimitState, params: XtLimitParams, now: bigint): boolean {
  // credit_increase is a u32 accumulator of an unsigned long product: it wraps after
  // 2^32 / CPJ idle jiffies (HZ=250: ~37 h).
  const inc = u32((now - state.prev) * BigInt(params.cpj));
  state.prev = now;
  let c = u32(BigInt(state.credit) + BigInt(inc));
  if (c > params.creditCap) c = params.creditCap;
  let matched = false;
  if (c >= params.cost) {
    c -= params.cost;
    matched = true;
  }
  state.credit = c;
  return matched;
}
