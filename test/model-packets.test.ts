/**
 * The packet decoder (src/model/packet.ts) and the test packet builders/generators
 * (test/support/packets.ts, arbitrary-packets.ts):
 * - the builders reproduce golden captures byte for byte (so they build what the kernel saw);
 * - built packets round-trip through the decoder (fields, lengths, extension-header walks);
 * - the decoder and the whole model never throw, on arbitrary bytes and generated packets;
 * - fragmenting then reassembling gives the original datagram back.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { get16, sum16, verifies, pseudoSum4, pseudoSum6 } from '../src/model/checksum.js';
import {
  decodeFrame,
  decodeIp,
  evaluate,
  fromHex,
  reassembleIpv4,
  toHex,
  type Ipv4Packet,
  type Ipv6Packet,
} from '../src/model/index.js';
import { readTcp, readUdp } from '../src/model/packet.js';
import { arbitraryPacket, valuesFromRuleset } from './support/arbitrary-packets.js';
import {
  ethernet,
  fragmentIpv4,
  fragmentIpv6,
  icmp,
  ipOptions,
  ipv4,
  ipv6,
  raw,
  tcp,
  truncated,
  udp,
  withTrailer,
} from './support/packets.js';
import { accept, addrs, drop, neg, proto, reject, rule, ruleset, SPAN } from './model-support.js';

const PAYLOAD = new TextEncoder().encode('rejectc-test-payload');

describe('builders reproduce golden inputs', () => {
  const cases: [string, Uint8Array, string][] = [
    [
      'v4-tcp-reset-syn',
      ipv4({}, tcp({ sport: 40000, dport: 80, seq: 1000, flags: 'S', window: 0xfaf0, options: [2, 4, 5, 0xb4] })),
      '4500002c123400004006e494c0000201c00002029c400050000003e8000000006002faf078b90000020405b4',
    ],
    [
      'v4-tcp-reset-ipopts',
      ipv4({ options: [1, 1, 1, 0] }, tcp({ sport: 40000, dport: 80, seq: 500, flags: 'S', window: 0xfaf0 })),
      '4600002c123400004006e193c0000201c0000202010101009c400050000001f4000000005002faf092690000',
    ],
    [
      'v4-icmp-ip-rr-room-zerocsum',
      ipv4({ options: ipOptions.recordRoute(2) }, udp({ sport: 40000, dport: 53, payload: PAYLOAD, checksum: 'zero' })),
      '4800003c123400004011d66ec0000201c0000202070b040000000000000000009c400035001c000072656a656374632d746573742d7061796c6f6164',
    ],
    [
      'v4-tcp-reset-trailer',
      withTrailer(ipv4({}, tcp({ sport: 40000, dport: 80, seq: 500, flags: 'S', window: 0xfaf0 })), 10),
      '45000028123400004006e498c0000201c00002029c400050000001f4000000005002faf092690000eeeeeeeeeeeeeeeeeeee',
    ],
    ['v4-tcp-truncated-noreply', ipv4({}, raw(6, new Uint8Array(12))), '45000020123400004006e4a0c0000201c0000202000000000000000000000000'],
    [
      'v6-tcp-reset-dstopts',
      ipv6(
        { extensions: [{ kind: 'dest-opts' }] },
        tcp({ sport: 40000, dport: 80, seq: 1000, flags: 'S', window: 0xfaf0, payload: new Uint8Array(5) }),
      ),
      '6000000000213c4020010db800000000000000000000000120010db800000000000000000000000206000104000000009c400050000003e8000000005002faf0b8ff00000000000000',
    ],
    [
      'v6-icmp-hbh',
      ipv6({ extensions: [{ kind: 'hop-by-hop' }] }, udp({ sport: 40000, dport: 53, payload: PAYLOAD })),
      '600000000024004020010db800000000000000000000000120010db800000000000000000000000211000104000000009c400035001c1fc872656a656374632d746573742d7061796c6f6164',
    ],
    [
      'v6-icmp-firstfrag-zerocsum',
      ipv6(
        { extensions: [{ kind: 'fragment', offset: 0, more: true, id: 0x68 }] },
        udp({ sport: 40000, dport: 53, length: 72, checksum: 'zero', payload: Uint8Array.from({ length: 32 }, (_, i) => i) }),
      ),
      '6000000000302c4020010db800000000000000000000000120010db800000000000000000000000211000001000000689c40003500480000000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
    ],
  ];
  it.each(cases)('%s', (_name, built, golden) => {
    expect(toHex(built)).toBe(golden);
  });
});

describe('decoder views of built packets', () => {
  it('reads IPv4 header fields, trims the trailer and keeps options', () => {
    const p = ipv4(
      { src: '198.51.100.1', dst: '203.0.113.9', tos: 0xb9, ttl: 7, id: 0xbeef, df: true, options: ipOptions.routerAlert() },
      tcp({ sport: 1, dport: 2, flags: 'SA', seq: 5, ack: 6 }),
    );
    const ip = decodeIp(withTrailer(p, 6)).ip as Ipv4Packet;
    expect(ip.problem).toBeNull();
    expect(ip.trailerLength).toBe(6);
    expect(ip.bytes.length).toBe(p.length);
    expect(ip.header).toMatchObject({ tos: 0xb9, ttl: 7, id: 0xbeef, df: true, mf: false, fragOffset: 0, protocol: 6, ihl: 6 });
    expect(Array.from(ip.header.src)).toEqual([198, 51, 100, 1]);
    expect(Array.from(ip.header.options)).toEqual([148, 4, 0, 0]);
    expect(readTcp(ip.bytes, 24)).toMatchObject({ sport: 1, dport: 2, flags: 0x12, seq: 5, ack: 6, doff: 5 });
  });

  it('reports what ip_rcv drops', () => {
    const good = ipv4({}, udp({ sport: 1, dport: 2 }));
    expect(decodeIp(ipv4({ headerChecksum: 'bad' }, udp({ sport: 1, dport: 2 }))).ip!.problem).toBe('bad-header-checksum');
    expect(decodeIp(ipv4({ ihl: 4 }, udp({ sport: 1, dport: 2 }))).ip!.problem).toBe('bad-ihl');
    expect(decodeIp(ipv4({ totalLength: 100 }, udp({ sport: 1, dport: 2 }))).ip!.problem).toBe('bad-length');
    expect(decodeIp(good.slice(0, 19)).ip!.problem).toBe('truncated-header');
    expect(decodeIp(ipv6({ payloadLength: 200 }, udp({ sport: 1, dport: 2 }))).ip!.problem).toBe('bad-length');
    expect(decodeIp(ipv6({ payloadLength: 0, extensions: [{ kind: 'hop-by-hop' }] }, udp({ sport: 1, dport: 2 }))).ip!.problem).toBe('jumbo');
    expect(decodeIp(good).ip!.problem).toBeNull();
  });

  it('walks IPv6 extension headers like ipv6_find_hdr and ipv6_skip_exthdr', () => {
    const exts = [{ kind: 'hop-by-hop' as const }, { kind: 'routing' as const, segmentsLeft: 0 }, { kind: 'auth' as const }, { kind: 'dest-opts' as const }];
    const ip = decodeIp(ipv6({ extensions: exts }, tcp({ sport: 1, dport: 2 }))).ip as Ipv6Packet;
    const offset = 40 + 8 + 8 + 16 + 8;
    expect(ip.findHdr).toEqual({ ok: true, protocol: 6, offset, fragOffset: 0 });
    expect(ip.skipExthdr).toEqual({ offset, nextHeader: 6, fragOffField: 0 });

    const later = fragmentIpv6(ipv6({}, udp({ sport: 1, dport: 2, payload: new Uint8Array(40) })), 16)[1]!;
    const lv = decodeIp(later).ip as Ipv6Packet;
    expect(lv.fragment).toBe('later');
    expect(lv.findHdr).toEqual({ ok: true, protocol: 17, offset: 0, fragOffset: 16 });
    expect(lv.skipExthdr).toMatchObject({ offset: 40, nextHeader: 44 });

    const none = decodeIp(ipv6({}, raw(59, []))).ip as Ipv6Packet;
    expect(none.findHdr).toEqual({ ok: true, protocol: 59, offset: 40, fragOffset: 0 });
    expect(none.skipExthdr.offset).toBe(-1);

    const cut = decodeIp(ipv6({ nextHeader: 60 }, raw(60, [6]))).ip as Ipv6Packet;
    expect(cut.findHdr).toEqual({ ok: false, fragOffset: 0 });
  });

  it('classifies frames by destination MAC and skips VLAN tags', () => {
    const p = ipv4({}, udp({ sport: 1, dport: 2 }));
    expect(decodeFrame(ethernet(p)).ethernet!.l2).toBe('unicast');
    expect(decodeFrame(ethernet(p, { dst: 'broadcast' })).ethernet!.l2).toBe('broadcast');
    expect(decodeFrame(ethernet(p, { dst: 'multicast' })).ethernet!.l2).toBe('multicast');
    const tagged = decodeFrame(ethernet(p, { vlans: [10, 20] }));
    expect(tagged.ethernet!.vlanTags).toEqual([10, 20]);
    expect(toHex(tagged.ip!.bytes)).toBe(toHex(p));
    expect(decodeFrame(ethernet(p, { etherType: 0x0806 })).ip).toBeNull();
  });
});

describe('round trips', () => {
  const portArb = fc.integer({ min: 0, max: 65535 });
  const v4 = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })).map(([a, b]) => `198.51.${a}.${b}`);

  it('IPv4 TCP/UDP packets decode to the fields they were built from, with valid checksums', () => {
    fc.assert(
      fc.property(v4, v4, portArb, portArb, fc.integer({ min: 0, max: 255 }), fc.boolean(), fc.uint8Array({ maxLength: 80 }), (src, dst, sport, dport, ttl, isTcp, payload) => {
        const l4 = isTcp ? tcp({ sport, dport, payload, flags: ttl }) : udp({ sport, dport, payload });
        const ip = decodeIp(ipv4({ src, dst, ttl }, l4)).ip as Ipv4Packet;
        expect(ip.problem).toBeNull();
        expect(ip.header.ttl).toBe(ttl);
        expect(ip.header.protocol).toBe(isTcp ? 6 : 17);
        const ports = isTcp ? readTcp(ip.bytes, 20) : readUdp(ip.bytes, 20);
        expect(ports).toMatchObject({ sport, dport });
        const len = ip.bytes.length - 20;
        expect(verifies(pseudoSum4(ip.header.src, ip.header.dst, ip.header.protocol, len) + sum16(ip.bytes, 20))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('ICMPv6 checksums include the pseudo-header; bad ones do not verify', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 64 }), fc.boolean(), (type, payload, bad) => {
        const p = decodeIp(ipv6({}, icmp({ type, payload, checksum: bad ? 'bad' : 'auto' }))).ip as Ipv6Packet;
        const ok = verifies(pseudoSum6(p.header.src, p.header.dst, 58, p.bytes.length - 40) + sum16(p.bytes, 40));
        expect(ok).toBe(!bad);
      }),
      { numRuns: 200 },
    );
  });

  it('fragmentIpv4 then reassembleIpv4 gives the datagram back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 8 }), fc.boolean(), (payload, units, withOptions) => {
        const original = ipv4({ options: withOptions ? ipOptions.routerAlert() : [] }, udp({ sport: 7, dport: 9, payload }));
        const frags = fragmentIpv4(original, units * 8);
        for (const f of frags.slice(0, -1)) expect(decodeIp(f).ip!.problem).toBeNull();
        expect(toHex(reassembleIpv4(frags)!)).toBe(toHex(original));
      }),
      { numRuns: 200 },
    );
  });

  it('truncated() keeps only the first bytes of the transport header', () => {
    const p = decodeIp(ipv4({}, truncated(tcp({ sport: 1, dport: 2 }), 12))).ip as Ipv4Packet;
    expect(p.bytes.length).toBe(32);
    expect(readTcp(p.bytes, 20)).toBeNull();
    expect(get16(p.bytes, 22)).toBe(2);
  });
});

describe('robustness', () => {
  const anyRuleset = ruleset('ipv4', {
    INPUT: {
      rules: [
        rule({ protocol: proto(6) }, [{ kind: 'match', span: SPAN, module: 'tcp', dport: neg({ from: 22, to: 22 }) }], reject('tcp-reset')),
        rule({ src: addrs(['192.0.2.0/24']) }, [], drop),
        rule({}, [{ kind: 'match', span: SPAN, module: 'multiport', negated: false, direction: 'ports', ports: [{ from: 80, to: 80 }] }], accept),
        rule({}, [], reject('icmp-port-unreachable')),
      ],
    },
  });
  const v6Ruleset = ruleset('ipv6', {
    INPUT: {
      rules: [
        rule({ protocol: proto(58) }, [{ kind: 'match', span: SPAN, module: 'icmp6', icmpType: neg({ type: 128, codeMin: 0, codeMax: 255 }) }], accept),
        rule({ protocol: proto(6) }, [], reject('tcp-reset')),
        rule({}, [], reject('icmp6-adm-prohibited')),
      ],
    },
  });

  it('decodeIp and decodeFrame never throw on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        decodeIp(bytes);
        decodeFrame(bytes);
        const withVersion = Uint8Array.from(bytes);
        if (withVersion.length > 0) withVersion[0] = 0x45;
        decodeIp(withVersion);
      }),
      { numRuns: 2000 },
    );
  });

  it('the model evaluates arbitrary bytes and generated packets without throwing', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.constantFrom<'INPUT' | 'FORWARD' | 'OUTPUT'>('INPUT', 'FORWARD', 'OUTPUT'), (bytes, chain) => {
        const decoded = decodeIp(bytes);
        const rs = decoded.ip?.family === 'ipv6' ? v6Ruleset : anyRuleset;
        evaluate(rs, decoded, { chain });
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(arbitraryPacket({ values: valuesFromRuleset(anyRuleset) }), fc.constantFrom<'INPUT' | 'FORWARD' | 'OUTPUT'>('INPUT', 'FORWARD', 'OUTPUT'), (p, chain) => {
        const d = evaluate(p.family === 'ipv4' ? anyRuleset : v6Ruleset, decodeFrame(p.bytes), { chain });
        if (d.reply) expect(decodeIp(d.reply).ip!.problem).toBeNull();
      }),
      { numRuns: 1000 },
    );
  });

  it('generated packets cover the shapes the property tests need', () => {
    const kinds = new Set<string>();
    fc.assert(
      fc.property(arbitraryPacket({}), (p) => {
        for (const word of p.kind.split(' ')) kinds.add(word);
      }),
      { numRuns: 1500, seed: 42 },
    );
    for (const k of ['ipv4', 'ipv6', 'tcp', 'udp', 'icmp', 'raw', 'plain', 'truncated', 'first-fragment', 'later-fragment', 'malformed', 'l2-broadcast', 'l2-multicast', 'trailer']) {
      expect(kinds, k).toContain(k);
    }
  });

  it('generation is biased toward the ruleset: most packets hit its prefixes and ports', () => {
    const rs = ruleset('ipv4', {
      INPUT: {
        rules: [rule({ protocol: proto(6), src: addrs(['203.0.113.64/26']) }, [{ kind: 'match', span: SPAN, module: 'tcp', dport: neg({ from: 8080, to: 8081 }) }], drop)],
      },
    });
    const values = valuesFromRuleset(rs);
    expect(values.ipv4Prefixes).toEqual(['203.0.113.64/26']);
    expect(values.ports).toEqual([8079, 8080, 8081, 8082]);
    let hits = 0;
    fc.assert(
      fc.property(arbitraryPacket({ family: 'ipv4', values, frame: false }), (p) => {
        const ip = decodeIp(p.bytes).ip as Ipv4Packet;
        if (ip.header.src[0] === 203 && ip.header.src[2] === 113 && (ip.header.src[3]! & 0xc0) === 64) hits++;
      }),
      { numRuns: 500, seed: 7 },
    );
    expect(hits).toBeGreaterThan(150);
  });
});

describe('hex helpers', () => {
  it('round-trip and refuse garbage', () => {
    expect(toHex(fromHex('00ff 10'))).toBe('00ff10');
    expect(() => fromHex('abc')).toThrow();
    expect(() => fromHex('zz')).toThrow();
  });
});
