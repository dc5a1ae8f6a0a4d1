/**
 * Matches with side effects in the classifier (src/compiler/classify/side-effects.ts, slots.ts):
 * -m recent --set/--update/--remove (and rate limits) run exactly once per packet and rule,
 * when the kernel reaches them — not again for each rule of a chain a jump inlines, and
 * before later header matches of their rule (gate slots); a failed check sends the walk past
 * the rule or the inlined chain; checks that only read (`--rcheck`) are not re-run inside a
 * chain whose rules may change the table. Also: the shape covers the post-check modules, so
 * that `apply` never flips a ruleset onto a program built without them. Pure: the slots and
 * the simulator of the generated program's walk (simulate.ts), no kernel.
 */
import { describe, expect, it } from 'vitest';
import { compile } from '../src/compiler/compile.js';
import { FIELDS, HDR, type FieldId } from '../src/compiler/classify/fields.js';
import { cidrAtom, nameValue } from '../src/compiler/classify/atoms.js';
import { fitsShape, shapeId, type Shape } from '../src/compiler/classify/shape.js';
import { effectiveValues, runList, searchLinear, type FieldValues } from '../src/compiler/classify/simulate.js';
import { RECENT_CMD, RECENT_FLAG, type RecentCheck } from '../src/compiler/classify/stateful.js';
import type { Classified } from '../src/compiler/classify/index.js';
import { parseRuleset } from '../src/compiler/frontend.js';
import { validateMapsJson } from '../src/compiler/schema/validate.js';

const bitsOf = (f: FieldId): number => {
  const d = FIELDS.find((x) => x.id === f)!;
  return d.kind === 'prefix' ? d.bits : 0;
};

function compiled(rules: string[], hook: 'tc' | 'xdp' = 'tc') {
  const text = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':CHK - [0:0]', ...rules, 'COMMIT', ''].join('\n');
  const parsed = parseRuleset(text, 'rules.txt');
  expect(parsed.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const r = compile(parsed.ruleset, { hook });
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.classified!;
}

/** A UDP datagram 192.0.2.1:40000 -> 192.0.2.2:`dport` on eth0, as the classifier's fields. */
function udpPacket(dport: number): FieldValues {
  return {
    src4: cidrAtom('192.0.2.1', 32).value,
    dst4: cidrAtom('192.0.2.2', 32).value,
    iif: nameValue('eth0'),
    oif: nameValue(''),
    proto: 17,
    hdr: HDR.full,
    sport: 40000,
    dport,
    msport: 40000,
    mdport: dport,
    tcpflags: 0,
    icmp: 0,
    ttl: 64,
    length: 60,
    pkttype: 0,
  };
}

/**
 * A recent table of one address (the packet's), per name: the number of time stamps, all
 * inside every window. Counts the checks that ran, by command.
 */
function recentTables() {
  const stamps = new Map<string, number>();
  const ran: string[] = [];
  const check = (c: RecentCheck): boolean => {
    const cmd = c.flags & RECENT_FLAG.cmdMask;
    const n = stamps.get(c.name);
    ran.push(`${Object.keys(RECENT_CMD).find((k) => RECENT_CMD[k as keyof typeof RECENT_CMD] === cmd)} ${c.name}`);
    let hit: boolean;
    if (cmd === RECENT_CMD.set) {
      stamps.set(c.name, (n ?? 0) + 1);
      hit = true;
    } else if (cmd === RECENT_CMD.remove) {
      hit = n !== undefined;
      stamps.delete(c.name);
    } else {
      hit = n !== undefined && (c.hitcount === 0 || n >= c.hitcount);
      if (cmd === RECENT_CMD.update && hit !== c.negated) stamps.set(c.name, n! + 1);
    }
    return hit !== c.negated;
  };
  return { stamps, ran, check };
}

/** The walk of the INPUT list for `values`, as the generated program takes it. */
function walk(cl: Classified, values: FieldValues, recent: (c: RecentCheck) => boolean, mark = 0) {
  const list = cl.lists.find((l) => l.chain === 'INPUT')!;
  const end = list.flatFirstSlot[list.flatFirstSlot.length - 1]!;
  const d = runList(cl.slots, list.firstSlot, end, (from) => searchLinear(cl.slots, values, from, end, bitsOf), { mark, recent });
  const decided = d.slot < 0 ? 'policy' : `line ${list.flat.rules[cl.slots[d.slot]!.flat]!.path.at(-1)!.rule.span.start.line}`;
  return { action: d.action.kind, decided, counters: d.counters.length };
}

/** Slots of the INPUT list but padding: role, the lines of their checks' rules, fail target. */
function slotList(cl: Classified) {
  const list = cl.lists.find((l) => l.chain === 'INPUT')!;
  return list.slots
    .map((s, i) => ({ s, i: list.firstSlot + i }))
    .filter(({ s }) => s.role !== 'pad')
    .map(({ s, i }) => `${i} ${s.role} ${s.checks.map((c) => c.kind).join(',') || '-'}${s.checks.length ? ` fail ${s.fail}` : ''}`);
}

describe('side effects in jump rules', () => {
  const rules = [
    '-A INPUT -p udp -m recent --set --name J --rsource -j CHK',
    '-A CHK -p udp -m udp --dport 7101 -j DROP',
    '-A CHK -p udp -m udp --dport 7102 -j DROP',
    '-A CHK -m recent --rcheck --hitcount 3 --name J --rsource -j DROP',
    '-A CHK -j LOG',
  ];

  it('runs the jump rule\'s --set once, at the jump rule; its chain\'s rules do not repeat it', () => {
    const cl = compiled(rules);
    // Slot 0: the jump rule (its own check; on failure past the chain, slot 5 = the list's end).
    expect(slotList(cl)).toEqual(['0 rule recent fail 5', '1 rule -', '2 rule -', '3 rule recent fail 4', '4 rule -']);
    const t = recentTables();
    const outcomes = [1, 2, 3].map(() => walk(cl, udpPacket(7103), t.check));
    // xt_recent: one stamp per packet; the third sees 3 stamps and is dropped.
    expect(t.ran).toEqual(['set J', 'rcheck J', 'set J', 'rcheck J', 'set J', 'rcheck J']);
    expect(outcomes.map((o) => `${o.action} ${o.decided}`)).toEqual(['policy policy', 'policy policy', 'drop line 9']);
  });

  it('does not re-run a jump rule\'s --rcheck after a rule of its chain changed the table', () => {
    const cl = compiled(['-A INPUT -p udp -m recent ! --rcheck --name K --rsource -j CHK', '-A CHK -m recent --set --name K --rsource', '-A CHK -j DROP']);
    const t = recentTables();
    // First packet: K unknown, so the jump is taken; --set, then the DROP (whose rule is
    // reached only through the jump: no `! --rcheck` of its own, which would now fail).
    expect(walk(cl, udpPacket(7104), t.check)).toEqual({ action: 'drop', decided: 'line 8', counters: 3 });
    // Second packet: K known, the jump is not taken.
    expect(walk(cl, udpPacket(7104), t.check)).toEqual({ action: 'policy', decided: 'policy', counters: 0 });
    expect(t.ran).toEqual(['rcheck K', 'set K', 'rcheck K']);
  });

  it('sends the walk past the inlined chain when a jump rule\'s check fails (goto too)', () => {
    const cl = compiled(['-A INPUT -m mark --mark 0x1 -j CHK', '-A INPUT -m mark --mark 0x2 -g CHK', '-A INPUT -j ACCEPT', '-A CHK -p udp -j DROP']);
    // Jump: slot 0, CHK's rule 1; goto: slot 2, CHK's rule 3, the goto's end 4; ACCEPT 5.
    expect(slotList(cl)).toEqual(['0 rule mark fail 2', '1 rule -', '2 rule mark fail 5', '3 rule -', '4 rule -', '5 rule -']);
    const never = () => {
      throw new Error('no recent check here');
    };
    expect(walk(cl, udpPacket(1), never, 0)).toMatchObject({ action: 'accept', decided: 'line 8' });
    expect(walk(cl, udpPacket(1), never, 1)).toMatchObject({ action: 'drop', decided: 'line 9' });
    expect(walk(cl, udpPacket(1), never, 2)).toMatchObject({ action: 'drop', decided: 'line 9' });
  });
});

describe('hotdrop slots stand for identical later ones only where the walk saw them', () => {
  /** A TCP segment cut after 10 bytes: tcp_mt() cannot read it and hotdrops. */
  const shortTcp: FieldValues = { ...udpPacket(22), proto: 6, hdr: HDR.short };
  const run = (cl: Classified, recent: (c: RecentCheck) => boolean, mark: number) => {
    const list = cl.lists.find((l) => l.chain === 'INPUT')!;
    const end = list.flatFirstSlot[list.flatFirstSlot.length - 1]!;
    const values = effectiveValues(shortTcp);
    return runList(cl.slots, list.firstSlot, end, (from) => searchLinear(cl.slots, values, from, end, bitsOf), { mark, recent, hdr: HDR.short }).action.kind;
  };

  it('after a jump rule whose failed check skips its chain', () => {
    // The hotdrop slot of CHK's rule and that of INPUT's second rule have one condition.
    const cl = compiled(['-A INPUT -m mark --mark 0x1 -j CHK', '-A INPUT -p tcp -m tcp --dport 23 -m mark --mark 0x3 -j DROP', '-A CHK -p tcp -m tcp --dport 22 -m mark --mark 0x2 -j ACCEPT']);
    expect(slotList(cl).filter((x) => x.includes('hotdrop'))).toHaveLength(2);
    const t = recentTables();
    expect(run(cl, t.check, 0)).toBe('hotdrop'); // past CHK: INPUT's second rule hotdrops
    expect(run(cl, t.check, 1)).toBe('hotdrop'); // in CHK
  });

  it.each([
    ['a rule', ['-A INPUT -m recent --remove --name R --rsource', '-A INPUT -p tcp -m recent ! --rcheck --name R --rsource -m tcp --dport 23 -m mark --mark 0x3 -j ACCEPT']],
    ['a jump rule', ['-A INPUT -m recent --remove --name R --rsource -j CHK', '-A CHK -p tcp -m recent ! --rcheck --name R --rsource -m tcp --dport 23 -m mark --mark 0x3 -j ACCEPT']],
  ])('after %s that changed a table a hotdrop condition reads', (_, rest) => {
    const cl = compiled(['-A INPUT -p tcp -m recent ! --rcheck --name R --rsource -m tcp --dport 22 -m mark --mark 0x2 -j ACCEPT', ...rest]);
    const t = recentTables();
    t.stamps.set('R', 1);
    // The first rule's hotdrop slot: R is known, so `! --rcheck` fails; then R is removed and
    // the third rule's `! --rcheck` holds: tcp_mt() hotdrops there.
    expect(run(cl, t.check, 0)).toBe('hotdrop');
    expect(t.ran).toEqual(['rcheck R', 'remove R', 'rcheck R']);
  });
});

describe('side effects before header matches', () => {
  it('compiles a header match after a table-changing recent match: a gate runs it first, once', () => {
    const cl = compiled(['-A INPUT -p udp -m recent --update --name U --rsource -m udp --dport 22 -m recent --rcheck --hitcount 2 --name U --rsource -j DROP']);
    // The gate: the base and --update; the udp match's hotdrop; the rule: --dport 22 and the --rcheck.
    expect(slotList(cl)).toEqual(['0 gate recent fail 3', '1 hotdrop -', '2 rule recent fail 3']);
    const t = recentTables();
    t.stamps.set('U', 1);
    // --dport 23: --update ran (and matched: one more stamp), the rule did not match.
    expect(walk(cl, udpPacket(23), t.check)).toMatchObject({ action: 'policy' });
    expect(t.stamps.get('U')).toBe(2);
    // --dport 22: --update, then --rcheck sees 3 stamps.
    expect(walk(cl, udpPacket(22), t.check)).toMatchObject({ action: 'drop' });
    expect(t.ran).toEqual(['update U', 'update U', 'rcheck U']);
  });

  it('leaves rules without side effects in one slot', () => {
    const cl = compiled(['-A INPUT -p udp -m recent --rcheck --name U -m udp --dport 22 -j DROP']);
    expect(slotList(cl)).toEqual(['0 rule recent fail 1']);
  });
});

describe('the shape covers the post-check modules', () => {
  const base = ['-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT', '-A INPUT -p tcp -j REJECT --reject-with tcp-reset'];
  const withCheck = (m: string) => [`-A INPUT -p tcp ${m} -j ACCEPT`, ...base];

  it('gives rulesets that differ only in their post-check modules different shapes', () => {
    const variants = {
      mark: withCheck('-m mark --mark 0x5'),
      state: withCheck('-m state --state ESTABLISHED'),
      conntrack: withCheck('-m conntrack --ctstate ESTABLISHED'),
      recent: withCheck('-m recent --rcheck --name S'),
      recent40: withCheck('-m recent --rcheck --hitcount 40 --name S'),
      set: withCheck('-m set --match-set S src'),
    };
    const shapes = Object.fromEntries(Object.entries(variants).map(([k, rules]) => [k, compiled(rules, 'xdp').shape]));
    // Without the modules, these rulesets had one shape: same fields, capacities and check counts.
    const withoutModules = (s: Shape) => JSON.stringify(Object.fromEntries(Object.entries(s).filter(([k]) => !['conntrack', 'sets', 'recent', 'owner'].includes(k))));
    expect(new Set(Object.values(shapes).map(withoutModules)).size).toBe(1);
    const ids = Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, shapeId(s)]));
    expect(new Set(Object.values(ids)).size).toBe(Object.keys(ids).length - 1);
    expect(ids.state).toBe(ids.conntrack); // the same module: one program runs both
    expect(shapes.mark).not.toHaveProperty('conntrack');
    expect(shapes.state.conntrack).toBe(true);
    expect(shapes.recent.recent).toBe(20);
    expect(shapes.recent40.recent).toBe(40);
    expect(shapes.set.sets).toBe(true);
    // A program with a module runs rulesets without it; not the other way round.
    expect(fitsShape(shapes.mark, shapes.state)).toBe(true);
    expect(fitsShape(shapes.state, shapes.mark)).toBe(false);
    expect(fitsShape(shapes.recent, shapes.recent40)).toBe(true);
    expect(fitsShape(shapes.recent40, shapes.recent)).toBe(false);
    const owner = compiled(['-A OUTPUT -p tcp -m owner --uid-owner 0 -j ACCEPT', '-A OUTPUT -p tcp -m mark --mark 1 -j ACCEPT']).shape;
    expect(owner.owner).toBe(true);
  });

  it('emits the module code the shape names, for a minimum shape too', () => {
    const parse = (rules: string[]) => parseRuleset(['*filter', ':INPUT ACCEPT [0:0]', ...rules, 'COMMIT', ''].join('\n'), 'r').ruleset;
    const plain = compile(parse(withCheck('-m mark --mark 0x5')), { hook: 'tc' }).artifacts!.c;
    expect(plain).not.toMatch(/#define RJC_USES_(CT|SET|RECENT|OWNER)/);
    const wide = compile(parse(withCheck('-m mark --mark 0x5')), { hook: 'tc', minimumShape: { modules: { conntrack: true, recent: 32 } } }).artifacts!;
    expect(wide.c).toContain('#define RJC_USES_CT');
    expect(wide.c).toContain('#define RJC_RECENT_STAMPS 32');
    expect(wide.maps.shape).toMatchObject({ conntrack: true, recent: 32 });
    expect(validateMapsJson(JSON.parse(JSON.stringify(wide.maps))).ok).toBe(true);
  });
});
