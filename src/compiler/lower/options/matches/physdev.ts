/**
 * `-m physdev` (libxt_physdev.c): bridge port names and "is bridged" tests. In OUTPUT the kernel
 * refuses `--physdev-out`/`--physdev-is-out` unless the rule also requires bridged traffic.
 */
import type { Neg, PhysdevMatch } from '../../../ir.js';
import { invalid, ok, type Parsed } from '../../../values/result.js';
import { IFNAME_MAX } from '../base.js';
import { defineMatch, type OptionSpec } from '../spec.js';

type PhysdevState = Partial<Omit<PhysdevMatch, 'kind' | 'module' | 'span'>>;

function parseIfaceName(text: string): Parsed<{ name: string; wildcard: boolean }> {
  if (text.length > IFNAME_MAX) return invalid('interface name', text, `at most ${IFNAME_MAX} characters (IFNAMSIZ)`);
  const wildcard = text.endsWith('+');
  return ok({ name: wildcard ? text.slice(0, -1) : text, wildcard });
}

function nameOption(name: string, key: 'physdevIn' | 'physdevOut'): OptionSpec<PhysdevState> {
  return {
    names: [name],
    args: 1,
    invert: true,
    apply(state, call) {
      const v = call.value(parseIfaceName(call.arg()));
      if (v) state[key] = call.neg(v);
    },
  };
}

function flagOption(name: string, key: 'isIn' | 'isOut' | 'isBridged'): OptionSpec<PhysdevState> {
  return {
    names: [name],
    args: 0,
    invert: true,
    apply(state, call) {
      state[key] = call.neg(true as const) as Neg<true>;
    },
  };
}

export const physdevMatch = defineMatch<PhysdevState>({
  name: 'physdev',
  options: [
    nameOption('physdev-in', 'physdevIn'),
    nameOption('physdev-out', 'physdevOut'),
    flagOption('physdev-is-in', 'isIn'),
    flagOption('physdev-is-out', 'isOut'),
    flagOption('physdev-is-bridged', 'isBridged'),
  ],
  init: () => ({}),
  finish(state, call): PhysdevMatch | undefined {
    if (call.given.length === 0) {
      call.error('E207', { option: '-m physdev', needs: 'a --physdev option' });
      return undefined;
    }
    const bridged = state.isBridged && !state.isBridged.negated;
    if (call.ctx.chain === 'OUTPUT' && (state.physdevOut || state.isOut) && !bridged) {
      call.error('E213', { what: '--physdev-out / --physdev-is-out', chain: 'OUTPUT', reason: 'the kernel only allows them there together with --physdev-is-bridged' });
    }
    return { kind: 'match', module: 'physdev', span: call.span, ...state };
  },
});
