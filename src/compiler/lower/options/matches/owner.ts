/**
 * `-m owner` revision 1 (libxt_owner.c, kernel xt_owner.c): `--uid-owner`, `--gid-owner` (an id,
 * a range `a-b`, or a name), `--socket-exists`, `--suppl-groups` (after `--gid-owner`). The
 * kernel allows it only in OUTPUT and POSTROUTING.
 */
import type { Neg, OwnerMatch, Range } from '../../../ir.js';
import { STATIC_GROUPS, STATIC_USERS } from '../../../values/accounts.js';
import { parseUint } from '../../../values/numbers.js';
import { fail, invalid, ok, type Parsed } from '../../../values/result.js';
import { defineMatch, type OptionSpec } from '../spec.js';

const ID_MAX = 0xfffffffe;

function parseIdRange(text: string, names: Readonly<Record<string, number>>, what: 'user' | 'group'): Parsed<Range> {
  const named = names[text];
  if (named !== undefined) return ok({ from: named, to: named });
  const dash = text.indexOf('-', 1);
  const lo = parseUint(dash < 0 ? text : text.slice(0, dash), 0, ID_MAX);
  const hi = dash < 0 ? lo : parseUint(text.slice(dash + 1), 0, ID_MAX);
  if (lo === undefined || hi === undefined) {
    if (/^[A-Za-z_][A-Za-z0-9_.-]*\$?$/.test(text)) return fail('E215', { what, value: text });
    return invalid(`${what} id`, text, 'expected a number 0 to 4294967294, a range a-b or a name');
  }
  if (lo > hi) return invalid(`${what} id range`, text, 'the first id is greater than the second');
  return ok({ from: lo, to: hi });
}

type OwnerState = Partial<Omit<OwnerMatch, 'kind' | 'module' | 'span'>>;

function idOption(name: string, key: 'uid' | 'gid', names: Readonly<Record<string, number>>, what: 'user' | 'group'): OptionSpec<OwnerState> {
  return {
    names: [name],
    args: 1,
    invert: true,
    apply(state, call) {
      const r = call.value(parseIdRange(call.arg(), names, what));
      if (r) state[key] = call.neg(r) as Neg<Range>;
    },
  };
}

export const ownerMatch = defineMatch<OwnerState>({
  name: 'owner',
  options: [
    idOption('uid-owner', 'uid', STATIC_USERS, 'user'),
    idOption('gid-owner', 'gid', STATIC_GROUPS, 'group'),
    {
      names: ['socket-exists'],
      args: 0,
      invert: true,
      apply(state, call) {
        state.socketExists = call.neg(true as const);
      },
    },
    {
      names: ['suppl-groups'],
      args: 0,
      apply(state, call) {
        if (!state.gid) call.error('E207', { option: '--suppl-groups', needs: '--gid-owner before it' });
        else state.suppGroups = true;
      },
    },
  ],
  init: () => ({}),
  finish(state, call): OwnerMatch | undefined {
    if (!state.uid && !state.gid && !state.socketExists) {
      if (!call.given.some((g) => g !== 'suppl-groups')) call.error('E207', { option: '-m owner', needs: '--uid-owner, --gid-owner or --socket-exists' });
      return undefined;
    }
    const chain = call.ctx.chain;
    if (['PREROUTING', 'INPUT', 'FORWARD'].includes(chain)) {
      call.error('E213', { what: '-m owner', chain, reason: 'the socket owner is only known in OUTPUT and POSTROUTING' });
    }
    return { kind: 'match', module: 'owner', span: call.span, ...state };
  },
});
