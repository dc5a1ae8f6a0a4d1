/**
 * `-m ttl` (IPv4, libipt_ttl.c) and `-m hl` (IPv6, libip6t_hl.c): one of `--X-eq` (negatable,
 * `!` meaning "not equal"), `--X-lt`, `--X-gt`, with a value 0..255.
 */
import type { HopMatch } from '../../../ir.js';
import { parseUint, UINT8_MAX } from '../../../values/numbers.js';
import { defineMatch, type MatchSpec, type OptionSpec } from '../spec.js';

interface HopState {
  op?: HopMatch['op'];
  value?: number;
}

function hopMatch(module: 'ttl' | 'hl', family: 'ipv4' | 'ipv6'): MatchSpec {
  const opt = (op: 'eq' | 'lt' | 'gt'): OptionSpec<HopState> => ({
    names: [`${module}-${op}`],
    args: 1,
    invert: op === 'eq',
    conflicts: (['eq', 'lt', 'gt'] as const).filter((o) => o !== op).map((o) => `${module}-${o}`),
    apply(state, call) {
      const v = parseUint(call.arg(), 0, UINT8_MAX);
      if (v === undefined) return call.error('E204', { what: module === 'ttl' ? 'TTL' : 'hop limit', value: call.arg(), detail: ': expected 0 to 255' });
      state.op = op === 'eq' && call.negated ? 'ne' : op;
      state.value = v;
    },
  });
  return defineMatch<HopState>({
    name: module,
    family,
    options: [opt('eq'), opt('lt'), opt('gt')],
    init: () => ({}),
    finish(state, call): HopMatch | undefined {
      if (state.op === undefined || state.value === undefined) {
        if (call.given.length === 0) call.error('E207', { option: `-m ${module}`, needs: `--${module}-eq, --${module}-lt or --${module}-gt` });
        return undefined;
      }
      return { kind: 'match', module, span: call.span, op: state.op, value: state.value };
    },
  });
}

export const ttlMatch = hopMatch('ttl', 'ipv4');
export const hlMatch = hopMatch('hl', 'ipv6');
