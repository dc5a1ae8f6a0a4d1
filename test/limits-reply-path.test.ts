// rejectc's reply budget on a live interface, kernel vs rejectc. The BPF reply path (bpf/rjc.h,
// through test/fixtures/limits/reject_all.bpf.c, which REJECTs every packet reaching INPUT like
// `-A INPUT -j REJECT --reject-with <type>`) is attached at TC ingress of namespace b, with
// its host maps and reply budget filled as `rejectc apply` fills them; namespace a sends and
// counts the replies that come back, on the wire (raw PREROUTING). Proves:
// - a SYN flood from many spoofed sources gets no more RSTs than burst + rate × time, they do
//   flow, and the per-source LRU map stays within its size while more sources get replies;
// - back-to-back UDP at an ICMP (and ICMPv6) port-unreachable REJECT gets as many errors from
//   rejectc as from the kernel (±1), with the budget derived from the host's sysctls;
// - 240 sources at once, IPv4 and IPv6 together, hit the shared global bucket in rejectc as in
//   the kernel (both within the model's range for the random credit draws).
// Needs root.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyReplyLimitOps, defaultReplyLimitSettings, parseReplyLimitSpec, resolveReplyBudget } from '../src/compiler/reply-limit.js';
import { KernelIcmpLimiter, encodeBudget, hashlimitPacketFromIp, summarizeBudgetStats, type BudgetStats, type ReplyBudgetParams } from '../src/model/limits/index.js';
import { readHostConfig } from '../src/runtime/host-config.js';
import { writeHostMaps } from '../src/runtime/host-maps.js';
import { BpfObject, attachTc, detachTc, numPossibleCpus, u32 } from '../src/runtime/libbpf.js';
import { tempDir } from './fixtures/limits/bpf-harness.js';
import { compileSender, frameAtoB, icmpSysctls, kernelHz, ruleCounters, rules, sendSchedule, type Scheduled } from './fixtures/limits/kernel-harness.js';
import { canUseKernel, withPair, type Pair } from './support/netns.js';
import { ipv4, ipv6, tcp, udp } from './support/packets.js';

const root = canUseKernel();
/** Entries of rjc_budget_peers in this build: small, so that a flood overflows it. */
const PEERS = 64;

/** Reject codes of src/layout/codes.ts. */
const REJECT = { tcpReset: 1, icmpPort: 5, icmp6Port: 12 } as const;

describe.skipIf(!root)('reply budget on a live interface: kernel vs rejectc', () => {
  let tmp: ReturnType<typeof tempDir>;
  let sender: string;
  let object: string;
  let hz: number;

  beforeAll(() => {
    tmp = tempDir();
    sender = compileSender(tmp.dir);
    hz = kernelHz();
    object = join(tmp.dir, 'reject_all.o');
    const repo = join(import.meta.dirname, '..');
    execFileSync('clang', ['-target', 'bpf', '-O2', '-g', '-Wall', `-I${join(repo, 'bpf')}`, `-DRJC_BUDGET_PEERS=${PEERS}`, '-c', join(repo, 'test/fixtures/limits/reject_all.bpf.c'), '-o', object], { stdio: 'pipe' });
  });
  afterAll(() => tmp?.cleanup());

  /** The budget `rejectc apply --reply-limit spec` gives on b. */
  function budgetOn(p: Pair, spec?: string): ReplyBudgetParams {
    const parsed = spec === undefined ? { ops: [], diagnostics: [] } : parseReplyLimitSpec(spec);
    expect(parsed.diagnostics).toEqual([]);
    return resolveReplyBudget(applyReplyLimitOps(defaultReplyLimitSettings(), parsed.ops), icmpSysctls(p.b, hz));
  }

  /**
   * Runs `fn` with rejectc REJECTing everything at b's ingress (IPv4 with `with4`, IPv6 with
   * `with6`); returns fn's result, the budget counters and the per-source entries in use.
   */
  async function withRejectc<T>(p: Pair, with4: number, with6: number, budget: ReplyBudgetParams, fn: () => Promise<T> | T): Promise<{ result: T; stats: BudgetStats; peers: number }> {
    const obj = BpfObject.open(object);
    try {
      obj.load();
      p.b.run(() => writeHostMaps(obj, readHostConfig([p.ifB])));
      obj.map('rjc_test_reject').update(u32(0), Buffer.from([with4, with6, 0, 0]));
      for (const { index, value } of encodeBudget(budget)) obj.map('rjc_budget_cfg').update(u32(index), value);
      const id = { ifindex: p.b.ifindex(p.ifB), direction: 'ingress' as const, handle: 0x52, priority: 1 };
      p.b.run(() => attachTc(obj.program('reject_all'), id));
      try {
        const result = await fn();
        const perIndex = Array.from({ length: 9 }, (_, i) => obj.map('rjc_budget_stats').lookupPerCpu(u32(i))!.reduce((a, b) => a + b.readBigUInt64LE(0), 0n));
        expect(obj.map('rjc_budget_peers').maxEntries).toBe(PEERS);
        return { result, stats: summarizeBudgetStats(perIndex), peers: [...obj.map('rjc_budget_peers').keys()].length };
      } finally {
        p.b.run(() => detachTc(id));
      }
    } finally {
      obj.close();
    }
  }

  const frame = frameAtoB;

  it('a spoofed SYN flood never gets more RSTs than burst + rate × time, and the source table stays bounded', async () => {
    await withPair(async (p) => {
      // b routes replies to the spoofed sources back through a; a counts the RSTs it receives.
      p.b.exec(['ip', 'route', 'add', 'default', 'via', p.endA.ipv4]);
      rules(p.a, 'iptables', ['-t raw -A PREROUTING -p tcp --tcp-flags RST RST']);
      const budget = budgetOn(p, `rst.rate=200/s,rst.burst=30,rst.per-source=100ms,rst.per-source-burst=6,sources=${PEERS}`);
      // 767 spoofed sources (three documentation /24s), 6000 SYNs spread over ~1.2 s.
      const sources = ['192.0.2', '198.51.100', '203.0.113'].flatMap((net) => Array.from({ length: 256 }, (_, i) => `${net}.${i}`)).filter((s) => s !== p.endB.ipv4);
      const sched: Scheduled[] = Array.from({ length: 6000 }, (_, i) => ({
        atUs: i * 200,
        frame: frame(p, ipv4({ src: sources[(i * 7) % sources.length]!, dst: p.endB.ipv4 }, tcp({ sport: 1024 + (i % 50000), dport: 80, flags: 'S', seq: i }))),
      }));
      const { result: sent, stats, peers } = await withRejectc(p, REJECT.tcpReset, REJECT.tcpReset, budget, async () => {
        const t = sendSchedule(sender, p.a, p.ifA, sched);
        await new Promise((res) => setTimeout(res, 100));
        return t;
      });
      const [received] = ruleCounters(p.a, 'iptables', 'PREROUTING', 'raw') as [number];

      const seconds = Number(sent[sent.length - 1]! - sent[0]!) / 1e9;
      const k = budget.kinds.rst;
      // The first refill fills the burst; then at most rate × elapsed (refills come in whole
      // jiffies, at least HZ/50 apart: allow one more step), plus one credit per CPU that may
      // pass the "credit > 0" check at the same instant.
      const bound = Math.floor(k.msgsBurst + k.msgsPerSec * (seconds + 0.02)) + numPossibleCpus();
      console.log(`flood: ${sched.length} SYNs from ${sources.length} sources in ${seconds.toFixed(3)} s; ${received} RSTs received (bound ${bound}); budget ${JSON.stringify(stats.rst)}; ${peers} source entries (max ${PEERS})`);
      expect(received).toBeLessThanOrEqual(bound);
      // Replies did flow, and the budget (not something else) stopped the rest.
      expect(received).toBeGreaterThanOrEqual(k.msgsBurst);
      expect(stats.rst.sent).toBeGreaterThanOrEqual(received);
      expect(stats.rst.sent).toBeLessThanOrEqual(bound);
      expect(stats.rst.global + stats.rst.peer + stats.rst.sent).toBe(sched.length);
      expect(stats.rst.global).toBeGreaterThan(sched.length / 2);
      // Memory: more sources got replies than the LRU source table holds; it never grew past it.
      expect(stats.rst.sent).toBeGreaterThan(PEERS);
      expect(peers).toBeLessThanOrEqual(PEERS);
    });
  });

  for (const family of ['ipv4', 'ipv6'] as const) {
    it(`back-to-back UDP at an ${family === 'ipv4' ? 'icmp' : 'icmp6'}-port-unreachable REJECT: as many errors from rejectc as from the kernel (±1)`, async () => {
      const tool = family === 'ipv4' ? 'iptables' : 'ip6tables';
      const counting = family === 'ipv4' ? '-t raw -A PREROUTING -p icmp --icmp-type destination-unreachable' : '-t raw -A PREROUTING -p ipv6-icmp --icmpv6-type destination-unreachable';
      const burst = (p: Pair): Scheduled[] => {
        const l4 = udp({ sport: 40000, dport: 9, payload: [1, 2, 3, 4] });
        const l3 = family === 'ipv4' ? ipv4({ src: p.endA.ipv4, dst: p.endB.ipv4 }, l4) : ipv6({ src: p.endA.ipv6, dst: p.endB.ipv6 }, l4);
        return Array.from({ length: 50 }, () => ({ atUs: 0, frame: frame(p, l3) }));
      };
      const kernel = await withPair(async (p) => {
        rules(p.b, tool, ['-A INPUT -p udp --dport 9 -j REJECT']);
        rules(p.a, tool, [counting]);
        sendSchedule(sender, p.a, p.ifA, burst(p));
        await new Promise((res) => setTimeout(res, 100));
        return ruleCounters(p.a, tool, 'PREROUTING', 'raw')[0]!;
      });
      const rejectc = await withPair(async (p) => {
        rules(p.a, tool, [counting]);
        const { stats } = await withRejectc(p, REJECT.icmpPort, REJECT.icmp6Port, budgetOn(p), async () => {
          sendSchedule(sender, p.a, p.ifA, burst(p));
          await new Promise((res) => setTimeout(res, 100));
        });
        const received = ruleCounters(p.a, tool, 'PREROUTING', 'raw')[0]!;
        expect(stats[family === 'ipv4' ? 'icmp' : 'icmp6'].sent).toBe(received);
        return received;
      });
      console.log(`${family}: 50 back-to-back packets; the kernel sent ${kernel} errors, rejectc ${rejectc}`);
      expect(kernel).toBeGreaterThan(0);
      expect(kernel).toBeLessThan(50);
      expect(Math.abs(rejectc - kernel)).toBeLessThanOrEqual(1);
    });
  }

  it('240 sources at once, IPv4 and IPv6 together: rejectc and the kernel both stop at the shared global bucket', async () => {
    const flood = (p: Pair): Scheduled[] => {
      const out: Scheduled[] = [];
      for (let i = 0; i < 120; i++) {
        const l4 = udp({ sport: 40000, dport: 9, payload: [1, 2, 3, 4] });
        out.push({ atUs: 0, frame: frame(p, ipv4({ src: `198.51.100.${10 + i}`, dst: p.endB.ipv4 }, l4)) });
        out.push({ atUs: 0, frame: frame(p, ipv6({ src: `2001:db8:1::${(0x100 + i).toString(16)}`, dst: p.endB.ipv6 }, l4)) });
      }
      return out;
    };
    const setup = (p: Pair) => {
      p.b.exec(['ip', 'route', 'add', 'default', 'via', p.endA.ipv4]);
      p.b.exec(['ip', '-6', 'route', 'add', 'default', 'via', p.endA.ipv6]);
      rules(p.a, 'iptables', ['-t raw -A PREROUTING -p icmp --icmp-type destination-unreachable']);
      rules(p.a, 'ip6tables', ['-t raw -A PREROUTING -p ipv6-icmp --icmpv6-type destination-unreachable']);
    };
    const count = (p: Pair) => ruleCounters(p.a, 'iptables', 'PREROUTING', 'raw')[0]! + ruleCounters(p.a, 'ip6tables', 'PREROUTING', 'raw')[0]!;
    let sched: Scheduled[] = [];
    let times: bigint[] = [];
    let sysctls = undefined as ReturnType<typeof icmpSysctls> | undefined;
    const kernel = await withPair(async (p) => {
      setup(p);
      rules(p.b, 'iptables', ['-A INPUT -p udp --dport 9 -j REJECT']);
      rules(p.b, 'ip6tables', ['-A INPUT -p udp --dport 9 -j REJECT']);
      sched = flood(p);
      sysctls = icmpSysctls(p.b, hz);
      times = sendSchedule(sender, p.a, p.ifA, sched);
      await new Promise((res) => setTimeout(res, 100));
      return count(p);
    });
    const rejectc = await withPair(async (p) => {
      setup(p);
      const { stats } = await withRejectc(p, REJECT.icmpPort, REJECT.icmp6Port, budgetOn(p), async () => {
        sendSchedule(sender, p.a, p.ifA, flood(p));
        await new Promise((res) => setTimeout(res, 100));
      });
      const received = count(p);
      expect(stats.icmp.sent + stats.icmp6.sent).toBe(received);
      return { received, stats };
    });
    // The model's range for the kernel's random draws, at the measured times.
    const ips = sched.map((s) => hashlimitPacketFromIp(s.frame.subarray(14))!);
    const counts: number[] = [];
    for (let run = 0; run < 300; run++) {
      const k = new KernelIcmpLimiter(sysctls!);
      counts.push(times.filter((t, i) => k.allow(ips[i]!.family, ips[i]!.family === 'ipv4' ? 3 : 1, ips[i]!.family === 'ipv4' ? 3 : 4, ips[i]!.src, 10n ** 6n + (t * BigInt(hz)) / 1_000_000_000n, Math.floor(Math.random() * 2 ** 32)) === 'sent').length);
    }
    counts.sort((a, b) => a - b);
    const lo = counts[0]!;
    const hi = counts[counts.length - 1]!;
    console.log(`global: 240 sources at once; the kernel sent ${kernel} errors, rejectc ${rejectc.received} (ICMP ${JSON.stringify(rejectc.stats.icmp)}, ICMPv6 ${JSON.stringify(rejectc.stats.icmp6)}); model ${lo}..${hi}`);
    expect(hi).toBeLessThan(sched.length / 2);
    for (const n of [kernel, rejectc.received]) {
      expect(n).toBeGreaterThanOrEqual(lo - 1);
      expect(n).toBeLessThanOrEqual(hi + 1);
    }
    // Both families drew on one bucket: each was cut off by it.
    expect(rejectc.stats.icmp.global).toBeGreaterThan(0);
    expect(rejectc.stats.icmp6.global).toBeGreaterThan(0);
  });
});
