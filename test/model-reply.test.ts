/**
 * REJECT replies beyond the golden captures (src/model/reply.ts, ip-options.ts): RST
 * sequence/ack rules, TTL and hop-limit sources, TOS, quote limits with echoed options and a
 * small route MTU, Record Route / Timestamp echo, ICMP source rules per hook, the checksum gate
 * per protocol, `checksumVerified`, OUTPUT filtering of replies; and, as properties over
 * generated packets, that every reply is a well-formed packet addressed back to the sender.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RejectWith } from '../src/compiler/ir.js';
import { pseudoSum4, pseudoSum6, sum16, verifies, get16, get32 } from '../src/model/checksum.js';
import { decodeFrame, decodeIp, evaluate, type Decision, type Ipv4Packet, type Ipv6Packet, type ModelEnv } from '../src/model/index.js';
import { arbitraryPacket } from './support/arbitrary-packets.js';
import { fragmentIpv4, fragmentIpv6, icmp, ipOptions, ipv4, ipv6, raw, tcp, udp } from './support/packets.js';
import { drop, proto, reject, rule, ruleset } from './model-support.js';

const INPUT: ModelEnv = { chain: 'INPUT', inInterface: 'eth0', localAddresses: [{ address: '192.0.2.2', prefix: 24, interface: 'eth0' }] };

function rejectWith(withType: RejectWith, bytes: Uint8Array, env: ModelEnv = INPUT): Decision {
  const family = bytes[0]! >> 4 === 6 ? 'ipv6' : 'ipv4';
  const r = rule(withType === 'tcp-reset' ? { protocol: proto(6) } : {}, [], reject(withType));
  return evaluate(ruleset(family, { [env.chain]: { rules: [r] } }), decodeIp(bytes), env);
}

const reply4 = (d: Decision): Ipv4Packet => decodeIp(d.reply!).ip as Ipv4Packet;
const reply6 = (d: Decision): Ipv6Packet => decodeIp(d.reply!).ip as Ipv6Packet;

describe('tcp-reset', () => {
  it('without ACK: RST|ACK, seq 0, ack = seq + SYN + FIN + payload (mod 2^32)', () => {
    const d = rejectWith('tcp-reset', ipv4({}, tcp({ sport: 1000, dport: 80, flags: 'SF', seq: 0xfffffff8, payload: new Uint8Array(10) })));
    const r = reply4(d).bytes;
    expect(r.length).toBe(40);
    expect([get16(r, 20), get16(r, 22)]).toEqual([80, 1000]);
    expect(get32(r, 24)).toBe(0);
    expect(get32(r, 28)).toBe(4);
    expect(r[33]).toBe(0x14);
  });

  it('with ACK: RST only, seq = orig ack, ack field 0, window 0, no options', () => {
    const r = reply4(rejectWith('tcp-reset', ipv4({}, tcp({ sport: 1, dport: 2, flags: 'PA', seq: 5, ack: 0xdeadbeef, payload: [1, 2, 3] })))).bytes;
    expect(get32(r, 24)).toBe(0xdeadbeef);
    expect(get32(r, 28)).toBe(0);
    expect(r[32]).toBe(0x50);
    expect(r[33]).toBe(0x04);
    expect(get16(r, 34)).toBe(0);
  });

  it('TTL from the orig route metric, else ip_default_ttl; never from the reply route; id 0, DF, TOS 0', () => {
    const syn = ipv4({ tos: 0xff, ttl: 3 }, tcp({ sport: 1, dport: 2 }));
    const r = reply4(rejectWith('tcp-reset', syn, { ...INPUT, reply: { ipv4DefaultTtl: 99, ipv4ReplyRouteHoplimit: 33 } }));
    expect(r.header).toMatchObject({ ttl: 99, tos: 0, id: 0, df: true });
    expect(reply4(rejectWith('tcp-reset', syn, { ...INPUT, reply: { ipv4OrigRouteHoplimit: 17 } })).header.ttl).toBe(17);
  });

  it('FORWARD: the RST comes from the orig destination (spoofed)', () => {
    const p = ipv4({ src: '198.51.100.1', dst: '198.51.100.130' }, tcp({ sport: 1, dport: 2 }));
    const r = reply4(rejectWith('tcp-reset', p, { chain: 'FORWARD', reply: { icmpSourceV4: '198.51.100.126' } }));
    expect(Array.from(r.header.src)).toEqual([198, 51, 100, 130]);
    expect(Array.from(r.header.dst)).toEqual([198, 51, 100, 1]);
  });

  it('checksumVerified skips the TCP checksum check', () => {
    const bad = ipv4({}, tcp({ sport: 1, dport: 2, checksum: 'bad' }));
    expect(rejectWith('tcp-reset', bad).noReply).toBe('bad-checksum');
    expect(rejectWith('tcp-reset', bad, { ...INPUT, checksumVerified: true }).verdict).toBe('reject');
  });

  it('IPv6: hop limit from the config; v4-mapped destination gets no RST (ICMPv6 still answers)', () => {
    const p = ipv6({}, tcp({ sport: 1, dport: 2 }));
    const r = reply6(rejectWith('tcp-reset', p, { ...INPUT, reply: { ipv6HopLimit: 33 } }));
    expect(r.header).toMatchObject({ hopLimit: 33, trafficClass: 0, flowLabel: 0, payloadLength: 20, nextHeader: 6 });
    const mapped = ipv6({ dst: '::ffff:192.0.2.2' }, tcp({ sport: 1, dport: 2 }));
    expect(rejectWith('tcp-reset', mapped).noReply).toBe('bad-source');
    expect(rejectWith('icmp6-port-unreachable', mapped).verdict).toBe('reject');
  });

  it('IPv6: a non-first fragment is no TCP for the RST path', () => {
    const later = fragmentIpv6(ipv6({}, tcp({ sport: 1, dport: 2, payload: new Uint8Array(40) })), 24)[1]!;
    expect(rejectWith('tcp-reset', later).noReply).toBe('fragment');
  });
});

describe('ICMP (IPv4)', () => {
  const u = (tos = 0, ip = {}): Uint8Array => ipv4({ tos, ...ip }, udp({ sport: 1, dport: 2, payload: [9] }));

  it("TOS = (tos & 0x1e) | 0xc0, DF clear, the orig's id, TTL from the reply route metric", () => {
    for (const [tos, want] of [[0, 0xc0], [0xff, 0xde], [0xb9, 0xd8], [0x10, 0xd0]] as const) {
      expect(reply4(rejectWith('icmp-port-unreachable', u(tos))).header.tos).toBe(want);
    }
    const r = reply4(rejectWith('icmp-admin-prohibited', u(0, { id: 0xabcd }), { ...INPUT, reply: { ipv4ReplyRouteHoplimit: 33, ipv4OrigRouteHoplimit: 17 } }));
    expect(r.header).toMatchObject({ df: false, id: 0xabcd, ttl: 33, protocol: 1 });
    expect([r.bytes[20], r.bytes[21]]).toEqual([3, 13]);
  });

  it('quotes up to min(mtu, 576) - 20 - options - 8 bytes; a tiny route MTU sends nothing', () => {
    const big = ipv4({}, udp({ sport: 1, dport: 2, payload: new Uint8Array(1000) }));
    expect(rejectWith('icmp-port-unreachable', big).reply!.length).toBe(576);
    expect(rejectWith('icmp-port-unreachable', big, { ...INPUT, reply: { routeMtu: 100 } }).reply!.length).toBe(100);
    expect(rejectWith('icmp-port-unreachable', big, { ...INPUT, reply: { routeMtu: 48 } }).noReply).toBe('mtu');
    const withRr = ipv4({ options: ipOptions.recordRoute(2) }, udp({ sport: 1, dport: 2, checksum: 'zero', payload: new Uint8Array(1000) }));
    const r = rejectWith('icmp-port-unreachable', withRr).reply!;
    expect(r.length).toBe(576);
    expect(r[0]).toBe(0x48);
  });

  it('echoes Record Route with the reply source in the next slot', () => {
    const p = ipv4({ options: ipOptions.recordRoute(3) }, udp({ sport: 1, dport: 2, checksum: 'zero' }));
    const r = reply4(rejectWith('icmp-host-unreachable', p));
    expect(Array.from(r.header.options)).toEqual([7, 15, 12, 192, 0, 2, 2, 192, 0, 2, 2, 0, 0, 0, 0, 0]);
  });

  it('echoes Timestamp options with the times the stack and the reply write', () => {
    const p = ipv4({ options: ipOptions.timestamp(2) }, udp({ sport: 1, dport: 2, checksum: 'zero' }));
    const r = reply4(rejectWith('icmp-port-unreachable', p, { ...INPUT, timestampMs: 0x01020304 }));
    expect(Array.from(r.header.options)).toEqual([68, 12, 13, 0, 1, 2, 3, 4, 1, 2, 3, 4]);
  });

  it('OUTPUT: the orig header is not compiled again; the echo reads it as it is', () => {
    // As sent by a socket with IP_OPTIONS: its own address already in slot 1, pointer 8.
    const p = ipv4({ src: '192.0.2.2', dst: '203.0.113.9', options: ipOptions.recordRoute(3, 1) }, icmp({ type: 8 }));
    const d = rejectWith('icmp-admin-prohibited', p, { chain: 'OUTPUT' });
    expect(d.verdict).toBe('reject');
    const r = reply4(d);
    expect(Array.from(r.header.options.slice(0, 3))).toEqual([7, 15, 12]);
    expect(Array.from(r.header.options.slice(7, 11))).toEqual([192, 0, 2, 2]);
    expect(Array.from(d.reply!.slice(r.header.headerLength + 8))).toEqual(Array.from(p));
  });

  it('drops NOP/EOL/RA options from the reply header', () => {
    const p = ipv4({ options: [...ipOptions.routerAlert(), 1, 1, 1, 0] }, udp({ sport: 1, dport: 2 }));
    expect(reply4(rejectWith('icmp-port-unreachable', p)).header.ihl).toBe(5);
  });

  it('source: INPUT the orig destination; FORWARD the route source or 192.0.0.8; OUTPUT a local destination, else the orig source', () => {
    const p = u(0, { src: '198.51.100.1', dst: '198.51.100.130' });
    expect(Array.from(reply4(rejectWith('icmp-port-unreachable', p)).header.src)).toEqual([198, 51, 100, 130]);
    const fwd = reply4(rejectWith('icmp-port-unreachable', p, { chain: 'FORWARD', reply: { icmpSourceV4: '198.51.100.126' } }));
    expect(Array.from(fwd.header.src)).toEqual([198, 51, 100, 126]);
    expect(Array.from(reply4(rejectWith('icmp-port-unreachable', p, { chain: 'FORWARD' })).header.src)).toEqual([192, 0, 0, 8]);
    // Toward a subnet broadcast: the broadcast route's preferred source, our address in that
    // subnet (not the configured source, not another subnet's address); a /31 has no broadcast.
    const router: ModelEnv = {
      chain: 'FORWARD',
      reply: { icmpSourceV4: '203.0.113.1' },
      localAddresses: [
        { address: '192.0.2.2', prefix: 31, interface: 'r1' },
        { address: '198.51.100.129', prefix: 25, interface: 'r1' },
        { address: '198.51.100.126', prefix: 25, interface: 'r0' },
      ],
    };
    const fwdSrc = (from: string): string => reply4(rejectWith('icmp-port-unreachable', u(0, { src: from, dst: '203.0.113.9' }), router)).header.src.join('.');
    expect(fwdSrc('198.51.100.127')).toBe('198.51.100.126');
    expect(fwdSrc('198.51.100.255')).toBe('198.51.100.129');
    expect(fwdSrc('192.0.2.3')).toBe('203.0.113.1');
    expect(fwdSrc('198.51.100.128')).toBe('203.0.113.1');
    const out: ModelEnv = {
      chain: 'OUTPUT',
      localAddresses: [{ address: '192.0.2.2', prefix: 24, interface: 'eth0' }, { address: '198.51.100.200', prefix: 32, interface: 'lo' }],
    };
    const src = (from: string, to: string): string => reply4(rejectWith('icmp-port-unreachable', u(0, { src: from, dst: to }), out)).header.src.join('.');
    expect(src('192.0.2.2', '198.51.100.200')).toBe('198.51.100.200');
    expect(src('192.0.2.2', '203.0.113.9')).toBe('192.0.2.2');
  });

  it('answers ICMP informational types only', () => {
    const answered = (type: number): boolean => rejectWith('icmp-port-unreachable', ipv4({}, icmp({ type }))).verdict === 'reject';
    expect([0, 8, 13, 14, 15, 16, 17, 18].every(answered)).toBe(true);
    expect([1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 19, 42, 255].some(answered)).toBe(false);
    expect(rejectWith('icmp-port-unreachable', ipv4({}, raw(1, []))).noReply).toBe('truncated');
  });

  it('checksum gate: unverified protocols always answered; others must sum to zero', () => {
    const junk = [1, 2, 3, 4, 5, 6, 7, 8];
    for (const p of [47, 50, 51, 132, 136, 33]) expect(rejectWith('icmp-port-unreachable', ipv4({}, raw(p, junk))).verdict).toBe('reject');
    expect(rejectWith('icmp-port-unreachable', ipv4({}, raw(2, junk))).noReply).toBe('bad-checksum');
    expect(rejectWith('icmp-port-unreachable', ipv4({}, raw(2, [0xff, 0xff]))).verdict).toBe('reject');
    expect(rejectWith('icmp-port-unreachable', ipv4({}, raw(17, [0, 1, 0, 2]))).noReply).toBe('bad-checksum');
  });

  it('first fragment with UDP checksum 0 is answered quoting the fragment; later ones never', () => {
    const frags = fragmentIpv4(ipv4({}, udp({ sport: 1, dport: 2, checksum: 'zero', payload: new Uint8Array(40) })), 24);
    const d = rejectWith('icmp-port-unreachable', frags[0]!);
    expect(d.verdict).toBe('reject');
    expect(Array.from(d.reply!.slice(28))).toEqual(Array.from(frags[0]!));
    expect(rejectWith('icmp-port-unreachable', frags[1]!, { ...INPUT, checksumVerified: true }).noReply).toBe('fragment');
  });
});

describe('ICMPv6', () => {
  const u = (ip = {}): Uint8Array => ipv6(ip, udp({ sport: 1, dport: 2, payload: new Uint8Array(3000).fill(7) }));

  it('quotes at most 1232 bytes: the reply is at most 1280', () => {
    const r = rejectWith('icmp6-port-unreachable', u()).reply!;
    expect(r.length).toBe(1280);
    expect(reply6(rejectWith('icmp6-port-unreachable', u())).header).toMatchObject({ flowLabel: 0, trafficClass: 0, nextHeader: 58, payloadLength: 1240 });
  });

  it('source: INPUT the orig destination; FORWARD the configured source; OUTPUT the orig source unless the destination is local', () => {
    const p = ipv6({ src: 'fe80::a', dst: 'fe80::2' }, udp({ sport: 1, dport: 2 }));
    const src = (e: ModelEnv, pkt = p): string => Buffer.from(reply6(rejectWith('icmp6-adm-prohibited', pkt, e)).header.src).toString('hex');
    expect(src({ chain: 'INPUT', inInterface: 'eth0' })).toBe('fe800000000000000000000000000002');
    const fwd = ipv6({ src: '2001:db8:a::1', dst: '2001:db8:c::1' }, udp({ sport: 1, dport: 2 }));
    expect(src({ chain: 'FORWARD', reply: { icmpSourceV6: '2001:db8:a::fe' } }, fwd)).toBe('20010db8000a000000000000000000fe');
    expect(src({ chain: 'FORWARD', localAddresses: [{ address: 'fe80::1', prefix: 64, interface: 'r0' }, { address: '2001:db8:a::fe', prefix: 64, interface: 'r0' }] }, fwd)).toBe(
      '20010db8000a000000000000000000fe',
    );
    // Toward one of our own addresses (a spoofed source): that same address (RFC 6724 rule 1).
    const own = ipv6({ src: '2001:db8:c::fe', dst: '2001:db8:a::1' }, udp({ sport: 1, dport: 2 }));
    const routerEnv: ModelEnv = {
      chain: 'FORWARD',
      reply: { icmpSourceV6: '2001:db8:a::fe' },
      localAddresses: [{ address: '2001:db8:a::fe', prefix: 64, interface: 'r0' }, { address: '2001:db8:c::fe', prefix: 64, interface: 'r1' }],
    };
    expect(src(routerEnv, own)).toBe('20010db8000c000000000000000000fe');
    expect(src(routerEnv, fwd)).toBe('20010db8000a000000000000000000fe');
    const out: ModelEnv = { chain: 'OUTPUT', localAddresses: [{ address: '2001:db8::2', prefix: 64, interface: 'eth0' }, { address: '2001:db8:ffff::1', prefix: 128, interface: 'lo' }] };
    expect(src(out, ipv6({ src: '2001:db8::2', dst: '2001:db8:ffff::1' }, udp({ sport: 1, dport: 2 })))).toBe('20010db8ffff00000000000000000001');
    expect(src(out, ipv6({ src: '2001:db8::2', dst: '2001:db8:9::9' }, udp({ sport: 1, dport: 2 })))).toBe('20010db8000000000000000000000002');
  });

  it('checksumVerified skips the whole gate: a non-first fragment and a headerless ICMPv6 fragment get replies', () => {
    const later = fragmentIpv6(ipv6({}, udp({ sport: 1, dport: 2, payload: new Uint8Array(40) })), 24)[1]!;
    expect(rejectWith('icmp6-port-unreachable', later).noReply).toBe('fragment');
    expect(rejectWith('icmp6-port-unreachable', later, { ...INPUT, checksumVerified: true }).verdict).toBe('reject');
    const headless = ipv6({ extensions: [{ kind: 'fragment', offset: 0, more: true }] }, raw(58, []));
    expect(rejectWith('icmp6-port-unreachable', headless, { ...INPUT, checksumVerified: true }).verdict).toBe('reject');
    const noFrag = ipv6({}, raw(58, []));
    expect(rejectWith('icmp6-port-unreachable', noFrag, { ...INPUT, checksumVerified: true }).noReply).toBe('icmp-error');
  });

  it('multicast destination, L2 multicast, :: or multicast source: nothing', () => {
    expect(rejectWith('icmp6-port-unreachable', u({ dst: 'ff02::1' })).noReply).toBe('broadcast-dst');
    expect(rejectWith('icmp6-port-unreachable', u({ src: '::' })).noReply).toBe('bad-source');
    expect(rejectWith('icmp6-port-unreachable', u(), { ...INPUT, l2: 'multicast' }).noReply).toBe('l2-broadcast');
  });
});

describe('replies through OUTPUT (filterRepliesThroughOutput)', () => {
  it('an OUTPUT drop suppresses the reply; otherwise it is sent', () => {
    const p = ipv4({}, tcp({ sport: 1, dport: 2 }));
    const rs = (outRules: ReturnType<typeof rule>[]) =>
      ruleset('ipv4', { INPUT: { rules: [rule({ protocol: proto(6) }, [], reject('tcp-reset'))] }, OUTPUT: { rules: outRules } });
    const env = { ...INPUT, filterRepliesThroughOutput: true };
    expect(evaluate(rs([rule({}, [], drop)]), decodeIp(p), env).noReply).toBe('output-filtered');
    expect(evaluate(rs([rule({ protocol: proto(17) }, [], drop)]), decodeIp(p), env).verdict).toBe('reject');
    expect(evaluate(rs([rule({}, [], drop)]), decodeIp(p), INPUT).verdict).toBe('reject');
  });
});

describe('properties of every reply', () => {
  const TYPES4: RejectWith[] = ['tcp-reset', 'icmp-net-unreachable', 'icmp-host-unreachable', 'icmp-proto-unreachable', 'icmp-port-unreachable', 'icmp-net-prohibited', 'icmp-host-prohibited', 'icmp-admin-prohibited'];
  const TYPES6: RejectWith[] = ['tcp-reset', 'icmp6-no-route', 'icmp6-adm-prohibited', 'icmp6-addr-unreachable', 'icmp6-port-unreachable', 'icmp6-policy-fail', 'icmp6-reject-route'];

  it('replies are well-formed, checksummed, bounded and addressed back to the sender', () => {
    let replies = 0;
    fc.assert(
      fc.property(
        arbitraryPacket({}),
        fc.nat({ max: 7 }),
        fc.constantFrom<'INPUT' | 'FORWARD' | 'OUTPUT'>('INPUT', 'FORWARD', 'OUTPUT'),
        (p, which, chain) => {
          const withType = p.family === 'ipv4' ? TYPES4[which]! : TYPES6[which % TYPES6.length]!;
          const r = rule(withType === 'tcp-reset' ? { protocol: proto(6) } : {}, [], reject(withType));
          const env: ModelEnv = { chain, inInterface: 'eth0', outInterface: 'eth1', reply: { icmpSourceV4: '192.0.2.254', icmpSourceV6: '2001:db8::fe' } };
          const d = evaluate(ruleset(p.family, { [chain]: { rules: [r] } }), decodeFrame(p.bytes), env);
          if (d.verdict !== 'reject') {
            expect(d.reply).toBeNull();
            return;
          }
          replies++;
          const orig = decodeFrame(p.bytes).ip!;
          const reply = decodeIp(d.reply!).ip!;
          expect(reply.problem).toBeNull();
          expect(Buffer.from(reply.header.dst).equals(Buffer.from(orig.header.src))).toBe(true);
          const b = reply.bytes;
          if (reply.family === 'ipv4') {
            const hl = reply.header.headerLength;
            const pseudo = reply.header.protocol === 6 ? pseudoSum4(reply.header.src, reply.header.dst, 6, b.length - hl) : 0;
            expect(verifies(pseudo + sum16(b, hl))).toBe(true);
            expect(b.length).toBeLessThanOrEqual(withType === 'tcp-reset' ? 40 : 576);
          } else {
            const pseudo = pseudoSum6(reply.header.src, reply.header.dst, reply.header.nextHeader, b.length - 40);
            expect(verifies(pseudo + sum16(b, 40))).toBe(true);
            expect(b.length).toBeLessThanOrEqual(1280);
          }
        },
      ),
      { numRuns: 1500 },
    );
    expect(replies).toBeGreaterThan(200);
  });
});
