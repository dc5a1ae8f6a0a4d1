/**
 * nft's native `limit` expression in packet mode: what iptables-nft (the default `iptables`)
 * installs for `-m limit`. A token bucket counted in nanoseconds of CLOCK_MONOTONIC with u64
 * tokens. Mirrors iptables/nft.c `add_nft_limit` (the translation) and net/netfilter/nft_limit.c
 * (`nft_limit_init`, `nft_limit_pkts_init`, `nft_limit_eval`); limit-algorithms.md §2.
 */
import { U64_MASK, s64, u64 } from './kernel-constants.js';
import { XT_LIMIT_SCALE } from './xt-limit.js';

/** The nft limit expression's attributes as iptables-nft sets them. */
export interface NftLimitSpec {
  /** Packets per `unit`. */
  rate: bigint;
  /** Seconds. */
  unit: bigint;
  /** As the user gave it; 0 is allowed (the kernel then uses 5). */
  burst: number;
}

/** The day, hour, minute, second periods in XT_LIMIT_SCALE units (u32, as in nft.c). */
const MULT = [XT_LIMIT_SCALE * 86_400, XT_LIMIT_SCALE * 3_600, XT_LIMIT_SCALE * 60, XT_LIMIT_SCALE] as const;

/**
 * iptables-nft's `add_nft_limit`: picks the coarsest unit that represents `avg` (1/10000 s)
 * without losing precision the way `iptables-save` does, then `rate = mult / avg`.
 * Precondition: avg >= 1 (iptables refuses 0).
 */
export function nftLimitFromIptables(avg: number, burst: number): NftLimitSpec {
  if (!Number.isInteger(avg) || avg < 1) throw new RangeError(`invalid limit avg ${avg}`);
  let i = 1;
  for (; i < MULT.length; i++) {
    const m = MULT[i]!;
    if (avg > m || Math.floor(m / avg) < m % avg) break;
  }
  const mult = MULT[i - 1]!;
  return { rate: BigInt(Math.floor(mult / avg)), unit: BigInt(mult / XT_LIMIT_SCALE), burst };
}

/** What `nft_limit_init` + `nft_limit_pkts_init` derive (u64). */
export interface NftLimitParams {
  kind: 'nft-limit';
  /** Nanoseconds one packet costs: `unit * 1e9 / rate`. */
  cost: bigint;
  /** Bucket size in nanoseconds: `cost * burst` (burst 0 counts as 5). */
  tokensMax: bigint;
}

export type NftLimitCheck = { ok: true; params: NftLimitParams } | { ok: false; reason: 'EINVAL' | 'EOVERFLOW' };

/** nft's default packet burst when the expression says 0 (NFT_LIMIT_PKT_BURST_DEFAULT). */
export const NFT_LIMIT_PKT_BURST_DEFAULT = 5;

const NSEC_PER_SEC = 1_000_000_000n;

/** The checks and constants of `nft_limit_init` in packet mode. */
export function nftLimitParams(spec: NftLimitSpec): NftLimitCheck {
  if (spec.rate === 0n) return { ok: false, reason: 'EINVAL' };
  const nsecs = spec.unit * NSEC_PER_SEC;
  if (nsecs > U64_MASK) return { ok: false, reason: 'EOVERFLOW' };
  const burst = BigInt(spec.burst === 0 ? NFT_LIMIT_PKT_BURST_DEFAULT : spec.burst);
  if (spec.rate + burst > U64_MASK) return { ok: false, reason: 'EOVERFLOW' };
  const cost = nsecs / spec.rate;
  const tokens = cost * burst;
  if (tokens > U64_MASK) return { ok: false, reason: 'EOVERFLOW' };
  return { ok: true, params: { kind: 'nft-limit', cost, tokensMax: tokens } };
}

/** Per-rule state (`struct nft_limit`): `last` and `tokens`, both u64 nanoseconds. */
export interface NftLimitState {
  last: bigint;
  tokens: bigint;
}

/** State right after the rule is created at monotonic time `nowNs`: a full bucket. */
export function nftLimitInit(params: NftLimitParams, nowNs: bigint): NftLimitState {
  return { last: nowNs, tokens: params.tokensMax };
}

/**
 * One packet at `nowNs` (>= state.last): true when the rule continues (under the limit), false
 * when nft breaks out of the rule. Updates `state` exactly as `nft_limit_eval` does.
 */
export function nftLimitMatch(state: NftLimitState, params: NftLimitParams, nowNs: bigint): boolean {
  let tokens = u64(state.tokens + nowNs - state.last);
  if (tokens > params.tokensMax) tokens = params.tokensMax;
  state.last = nowNs;
  const delta = s64(tokens - params.cost);
  if (delta >= 0n) {
    state.tokens = delta;
    return true;
  }
  state.tokens = tokens;
  return false;
}
