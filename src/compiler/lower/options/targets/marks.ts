/**
 * MARK (revision 2) and CONNMARK (revision 1) targets (libxt_MARK.c, libxt_CONNMARK.c).
 * Every spelling is saved as iptables-save does: `--set-mark v/m` is `--set-xmark v/(m|v)`,
 * `--and-mark v` is `--set-xmark 0/~v`, `--or-mark v` is `v/v`, `--xor-mark v` is `v/0`;
 * CONNMARK `--save-mark`/`--restore-mark` always print both masks.
 */
import { hex, UINT32_MAX } from '../../../values/numbers.js';
import { ok, type Parsed } from '../../../values/result.js';
import { parseMarkValue } from '../matches/simple.js';
import type { TargetSpec } from '../spec.js';
import { defineOtherTarget, requireOne, type OtherOptionDef } from './other.js';

const xmark = (value: number, mask: number) => `${hex(value >>> 0)}/${hex(mask >>> 0)}`;

type MarkOp = 'set-xmark' | 'set-mark' | 'and-mark' | 'or-mark' | 'xor-mark';
const OPS: readonly MarkOp[] = ['set-xmark', 'set-mark', 'and-mark', 'or-mark', 'xor-mark'];

function markOp(op: MarkOp, exclusive: readonly string[]): OtherOptionDef {
  return {
    names: [op],
    slot: 0,
    conflicts: exclusive.filter((o) => o !== op),
    words(call): Parsed<string[]> {
      const parsed = parseMarkValue(call.arg());
      if (!parsed.ok) return parsed;
      const { value, mask } = parsed.value;
      const hasMask = call.arg().includes('/');
      switch (op) {
        case 'set-xmark':
          return ok(['--set-xmark', xmark(value, mask)]);
        case 'set-mark':
          return ok(['--set-xmark', xmark(value, hasMask ? mask | value : UINT32_MAX)]);
        case 'and-mark':
          return ok(['--set-xmark', xmark(0, ~value)]);
        case 'or-mark':
          return ok(['--set-xmark', xmark(value, value)]);
        case 'xor-mark':
          return ok(['--set-xmark', xmark(value, 0)]);
      }
    },
  };
}

export const markTarget: TargetSpec = defineOtherTarget({
  name: 'MARK',
  options: OPS.map((op) => markOp(op, OPS)),
  check: (state, call) => state.slots.has(0) || (call.given.length > 0 ? false : requireOne(call, 'MARK', '--set-xmark, --set-mark, --and-mark, --or-mark or --xor-mark')),
});

const CONNMARK_MODES = [...OPS, 'save-mark', 'restore-mark'] as const;

function maskOption(name: 'nfmask' | 'ctmask' | 'mask'): OtherOptionDef {
  return {
    names: [name],
    slot: 9,
    words(call, state) {
      const parsed = parseMarkValue(call.arg(), 'mask');
      if (!parsed.ok) return parsed;
      if (name !== 'ctmask') state.values.set('nfmask', parsed.value.value);
      if (name !== 'nfmask') state.values.set('ctmask', parsed.value.value);
      return ok([]);
    },
  };
}

export const connmarkTarget: TargetSpec = defineOtherTarget({
  name: 'CONNMARK',
  options: [
    ...OPS.map((op) => markOp(op, CONNMARK_MODES)),
    { names: ['save-mark'], args: 0, slot: 0, conflicts: CONNMARK_MODES.filter((m) => m !== 'save-mark'), words: () => ok(['--save-mark']) },
    { names: ['restore-mark'], args: 0, slot: 0, conflicts: CONNMARK_MODES.filter((m) => m !== 'restore-mark'), words: () => ok(['--restore-mark']) },
    maskOption('nfmask'),
    maskOption('ctmask'),
    maskOption('mask'),
  ],
  check(state, call) {
    const mode = state.slots.get(0);
    if (!mode) return call.given.some((g) => (CONNMARK_MODES as readonly string[]).includes(g)) ? false : requireOne(call, 'CONNMARK', '--set-xmark, --save-mark, --restore-mark or another mode');
    if (mode[0] === '--save-mark' || mode[0] === '--restore-mark') {
      const nf = (state.values.get('nfmask') as number | undefined) ?? UINT32_MAX;
      const ct = (state.values.get('ctmask') as number | undefined) ?? UINT32_MAX;
      state.slots.set(1, ['--nfmask', hex(nf), '--ctmask', hex(ct)]);
    } else if (state.values.has('nfmask') || state.values.has('ctmask')) {
      call.error('E217', { what: '-j CONNMARK', reason: '--nfmask, --ctmask and --mask only go with --save-mark or --restore-mark' });
      return false;
    }
    return true;
  },
});
