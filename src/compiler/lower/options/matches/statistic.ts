/**
 * `-m statistic` (libxt_statistic.c). Random mode stores the probability as the kernel's u32
 * (`lround(p * 2^31)`) and prints it back with 11 decimals, so `0.3` becomes
 * `0.29999999981`; the IR keeps the printed value (u32 / 2^31). Nth mode needs `--every` and
 * `--packet` with packet < every. `!` goes on `--probability` or `--every`.
 */
import type { StatisticMatch } from '../../../ir.js';
import { parseUint, UINT32_MAX } from '../../../values/numbers.js';
import { defineMatch } from '../spec.js';

interface StatisticState {
  mode?: 'random' | 'nth';
  negated: boolean;
  probability?: number;
  every?: number;
  packet?: number;
}

/** `strtod` over the whole text, as libxt_statistic reads `--probability`. */
function parseProbability(text: string): number | undefined {
  if (!/^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return undefined;
  const p = Number(text);
  return p >= 0 && p <= 1 ? p : undefined;
}

export const statisticMatch = defineMatch<StatisticState>({
  name: 'statistic',
  options: [
    {
      names: ['mode'],
      args: 1,
      apply(state, call) {
        const m = call.arg();
        if (m === 'random' || m === 'nth') state.mode = m;
        else call.error('E204', { what: 'statistic mode', value: m, detail: ': expected random or nth' });
      },
    },
    {
      names: ['probability'],
      args: 1,
      invert: true,
      apply(state, call) {
        const p = parseProbability(call.arg());
        if (p === undefined) return call.error('E204', { what: 'probability', value: call.arg(), detail: ': expected a number from 0 to 1' });
        state.probability = Math.round(p * 0x80000000) / 0x80000000;
        if (call.negated) state.negated = true;
      },
    },
    {
      names: ['every'],
      args: 1,
      invert: true,
      apply(state, call) {
        const n = parseUint(call.arg(), 1, UINT32_MAX);
        if (n === undefined) return call.error('E204', { what: 'value for --every', value: call.arg(), detail: ': expected 1 to 4294967295' });
        state.every = n;
        if (call.negated) state.negated = true;
      },
    },
    {
      names: ['packet'],
      args: 1,
      apply(state, call) {
        const n = parseUint(call.arg(), 0, UINT32_MAX);
        if (n === undefined) call.error('E204', { what: 'value for --packet', value: call.arg(), detail: ': expected 0 to 4294967295' });
        else state.packet = n;
      },
    },
  ],
  init: () => ({ negated: false }),
  finish(state, call): StatisticMatch | undefined {
    const fail = (reason: string) => {
      call.error('E217', { what: '-m statistic', reason });
      return undefined;
    };
    if (!state.mode) return call.given.includes('mode') ? undefined : fail('--mode random or --mode nth is required');
    if (state.mode === 'random') {
      if (state.probability === undefined) return call.given.includes('probability') ? undefined : fail('--mode random needs --probability');
      if (state.every !== undefined || state.packet !== undefined) return fail('--every and --packet only work with --mode nth');
      return { kind: 'match', module: 'statistic', span: call.span, mode: 'random', negated: state.negated, probability: state.probability };
    }
    if (state.probability !== undefined) return fail('--probability only works with --mode random');
    if (state.every === undefined || state.packet === undefined) return call.given.includes('every') && call.given.includes('packet') ? undefined : fail('--mode nth needs --every and --packet');
    if (state.packet >= state.every) return fail('--packet must be less than --every');
    return { kind: 'match', module: 'statistic', span: call.span, mode: 'nth', negated: state.negated, every: state.every, packet: state.packet };
  },
});
