/**
 * `-m limit` as the kernel runs it for a given iptables back-end: iptables-nft (the default, and
 * what rejectc assumes when the text does not say) installs nft's native `limit`; iptables-legacy
 * uses `xt_limit`. This module picks the algorithm and hands out one stepper for both.
 */
import type { Backend, LimitMatch } from '../../compiler/ir.js';
import { nftLimitFromIptables, nftLimitInit, nftLimitMatch, nftLimitParams, type NftLimitParams, type NftLimitState } from './nft-limit.js';
import { xtLimitInit, xtLimitMatch, xtLimitParams, type XtLimitParams, type XtLimitState } from './xt-limit.js';

/** The kernel parameters of one `-m limit` match. */
export type LimitParams = NftLimitParams | XtLimitParams;

export type LimitCheck =
  | { ok: true; params: LimitParams }
  | { ok: false; backend: 'nft' | 'legacy'; reason: string };

/** `unknown` back-ends are treated as nft, the modern default (limit-algorithms.md). */
export function effectiveBackend(backend: Backend): 'nft' | 'legacy' {
  return backend === 'legacy' ? 'legacy' : 'nft';
}

/**
 * The parameters the kernel derives when the rule is loaded, or the reason it refuses the rule
 * (legacy: burst 0 or an overflowing avg*burst; nft: a rate that overflows 64 bits).
 */
export function limitParams(match: Pick<LimitMatch, 'avg' | 'burst'>, backend: Backend, hz: number): LimitCheck {
  if (effectiveBackend(backend) === 'legacy') {
    const r = xtLimitParams(match.avg, match.burst, hz);
    if (r.ok) return r;
    return {
      ok: false,
      backend: 'legacy',
      reason: r.reason === 'burst-zero' ? 'xt_limit refuses --limit-burst 0' : `xt_limit: Overflow, try lower: ${match.avg}/${match.burst}`,
    };
  }
  const r = nftLimitParams(nftLimitFromIptables(match.avg, match.burst));
  if (r.ok) return r;
  return { ok: false, backend: 'nft', reason: `nft limit refuses the rate (${r.reason})` };
}

/** The clock a limit counts in: nanoseconds (nft) or jiffies (xt_limit). */
export interface LimitClock {
  ns: bigint;
  jiffies: bigint;
}

/**
 * A `-m limit` match with its state. The state starts full when the match first sees a packet,
 * which is what the kernel's full-at-load bucket looks like by then (apart from xt_limit's u32
 * wrap after ~37 h idle). `match` is true while under the limit.
 */
export class LimitMatcher {
  private nft?: NftLimitState;
  private xt?: XtLimitState;

  constructor(readonly params: LimitParams) {}

  match(now: LimitClock): boolean {
    const p = this.params;
    if (p.kind === 'nft-limit') {
      this.nft ??= nftLimitInit(p, now.ns);
      return nftLimitMatch(this.nft, p, now.ns);
    }
    this.xt ??= xtLimitInit(p, now.jiffies);
    return xtLimitMatch(this.xt, p, now.jiffies);
  }

  /** The state for inspection (undefined before the first packet). */
  state(): NftLimitState | XtLimitState | undefined {
    return this.params.kind === 'nft-limit' ? this.nft : this.xt;
  }
}
