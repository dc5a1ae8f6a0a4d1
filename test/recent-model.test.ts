/**
 * `-m recent` semantics (src/model/state/recent.ts, xt_recent recent_mt) on hand-made
 * sequences with a test clock: hit counts inside and outside --seconds windows, --update
 * stamping only on a match, --remove, --rttl, --mask, the ring of ip_pkt_list_tot stamps and
 * the ip_list_tot LRU; and the refusals of recent options rejectc cannot compile.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { recentProblem } from '../src/compiler/classify/stateful.js';
import { parseRuleset } from '../src/compiler/frontend.js';
import type { RecentMatch, Rule } from '../src/compiler/ir.js';
import { addressBytes } from '../src/model/address.js';
import { RecentTables, recentMaskPrefix } from '../src/model/state/recent.js';

const HZ = 250;
const span = { file: 'x', start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 2, offset: 1 } };
function recent(command: RecentMatch['command']['value'], extra: Partial<RecentMatch> = {}, negated = false): RecentMatch {
  return { kind: 'match', module: 'recent', span, command: { negated, value: command, span }, name: 'T', side: 'rsource', ...extra };
}
const A = addressBytes('192.0.2.1');
const B = addressBytes('192.0.2.2');
const at = (s: number) => BigInt(Math.round(s * HZ));

describe('recent tables', () => {
  it('--set always matches and stamps; --rcheck --hitcount counts stamps inside --seconds', () => {
    const t = new RecentTables({ hz: HZ, pktListTot: 20, listTot: 100 });
    const check = recent('rcheck', { seconds: 10, hitcount: 3 });
    expect(t.match(check, 'ipv4', A, 64, at(0))).toBe(false); // no entry
    for (const s of [0, 1, 2]) expect(t.match(recent('set'), 'ipv4', A, 64, at(s))).toBe(true);
    expect(t.match(check, 'ipv4', A, 64, at(5))).toBe(true);
    expect(t.match(check, 'ipv4', A, 64, at(11.5))).toBe(false); // stamp 0 and 1 left the window
    expect(t.match(recent('rcheck', { seconds: 10, hitcount: 1 }), 'ipv4', A, 64, at(11.5))).toBe(true);
    expect(t.match(check, 'ipv4', B, 64, at(5))).toBe(false);
    expect(t.match(recent('rcheck', {}, true), 'ipv4', B, 64, at(5))).toBe(true); // ! --rcheck
  });

  it('--update stamps only when it matches, so a steady sender stays over the limit', () => {
    const t = new RecentTables({ hz: HZ, pktListTot: 20, listTot: 100 });
    const upd = recent('update', { seconds: 2, hitcount: 2 });
    t.match(recent('set'), 'ipv4', A, 64, at(0));
    expect(t.match(upd, 'ipv4', A, 64, at(1))).toBe(false); // one stamp: no update
    t.match(recent('set'), 'ipv4', A, 64, at(1.5));
    expect(t.match(upd, 'ipv4', A, 64, at(1.9))).toBe(true); // two stamps: update adds a third
    expect(t.match(upd, 'ipv4', A, 64, at(2.5))).toBe(true); // 1.5, 1.9 inside; adds 2.5
    expect(t.match(upd, 'ipv4', A, 64, at(3.7))).toBe(true); // 1.9, 2.5 inside; adds 3.7
    expect(t.match(upd, 'ipv4', A, 64, at(5.0))).toBe(false); // only 3.7 inside: no stamp
    expect(t.match(upd, 'ipv4', A, 64, at(6))).toBe(false);
  });

  it('--remove deletes; --rttl needs the same TTL; --mask groups addresses; the ring keeps 20 stamps', () => {
    const t = new RecentTables({ hz: HZ, pktListTot: 20, listTot: 100 });
    t.match(recent('set'), 'ipv4', A, 64, at(0));
    expect(t.match(recent('rcheck', { rttl: true }), 'ipv4', A, 63, at(0))).toBe(false);
    expect(t.match(recent('rcheck', { rttl: true }), 'ipv4', A, 64, at(0))).toBe(true);
    expect(t.match(recent('remove'), 'ipv4', A, 64, at(1))).toBe(true);
    expect(t.match(recent('remove'), 'ipv4', A, 64, at(1))).toBe(false);
    t.match(recent('set', { mask: '255.255.255.0' }), 'ipv4', A, 64, at(2));
    expect(t.match(recent('rcheck', { mask: '255.255.255.0' }), 'ipv4', B, 64, at(2))).toBe(true);
    const ring = new RecentTables({ hz: HZ, pktListTot: 4, listTot: 100 });
    for (const s of [1, 2, 3, 4, 5]) ring.match(recent('set'), 'ipv4', B, 64, at(s));
    // The ring holds 2, 3, 4, 5: stamp 1 was overwritten.
    expect(ring.match(recent('rcheck', { hitcount: 4, seconds: 3.6 }), 'ipv4', B, 64, at(5.5))).toBe(true);
    expect(ring.match(recent('rcheck', { hitcount: 4, seconds: 3.2 }), 'ipv4', B, 64, at(5.5))).toBe(false);
    expect(ring.match(recent('rcheck', { hitcount: 4, seconds: 100 }), 'ipv4', B, 64, at(5.5))).toBe(true);
  });

  it('keeps at most ip_list_tot addresses per table, dropping the least recently used', () => {
    const t = new RecentTables({ hz: HZ, pktListTot: 20, listTot: 3 });
    const addr = (i: number) => addressBytes(`198.51.100.${i}`);
    for (let i = 1; i <= 3; i++) t.match(recent('set'), 'ipv4', addr(i), 64, at(i));
    t.match(recent('update', { hitcount: 1 }), 'ipv4', addr(1), 64, at(4)); // 1 becomes the newest
    t.match(recent('set'), 'ipv4', addr(4), 64, at(5)); // evicts 2
    expect([1, 2, 3, 4].map((i) => t.match(recent('rcheck'), 'ipv4', addr(i), 64, at(6)))).toEqual([true, false, true, true]);
  });

  it('the ring size does not change any result once it holds --hitcount stamps (rejectc sizes it by the rules)', () => {
    const op = fc.record({
      cmd: fc.constantFrom('set', 'rcheck', 'update', 'remove') as fc.Arbitrary<RecentMatch['command']['value']>,
      seconds: fc.integer({ min: 0, max: 3 }),
      hitcount: fc.integer({ min: 0, max: 6 }),
      addr: fc.constantFrom(A, B),
      dt: fc.integer({ min: 0, max: 300 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const small = new RecentTables({ hz: HZ, pktListTot: 6, listTot: 100 });
        const big = new RecentTables({ hz: HZ, pktListTot: 40, listTot: 100 });
        let now = 0n;
        for (const o of ops) {
          now += BigInt(o.dt);
          const m = o.cmd === 'set' || o.cmd === 'remove' ? recent(o.cmd) : recent(o.cmd, { seconds: o.seconds || undefined, hitcount: o.hitcount || undefined });
          expect(big.match(m, 'ipv4', o.addr, 64, now)).toBe(small.match(m, 'ipv4', o.addr, 64, now));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reads --mask as a prefix; a non-contiguous mask is not one', () => {
    expect(recentMaskPrefix(undefined, 'ipv4')).toBe(32);
    expect(recentMaskPrefix('255.255.255.255', 'ipv4')).toBe(32);
    expect(recentMaskPrefix('255.255.0.0', 'ipv4')).toBe(16);
    expect(recentMaskPrefix('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ipv6')).toBe(128);
    expect(recentMaskPrefix('ffff:ffff::', 'ipv6')).toBe(32);
    expect(recentMaskPrefix('255.0.255.0', 'ipv4')).toBeUndefined();
  });
});

describe('recent rules rejectc refuses', () => {
  const ruleOf = (line: string): Rule => parseRuleset(`*filter\n${line}\nCOMMIT\n`, 'r').ruleset.families[0]!.tables[0]!.chains[0]!.rules[0]!;
  const problem = (line: string) => {
    const r = ruleOf(line);
    return recentProblem(r.matches.find((m) => m.module === 'recent') as RecentMatch);
  };
  it.each([
    ['-A INPUT -p tcp -m tcp --dport 22 -m recent --set --name S', undefined],
    ['-A INPUT -m recent --rcheck --name S -m tcp -p tcp --dport 22', undefined],
    ['-A INPUT -m recent --set --name S -m state --state NEW', undefined],
    // A header match after a table-changing recent match: compiled (a gate slot runs the recent match first).
    ['-A INPUT -p tcp -m recent --update --seconds 60 --name S -m tcp --dport 22 -j DROP', undefined],
    ['-A INPUT -m recent --rcheck --hitcount 41 --name S', undefined],
    ['-A INPUT -m recent --rcheck --hitcount 300 --name S', 'ip_pkt_list_tot is at most 255'],
    ['-A INPUT -m recent --rcheck --mask 255.0.255.0 --name S', 'not a prefix mask'],
  ])('%s', (line, want) => {
    const p = problem(line);
    if (want === undefined) expect(p).toBeUndefined();
    else expect(p).toContain(want);
  });
});
