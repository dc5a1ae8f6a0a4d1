/**
 * Phase-1 experiment, kept as a test: does bpf/rjc_ct.h give each packet the conntrack state
 * that iptables sees at the same point? Namespace b carries
 *   - iptables/ip6tables counting rules `-m conntrack --ctstate X` (no target) in INPUT and
 *     OUTPUT, one per state: the kernel's classification;
 *   - the BPF probe test/bpf/ct-probe.bpf.c at TC ingress (before conntrack: kfunc lookups,
 *     packet checks, shadow table) and TC egress (after conntrack: skb->_nfct), counting
 *     packets per state with rjc_ct_classify().
 * Each scenario sends traffic between a and b and then compares the two sets of counter
 * deltas: they must be equal, state by state, for both families and both directions.
 * Needs root; skipped with the reason otherwise.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfObject, attachTc, attachXdp, detachXdp, u32 } from '../src/runtime/libbpf.js';
import { canUseKernel, createPair, stop, type Pair } from './support/netns.js';
import { addStateCounters, buildProbe, CT_STATES, labelCounts, setupProbe, startServer, stateCounters, traffic, type ProbeSetup } from './ct-support.js';

const PORT = 7001;
const CLOSED = 7002;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!canUseKernel())('conntrack state at TC: rjc_ct.h vs the kernel (needs root)', () => {
  let setup: ProbeSetup;
  let pair: Pair;

  beforeAll(async () => {
    setup = await setupProbe('ct', PORT);
    pair = setup.pair;
    await sleep(300);
  });

  afterAll(async () => {
    await setup?.close();
  });

  /**
   * Both counter sets at one instant: the probe is read before and after the kernel, until
   * no packet (e.g. a neighbour solicitation) arrived in between.
   */
  async function snapshot(): Promise<{ k: number[]; b: number[] }> {
    for (let i = 0; ; i++) {
      const b = setup.probeCounts();
      const k = stateCounters(pair.b);
      const again = setup.probeCounts();
      if (again.every((x, j) => x === b[j]) || i >= 10) return { k, b };
      await sleep(20);
    }
  }

  /** Runs `send`, then returns the kernel's and the probe's counter deltas (settled). */
  async function measure(send: () => void): Promise<{ kernel: Record<string, number>; bpf: Record<string, number> }> {
    await sleep(50);
    const s0 = await snapshot();
    send();
    await sleep(300);
    const s1 = await snapshot();
    return { kernel: labelCounts(s1.k.map((x, i) => x - s0.k[i]!)), bpf: labelCounts(s1.b.map((x, i) => x - s0.b[i]!)) };
  }

  for (const family of ['ipv4', 'ipv6'] as const) {
    const a = () => (family === 'ipv4' ? pair.endA.ipv4 : pair.endA.ipv6);
    const b = () => (family === 'ipv4' ? pair.endB.ipv4 : pair.endB.ipv6);
    const cases: [string, () => void, (d: Record<string, number>) => void][] = [
      [
        'TCP handshake, data, FIN from a to b (NEW, then ESTABLISHED both ways)',
        () => expect(traffic(pair.a, 'tcp', b(), PORT).result).toBe('ok'),
        (d) => expect(Object.keys(d).some((k) => k.endsWith(':NEW'))).toBe(true),
      ],
      ['TCP SYN to a closed port of b (NEW in, RST out)', () => expect(traffic(pair.a, 'tcp', b(), CLOSED).result).toBe('refused'), () => {}],
      [
        'TCP from b to a: replies arrive ESTABLISHED at ingress',
        () => expect(traffic(pair.b, 'tcp', a(), PORT).result).toBe('ok'),
        (d) => expect(Object.keys(d).some((k) => k.startsWith('in') && k.endsWith(':ESTABLISHED'))).toBe(true),
      ],
      ['TCP from b to a closed port: the RST arrives ESTABLISHED', () => expect(traffic(pair.b, 'tcp', a(), CLOSED).result).toBe('refused'), () => {}],
      ['UDP request/response a -> b', () => expect(traffic(pair.a, 'udp', b(), PORT, 3).replies).toBe(3), () => {}],
      ['UDP request/response b -> a', () => expect(traffic(pair.b, 'udp', a(), PORT, 3).replies).toBe(3), () => {}],
      [
        'UDP from b to a closed port: the ICMP error is RELATED',
        () => traffic(pair.b, 'udp', a(), CLOSED, 1),
        (d) => expect(Object.keys(d)).toContain(`in${family === 'ipv4' ? 4 : 6}:RELATED`),
      ],
      [
        'UDP from a to a closed port of b: b sends a RELATED ICMP error',
        () => traffic(pair.a, 'udp', b(), CLOSED, 1),
        (d) => expect(Object.keys(d)).toContain(`out${family === 'ipv4' ? 4 : 6}:RELATED`),
      ],
      ['ICMP echo a -> b, three requests of one identifier', () => expect(traffic(pair.a, 'ping', b(), 3).replies).toBe(3), () => {}],
      ['ICMP echo b -> a, three requests of one identifier', () => expect(traffic(pair.b, 'ping', a(), 3).replies).toBe(3), () => {}],
      ['stray ACK (NEW: loose pick-up; b answers with a RST)', () => traffic(pair.a, 'raw', b(), PORT, '0x10'), () => {}],
      [
        'stray RST (INVALID)',
        () => traffic(pair.a, 'raw', b(), PORT, '0x04'),
        (d) => expect(Object.keys(d)).toContain(`in${family === 'ipv4' ? 4 : 6}:INVALID`),
      ],
      ['stray SYN+ACK (INVALID)', () => traffic(pair.a, 'raw', b(), PORT, '0x12'), () => {}],
      ['stray FIN+ACK (INVALID)', () => traffic(pair.a, 'raw', b(), PORT, '0x11'), () => {}],
      ['SYN+FIN (INVALID flags)', () => traffic(pair.a, 'raw', b(), CLOSED, '0x03'), () => {}],
      ['an ICMP error about no known flow (INVALID)', () => traffic(pair.a, 'icmperr', b(), 5555), () => {}],
      ...(['tcp-doff-long', 'tcp-doff-short', 'udp-len-long', 'udp-len-short', 'sctp-short'] as const).map(
        (kind): [string, () => void, (d: Record<string, number>) => void] => [
          `${kind}: a header length conntrack refuses (INVALID)`,
          () => traffic(pair.a, 'malformed', b(), kind),
          (d) => expect(Object.keys(d)).toContain(`in${family === 'ipv4' ? 4 : 6}:INVALID`),
        ],
      ),
      [
        'UDP without a checksum (0): conntrack takes it, IPv6 too (NEW)',
        () => traffic(pair.a, 'malformed', b(), 'udp-zero'),
        (d) => expect(Object.keys(d)).toContain(`in${family === 'ipv4' ? 4 : 6}:NEW`),
      ],
      // (A raw ICMPv6 socket always gets its checksum from the kernel: no bad ICMPv6 here.)
      ...(family === 'ipv4' ? (['tcp', 'udp', 'icmp'] as const) : (['tcp', 'udp'] as const)).map(
        (proto): [string, () => void, (d: Record<string, number>) => void] => [
          `a ${proto} packet with a bad checksum (INVALID)`,
          () => traffic(pair.a, 'bad', b(), proto),
          (d) => expect(Object.keys(d)).toContain(`in${family === 'ipv4' ? 4 : 6}:INVALID`),
        ],
      ),
    ];
    for (const [name, send, extra] of cases) {
      it(`${family}: ${name}`, async () => {
        const { kernel, bpf } = await measure(send);
        expect(Object.keys(kernel).length).toBeGreaterThan(0);
        expect(bpf).toEqual(kernel);
        extra(kernel);
      });
    }
  }
});

describe.skipIf(!canUseKernel())('conntrack state at XDP: rjc_ct.h vs the kernel (needs root)', () => {
  it('TCP and UDP flows both ways, stray RST: the XDP probe agrees with INPUT', async () => {
    const pair = createPair({ tag: 'cx' });
    const tc = BpfObject.open(buildProbe());
    const xdp = BpfObject.open(buildProbe(true));
    const servers: ChildProcess[] = [];
    let attached: { ifindex: number; id: number } | undefined;
    try {
      addStateCounters(pair.b);
      tc.load();
      xdp.load();
      const ifindex = pair.b.ifindex(pair.ifB);
      pair.b.run(() => {
        attachTc(tc.program('ct_probe_egress'), { ifindex, direction: 'egress', handle: 1, priority: 1 });
        const att = attachXdp(xdp.program('ct_probe_xdp'), { ifindex, mode: 'generic' });
        attached = { ifindex, id: att.progId };
      });
      servers.push(await startServer(pair.b, PORT), await startServer(pair.a, PORT));
      await sleep(300);
      const inputOnly = (v: number[]) => v.slice(0, 2 * CT_STATES.length);
      const xdpCounts = () => {
        const map = xdp.map('ct_counts');
        const out: number[] = [];
        for (const base of [0, 8]) for (let s = 0; s < CT_STATES.length; s++) out.push(Number(map.lookup(u32(base + s))!.readBigUInt64LE(0)));
        return out;
      };
      const k0 = inputOnly(stateCounters(pair.b));
      const x0 = xdpCounts();
      for (const [a, b] of [
        [pair.endA.ipv4, pair.endB.ipv4],
        [pair.endA.ipv6, pair.endB.ipv6],
      ] as const) {
        expect(traffic(pair.a, 'tcp', b, PORT).result).toBe('ok');
        expect(traffic(pair.b, 'tcp', a, PORT).result).toBe('ok');
        expect(traffic(pair.a, 'udp', b, PORT, 2).replies).toBe(2);
        expect(traffic(pair.b, 'udp', a, PORT, 2).replies).toBe(2);
        traffic(pair.b, 'udp', a, CLOSED, 1);
        traffic(pair.a, 'raw', b, PORT, '0x04');
      }
      await sleep(300);
      const kernel = labelCounts(inputOnly(stateCounters(pair.b)).map((x, i) => x - k0[i]!));
      const bpf = labelCounts(xdpCounts().map((x, i) => x - x0[i]!));
      expect(kernel['in4:RELATED']).toBe(1);
      expect(bpf).toEqual(kernel);
    } finally {
      for (const s of servers) await stop(s);
      if (attached) pair.b.run(() => detachXdp(attached!.ifindex, 'generic', attached!.id));
      pair.cleanup();
      tc.close();
      xdp.close();
    }
  });
});
