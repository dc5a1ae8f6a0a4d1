/**
 * Pure parts of counting: slot identities (how counters follow rules through a replace),
 * carry-over, grouping into chains in source order, iptables' number format, and the maps.json
 * adapter (counter slots and generation entries of a real compiled ruleset).
 */
import { describe, expect, it } from 'vitest';
import type { CounterSlot } from '../src/runtime/artifact.js';
import { slotIdentities } from '../src/runtime/artifact.js';
import { carryOver, countsByIdentity } from '../src/runtime/counters.js';
import { artifactFromManifest, counterSlots, generationSelector, rulesetEntries } from '../src/runtime/manifest.js';
import { formatCount, formatStats, groupStats } from '../src/runtime/stats.js';
import { parseRulesFiles } from '../src/commands/apply.js';
import { compile } from '../src/compiler/compile.js';

const rule = (index: number, line: number, text: string, chain = 'INPUT', extra: Partial<CounterSlot> = {}): CounterSlot => ({
  index,
  family: 'ipv4',
  chain,
  kind: 'rule',
  rule: { file: 'r.rules', line, text },
  ...extra,
});
const policy = (index: number, chain = 'INPUT'): CounterSlot => ({ index, family: 'ipv4', chain, kind: 'policy', policy: 'ACCEPT' });

describe('runtime: counter identities and carry-over', () => {
  it('identifies rules by family, chain, text, copy and occurrence; slots of one source rule share it', () => {
    const slots = [
      rule(0, 3, '-A INPUT -j DROP'),
      rule(1, 3, '-A INPUT -j DROP'), // same source rule, another slot (inlined twice)
      rule(2, 5, '-A INPUT -j DROP'), // the same text again on another line: occurrence 2
      rule(3, 6, '-A INPUT -s 192.0.2.1,192.0.2.2 -j DROP', 'INPUT', { expansion: 1, expansions: 2 }),
      policy(4),
    ];
    const ids = slotIdentities(slots);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).not.toBe(ids[0]);
    expect(ids[2]).toMatch(/#2$/);
    expect(ids[3]).toContain('copy1/2');
    expect(ids[4]).toBe('ipv4|INPUT|:policy');
  });

  it('carries counts of rules that survive, drops those of removed rules', () => {
    const oldSlots = [rule(0, 3, '-A INPUT -p udp -j DROP'), rule(1, 4, '-A INPUT -p tcp -j DROP'), policy(2)];
    const newSlots = [rule(7, 9, '-A INPUT -p icmp -j DROP'), rule(8, 10, '-A INPUT -p udp -j DROP'), policy(9)];
    const carried = carryOver(
      { 'ipv4|INPUT|-A INPUT -p udp -j DROP|#1': { packets: 10, bytes: 1000 } },
      oldSlots,
      [
        { packets: 1, bytes: 50 },
        { packets: 2, bytes: 80 },
        { packets: 3, bytes: 90 },
      ],
      newSlots,
    );
    expect(carried).toEqual({
      'ipv4|INPUT|-A INPUT -p udp -j DROP|#1': { packets: 11, bytes: 1050 },
      'ipv4|INPUT|:policy': { packets: 3, bytes: 90 },
    });
    expect(countsByIdentity(oldSlots, [{ packets: 1, bytes: 1 }, { packets: 1, bytes: 1 }, { packets: 1, bytes: 1 }])).toHaveProperty(['ipv4|INPUT|:policy']);
  });

  it('groups into chains in first-appearance order and rules in source order', () => {
    const slots = [rule(0, 9, '-A INPUT -j B'), rule(1, 4, '-A INPUT -j A'), rule(2, 12, '-A X -j DROP', 'X'), policy(3)];
    const ids = slotIdentities(slots);
    const chains = groupStats(slots, { [ids[0]!]: { packets: 5, bytes: 500 }, [ids[3]!]: { packets: 1, bytes: 60 } });
    expect(chains.map((c) => c.chain)).toEqual(['INPUT', 'X']);
    expect(chains[0]!.rules.map((r) => [r.line, r.packets, r.target])).toEqual([
      [4, 0, 'A'],
      [9, 5, 'B'],
    ]);
    expect(chains[0]!.policyCount).toEqual({ packets: 1, bytes: 60 });
    expect(chains[1]!.policy).toBeUndefined();
  });

  it('prints counts like iptables -L -v (K, M, G above 99999)', () => {
    expect([0, 99999, 100000, 123456, 9999499, 9999500, 12345678901].map(formatCount)).toEqual(['0', '99999', '100K', '123K', '9999K', '10M', '12G']);
  });
});

describe('runtime: maps.json adapter on a compiled ruleset', () => {
  const v4 = { file: 'a.rules', text: '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -s 192.0.2.1,192.0.2.2 -p tcp --dport 23 -j REJECT --reject-with tcp-reset\n-A INPUT -p udp -j DROP\nCOMMIT\n' };
  const v6 = { file: 'b.rules', text: '*filter\n:INPUT DROP [0:0]\n-A INPUT -p ipv6-icmp -j ACCEPT\nCOMMIT\n' };
  const parsed = parseRulesFiles([v4, v6]);
  const result = compile(parsed.ruleset, { hook: 'tc' });

  it('merges an IPv4 and an IPv6 file into one ruleset and refuses two files of one family', () => {
    expect(parsed.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(parsed.ruleset.families.map((f) => f.family)).toEqual(['ipv4', 'ipv6']);
    expect(parsed.ruleset.file).toBe('a.rules + b.rules');
    expect(() => parseRulesFiles([v4, { ...v4, file: 'c.rules' }])).toThrow(/both have ipv4 rules/);
  });

  it('gives counter slots per generation: one per kernel rule (each address copy), one per policy', () => {
    const maps = result.artifacts!.maps;
    const g0 = counterSlots(maps, 0);
    const g1 = counterSlots(maps, 1);
    const rules = g0.filter((s) => s.kind === 'rule');
    expect(rules.map((s) => [s.family, s.chain, s.rule!.file, s.rule!.line, s.expansion, s.expansions])).toEqual([
      ['ipv4', 'INPUT', 'a.rules', 5, 0, 2],
      ['ipv4', 'INPUT', 'a.rules', 5, 1, 2],
      ['ipv4', 'INPUT', 'a.rules', 6, undefined, undefined],
      ['ipv6', 'INPUT', 'b.rules', 3, undefined, undefined],
    ]);
    expect(g0.filter((s) => s.kind === 'policy').map((s) => `${s.family} ${s.chain} ${s.policy}`)).toEqual(
      expect.arrayContaining(['ipv4 INPUT ACCEPT', 'ipv4 FORWARD DROP', 'ipv6 INPUT DROP']),
    );
    const stride = maps.shape.counters;
    expect(g1.map((s) => s.index)).toEqual(g0.map((s) => s.index + stride));
    const text = formatStats({ ifname: 'x', hook: 'tc', source: 's', appliedAt: 't', instance: 1, gen: 0, chains: groupStats(g0, {}), replies: { sent: {}, suppressed: {} } });
    expect(text).toContain('(a.rules:5, address 2 of 2)');
    expect(text).toMatch(/# ip6tables\nChain INPUT \(policy DROP 0 packets, 0 bytes\)\n.*\n +0 +0 ACCEPT +-A INPUT -p ipv6-icmp -j ACCEPT  \(b\.rules:3\)/);
  });

  it('addresses generation 1 by index offset or key field, and selects it in rjc_gen', () => {
    const maps = result.artifacts!.maps;
    const e0 = new Map(rulesetEntries(maps, 0).map((e) => [e.name, e.entries]));
    const e1 = new Map(rulesetEntries(maps, 1).map((e) => [e.name, e.entries]));
    for (const m of maps.maps.filter((x) => x.role === 'ruleset' && x.entries?.count)) {
      const a = e0.get(m.name)!;
      const b = e1.get(m.name)!;
      expect(b.map((x) => x.value.toString('hex'))).toEqual(a.map((x) => x.value.toString('hex')));
      if (m.generation.kind === 'index') expect(b[0]!.key.readUInt32LE(0)).toBe(a[0]!.key.readUInt32LE(0) + m.generation.stride);
      if (m.generation.kind === 'key') expect(b.every((x) => x.key.readUInt32LE((m.generation as { offset: number }).offset) === 1)).toBe(true);
    }
    expect(generationSelector(maps, 1).entries[0]!.value.readUInt32LE(0)).toBe(1);
    const art = artifactFromManifest(maps, '/x.o');
    expect(art.programs).toEqual({ ingress: 'rjc_tc_ingress' });
    expect(art.shape).toBe(maps.shape.id);
    expect(art.mapEntries.at(-1)!.name).toBe(maps.generation.map);
  });
});
