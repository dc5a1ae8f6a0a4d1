/**
 * `-m limit` (libxt_limit.c; ../shared/spec/limit-algorithms.md §0-2). Stored as iptables
 * stores it: avg in 1/10000 s, burst (default 5, 0..10000). On the legacy back-end the kernel
 * also refuses burst 0 and buckets that overflow 32 bits (xt_limit checkentry, HZ=250).
 */
import type { LimitMatch } from '../../../ir.js';
import { parseUint } from '../../../values/numbers.js';
import { LIMIT_SCALE, parseLimitRate } from '../../../values/rates.js';
import { defineMatch } from '../spec.js';

/** `--limit` default, 3/hour, in 1/10000 s. */
export const LIMIT_DEFAULT_AVG = (LIMIT_SCALE * 3600) / 3;
/** `--limit-burst` default. */
export const LIMIT_DEFAULT_BURST = 5;

interface LimitState {
  avg: number;
  burst: number;
}

/** xt_limit `user2credits` at HZ=250 (CPJ 128), in u32 arithmetic. */
function user2credits(user: number): number {
  const HZCPJ = 250 * 128;
  return user > Math.floor(0xffffffff / HZCPJ) ? Math.floor(user / LIMIT_SCALE) * HZCPJ : Math.floor((user * HZCPJ) / LIMIT_SCALE);
}

export const limitMatch = defineMatch<LimitState>({
  name: 'limit',
  options: [
    {
      names: ['limit'],
      args: 1,
      apply(state, call) {
        const avg = call.value(parseLimitRate(call.arg()));
        if (avg !== undefined) state.avg = avg;
      },
    },
    {
      names: ['limit-burst'],
      args: 1,
      apply(state, call) {
        const b = parseUint(call.arg(), 0, 10000);
        if (b === undefined) call.error('E204', { what: 'burst', value: call.arg(), detail: ': expected 0 to 10000' });
        else state.burst = b;
      },
    },
  ],
  init: () => ({ avg: LIMIT_DEFAULT_AVG, burst: LIMIT_DEFAULT_BURST }),
  finish(state, call): LimitMatch {
    if (call.ctx.backend === 'legacy') {
      const product = (state.avg * state.burst) % 2 ** 32;
      if (state.burst === 0) call.error('E217', { what: '-m limit', reason: 'the legacy kernel module refuses --limit-burst 0' });
      else if (user2credits(product) < user2credits(state.avg)) call.error('E217', { what: '-m limit', reason: 'rate times burst overflows the legacy kernel bucket; lower --limit-burst' });
    }
    return { kind: 'match', module: 'limit', span: call.span, avg: state.avg, burst: state.burst };
  },
});
