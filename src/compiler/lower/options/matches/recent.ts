/**
 * `-m recent` revision 1 (libxt_recent.c, kernel xt_recent.c). Exactly one of `--set`,
 * `--rcheck`, `--update`, `--remove`; `--seconds`, `--hitcount`, `--rttl` and `--reap` only with
 * `--rcheck`/`--update` (the kernel refuses them with `--set`/`--remove`); `--reap` needs
 * `--seconds`. Name (default DEFAULT), mask (default all ones) and side (default `--rsource`) are
 * always stored and printed, as iptables-save does.
 */
import type { Neg, RecentMatch } from '../../../ir.js';
import { formatIpv4, formatIpv6, parseInetAton, parseIpv6 } from '../../../values/addresses.js';
import { parseUint, UINT32_MAX } from '../../../values/numbers.js';
import { defineMatch, type OptionSpec } from '../spec.js';

type Command = RecentMatch['command']['value'];

/** The match being built: the IR fields, with the command not yet known. */
type RecentState = Omit<RecentMatch, 'kind' | 'module' | 'span' | 'command'> & { command?: Neg<Command> };

const COMMANDS: readonly Command[] = ['set', 'rcheck', 'update', 'remove'];

function command(name: Command): OptionSpec<RecentState> {
  return {
    names: [name],
    args: 0,
    invert: true,
    conflicts: COMMANDS.filter((c) => c !== name),
    apply(state, call) {
      state.command = call.neg(name);
    },
  };
}

export const recentMatch = defineMatch<RecentState>({
  name: 'recent',
  options: [
    ...COMMANDS.map(command),
    {
      names: ['seconds'],
      args: 1,
      apply(state, call) {
        const v = parseUint(call.arg(), 1, UINT32_MAX);
        if (v === undefined) call.error('E204', { what: 'seconds', value: call.arg(), detail: ': expected 1 to 4294967295' });
        else state.seconds = v;
      },
    },
    { names: ['reap'], args: 0, apply: (s) => void (s.reap = true) },
    {
      names: ['hitcount'],
      args: 1,
      apply(state, call) {
        const v = parseUint(call.arg(), 0, 65535);
        if (v === undefined) call.error('E204', { what: 'hit count', value: call.arg(), detail: ': expected 0 to 65535' });
        else state.hitcount = v;
      },
    },
    { names: ['rttl'], args: 0, conflicts: ['set', 'remove'], apply: (s) => void (s.rttl = true) },
    {
      names: ['name'],
      args: 1,
      apply(state, call) {
        if (call.arg() === '') call.error('E204', { what: 'recent list name', value: '', detail: ': it must not be empty' });
        else state.name = call.arg();
      },
    },
    { names: ['rsource'], args: 0, multi: true, apply: (s) => void (s.side = 'rsource') },
    { names: ['rdest'], args: 0, multi: true, apply: (s) => void (s.side = 'rdest') },
    {
      names: ['mask'],
      args: 1,
      apply(state, call) {
        if (call.ctx.family === 'ipv4') {
          const v = parseInetAton(call.arg());
          if (v === undefined) call.error('E204', { what: 'mask', value: call.arg(), detail: '' });
          else state.mask = formatIpv4(v);
        } else {
          const w = parseIpv6(call.arg());
          if (w === undefined) call.error('E204', { what: 'mask', value: call.arg(), detail: '' });
          else state.mask = formatIpv6(w);
        }
      },
    },
  ],
  init: () => ({ name: 'DEFAULT', side: 'rsource' }),
  finish(state, call): RecentMatch | undefined {
    if (!state.command) {
      if (!COMMANDS.some((c) => call.given.includes(c))) call.error('E207', { option: '-m recent', needs: 'one of --set, --rcheck, --update or --remove' });
      return undefined;
    }
    const setOrRemove = state.command.value === 'set' || state.command.value === 'remove';
    if (setOrRemove && (state.seconds !== undefined || state.hitcount || state.reap || state.rttl)) {
      call.error('E217', { what: `--${state.command.value}`, reason: '--seconds, --hitcount, --rttl and --reap only work with --rcheck or --update' });
      return undefined;
    }
    if (state.reap && state.seconds === undefined) {
      call.error('E207', { option: '--reap', needs: '--seconds' });
      return undefined;
    }
    const m: RecentMatch = {
      kind: 'match',
      module: 'recent',
      span: call.span,
      command: state.command,
      name: state.name,
      side: state.side,
      mask: state.mask ?? (call.ctx.family === 'ipv4' ? '255.255.255.255' : 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'),
    };
    if (state.seconds !== undefined) m.seconds = state.seconds;
    if (state.reap) m.reap = true;
    if (state.hitcount) m.hitcount = state.hitcount;
    if (state.rttl) m.rttl = true;
    return m;
  },
});
