import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cidrAtom, interfaceAtom, nameValue, rangeToPrefixes } from '../src/compiler/classify/atoms.js';
import { FIELDS, HDR, type FieldId } from '../src/compiler/classify/fields.js';
import { buildIndex, l1Entry, l1ShiftFor } from '../src/compiler/classify/index-build.js';
import { candidateBlocks, classesOf, effectiveValues, runList, searchIndex, searchLinear, type FieldValues } from '../src/compiler/classify/simulate.js';
import { buildSlotLists, type Slot } from '../src/compiler/classify/slots.js';
import { flattenRuleset } from '../src/compiler/flatten/index.js';
import type { Chain, Match, Rule } from '../src/compiler/ir.js';
import { chain, family, icmp, mark, multiport, rule, tcp, udp } from './compile-support.js';

const bitsOf = (f: FieldId): number => {
  const d = FIELDS.find((x) => x.id === f)!;
  return d.kind === 'prefix' ? d.bits : 0;
};

function slotsOf(chains: Chain[], fam: 'ipv4' | 'ipv6' = 'ipv4') {
  const flat = flattenRuleset([family(fam, chains)]);
  expect(flat.diagnostics).toEqual([]);
  const lists = buildSlotLists(flat.flat.chains);
  const slots = lists.flatMap((l) => l.slots);
  return { lists, slots, index: buildIndex(slots) };
}

const ip = (text: string) => cidrAtom(text, 32).value;

function packet(v: Partial<Record<FieldId, number | bigint>>): FieldValues {
  return {
    src4: ip('192.0.2.1'),
    dst4: ip('192.0.2.2'),
    iif: nameValue('eth0'),
    oif: nameValue(''),
    proto: 6,
    hdr: HDR.full,
    sport: 40000,
    dport: 80,
    msport: 40000,
    mdport: 80,
    tcpflags: 0x02,
    icmp: 0,
    ttl: 64,
    length: 60,
    pkttype: 0,
    mac: 0x020000000001,
    ...v,
  };
}

describe('atoms', () => {
  it('decomposes address ranges into the fewest prefixes', () => {
    const p = rangeToPrefixes(ip('192.0.2.1'), ip('192.0.2.6'), 32).map((a) => `${a.value & 0xffn}/${a.len}`);
    expect(p).toEqual(['1/32', '2/31', '4/31', '6/32']);
    expect(rangeToPrefixes(0n, 0xffffffffn, 32)).toEqual([{ kind: 'prefix', value: 0n, len: 0 }]);
  });

  it('encodes interface names with the terminator unless wildcarded', () => {
    expect(interfaceAtom('eth0', false).len).toBe(40);
    expect(interfaceAtom('eth', true).len).toBe(24);
    expect(interfaceAtom('', true).len).toBe(0);
  });
});

describe('slots', () => {
  it('folds a rule with the hotdrop of its tcp match into one slot', () => {
    const { lists } = slotsOf([chain('INPUT', [rule({ proto: 6, matches: [tcp({ dport: [22, 22] })] })])]);
    const [slot] = lists[0]!.slots.filter((s) => s.role !== 'pad');
    // Matches a full header, and hotdrops where tcp_mt() cannot read it (short, none, offset 1).
    expect(slot!.fields.get('hdr')![0]!.atoms).toEqual([
      { kind: 'interval', lo: HDR.full, hi: HDR.none },
      { kind: 'interval', lo: HDR.frag1, hi: HDR.frag1 },
    ]);
    expect(slot!.hotdrop).toBe((1 << HDR.short) | (1 << HDR.none) | (1 << HDR.frag1));
  });

  it('puts a hotdrop slot before a rule it cannot fold, once per identical condition', () => {
    // The mark comes after tcp: a packet tcp_mt() cannot read hotdrops whatever its mark.
    const { lists } = slotsOf([
      chain('INPUT', [
        rule({ proto: 6, matches: [tcp({ dport: [22, 22] }), mark(1)] }),
        rule({ proto: 6, matches: [tcp({ dport: [23, 23] }), mark(2)] }),
      ]),
    ]);
    const live = lists[0]!.slots.filter((s) => s.role !== 'pad');
    expect(live.map((s) => s.role)).toEqual(['hotdrop', 'rule', 'rule']);
    expect(live[0]!.fields.get('hdr')![0]!.atoms).toEqual([
      { kind: 'interval', lo: HDR.short, hi: HDR.short },
      { kind: 'interval', lo: HDR.none, hi: HDR.none },
      { kind: 'interval', lo: HDR.frag1, hi: HDR.frag1 },
    ]);
    expect(live.map((s) => s.hotdrop)).toEqual([0, 0, 0]);
  });

  it('splits multiport --ports into alternatives that continue past each other', () => {
    const { lists } = slotsOf([chain('INPUT', [rule({ proto: 17, matches: [multiport('ports', [[53, 53]])], target: 'LOG' }), rule({ target: 'DROP' })])]);
    const live = lists[0]!.slots.filter((s) => s.role === 'rule');
    expect(live.length).toBe(3);
    expect(live[0]!.hotdrop).toBe(1 << HDR.none);
    expect(live[0]!.action).toEqual({ kind: 'next', to: 2 });
    expect(live[1]!.action).toEqual({ kind: 'next', to: 2 });
  });

  it('decides -o at INPUT and -i at OUTPUT at compile time (the hook passes "")', () => {
    const { lists } = slotsOf([
      chain('INPUT', [rule({ oif: 'eth0' }), rule({ oif: 'eth0', oifNeg: true }), rule({ oif: '+' })]),
      chain('OUTPUT', [rule({ iif: 'eth+' })]),
    ]);
    expect(lists[0]!.slots.slice(0, 3).map((s) => [s.live, s.fields.size])).toEqual([
      [false, 0],
      [true, 0],
      [true, 0],
    ]);
    expect(lists[1]!.slots[0]!.live).toBe(false);
  });
});

describe('index', () => {
  it('merges port regions that every rule treats alike into one class', () => {
    const { index } = slotsOf([
      chain('INPUT', [rule({ proto: 6, matches: [tcp({ dport: [1, 1023] })] }), rule({ proto: 6, matches: [tcp({ dport: [80, 80] })] })]),
    ]);
    const dport = index.fields.find((f) => f.field.id === 'dport')!;
    // Regions 0, 1..79, 80, 81..1023, 1024..65535, UNREAD -> classes {0, 1024..}, {1..79,
    // 81..1023}, {80}, and UNREAD on its own (every rule accepts it, like 80, but keyed slots
    // reach it through the header state).
    expect(dport.space.kind === 'interval' && dport.space.starts).toEqual([0, 1, 80, 81, 1024, 65536]);
    expect(dport.classCount).toBe(4);
    expect(dport.regionClass[1]).toBe(dport.regionClass[3]);
    expect(dport.regionClass[0]).toBe(dport.regionClass[4]);
    expect(dport.regionClass[2]).not.toBe(dport.regionClass[5]);
  });

  it('looks only at blocks where a rule matches on its key field, whatever the mix of rule shapes', () => {
    // 4,000 rules of three shapes interleaved: every block has rules that do not constrain
    // src4, dst4, proto or dport, so the AND of the plain level-1 bitmaps is every block.
    const rules: Rule[] = [];
    for (let i = 0; i < 3999; i++) {
      const a = `10.${(i >> 8) & 255}.${i & 255}.1`;
      if (i % 3 === 0) rules.push(rule({ src: [a], proto: 6, matches: [tcp({ dport: [1024 + i, 1024 + i] })], target: 'DROP' }));
      else if (i % 3 === 1) rules.push(rule({ dst: [a], target: 'DROP' }));
      else rules.push(rule({ proto: 17, matches: [udp({ dport: [1024 + i, 1024 + i] })], target: 'ACCEPT' }));
    }
    rules.push(rule({ proto: 6, matches: [tcp({ dport: [23, 23] })], target: 'DROP' }));
    const { slots, index } = slotsOf([chain('INPUT', rules)]);
    const blocks = slots.length / 64;
    const candidates = (p: FieldValues) => candidateBlocks(index, classesOf(index, effectiveValues(p)), 0, blocks - 1);
    // The probe matches the last rule only: one candidate block.
    const probe = packet({ dport: 23 });
    expect(candidates(probe)).toEqual([Math.floor(3999 / 64)]);
    expect(searchIndex(index, effectiveValues(probe), 0, slots.length)).toBe(searchLinear(slots, effectiveValues(probe), 0, slots.length, bitsOf));
    // A packet matching rule 1500 (a source rule) and nothing else: its block.
    expect(candidates(packet({ src4: ip('10.5.220.1'), dport: 1024 + 1500 }))).toEqual([Math.floor(1500 / 64)]);
    // An ICMP packet has no ports (UNREAD): the port-keyed rules are not candidates.
    expect(candidates(packet({ proto: 1, hdr: HDR.full, dport: 0 }))).toEqual([]);
    // A short TCP header: the tcp rules are (the kernel would hotdrop), through the header state.
    const short = candidates(packet({ hdr: HDR.short }));
    expect(short.length).toBe(blocks);
  });

  it('shares one level-1 entry between the classes of a block of single-address rules', () => {
    // 1,000 rules, each its own /32: 1,000 source classes (plus the rest of the space), but
    // classes accepted by slots of the same block have the same bitmaps.
    const addr = (i: number) => `10.0.${i >> 8}.${i & 255}`;
    const rules = Array.from({ length: 1000 }, (_, i) => rule({ src: [addr(i)], target: 'DROP' }));
    const { slots, index } = slotsOf([chain('INPUT', rules)]);
    const src4 = index.fields.find((f) => f.field.id === 'src4')!;
    expect(src4.classCount).toBeGreaterThanOrEqual(1000);
    expect(src4.l1Count).toBeLessThanOrEqual(Math.ceil(slots.length / 64) + 2);
    // Distinct classes keep distinct ids (level 2 and stage 1 use them); the ids of the addresses
    // of one block name the same entry, those of different blocks different entries.
    const ids = new Set(src4.regionClass);
    expect(ids.size).toBe(src4.classCount);
    const classOf = (i: number) => classesOf(index, effectiveValues(packet({ src4: ip(addr(i)) })))[index.fields.indexOf(src4)]!;
    expect(l1Entry(src4, classOf(0))).toBe(l1Entry(src4, classOf(63)));
    expect(l1Entry(src4, classOf(64))).not.toBe(l1Entry(src4, classOf(63)));
    for (const i of [0, 1, 63, 64, 500, 999]) {
      const values = effectiveValues(packet({ src4: ip(addr(i)) }));
      expect(searchIndex(index, values, 0, slots.length)).toBe(i);
    }
    expect(searchIndex(index, effectiveValues(packet({ src4: ip('10.0.3.232') })), 0, slots.length)).toBe(searchLinear(slots, effectiveValues(packet({ src4: ip('10.0.3.232') })), 0, slots.length, bitsOf));
  });

  it('numbers level-1 entries so that every class id fits in 32 bits', () => {
    // One group of 2^20 classes and 4,100 single ones: 20 bits would need 4,101 * 2^20 ids.
    const sizes = [2 ** 20, ...Array<number>(4100).fill(1)];
    const shift = l1ShiftFor(sizes);
    expect(shift).toBe(19);
    expect(sizes.reduce((n, s) => n + Math.ceil(s / 2 ** shift), 0) * 2 ** shift).toBeLessThanOrEqual(2 ** 32);
    expect(l1ShiftFor([1, 1, 1])).toBe(0);
    expect(l1ShiftFor([5, 2])).toBe(3);
  });

  it('finds the first matching rule with nested prefixes and negations', () => {
    const { slots, index } = slotsOf([
      chain('INPUT', [
        rule({ src: ['10.0.0.0/8'], srcNeg: true, target: 'DROP' }),
        rule({ src: ['10.1.0.0/16'], target: 'LOG' }),
        rule({ src: ['10.1.2.0/24'], target: { reject: 'icmp-port-unreachable' } }),
        rule({ target: 'ACCEPT' }),
      ]),
    ]);
    const first = (src: string) => searchIndex(index, packet({ src4: ip(src) }), 0, slots.length);
    expect(first('192.0.2.1')).toBe(0);
    expect(first('10.1.2.3')).toBe(1);
    expect(first('10.9.9.9')).toBe(3);
    expect(searchIndex(index, packet({ src4: ip('10.1.2.3') }), 2, slots.length)).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: the index search equals a linear scan of the slots, for random rules and packets.

const ADDRS = ['192.0.2.0/24', '192.0.2.1', '192.0.2.128/25', '198.51.100.0/24', '10.0.0.0/8', '10.1.0.0/16', '0.0.0.0/1'];
const PORTS: [number, number][] = [[22, 22], [80, 80], [1024, 65535], [0, 1023], [53, 53], [8000, 8100]];

const arbMatch: fc.Arbitrary<{ proto: number; matches: Match[] }> = fc.oneof(
  fc.record({ d: fc.constantFrom(...PORTS), neg: fc.boolean(), f: fc.option(fc.constantFrom<[number, number]>([0x17, 0x02], [0x04, 0x04], [0x12, 0x10])) }).map(({ d, neg, f }) => ({
    proto: 6,
    matches: [tcp({ dport: d, dportNeg: neg, ...(f ? { flags: f } : {}) })],
  })),
  fc.record({ s: fc.constantFrom(...PORTS) }).map(({ s }) => ({ proto: 17, matches: [udp({ sport: s })] })),
  fc.record({ dir: fc.constantFrom<'sports' | 'dports' | 'ports'>('sports', 'dports', 'ports'), ps: fc.subarray(PORTS, { minLength: 1 }), neg: fc.boolean() }).map(
    ({ dir, ps, neg }) => ({ proto: 6, matches: [multiport(dir, ps, neg)] }),
  ),
  fc.record({ t: fc.constantFrom(0, 3, 8, 255), neg: fc.boolean() }).map(({ t, neg }) => ({ proto: 1, matches: [icmp(t, [0, 255], neg)] })),
  fc.record({ m: fc.constantFrom(0, 1, 5) }).map(({ m }) => ({ proto: 6, matches: [mark(m, 0xff)] })),
);

const arbRule: fc.Arbitrary<Rule> = fc
  .record({
    src: fc.option(fc.subarray(ADDRS, { minLength: 1, maxLength: 2 })),
    srcNeg: fc.boolean(),
    dst: fc.option(fc.constantFrom(...ADDRS)),
    iif: fc.option(fc.constantFrom('eth0', 'eth+', 'lo', '+')),
    iifNeg: fc.boolean(),
    m: fc.option(arbMatch),
    frag: fc.option(fc.boolean()),
    target: fc.constantFrom<'ACCEPT' | 'DROP' | 'LOG' | null>('ACCEPT', 'DROP', 'LOG', null),
  })
  .map((r) =>
    rule({
      ...(r.src ? { src: r.src, srcNeg: r.srcNeg } : {}),
      ...(r.dst ? { dst: [r.dst] } : {}),
      ...(r.iif ? { iif: r.iif, iifNeg: r.iifNeg } : {}),
      ...(r.m ? { proto: r.m.proto, matches: r.m.matches } : {}),
      ...(r.frag !== null ? { frag: true, fragNeg: r.frag } : {}),
      target: r.target,
    }),
  );

const arbPacket = fc.record({
  src4: fc.constantFrom('192.0.2.1', '192.0.2.200', '10.1.2.3', '10.2.0.1', '198.51.100.7', '203.0.113.9').map(ip),
  dst4: fc.constantFrom('192.0.2.1', '10.1.0.1', '198.51.100.1').map(ip),
  iif: fc.constantFrom('eth0', 'eth1', 'lo', 'wlan0').map(nameValue),
  proto: fc.constantFrom(1, 6, 17, 47),
  sport: fc.constantFrom(22, 53, 80, 1023, 1024, 8050, 65535),
  dport: fc.constantFrom(22, 53, 80, 1023, 1024, 8050, 65535),
  hdr: fc.constantFrom(HDR.full, HDR.full, HDR.full, HDR.short, HDR.none, HDR.frag, HDR.frag1, HDR.noproto),
  tcpflags: fc.integer({ min: 0, max: 255 }),
  icmp: fc.constantFrom(0, 0x300, 0x303, 0x800, 0xff00),
  mark: fc.integer({ min: 0, max: 7 }),
});

describe('index property', () => {
  it('searching the index equals scanning the slots, from any start; whole lists agree', () => {
    fc.assert(
      fc.property(fc.array(arbRule, { minLength: 1, maxLength: 150 }), fc.array(arbPacket, { minLength: 1, maxLength: 8 }), (rules, packets) => {
        const { slots, index } = slotsOf([chain('INPUT', rules, 'DROP')]);
        for (const p of packets) {
          const values = effectiveValues(packet(p));
          for (const start of [0, 1, 63, 64, 65, slots.length - 1]) {
            if (start < 0 || start >= slots.length) continue;
            expect(searchIndex(index, values, start, slots.length)).toBe(searchLinear(slots as Slot[], values, start, slots.length, bitsOf));
          }
          const inputs = { mark: p.mark, hdr: p.hdr };
          const byIndex = runList(slots, 0, slots.length, (s) => searchIndex(index, values, s, slots.length), inputs);
          const linear = runList(slots, 0, slots.length, (s) => searchLinear(slots, values, s, slots.length, bitsOf), inputs);
          expect(byIndex).toEqual(linear);
        }
      }),
      { numRuns: 300 },
    );
  });
});
