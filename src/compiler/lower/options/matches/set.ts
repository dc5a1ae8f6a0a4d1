/**
 * `-m set` revision 4 (libxt_set.c): `[!] --match-set NAME src|dst[,src|dst]...` plus counter
 * options, kept as canonical text in save order: `--return-nomatch`, `! --update-counters`,
 * `! --update-subcounters`, `--packets-{eq,lt,gt}`, `--bytes-{eq,lt,gt}` (`! --X-eq` is "not
 * equal"). Whether the set exists is the kernel's business at load time; rejectc does not know.
 */
import type { SetMatch } from '../../../ir.js';
import { parseUint } from '../../../values/numbers.js';
import { invalid, ok, type Parsed } from '../../../values/result.js';
import { defineMatch, type OptionSpec } from '../spec.js';

/** IPSET_MAXNAMELEN - 1. */
const SET_NAME_MAX = 31;
/** IPSET_DIM_MAX. */
const SET_DIM_MAX = 6;

interface SetState {
  negated: boolean;
  name?: string;
  flags?: ('src' | 'dst')[];
  returnNomatch: boolean;
  skipCounters: boolean;
  skipSubcounters: boolean;
  packets?: string[];
  bytes?: string[];
}

function parseDirs(text: string): Parsed<('src' | 'dst')[]> {
  const dirs = text.split(',');
  if (dirs.length > SET_DIM_MAX || !dirs.every((d) => d === 'src' || d === 'dst')) {
    return invalid('set direction list', text, `expected up to ${SET_DIM_MAX} of src or dst, separated by commas`);
  }
  return ok(dirs as ('src' | 'dst')[]);
}

function counter(kind: 'packets' | 'bytes', op: 'eq' | 'lt' | 'gt'): OptionSpec<SetState> {
  return {
    names: [`${kind}-${op}`],
    args: 1,
    invert: op === 'eq',
    conflicts: (['eq', 'lt', 'gt'] as const).filter((o) => o !== op).map((o) => `${kind}-${o}`),
    apply(state, call) {
      const v = parseUint(call.arg(), 0, 2 ** 64 - 1);
      if (v === undefined) return call.error('E204', { what: 'counter', value: call.arg(), detail: ': expected a number' });
      state[kind] = [...(call.negated ? ['!'] : []), `--${kind}-${op}`, String(v)];
    },
  };
}

export const setMatch = defineMatch<SetState>({
  name: 'set',
  options: [
    {
      names: ['match-set', 'set'],
      args: 2,
      invert: true,
      apply(state, call) {
        const name = call.arg(0);
        const dirs = call.arg(1);
        if (dirs.startsWith('-') || dirs.startsWith('!')) return call.error('E203', { option: call.written }, 0, ['--match-set takes a set name and a list of src/dst']);
        if (name.length > SET_NAME_MAX) return call.error('E204', { what: 'set name', value: name, detail: `: at most ${SET_NAME_MAX} characters` });
        const flags = call.value(parseDirs(dirs), 1);
        if (!flags) return;
        state.name = name;
        state.flags = flags;
        state.negated = call.negated;
      },
    },
    {
      names: ['return-nomatch'],
      args: 0,
      apply(state) {
        state.returnNomatch = true;
      },
    },
    {
      names: ['update-counters'],
      args: 0,
      invert: true,
      apply(state, call) {
        if (call.negated) state.skipCounters = true;
      },
    },
    {
      names: ['update-subcounters'],
      args: 0,
      invert: true,
      apply(state, call) {
        if (call.negated) state.skipSubcounters = true;
      },
    },
    counter('packets', 'eq'),
    counter('packets', 'lt'),
    counter('packets', 'gt'),
    counter('bytes', 'eq'),
    counter('bytes', 'lt'),
    counter('bytes', 'gt'),
  ],
  init: () => ({ negated: false, returnNomatch: false, skipCounters: false, skipSubcounters: false }),
  finish(state, call): SetMatch | undefined {
    if (!state.name || !state.flags) {
      if (!call.given.includes('match-set')) call.error('E207', { option: '-m set', needs: '--match-set NAME src|dst' });
      return undefined;
    }
    const options: string[] = [];
    if (state.returnNomatch) options.push('--return-nomatch');
    if (state.skipCounters) options.push('!', '--update-counters');
    if (state.skipSubcounters) options.push('!', '--update-subcounters');
    if (state.packets) options.push(...state.packets);
    if (state.bytes) options.push(...state.bytes);
    return { kind: 'match', module: 'set', span: call.span, negated: state.negated, name: state.name, flags: state.flags, options };
  },
});
