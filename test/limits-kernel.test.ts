// The model against the running kernel, in throwaway namespaces (test/support/netns.ts):
// frames are sent from namespace a at known times (test/fixtures/limits/send-frames.c prints
// when each left, on the clock nft's limit uses), namespace b runs iptables rules, and b's
// rule counters say how many packets the kernel let through or how many ICMP errors it sent.
// The model is fed the same send times. Jiffies are not visible from user space, so for the
// jiffies-based algorithms the model is run for every phase of the jiffy clock (and a small
// delivery delay); the kernel's count must be one of those outcomes, and the test also checks
// that the outcomes are few, so it cannot pass by accident.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HashlimitMatch } from '../src/compiler/ir.js';
import { parseRuleset } from '../src/compiler/frontend.js';
import { evaluateRuleset } from '../src/model/evaluate.js';
import { decodeIp } from '../src/model/packet.js';
import {
  HashlimitTable,
  KernelIcmpLimiter,
  LimitMatcher,
  RateLimitState,
  planRateLimits,
  hashlimitCfg3,
  hashlimitPacketFromIp,
  hashlimitTableParams,
  limitParams,
} from '../src/model/limits/index.js';
import { compileSender, frameAtoB, icmpSysctls, kernelHz, modelIcmpCounts, outcomes, ruleCounters, rules, sendSchedule, type Scheduled } from './fixtures/limits/kernel-harness.js';
import { tempDir } from './fixtures/limits/bpf-harness.js';
import { canUseKernel, withPair, type Pair } from './support/netns.js';
import { ipv4, ipv6, udp } from './support/packets.js';

const root = canUseKernel();
const span = { file: 't', start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 1, offset: 0 } };

/** Delivery delays (ns) considered between the sender's timestamp and the hook. */
const DELAYS = [0n, 50_000n, 300_000n];

describe.skipIf(!root)('rate limits: model vs kernel (namespaces)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let sender: string;
  let hz: number;
  let jiffyNs: bigint;
  /** Phases of the jiffy clock against CLOCK_MONOTONIC, in ns: 8 steps per jiffy. */
  let phases: bigint[];

  beforeAll(() => {
    tmp = tempDir();
    sender = compileSender(tmp.dir);
    hz = kernelHz();
    jiffyNs = 1_000_000_000n / BigInt(hz);
    phases = Array.from({ length: 8 }, (_, i) => (jiffyNs * BigInt(i)) / 8n);
  });
  afterAll(() => tmp?.cleanup());

  /** Jiffies at monotonic time `ns` for a phase (any fixed epoch works: only differences count). */
  const jiffiesAt = (ns: bigint, phase: bigint) => 4_294_667_296n + (ns + phase) / jiffyNs;

  /** UDP frames from a to b's port 9. */
  function udpFrame(p: Pair, src: string, family: 'ipv4' | 'ipv6' = 'ipv4', sport = 40000): Uint8Array {
    const l4 = udp({ sport, dport: 9, payload: [1, 2, 3, 4] });
    const pkt = family === 'ipv4' ? ipv4({ src, dst: p.endB.ipv4 }, l4) : ipv6({ src, dst: p.endB.ipv6 }, l4);
    return frameAtoB(p, pkt);
  }

  /** `burst` frames back to back, then `n` frames `gapMs` apart. */
  function schedule(frame: (i: number) => Uint8Array, burst: number, n: number, gapMs: number): Scheduled[] {
    const out: Scheduled[] = [];
    for (let i = 0; i < burst; i++) out.push({ atUs: 0, frame: frame(i) });
    for (let i = 1; i <= n; i++) out.push({ atUs: i * gapMs * 1000, frame: frame(burst + i) });
    return out;
  }

  for (const backend of ['nft', 'legacy'] as const) {
    it(`-m limit --limit 3/s --limit-burst 4 (${backend}): the kernel passes what the model predicts`, async () => {
      await withPair(async (p) => {
        const tool = backend === 'nft' ? 'iptables' : 'iptables-legacy';
        rules(p.b, tool, ['-A INPUT -p udp --dport 9 -m limit --limit 3/s --limit-burst 4', '-A INPUT -p udp --dport 9 -j DROP']);
        const frame = udpFrame(p, p.endA.ipv4);
        const sched = schedule(() => frame, 7, 14, 110);
        const sent = sendSchedule(sender, p.a, p.ifA, sched);
        // The limit rule has no target: it only counts; every packet reaches the DROP rule.
        const [passed, total] = ruleCounters(p.b, tool, 'INPUT');
        expect(total).toBe(sched.length);

        const lim = limitParams({ avg: Math.floor(10_000 / 3), burst: 4 }, backend, hz);
        if (!lim.ok) throw new Error(lim.reason);
        const cases = DELAYS.flatMap((d) => phases.map((ph) => ({ d, ph })));
        const predicted = outcomes(cases, ({ d, ph }) => {
          const m = new LimitMatcher(lim.params);
          return sent.filter((t) => m.match({ ns: t + d, jiffies: jiffiesAt(t + d, ph) })).length;
        });
        console.log(`limit ${backend}: kernel passed ${passed} of ${sched.length}; model: ${predicted.join(' or ')}`);
        expect(predicted.length).toBeLessThanOrEqual(2);
        expect(predicted).toContain(passed);
      });
    });
  }

  it('-m limit --limit-burst 0: nft uses a burst of 5, iptables-legacy refuses the rule (as the model says)', async () => {
    await withPair(async (p) => {
      rules(p.b, 'iptables', ['-A INPUT -p udp --dport 9 -m limit --limit 1/min --limit-burst 0', '-A INPUT -p udp --dport 9 -j DROP']);
      const frame = udpFrame(p, p.endA.ipv4);
      const sent = sendSchedule(sender, p.a, p.ifA, schedule(() => frame, 10, 0, 0));
      const lim = limitParams({ avg: 600_000, burst: 0 }, 'nft', hz);
      if (!lim.ok) throw new Error(lim.reason);
      const m = new LimitMatcher(lim.params);
      const predicted = sent.filter((t) => m.match({ ns: t, jiffies: 0n })).length;
      expect(predicted).toBe(5);
      expect(ruleCounters(p.b, 'iptables', 'INPUT')[0]).toBe(predicted);
    });
  });

  it('rule refusals: the kernel refuses exactly the -m limit settings the model refuses, per back-end', async () => {
    await withPair(async (p) => {
      const cases = [
        { spec: '1/day --limit-burst 1', avg: 864_000_000, burst: 1 },
        { spec: '1/day --limit-burst 5', avg: 864_000_000, burst: 5 },
        { spec: '1/hour --limit-burst 37', avg: 36_000_000, burst: 37 },
        { spec: '1/hour --limit-burst 38', avg: 36_000_000, burst: 38 },
        { spec: '10/s --limit-burst 0', avg: 1000, burst: 0 },
        { spec: '2/s --limit-burst 10000', avg: 5000, burst: 10_000 },
      ];
      for (const backend of ['nft', 'legacy'] as const) {
        const tool = backend === 'nft' ? 'iptables' : 'iptables-legacy';
        for (const c of cases) {
          const res = p.b.exec([tool, '-w', '-A', 'INPUT', '-m', 'limit', '--limit', ...c.spec.split(' ')], { allowFail: true });
          const model = limitParams({ avg: c.avg, burst: c.burst }, backend, hz);
          expect({ backend, spec: c.spec, accepted: res.status === 0 }).toEqual({ backend, spec: c.spec, accepted: model.ok });
        }
      }
    });
  });

  it('-m hashlimit --hashlimit-upto 4/s --hashlimit-burst 2 --hashlimit-mode srcip, three sources', async () => {
    await withPair(async (p) => {
      rules(p.b, 'iptables', [
        '-A INPUT -p udp --dport 9 -m hashlimit --hashlimit-upto 4/s --hashlimit-burst 2 --hashlimit-mode srcip --hashlimit-name rjclim',
        '-A INPUT -p udp --dport 9 -j DROP',
      ]);
      const sources = ['192.0.2.11', '192.0.2.12', '192.0.2.13'];
      const frames = sources.map((s) => udpFrame(p, s));
      // 4 from each source back to back, then rounds of one per source 90 ms apart.
      const sched = schedule((i) => frames[i % 3]!, 12, 30, 30);
      const sent = sendSchedule(sender, p.a, p.ifA, sched);
      const [passed] = ruleCounters(p.b, 'iptables', 'INPUT');

      const m: HashlimitMatch = { kind: 'match', module: 'hashlimit', span, direction: 'upto', avg: 250_000, burst: 2, mode: ['srcip'], name: 'rjclim' };
      const r = hashlimitTableParams(hashlimitCfg3(m, 'ipv4'), 'ipv4', 'rjclim', hz);
      if (!r.ok) throw new Error(r.reason);
      const ips = sched.map((s) => hashlimitPacketFromIp(s.frame.subarray(14))!);
      const cases = DELAYS.flatMap((d) => phases.map((ph) => ({ d, ph })));
      const predicted = outcomes(cases, ({ d, ph }) => {
        const t = new HashlimitTable(r.params);
        return sent.filter((ns, i) => t.match(ips[i]!, r.params.mode, jiffiesAt(ns + d, ph)) === 'match').length;
      });
      console.log(`hashlimit: kernel passed ${passed} of ${sched.length}; model: ${predicted.join(' or ')}`);
      expect(predicted.length).toBeLessThanOrEqual(2);
      expect(predicted).toContain(passed);
      // Each source got its own bucket: far more than one bucket's worth passed.
      expect(passed).toBeGreaterThan(2 + 4);
    });
  });

  it('hashlimit tables are shared by name: the first rule sets the bucket for both (kernel and plan agree)', async () => {
    await withPair(async (p) => {
      const lines = [
        '-A INPUT -p udp --dport 9 -m hashlimit --hashlimit-upto 1/min --hashlimit-burst 3 --hashlimit-mode srcip --hashlimit-name shared',
        '-A INPUT -p udp --dport 9 -m hashlimit --hashlimit-upto 100/sec --hashlimit-burst 50 --hashlimit-mode srcip --hashlimit-name shared',
      ];
      rules(p.b, 'iptables', lines);
      const frame = udpFrame(p, p.endA.ipv4);
      const sched = schedule(() => frame, 10, 0, 0);
      const sent = sendSchedule(sender, p.a, p.ifA, sched);
      const kernel = ruleCounters(p.b, 'iptables', 'INPUT');

      const text = ['*filter', ':INPUT ACCEPT [0:0]', ...lines, 'COMMIT', ''].join('\n');
      const ruleset = parseRuleset(text, 'shared.rules').ruleset;
      const plan = planRateLimits(ruleset, hz);
      expect(plan.tables).toHaveLength(1);
      expect(plan.diagnostics.map((d) => d.code)).toEqual(['W260']);
      const state = new RateLimitState(plan);
      const matches = ruleset.families[0]!.tables[0]!.chains[0]!.rules.map((r) => r.matches.find((m) => m.module === 'hashlimit') as HashlimitMatch);
      const model = [0, 0];
      for (const t of sent) {
        matches.forEach((m, i) => {
          if (state.hashlimit(m, sched[0]!.frame.subarray(14), { ns: t, jiffies: jiffiesAt(t, 0n) }) === 'match') model[i]!++;
        });
      }
      console.log(`shared hashlimit: kernel counters ${kernel.join(', ')}; model ${model.join(', ')}`);
      // With its own table the second rule would have matched all 10.
      expect(model).toEqual([2, 1]);
      expect(kernel).toEqual(model);
    });
  });

  it('a rate-limit match spends its token when reached, even if a later match fails (kernel and model walk agree)', async () => {
    await withPair(async (p) => {
      const lines = [
        '-A INPUT -p udp -m limit --limit 1/min --limit-burst 1 -m udp --dport 53',
        '-A INPUT -p udp -m udp --dport 53 -m limit --limit 1/min --limit-burst 1',
      ];
      rules(p.b, 'iptables', lines);
      const pkt = (dport: number) => ipv4({ src: p.endA.ipv4, dst: p.endB.ipv4 }, udp({ sport: 40000, dport, payload: [1, 2, 3, 4] }));
      const sched = [54, 53].map((dport, i) => ({ atUs: i * 1000, frame: frameAtoB(p, pkt(dport)) }));
      const sent = sendSchedule(sender, p.a, p.ifA, sched);
      const kernel = ruleCounters(p.b, 'iptables', 'INPUT');

      const ruleset = parseRuleset(['*filter', ':INPUT ACCEPT [0:0]', ...lines, 'COMMIT', ''].join('\n'), 'order.rules').ruleset;
      const state = new RateLimitState(planRateLimits(ruleset, hz));
      const model = [0, 0];
      sent.forEach((t, i) => {
        const d = evaluateRuleset(ruleset, decodeIp(sched[i]!.frame.subarray(14)), { chain: 'INPUT', rateLimits: state, now: { ns: t, jiffies: jiffiesAt(t, 0n) } });
        for (const c of d.counters) if (c.kind === 'rule') model[c.index]!++;
      });
      // The dport 54 packet took the first rule's only token; the second rule never saw it.
      expect(kernel).toEqual([0, 1]);
      expect(model).toEqual(kernel);
    });
  });

  for (const family of ['ipv4', 'ipv6'] as const) {
    it(`back-to-back UDP at an icmp${family === 'ipv6' ? '6' : ''}-port-unreachable REJECT: as many errors as the model predicts (±1)`, async () => {
      await withPair(async (p) => {
        const tool = family === 'ipv4' ? 'iptables' : 'ip6tables';
        rules(p.b, tool, [
          '-A INPUT -p udp --dport 9 -j REJECT',
          family === 'ipv4' ? '-A OUTPUT -p icmp --icmp-type destination-unreachable' : '-A OUTPUT -p ipv6-icmp --icmpv6-type destination-unreachable',
        ]);
        const src = family === 'ipv4' ? p.endA.ipv4 : p.endA.ipv6;
        const frame = udpFrame(p, src, family);
        const sched = schedule(() => frame, 50, 0, 0);
        const sent = sendSchedule(sender, p.a, p.ifA, sched);
        await new Promise((res) => setTimeout(res, 50));
        const [replies] = ruleCounters(p.b, tool, 'OUTPUT');

        const sysctls = icmpSysctls(p.b, hz);
        const peer = hashlimitPacketFromIp(sched[0]!.frame.subarray(14))!.src;
        const predicted = outcomes(phases, (ph) => {
          const k = new KernelIcmpLimiter(sysctls);
          return sent.filter((t) => k.allow(family, family === 'ipv4' ? 3 : 1, family === 'ipv4' ? 3 : 4, peer, jiffiesAt(t, ph), 1) === 'sent').length;
        });
        console.log(`${family} ICMP: kernel sent ${replies} errors for ${sched.length} packets; model: ${predicted.join(' or ')}`);
        expect(predicted.length).toBe(1);
        expect(Math.abs(replies! - predicted[0]!)).toBeLessThanOrEqual(1);
      });
    });
  }

  it('many sources, IPv4 and IPv6 together: the shared global bucket caps the errors like the model', async () => {
    await withPair(async (p) => {
      rules(p.b, 'iptables', ['-A INPUT -p udp --dport 9 -j REJECT', '-A OUTPUT -p icmp --icmp-type destination-unreachable']);
      rules(p.b, 'ip6tables', ['-A INPUT -p udp --dport 9 -j REJECT', '-A OUTPUT -p ipv6-icmp --icmpv6-type destination-unreachable']);
      const frames: Uint8Array[] = [];
      for (let i = 0; i < 120; i++) {
        frames.push(udpFrame(p, `192.0.2.${10 + i}`, 'ipv4'));
        frames.push(udpFrame(p, `2001:db8::${(0x100 + i).toString(16)}`, 'ipv6'));
      }
      const sched = frames.map((frame) => ({ atUs: 0, frame }));
      const sent = sendSchedule(sender, p.a, p.ifA, sched);
      await new Promise((res) => setTimeout(res, 50));
      const replies = ruleCounters(p.b, 'iptables', 'OUTPUT')[0]! + ruleCounters(p.b, 'ip6tables', 'OUTPUT')[0]!;

      // The kernel takes 0, 1 or 2 credits per error at random: simulate many draws.
      const counts = modelIcmpCounts(sched.map((s) => s.frame.subarray(14)), sent, icmpSysctls(p.b, hz), 400);
      const lo = counts[0]!;
      const hi = counts[counts.length - 1]!;
      console.log(`global: kernel sent ${replies} errors for ${sched.length} packets from 240 sources; model ${lo}..${hi} (median ${counts[200]})`);
      // Far fewer than one per source (the global bucket binds), within the model's range.
      expect(hi).toBeLessThan(sched.length / 2);
      expect(replies).toBeGreaterThanOrEqual(lo - 1);
      expect(replies).toBeLessThanOrEqual(hi + 1);
    });
  });
});
