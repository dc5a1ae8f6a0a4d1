/**
 * Segments of a live TCP connection with the wrong flags or sequence numbers: the kernel's
 * conntrack marks some INVALID (state table, RST older than the peer's ACK, tcp_in_window's
 * upper bounds) and ignores others; rjc_ct.h must agree before conntrack has seen them (TC
 * ingress). A connection is held open between the namespaces, its sequence numbers read with
 * TCP_REPAIR, and crafted segments are sent on its 4-tuple in the original and the reply
 * direction, IPv4 and IPv6; the per-state counts of the probe (test/bpf/ct-probe.bpf.c) and of
 * iptables' counting rules must be equal for every segment. Needs root; skipped otherwise.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseKernel, type Netns, type Pair } from './support/netns.js';
import { labelCounts, setupProbe, stateCounters, traffic, TRAFFIC_PY, type ProbeSetup } from './ct-support.js';

const PORT = 7001;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts `hold` in `ns`; resolves with the connection's next sequence numbers each way. */
async function holdConnection(ns: Netns, host: string, sport: number): Promise<{ child: ChildProcess; snd: number; rcv: number }> {
  const child = ns.spawn(['python3', '-c', TRAFFIC_PY, 'hold', host, String(PORT), String(sport), '30']);
  const seqs = await new Promise<{ snd: number; rcv: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('hold did not start')), 5000);
    child.stdout!.once('data', (d: Buffer) => {
      clearTimeout(timer);
      resolve(JSON.parse(d.toString()) as { snd: number; rcv: number });
    });
    child.once('exit', () => reject(new Error('hold exited before connecting')));
  });
  return { child, ...seqs };
}

/** [name, flags, seq offset from the sender's next seq, ack offset from its next ack ('zero': 0)]. */
const SEGMENTS: [string, string, number, number | 'zero'][] = [
  ['in-window ACK', '0x10', 0, 0],
  ['RST older than the peer ACK (after an ACK: checked)', '0x04', -100, 'zero'],
  ['ACK with seq far beyond the window', '0x10', 2 ** 30, 0],
  ['ACK of data never sent', '0x10', 0, 2 ** 20],
  ['ACK with seq far behind (ignored)', '0x10', -(2 ** 30), 0],
  ['ACK acking far behind (ignored)', '0x10', 0, -(2 ** 20)],
  ['FIN+ACK far beyond the window', '0x11', 2 ** 30, 0],
  ['SYN+ACK on an established connection', '0x12', 0, 0],
  ['SYN on an established connection (ignored)', '0x02', 0, 'zero'],
  ['RST older than the peer ACK (after a SYN: not checked)', '0x04', -100, 'zero'],
  ['RST beyond the window', '0x04', 2 ** 30, 'zero'],
  ['RST inside the window', '0x04', 1000, 'zero'],
  ['RST at the expected seq (closes)', '0x04', 0, 'zero'],
];

describe.skipIf(!canUseKernel())('TCP segments of a known connection: rjc_ct.h vs conntrack (needs root)', () => {
  let setup: ProbeSetup;
  let pair: Pair;

  beforeAll(async () => {
    setup = await setupProbe('cw', PORT);
    pair = setup.pair;
  });

  afterAll(async () => {
    await setup?.close();
  });

  for (const family of ['ipv4', 'ipv6'] as const) {
    for (const direction of ['original', 'reply'] as const) {
      it(`${family}, ${direction} direction: every crafted segment gets the kernel's state`, async () => {
        const a = family === 'ipv4' ? pair.endA.ipv4 : pair.endA.ipv6;
        const b = family === 'ipv4' ? pair.endB.ipv4 : pair.endB.ipv6;
        const sport = 40000 + (family === 'ipv4' ? 0 : 10) + (direction === 'original' ? 0 : 1);
        // original: a opened the connection to b; reply: b opened it to a (a answers as the server).
        const held = direction === 'original' ? await holdConnection(pair.a, b, sport) : await holdConnection(pair.b, a, sport);
        // a's next seq/ack on this connection, and the ports a sends from/to.
        const aSnd = direction === 'original' ? held.snd : held.rcv;
        const aRcv = direction === 'original' ? held.rcv : held.snd;
        const [from, to] = direction === 'original' ? [sport, PORT] : [PORT, sport];
        try {
          await sleep(200);
          for (const [name, flags, dseq, dack] of SEGMENTS) {
            const k0 = stateCounters(pair.b);
            const b0 = setup.probeCounts();
            const ack = dack === 'zero' ? 0 : (aRcv + dack) >>> 0;
            traffic(pair.a, 'raw', b, to, flags, (aSnd + dseq) >>> 0, ack, from);
            await sleep(150);
            const kernel = labelCounts(stateCounters(pair.b).map((x, i) => x - k0[i]!));
            const bpf = labelCounts(setup.probeCounts().map((x, i) => x - b0[i]!));
            const inKey = `in${family === 'ipv4' ? 4 : 6}:`;
            const only = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).filter(([k]) => k.startsWith(inKey) && !k.endsWith('UNTRACKED')));
            expect({ name, state: only(bpf) }).toEqual({ name, state: only(kernel) });
          }
        } finally {
          held.child.kill();
        }
      });
    }
  }
});
