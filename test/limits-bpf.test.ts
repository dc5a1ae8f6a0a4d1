// bpf/rjc_limit.h against the TypeScript model, decision by decision. A test-only program
// (test/fixtures/limits/limit_test.bpf.c, built with RJC_LIMIT_TEST_CLOCK) reads the time from
// a map, so fast-check can drive both with the same random settings and arrival times. Proves:
// -m limit (both back-ends), hashlimit (keys, masks, bytes mode, rate-match, table full,
// garbage collection) and the reply budget make the same decision in BPF as in the model,
// which test/limits-model.test.ts and test/limits-kernel.test.ts tie to the kernel.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HashlimitMatch, HashlimitMode } from '../src/compiler/ir.js';
import {
  BUDGET_RESULTS,
  HL_MODE,
  HashlimitTable,
  LimitMatcher,
  bytesToCost,
  REPLY_KIND_INDEX,
  ReplyBudget,
  encodeBudget,
  encodeHashlimitTable,
  encodeLimit,
  hashlimitCfg3,
  hashlimitPacketFromIp,
  hashlimitTableParams,
  limitParams,
  limitStaticAsserts,
  summarizeBudgetStats,
  type BudgetStats,
  type ReplyBudgetParams,
  type ReplyKind,
} from '../src/model/limits/index.js';
import { LimitHarness, OP, compileLimitTest, compileProgram, frameOf, key32, tempDir } from './fixtures/limits/bpf-harness.js';
import { arbitraryPacket } from './support/arbitrary-packets.js';
import { ethernet, ipv4, truncated, udp, withTrailer } from './support/packets.js';
import { BpfObject } from '../src/runtime/libbpf.js';

const HZ = 250;
const root = process.getuid?.() === 0;
const seed = Number(process.env.RJC_SEED ?? Date.now() % 2 ** 31);
const span = { file: 't', start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 1, offset: 0 } };

describe('rjc_limit.h layout', () => {
  it('carries the static asserts of src/model/limits/bpf-layout.ts, and only those', () => {
    const header = readFileSync(new URL('../bpf/rjc_limit.h', import.meta.url), 'utf8');
    const expected = limitStaticAsserts();
    for (const line of expected) expect(header).toContain(line);
    const present = header.split('\n').filter((l) => l.includes('"src/model/limits/bpf-layout.ts'));
    expect(present.length).toBe(expected.length);
  });
});

describe.skipIf(!root)('rjc_limit.h agrees with the model (BPF_PROG_TEST_RUN, controllable clock)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let clockObj: string;
  let realObj: string;

  beforeAll(() => {
    console.log(`limits-bpf: fast-check seed ${seed} (rerun with RJC_SEED=${seed})`);
    tmp = tempDir();
    clockObj = compileLimitTest(tmp.dir, true);
    realObj = compileLimitTest(tmp.dir, false);
  });
  afterAll(() => tmp?.cleanup());

  it('real clock: the hashlimit GC timer removes expired flows by itself', async () => {
    const h = new LimitHarness(realObj);
    try {
      const m: HashlimitMatch = { kind: 'match', module: 'hashlimit', span, direction: 'upto', avg: 1_000_000, burst: 1, mode: ['srcip'], name: 'gc', htableExpire: 4, htableGcinterval: 20 };
      const r = hashlimitTableParams(hashlimitCfg3(m, 'ipv4'), 'ipv4', 'gc', HZ);
      if (!r.ok) throw new Error(r.reason);
      h.map('rjc_hl_tables').update(key32(1), encodeHashlimitTable(r.params));
      expect(h.run(OP.hashlimit, 1, frameOf(packet('ipv4', 0, 0, 0, 17, 8, false)))).toBe(1);
      expect(h.run(OP.hashlimit, 1, frameOf(packet('ipv4', 1, 0, 0, 17, 8, false)))).toBe(1);
      const count = () => Number(h.map('rjc_hl_tables').lookup(key32(1))!.readBigUInt64LE(120));
      expect(count()).toBe(2);
      // expire 4 ms = 1 jiffy; the timer runs every 20 ms (later if the machine is busy).
      for (let i = 0; i < 50 && count() > 0; i++) await new Promise((res) => setTimeout(res, 20));
      expect(count()).toBe(0);
      expect([...h.map('rjc_hl_entries').keys()]).toEqual([]);
    } finally {
      h.close();
    }
  });

  it('rjc_hashlimit_pkt_of(): what hashlimit reads from a packet the reply path parsed, as the model reads it', () => {
    const obj = BpfObject.open(compileProgram(tmp.dir, 'hashlimit_pkt.bpf.c'));
    try {
      obj.load();
      let compared = 0;
      // Ports cut off by the IP length are unreadable even with link-layer padding behind them.
      const padded = ethernet(withTrailer(ipv4({}, truncated(udp({ sport: 1, dport: 2 }), 2)), 8));
      obj.program('hashlimit_pkt').testRun({ data: padded });
      expect(obj.map('rjc_test_hlpkt').lookup(key32(0))![44]).toBe(0);
      fc.assert(
        fc.property(arbitraryPacket(), (g) => {
          try {
            obj.program('hashlimit_pkt').testRun({ data: g.bytes });
          } catch (err) {
            // BPF_PROG_TEST_RUN refuses frames whose EtherType promises more IP header than
            // there is (EINVAL); such frames never reach a hook either.
            if ((err as { errno?: number }).errno === 22) return;
            throw err;
          }
          const out = obj.map('rjc_test_hlpkt').lookup(key32(0))!;
          if (out.readUInt32LE(0) !== 0) return; // the stack drops it before any hook
          compared++;
          const vlan = g.bytes[12] === 0x81 && g.bytes[13] === 0x00 ? 4 : 0;
          const want = hashlimitPacketFromIp(g.bytes.subarray(14 + vlan))!;
          const addr = (b: Uint8Array) => Buffer.concat([Buffer.from(b), Buffer.alloc(16 - b.length)]).toString('hex');
          const ok = want.ports !== null && want.proto >= 0;
          expect({
            src: out.subarray(4, 20).toString('hex'),
            dst: out.subarray(20, 36).toString('hex'),
            len: out.readUInt32LE(40),
            portsOk: out[44],
            ports: out[44] ? out.subarray(36, 40).toString('hex') : null,
          }).toEqual({ src: addr(want.src), dst: addr(want.dst), len: want.len, portsOk: ok ? 1 : 0, ports: ok ? Buffer.from(want.ports!).toString('hex') : null });
        }),
        { seed, numRuns: 400 },
      );
      expect(compared).toBeGreaterThan(200);
    } finally {
      obj.close();
    }
  });

  it('-m limit: same decision for every packet, nft and legacy, random rates and arrivals', () => {
    const limitArb = fc.record({
      backend: fc.constantFrom('nft' as const, 'legacy' as const),
      rate: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 10_000 })),
      unit: fc.constantFrom(1, 60, 3600, 86_400),
      burst: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 10_000 })),
    });
    const gapArb = fc.oneof(
      fc.constant(0n),
      fc.bigInt({ min: 1n, max: 4_000_000n }),
      fc.bigInt({ min: 1n, max: 3_000_000_000n }),
      fc.bigInt({ min: 1n, max: 100_000_000_000_000n }),
    );
    fc.assert(
      fc.property(
        fc.array(limitArb, { minLength: 1, maxLength: 4 }),
        fc.array(fc.record({ which: fc.nat(3), gap: gapArb }), { minLength: 1, maxLength: 80 }),
        fc.bigInt({ min: 0n, max: 2n ** 40n }),
        (limits, events, t0) => {
          const matchers: (LimitMatcher | null)[] = [];
          const h = new LimitHarness(clockObj);
          try {
            limits.forEach((l, i) => {
              const r = limitParams({ avg: Math.floor((10_000 * l.unit) / l.rate), burst: l.burst }, l.backend, HZ);
              matchers.push(r.ok ? new LimitMatcher(r.params) : null);
              if (r.ok) h.map('rjc_limits').update(key32(i), encodeLimit(r.params));
            });
            let ns = t0;
            for (const e of events) {
              const id = e.which % limits.length;
              const m = matchers[id];
              ns += e.gap;
              if (!m) continue;
              const jiffies = 4_294_667_296n + (ns * BigInt(HZ)) / 1_000_000_000n;
              h.setClock(ns, jiffies);
              const want = m.match({ ns, jiffies }) ? 1 : 0;
              expect(h.run(OP.limit, id, frameOf(new Uint8Array(20)))).toBe(want);
            }
          } finally {
            h.close();
          }
        },
      ),
      { seed, numRuns: 60 },
    );
  });

  it('-m hashlimit: same result for every packet and GC run, and the same number of flows', () => {
    const cfgArb = fc.record({
      family: fc.constantFrom('ipv4' as const, 'ipv6' as const),
      mode: fc.subarray(['srcip', 'dstip', 'srcport', 'dstport'] as HashlimitMode[]),
      srcmask: fc.option(fc.nat(128), { nil: undefined }),
      dstmask: fc.option(fc.nat(128), { nil: undefined }),
      above: fc.boolean(),
      rate: fc.integer({ min: 1, max: 2000 }),
      unit: fc.constantFrom(1, 60, 3600),
      burst: fc.integer({ min: 1, max: 8 }),
      flavour: fc.constantFrom('packets', 'packets', 'bytes', 'rate'),
      bytesPerSecond: fc.integer({ min: 16, max: 10_000_000 }),
      byteBurst: fc.integer({ min: 0, max: 3 }),
      interval: fc.integer({ min: 1, max: 3 }),
      size: fc.integer({ min: 1, max: 6 }),
      max: fc.integer({ min: 0, max: 8 }),
      expire: fc.integer({ min: 1, max: 3000 }),
    });
    const eventArb = fc.oneof(
      { weight: 8, arbitrary: fc.record({ kind: fc.constant('pkt' as const), src: fc.nat(3), dst: fc.nat(1), sport: fc.nat(2), proto: fc.constantFrom(17, 6, 1, 50, 51, 17), truncate: fc.boolean(), len: fc.integer({ min: 0, max: 1400 }), flipInvert: fc.boolean(), gap: fc.oneof(fc.constant(0), fc.nat(30), fc.nat(2000)) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('gc' as const), gap: fc.nat(600) }) },
    );
    fc.assert(
      fc.property(cfgArb, fc.array(eventArb, { minLength: 1, maxLength: 60 }), (c, events) => {
        const full = c.family === 'ipv4' ? 32 : 128;
        const m: HashlimitMatch = {
          kind: 'match',
          module: 'hashlimit',
          span,
          direction: c.above ? 'above' : 'upto',
          avg: c.flavour === 'bytes' ? Number(bytesToCost(BigInt(c.bytesPerSecond))) : Math.floor((1_000_000 * c.unit) / c.rate),
          burst: c.flavour === 'bytes' ? c.byteBurst : c.burst,
          mode: c.mode,
          name: 'p',
          srcmask: c.srcmask === undefined ? undefined : c.srcmask % (full + 1),
          dstmask: c.dstmask === undefined ? undefined : c.dstmask % (full + 1),
          htableSize: c.size,
          htableMax: c.max,
          htableExpire: c.expire,
          ...(c.flavour === 'bytes' ? { bytes: { perSecond: c.bytesPerSecond } } : {}),
          ...(c.flavour === 'rate' ? { rateMatch: true, rateInterval: c.interval } : {}),
        };
        const r = hashlimitTableParams(hashlimitCfg3(m, c.family), c.family, 'p', HZ);
        if (!r.ok) return;
        const model = new HashlimitTable(r.params);
        const h = new LimitHarness(clockObj);
        try {
          h.map('rjc_hl_tables').update(key32(2), encodeHashlimitTable(r.params));
          let now = 4_294_667_296n;
          for (const e of events) {
            now += BigInt(e.gap);
            h.setClock(0n, now);
            if (e.kind === 'gc') {
              expect(h.run(OP.gc, 2, frameOf(new Uint8Array(20)))).toBe(model.gc(now));
              continue;
            }
            const ip = packet(c.family, e.src, e.dst, e.sport, e.proto, e.len, e.truncate);
            const ruleMode = r.params.mode ^ (e.flipInvert ? HL_MODE.INVERT : 0);
            const want = model.match(hashlimitPacketFromIp(ip)!, ruleMode, now);
            const code = h.run(OP.hashlimit, 2, frameOf(ip), ruleMode);
            expect(['nomatch', 'match', 'hotdrop'][code]).toBe(want);
          }
          const table = h.map('rjc_hl_tables').lookup(key32(2))!;
          expect(Number(table.readBigUInt64LE(120))).toBe(model.count);
        } finally {
          h.close();
        }
      }),
      { seed, numRuns: 80 },
    );
  });

  it('reply budget: same verdict for every reply, random budgets, peers, times and draws', () => {
    const kindArb = fc.record({
      limited: fc.boolean(),
      msgsPerSec: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3000 })),
      msgsBurst: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 60 })),
      // up to 20 s per reply: then a new peer's "last seen 60 s ago" caps its first bucket
      peerTimeout: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1000, max: 5000 })),
      peerBurst: fc.integer({ min: 1, max: 8 }),
      consume: fc.constantFrom('random' as const, 'one' as const),
    });
    const eventArb = fc.record({
      kind: fc.constantFrom<ReplyKind>('rst', 'icmp', 'icmp6'),
      peer: fc.nat(5),
      // around HZ/50 (5 jiffies), the global bucket's shortest refill step
      gap: fc.oneof(fc.constant(0), fc.integer({ min: 4, max: 6 }), fc.nat(10), fc.nat(400), fc.nat(100_000)),
      random: fc.nat(),
    });
    fc.assert(
      fc.property(kindArb, kindArb, kindArb, fc.boolean(), fc.array(eventArb, { minLength: 1, maxLength: 120 }), (rst, icmp, icmp6, shared, events) => {
        const params: ReplyBudgetParams = {
          hz: HZ,
          peerTableSize: 256,
          kinds: {
            rst: { ...rst, globalSlot: 0 },
            icmp: { ...icmp, globalSlot: 1 },
            icmp6: shared ? { ...icmp6, globalSlot: 1, msgsPerSec: icmp.msgsPerSec, msgsBurst: icmp.msgsBurst } : { ...icmp6, globalSlot: 2 },
          },
        };
        const model = new ReplyBudget(params);
        const h = new LimitHarness(clockObj);
        try {
          for (const { index, value } of encodeBudget(params)) h.map('rjc_budget_cfg').update(key32(index), value);
          let now = 4_294_667_296n + BigInt(events.length);
          const counts: BudgetStats = { rst: { sent: 0, global: 0, peer: 0 }, icmp: { sent: 0, global: 0, peer: 0 }, icmp6: { sent: 0, global: 0, peer: 0 } };
          for (const e of events) {
            now += BigInt(e.gap);
            h.setClock(0n, now, e.random);
            const v6 = e.kind === 'icmp6' || (e.kind === 'rst' && e.peer % 2 === 1);
            const ip = v6 ? udp6(e.peer) : udp4(e.peer);
            const peer = v6 ? ip.subarray(8, 24) : ip.subarray(12, 16);
            const want = model.allow(e.kind, peer, now, e.random);
            counts[e.kind][want]++;
            const got = h.run(OP.budget, 0, frameOf(ip), 0, REPLY_KIND_INDEX[e.kind]);
            expect(BUDGET_RESULTS[got]).toBe(want);
          }
          // rjc_budget_stats counts the same outcomes per kind (what `rejectc stats` shows).
          const perIndex = Array.from({ length: 9 }, (_, i) =>
            h.map('rjc_budget_stats').lookupPerCpu(key32(i))!.reduce((a, b) => a + b.readBigUInt64LE(0), 0n),
          );
          expect(summarizeBudgetStats(perIndex)).toEqual(counts);
        } finally {
          h.close();
        }
      }),
      { seed, numRuns: 60 },
    );
  });
});

/** A small pool of sources and destinations whose prefixes differ at several lengths. */
const SRC4 = [[198, 51, 100, 1], [198, 51, 100, 2], [198, 51, 101, 1], [203, 0, 113, 9]];
const DST4 = [[192, 0, 2, 1], [192, 0, 2, 130]];

function v6addr(i: number, base: number): number[] {
  const a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, base];
  a[4] = i & 1;
  a[9] = i & 2 ? 0x80 : 0;
  a[15] = base + (i >> 1);
  return a;
}

function packet(family: 'ipv4' | 'ipv6', src: number, dst: number, sport: number, proto: number, payload: number, truncate: boolean): Uint8Array {
  const l4 = Math.max(truncate ? 2 : 8, payload);
  const hdr = family === 'ipv4' ? 20 : 40;
  const p = new Uint8Array(hdr + l4);
  if (family === 'ipv4') {
    p[0] = 0x45;
    p[2] = p.length >> 8;
    p[3] = p.length & 0xff;
    p[8] = 64;
    p[9] = proto;
    p.set(SRC4[src]!, 12);
    p.set(DST4[dst]!, 16);
  } else {
    p[0] = 0x60;
    p[4] = l4 >> 8;
    p[5] = l4 & 0xff;
    p[6] = proto;
    p[7] = 64;
    p.set(v6addr(src, 1), 8);
    p.set(v6addr(dst, 100), 24);
  }
  if (truncate) return p.subarray(0, hdr + 2).map((x, i) => (family === 'ipv4' && i === 3 ? hdr + 2 : family === 'ipv6' && i === 5 ? 2 : x));
  p[hdr] = 0x10;
  p[hdr + 1] = sport;
  p[hdr + 2] = 0;
  p[hdr + 3] = 53;
  p[hdr + 4] = 0xab;
  p[hdr + 5] = sport;
  p[hdr + 6] = 0xcd;
  p[hdr + 7] = 0xef;
  return p;
}

function udp4(peer: number): Uint8Array {
  return packet('ipv4', peer % SRC4.length, 0, 0, 17, 8, false).map((x, i) => (i === 15 ? 10 + peer : x));
}

function udp6(peer: number): Uint8Array {
  return packet('ipv6', 0, 0, 0, 17, 8, false).map((x, i) => (i === 23 ? 10 + peer : x));
}
