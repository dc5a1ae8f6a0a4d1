/**
 * `-m connlimit` revision 1 (libxt_connlimit.c). `! --connlimit-upto N` is `--connlimit-above N`
 * and the other way round; the mask (default 32 / 128) and the side (default source) are always
 * stored and printed.
 */
import type { ConnlimitMatch } from '../../../ir.js';
import { parseUint, UINT32_MAX } from '../../../values/numbers.js';
import { defineMatch, type OptionSpec } from '../spec.js';

interface ConnlimitState {
  direction?: 'upto' | 'above';
  limit?: number;
  mask?: number;
  side: 'saddr' | 'daddr';
}

function limitOption(name: string, direction: 'upto' | 'above', other: string): OptionSpec<ConnlimitState> {
  return {
    names: [name],
    args: 1,
    invert: true,
    conflicts: [other],
    apply(state, call) {
      const n = parseUint(call.arg(), 0, UINT32_MAX);
      if (n === undefined) return call.error('E204', { what: 'connection limit', value: call.arg(), detail: ': expected 0 to 4294967295' });
      state.limit = n;
      state.direction = call.negated ? (direction === 'upto' ? 'above' : 'upto') : direction;
    },
  };
}

export const connlimitMatch = defineMatch<ConnlimitState>({
  name: 'connlimit',
  options: [
    limitOption('connlimit-upto', 'upto', 'connlimit-above'),
    limitOption('connlimit-above', 'above', 'connlimit-upto'),
    {
      names: ['connlimit-mask'],
      args: 1,
      apply(state, call) {
        const max = call.ctx.family === 'ipv4' ? 32 : 128;
        const n = parseUint(call.arg(), 0, max);
        if (n === undefined) call.error('E204', { what: 'prefix length', value: call.arg(), detail: `: expected 0 to ${max}` });
        else state.mask = n;
      },
    },
    { names: ['connlimit-saddr'], args: 0, conflicts: ['connlimit-daddr'], apply: (s) => void (s.side = 'saddr') },
    { names: ['connlimit-daddr'], args: 0, conflicts: ['connlimit-saddr'], apply: (s) => void (s.side = 'daddr') },
  ],
  init: () => ({ side: 'saddr' }),
  finish(state, call): ConnlimitMatch | undefined {
    if (state.direction === undefined || state.limit === undefined) {
      if (!call.given.includes('connlimit-upto') && !call.given.includes('connlimit-above')) call.error('E207', { option: '-m connlimit', needs: '--connlimit-upto or --connlimit-above' });
      return undefined;
    }
    const mask = state.mask ?? (call.ctx.family === 'ipv4' ? 32 : 128);
    return { kind: 'match', module: 'connlimit', span: call.span, direction: state.direction, limit: state.limit, mask, side: state.side };
  },
});
