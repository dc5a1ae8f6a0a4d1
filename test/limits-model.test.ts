// The model's arithmetic against the worked numbers of ../shared/spec/limit-algorithms.md
// (each verified on this kernel) and against the kernel sources' edge cases.
import { describe, expect, it } from 'vitest';
import {
  HL_MODE,
  HashlimitTable,
  KernelIcmpLimiter,
  LimitMatcher,
  ReplyBudget,
  bytesToCost,
  costToBytes,
  cpj32,
  cpj64,
  cpjBytes,
  defaultIcmpSysctls,
  hashlimitCfg3,
  hashlimitKey,
  hashlimitPacketFromIp,
  hashlimitTableParams,
  initialJiffies,
  kernelRejectBudget,
  limitParams,
  msecsToJiffies,
  nftLimitFromIptables,
  nftLimitParams,
  printRate,
  xtLimitParams,
  type HashlimitTableParams,
} from '../src/model/limits/index.js';
import type { HashlimitMatch } from '../src/compiler/ir.js';

const HZ = 250;
const span = { file: 't', start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 1, offset: 0 } };

describe('HZ-derived constants', () => {
  it('matches the table of limit-algorithms.md', () => {
    expect([100, 250, 300, 1000].map(cpj32)).toEqual([256, 128, 128, 32]);
    expect([100, 250, 300, 1000].map(cpj64)).toEqual([2n ** 40n, 2n ** 39n, 2n ** 39n, 2n ** 37n]);
    expect([100, 250, 300, 1000].map(cpjBytes)).toEqual([2 ** 25, 2 ** 24, 2 ** 23, 2 ** 22]);
  });
  it('rounds msecs_to_jiffies up', () => {
    expect(msecsToJiffies(1000, HZ)).toBe(250n);
    expect(msecsToJiffies(100, HZ)).toBe(25n);
    expect(msecsToJiffies(1, HZ)).toBe(1n);
    expect(msecsToJiffies(5, HZ)).toBe(2n);
    expect(msecsToJiffies(0, HZ)).toBe(0n);
    expect(msecsToJiffies(10, 300)).toBe(3n);
  });
});

describe('xt_limit (iptables-legacy)', () => {
  it('derives cost and cap of 2/s burst 3', () => {
    const r = xtLimitParams(5000, 3, HZ);
    expect(r).toEqual({ ok: true, params: { kind: 'xt-limit', cpj: 128, cost: 16000, creditCap: 48000 } });
  });
  it('derives 3/hour burst 5 and the rounding examples', () => {
    expect(xtLimitParams(12_000_000, 5, HZ)).toMatchObject({ ok: true, params: { cost: 38_400_000, creditCap: 192_000_000 } });
    expect(xtLimitParams(1, 5, HZ)).toMatchObject({ ok: true, params: { cost: 3 } });
    expect(xtLimitParams(1428, 5, HZ)).toMatchObject({ ok: true, params: { cost: 4569 } });
  });
  it('refuses what the kernel refuses (verified at HZ=250)', () => {
    expect(xtLimitParams(5000, 0, HZ)).toEqual({ ok: false, reason: 'burst-zero' });
    // 1/day: burst 1 only; 1/hour: burst 37 accepted, 38 refused.
    expect(xtLimitParams(864_000_000, 1, HZ).ok).toBe(true);
    expect(xtLimitParams(864_000_000, 5, HZ).ok).toBe(false);
    expect(xtLimitParams(36_000_000, 37, HZ).ok).toBe(true);
    expect(xtLimitParams(36_000_000, 38, HZ).ok).toBe(false);
  });
  it('passes 3 of 10 back to back, then one per 125 jiffies (2/s burst 3)', () => {
    const lim = limitParams({ avg: 5000, burst: 3 }, 'legacy', HZ);
    if (!lim.ok) throw new Error('refused');
    const m = new LimitMatcher(lim.params);
    const t0 = initialJiffies(HZ);
    let passed = 0;
    for (let i = 0; i < 10; i++) if (m.match({ ns: 0n, jiffies: t0 })) passed++;
    expect(passed).toBe(3);
    // 100 ms = 25 jiffies apart: a packet passes every 5th slot (125 jiffies).
    const got: number[] = [];
    for (let i = 1; i <= 20; i++) if (m.match({ ns: 0n, jiffies: t0 + BigInt(25 * i) })) got.push(i);
    expect(got).toEqual([5, 10, 15, 20]);
  });
  it('wraps the credit increase after 2^32/CPJ idle jiffies, as the kernel does', () => {
    const lim = limitParams({ avg: 5000, burst: 3 }, 'legacy', HZ);
    if (!lim.ok) throw new Error('refused');
    const m = new LimitMatcher(lim.params);
    for (let i = 0; i < 3; i++) expect(m.match({ ns: 0n, jiffies: 0n })).toBe(true);
    expect(m.match({ ns: 0n, jiffies: 0n })).toBe(false);
    // Exactly 2^32/128 jiffies later the u32 increase is 0: still empty.
    expect(m.match({ ns: 0n, jiffies: 2n ** 25n })).toBe(false);
  });
});

describe('nft limit (iptables-nft, the default)', () => {
  it('translates like add_nft_limit', () => {
    expect(nftLimitFromIptables(5000, 3)).toEqual({ rate: 2n, unit: 1n, burst: 3 });
    expect(nftLimitFromIptables(Math.floor((10000 * 60) / 7), 5)).toEqual({ rate: 7n, unit: 60n, burst: 5 });
    expect(nftLimitFromIptables(1, 5)).toEqual({ rate: 10000n, unit: 1n, burst: 5 });
    expect(nftLimitFromIptables(864_000_000, 5)).toEqual({ rate: 1n, unit: 86400n, burst: 5 });
    // 86400/day is stored as avg 10000: printed and translated as 1/second.
    expect(nftLimitFromIptables(10_000, 5)).toEqual({ rate: 1n, unit: 1n, burst: 5 });
  });
  it('treats burst 0 as 5 and accepts what legacy refuses', () => {
    expect(nftLimitParams({ rate: 2n, unit: 1n, burst: 0 })).toEqual({
      ok: true,
      params: { kind: 'nft-limit', cost: 500_000_000n, tokensMax: 2_500_000_000n },
    });
    expect(limitParams({ avg: 864_000_000, burst: 5 }, 'nft', HZ).ok).toBe(true);
    expect(limitParams({ avg: 864_000_000, burst: 5 }, 'unknown', HZ).ok).toBe(true);
    expect(limitParams({ avg: 864_000_000, burst: 5 }, 'legacy', HZ).ok).toBe(false);
  });
  it('refills by the nanosecond: 2/s burst 3', () => {
    const lim = limitParams({ avg: 5000, burst: 3 }, 'nft', HZ);
    if (!lim.ok) throw new Error('refused');
    const m = new LimitMatcher(lim.params);
    const t0 = 10n ** 12n;
    const at = (ms: number) => ({ ns: t0 + BigInt(ms) * 1_000_000n, jiffies: 0n });
    expect([0, 0, 0, 0].map((t) => m.match(at(t)))).toEqual([true, true, true, false]);
    expect(m.match(at(499))).toBe(false);
    // The failed packet at 499 ms kept its tokens: the next one at 500 ms passes.
    expect(m.match(at(500))).toBe(true);
    expect(m.match(at(999))).toBe(false);
    expect(m.match(at(1000))).toBe(true);
  });
});

function hlMatch(over: Partial<HashlimitMatch>): HashlimitMatch {
  return { kind: 'match', module: 'hashlimit', span, direction: 'upto', avg: 1_000_000, burst: 2, mode: ['srcip'], name: 't', ...over };
}

function table(over: Partial<HashlimitMatch>, family: 'ipv4' | 'ipv6' = 'ipv4'): HashlimitTableParams {
  const r = hashlimitTableParams(hashlimitCfg3(hlMatch(over), family), family, 't', HZ);
  if (!r.ok) throw new Error(r.reason);
  return r.params;
}

function udp4(src: string, dst: string, sport: number, dport: number, payload = 8): Uint8Array {
  const p = new Uint8Array(28 + payload);
  p[0] = 0x45;
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  p[8] = 64;
  p[9] = 17;
  p.set(src.split('.').map(Number), 12);
  p.set(dst.split('.').map(Number), 16);
  p[20] = sport >> 8;
  p[21] = sport & 0xff;
  p[22] = dport >> 8;
  p[23] = dport & 0xff;
  return p;
}

describe('hashlimit revision 3', () => {
  it('derives the verified constants of 1/s burst 2', () => {
    const p = table({});
    expect(p.bucket).toEqual({ kind: 'packets', cpj: 2n ** 39n, cost: 137_438_953_000_000n, creditCap: 274_877_906_000_000n });
    expect(p.expireJiffies).toBe(250n);
    expect(p.size).toBe(8192);
    expect(p.max).toBe(65536);
  });
  it('defaults expire to the printed rate unit', () => {
    expect(printRate(1_000_000n)).toEqual({ rate: 1n, unit: 'sec', quantumMs: 1000 });
    expect(printRate(60_000_000n)).toEqual({ rate: 1n, unit: 'min', quantumMs: 60_000 });
    expect(hashlimitCfg3(hlMatch({ avg: 3_600_000_000 }), 'ipv4').expire).toBe(3_600_000);
    expect(hashlimitCfg3(hlMatch({ htableExpire: 2000 }), 'ipv4').expire).toBe(2000);
    expect(hashlimitCfg3(hlMatch({ bytes: { perSecond: 4096 }, burst: 0 }), 'ipv4').expire).toBe(15_000);
    expect(hashlimitCfg3(hlMatch({ bytes: { perSecond: 4096 }, burst: 100 }), 'ipv4').expire).toBe(60_000);
  });
  it('converts byte rates like libxt_hashlimit', () => {
    expect(bytesToCost(4096n)).toBe(BigInt(Math.floor(0xffffffff / 257)));
    expect(costToBytes(bytesToCost(4096n))).toBe(4096n);
  });
  it('refuses burst 0 and overflowing products, caps size and max', () => {
    expect(hashlimitTableParams(hashlimitCfg3(hlMatch({ burst: 0 }), 'ipv4'), 'ipv4', 't', HZ).ok).toBe(false);
    expect(hashlimitTableParams(hashlimitCfg3(hlMatch({ srcmask: 33 }), 'ipv4'), 'ipv4', 't', HZ).ok).toBe(false);
    expect(table({ srcmask: 64 }, 'ipv6').srcmask).toBe(64);
    expect(table({ htableSize: 10, htableMax: 5 }).max).toBe(10);
    expect(table({ htableSize: 4_000_000 }).size).toBe(1_048_576);
  });
  it('gives each source its own bucket: 1/s burst 2, 5+5 packets from two sources -> 2 each (verified)', () => {
    const t = new HashlimitTable(table({}));
    const now = initialJiffies(HZ);
    const count = (src: string) => {
      let n = 0;
      for (let i = 0; i < 5; i++) if (t.match(hashlimitPacketFromIp(udp4(src, '192.0.2.1', 1000 + i, 53))!, 0, now) === 'match') n++;
      return n;
    };
    expect([count('198.51.100.1'), count('198.51.100.2')]).toEqual([2, 2]);
    expect(t.count).toBe(2);
  });
  it('masks addresses and keys ports only when asked', () => {
    const pkt = hashlimitPacketFromIp(udp4('198.51.100.77', '192.0.2.200', 1234, 53))!;
    const k = hashlimitKey(pkt, HL_MODE.HASH_SIP | HL_MODE.HASH_DPT | HL_MODE.HASH_DIP, 24, 0)!;
    expect(Array.from(k.src.subarray(0, 4))).toEqual([198, 51, 100, 0]);
    expect(Array.from(k.dst)).toEqual(new Array(16).fill(0));
    expect(Array.from(k.dport)).toEqual([0, 53]);
    expect(Array.from(k.sport)).toEqual([0, 0]);
    // A truncated UDP header cannot give ports: the kernel drops the packet.
    const short = udp4('198.51.100.77', '192.0.2.200', 1, 2).subarray(0, 22);
    short[3] = 22;
    expect(hashlimitKey(hashlimitPacketFromIp(short)!, HL_MODE.HASH_DPT, 32, 32)).toBeNull();
    expect(hashlimitKey(hashlimitPacketFromIp(short)!, HL_MODE.HASH_SIP, 32, 32)).not.toBeNull();
  });
  it('inverts for --hashlimit-above and refreshes expiry on every packet', () => {
    const p = table({ direction: 'above', burst: 1 });
    const t = new HashlimitTable(p);
    const pkt = hashlimitPacketFromIp(udp4('198.51.100.1', '192.0.2.1', 1, 2))!;
    expect(t.match(pkt, HL_MODE.INVERT, 1000n)).toBe('nomatch');
    expect(t.match(pkt, HL_MODE.INVERT, 1000n)).toBe('match');
    expect(t.gc(1249n)).toBe(0);
    expect(t.gc(1250n)).toBe(1);
    // A collected flow starts again with a full bucket.
    expect(t.match(pkt, HL_MODE.INVERT, 1251n)).toBe('nomatch');
  });
  it('drops new flows when the table is full (hotdrop)', () => {
    const t = new HashlimitTable(table({ htableSize: 16, htableMax: 16 }));
    for (let i = 0; i < 16; i++) expect(t.match(hashlimitPacketFromIp(udp4(`198.51.100.${i}`, '192.0.2.1', 1, 2))!, 0, 5n)).toBe('match');
    expect(t.match(hashlimitPacketFromIp(udp4('198.51.100.200', '192.0.2.1', 1, 2))!, 0, 5n)).toBe('hotdrop');
    expect(t.match(hashlimitPacketFromIp(udp4('198.51.100.3', '192.0.2.1', 1, 2))!, 0, 5n)).toBe('match');
  });
  it('counts bytes in 16-byte chunks and refills an empty bucket burst times', () => {
    // 4 KiB/s with a refill count of 1.
    const p = table({ bytes: { perSecond: 4096 }, avg: Number(bytesToCost(4096n)), burst: 1 });
    if (p.bucket.kind !== 'bytes') throw new Error('not bytes');
    expect(p.bucket.full).toBe(BigInt(2 ** 24 * HZ));
    const t = new HashlimitTable(p);
    const big = hashlimitPacketFromIp(udp4('198.51.100.1', '192.0.2.1', 1, 2, 1472))!; // 1500 bytes
    let n = 0;
    for (let i = 0; i < 20; i++) if (t.match(big, HL_MODE.BYTES, 100n) === 'match') n++;
    // A full bucket is one second of rate: 4096 bytes pay for 2 packets of 94 chunks; the one
    // refill allowed gives a second full bucket; then nothing until time passes.
    expect(n).toBe(4);
    expect(t.match(big, HL_MODE.BYTES, 100n + 125n)).toBe('match');
  });
  it('rate-match compares the previous interval with the rate', () => {
    const p = table({ rateMatch: true, rateInterval: 1, avg: 250_000, burst: 0 }); // 4 per second
    const t = new HashlimitTable(p);
    const pkt = hashlimitPacketFromIp(udp4('198.51.100.1', '192.0.2.1', 1, 2))!;
    const r: string[] = [];
    for (let i = 0; i < 6; i++) r.push(t.match(pkt, HL_MODE.RATE_MATCH, 1000n));
    expect(r).toEqual(['match', 'match', 'match', 'match', 'nomatch', 'nomatch']);
    // The window with 6 packets was over the rate: the whole next window is "over".
    expect(t.match(pkt, HL_MODE.RATE_MATCH, 1250n)).toBe('nomatch');
    // That window had 1 packet: under again.
    expect(t.match(pkt, HL_MODE.RATE_MATCH, 1500n)).toBe('match');
  });
  it('parses IPv6 extension headers like ipv6_skip_exthdr', () => {
    const p = new Uint8Array(40 + 8 + 8);
    p[0] = 0x60;
    p[5] = 16;
    p[6] = 0; // hop-by-hop
    p[8] = 0x20;
    p[9] = 0x01;
    p[40] = 17; // next: UDP
    p[48] = 0x12;
    p[49] = 0x34;
    p[50] = 0x00;
    p[51] = 0x35;
    const pkt = hashlimitPacketFromIp(p)!;
    expect(pkt.proto).toBe(17);
    expect(Array.from(pkt.ports!)).toEqual([0x12, 0x34, 0, 0x35]);
    p[40] = 59; // no next header: the kernel fails, and hashlimit drops when it needs ports
    const none = hashlimitPacketFromIp(p)!;
    expect(hashlimitKey(none, HL_MODE.HASH_SPT, 128, 128)).toBeNull();
  });
});

describe('kernel ICMP limiter', () => {
  const s = defaultIcmpSysctls(HZ);
  const peer = (i: number) => new Uint8Array([198, 51, 100, i]);

  it('allows 6 back to back per peer, then one per icmp_ratelimit', () => {
    const k = new KernelIcmpLimiter(s);
    const t0 = initialJiffies(HZ);
    let n = 0;
    for (let i = 0; i < 20; i++) if (k.allow('ipv4', 3, 3, peer(1), t0, 1) === 'sent') n++;
    expect(n).toBe(6);
    // 30 packets 100 ms apart from a fresh source: 6 + 1 at ~1 s + 1 at ~2 s (verified: 8).
    n = 0;
    for (let i = 0; i < 30; i++) if (k.allow('ipv4', 3, 3, peer(2), t0 + BigInt(25 * i), 1) === 'sent') n++;
    expect(n).toBe(8);
  });
  it('limits IPv6 per peer at 100 ms and leaves unmasked types alone', () => {
    const k = new KernelIcmpLimiter(s);
    let n = 0;
    // 50 packets 20 ms apart (5 jiffies): 6 + one per 25 jiffies (verified: 16).
    for (let i = 0; i < 50; i++) if (k.allow('ipv6', 1, 4, new Uint8Array(16).fill(1), BigInt(1e6 + 5 * i), 1) === 'sent') n++;
    expect(n).toBe(6 + 9);
    expect(k.allow('ipv6', 2, 0, new Uint8Array(16), 5n, 1)).toBe('sent');
    expect(k.allow('ipv4', 0, 0, peer(1), 5n, 1)).toBe('sent'); // echo reply not in the mask
  });
  it('caps many sources with the shared global bucket (burst 50, random consumption)', () => {
    const k = new KernelIcmpLimiter(s);
    let v4 = 0;
    let n = 0;
    // Consumption 1 each: exactly the burst.
    for (let i = 0; i < 200; i++) if (k.allow('ipv4', 3, 3, new Uint8Array([10, 0, i >> 8, i & 255]), 1_000_000n, 1) === 'sent') v4++;
    expect(v4).toBe(50);
    // IPv6 shares the (now empty) bucket until 20 ms have passed.
    expect(k.allow('ipv6', 1, 4, new Uint8Array(16).fill(7), 1_000_004n, 1)).toBe('global');
    expect(k.allow('ipv6', 1, 4, new Uint8Array(16).fill(7), 1_000_005n, 1)).toBe('sent');
    // Random 0 consumption lets more through.
    const k2 = new KernelIcmpLimiter(s);
    for (let i = 0; i < 200; i++) if (k2.allow('ipv4', 3, 3, new Uint8Array([10, 0, i >> 8, i & 255]), 1_000_000n, i % 2 === 0 ? 0 : 2) === 'sent') n++;
    expect(n).toBe(50);
  });
  it('sends nothing when icmp_msgs_per_sec is 0 and nothing limited when the mask is 0', () => {
    expect(new KernelIcmpLimiter({ ...s, icmpMsgsPerSec: 0 }).allow('ipv4', 3, 3, peer(1), 1000n, 1)).toBe('global');
    expect(kernelRejectBudget({ ...s, icmpRatemask: 0 }, 10).kinds.icmp.limited).toBe(false);
  });
  it('uses an LRU peer table in rejectc: an evicted peer comes back full', () => {
    const b = new ReplyBudget({ ...kernelRejectBudget(s, 2), peerTableSize: 2 });
    for (let i = 0; i < 6; i++) expect(b.allow('icmp', peer(1), 100_000n, 1)).toBe('sent');
    expect(b.allow('icmp', peer(1), 100_000n, 1)).toBe('peer');
    b.allow('icmp', peer(2), 100_000n, 1);
    b.allow('icmp', peer(3), 100_000n, 1);
    expect(b.allow('icmp', peer(1), 100_000n, 1)).toBe('sent');
  });
});
