/**
 * `-m owner` semantics (src/model/state/owner.ts, xt_owner owner_mt) and the post-check
 * encoding of the datapath (ownerCheckPasses, as rjc_owner_check in bpf/rjc_owner.h): for
 * random matches (uid/gid ranges, negations, --socket-exists, --suppl-groups) and random
 * sockets (none, without a file, with credentials and groups) the checks' conjunction is
 * the match.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ownerCheckPasses, ownerChecks } from '../src/compiler/classify/stateful.js';
import type { OwnerMatch } from '../src/compiler/ir.js';
import { matchOwner, type SocketOwner } from '../src/model/state/owner.js';

const span = { file: 'x', start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 2, offset: 1 } };
const id = fc.integer({ min: 0, max: 6 });
const range = fc.tuple(id, id).map(([a, b]) => ({ from: Math.min(a, b), to: Math.max(a, b) }));
const neg = <T>(a: fc.Arbitrary<T>) => fc.record({ negated: fc.boolean(), value: a }).map((n) => ({ ...n, span }));
const matches: fc.Arbitrary<OwnerMatch> = fc
  .record({ uid: fc.option(neg(range), { nil: undefined }), gid: fc.option(neg(range), { nil: undefined }), socketExists: fc.option(neg(fc.constant(true as const)), { nil: undefined }), suppGroups: fc.boolean() })
  .filter((o) => o.uid !== undefined || o.gid !== undefined || o.socketExists !== undefined)
  .map((o) => {
    const m: OwnerMatch = { kind: 'match', module: 'owner', span };
    if (o.uid) m.uid = o.uid;
    if (o.gid) m.gid = o.gid;
    if (o.socketExists) m.socketExists = o.socketExists;
    if (o.suppGroups && o.gid) m.suppGroups = true;
    return m;
  });
const sockets: fc.Arbitrary<SocketOwner | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.constant({}),
  fc.record({ file: fc.record({ uid: id, gid: id, groups: fc.array(id, { maxLength: 3 }) }) }),
);

describe('owner checks', () => {
  it('their conjunction is owner_mt', () => {
    fc.assert(
      fc.property(matches, sockets, (m, s) => {
        expect(ownerChecks(m).every((c) => ownerCheckPasses(c, s))).toBe(matchOwner(m, s));
      }),
      { numRuns: 5000 },
    );
  });

  it('follows xt_owner on the early returns', () => {
    const m = (o: Partial<OwnerMatch>): OwnerMatch => ({ kind: 'match', module: 'owner', span, ...o });
    const uid1000 = { negated: false, value: { from: 1000, to: 1000 }, span };
    const owner = { file: { uid: 1000, gid: 100, groups: [3000] } };
    expect(matchOwner(m({ uid: uid1000 }), owner)).toBe(true);
    expect(matchOwner(m({ uid: uid1000 }), undefined)).toBe(false); // no socket
    expect(matchOwner(m({ uid: { ...uid1000, negated: true } }), undefined)).toBe(true); // ! --uid-owner and no socket: (match ^ invert) == 0
    expect(matchOwner(m({ uid: uid1000 }), {})).toBe(false); // a socket without a file (kernel's own)
    expect(matchOwner(m({ socketExists: { negated: false, value: true, span } }), {})).toBe(true);
    expect(matchOwner(m({ socketExists: { negated: true, value: true, span } }), owner)).toBe(false);
    expect(matchOwner(m({ gid: { negated: false, value: { from: 3000, to: 3000 }, span } }), owner)).toBe(false);
    expect(matchOwner(m({ gid: { negated: false, value: { from: 3000, to: 3000 }, span }, suppGroups: true }), owner)).toBe(true);
  });
});
