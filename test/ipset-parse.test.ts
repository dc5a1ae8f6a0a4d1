/**
 * The `ipset save` reader (src/compiler/ipset/parse.ts): accepted spellings and what they
 * become, refusals with their positions, and the set test semantics on hand-made packets
 * (src/compiler/ipset/match.ts) that the datapath and the model share.
 */
import { describe, expect, it } from 'vitest';
import { parseIpsetSave } from '../src/compiler/ipset/parse.js';
import { matchSet, type SetPacket } from '../src/compiler/ipset/match.js';
import { encodeIpsets, encodeProblems, setId } from '../src/compiler/ipset/encode.js';
import type { SetMatch } from '../src/compiler/ir.js';
import { addressBytes } from '../src/model/address.js';
import { parseRuleset } from '../src/compiler/frontend.js';
import { evaluate } from '../src/model/index.js';
import { decodeIp } from '../src/model/packet.js';
import { icmp, ipv4, tcp, udp } from './support/packets.js';

const SAVE = `create allow hash:net family inet hashsize 1024 maxelem 65536
add allow 192.0.2.0/24
add allow 192.0.2.5 nomatch
create hosts hash:ip family inet hashsize 1024 maxelem 65536 timeout 0
add hosts 198.51.100.7 timeout 100
add hosts 198.51.100.8-198.51.100.11
create masked hash:ip family inet netmask 24
add masked 203.0.113.9
create svc hash:ip,port family inet hashsize 1024 maxelem 65536
add svc 192.0.2.1,tcp:22
add svc 192.0.2.1,udp:53
add svc 192.0.2.1,icmp:8/0
add svc 192.0.2.2,80-81
create ports bitmap:port range 1000-2000
add ports 1022
add ports 1500-1501
create v6 hash:net family inet6 hashsize 1024 maxelem 65536
add v6 2001:db8::/32
create all list:set size 8
add all hosts
add all v6
`;

const span = { file: 'x', start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 2, offset: 1 } };
function m(name: string, flags: ('src' | 'dst')[], extra: Partial<SetMatch> = {}): SetMatch {
  return { kind: 'match', module: 'set', span, negated: false, name, flags, options: [], ...extra };
}
function pkt(src: string, dst: string, proto = 17, sport = 1234, dport = 53, extra: Partial<SetPacket> = {}): SetPacket {
  return { family: src.includes(':') ? 'ipv6' : 'ipv4', src: addressBytes(src), dst: addressBytes(dst), proto, sport, dport, laterFragment: false, ...extra };
}

describe('ipset save reader', () => {
  const { ipsets, diagnostics } = parseIpsetSave(SAVE, 'sets.save');
  const set = (n: string) => ipsets.sets.find((s) => s.name === n)!;

  it('reads every supported type with its options and entries', () => {
    expect(diagnostics).toEqual([]);
    expect(ipsets.sets.map((s) => [s.name, s.type, s.family])).toEqual([
      ['allow', 'hash:net', 'ipv4'],
      ['hosts', 'hash:ip', 'ipv4'],
      ['masked', 'hash:ip', 'ipv4'],
      ['svc', 'hash:ip,port', 'ipv4'],
      ['ports', 'bitmap:port', 'any'],
      ['v6', 'hash:net', 'ipv6'],
      ['all', 'list:set', 'any'],
    ]);
    expect(set('allow').entries).toEqual([
      { kind: 'addr', address: '192.0.2.0', prefix: 24, nomatch: false },
      { kind: 'addr', address: '192.0.2.5', prefix: 32, nomatch: true },
    ]);
    expect(set('hosts').timeouts).toBe(true);
    // A range becomes the prefixes that cover it.
    expect(set('hosts').entries.map((e) => e.kind === 'addr' && `${e.address}/${e.prefix}`)).toEqual(['198.51.100.7/32', '198.51.100.8/30']);
    expect(set('masked').entries).toEqual([{ kind: 'addr', address: '203.0.113.0', prefix: 24, nomatch: false }]);
    expect(set('svc').entries.map((e) => e.kind === 'addr-port' && [e.address, e.proto, e.port])).toEqual([
      ['192.0.2.1', 6, 22],
      ['192.0.2.1', 17, 53],
      ['192.0.2.1', 1, 0x800],
      ['192.0.2.2', 6, 80],
      ['192.0.2.2', 6, 81],
    ]);
    expect(set('ports').range).toEqual({ from: 1000, to: 2000 });
    expect(set('ports').entries.length).toBe(3);
  });

  it.each([
    ['create x hash:mac', 'E271', 1, 10, 'has type "hash:mac"'],
    ['frob x', 'E270', 1, 1, 'unknown command "frob"'],
    ['add nosuch 192.0.2.1', 'E270', 1, 5, 'before its create line'],
    ['create x hash:ip family inet\nadd x 2001:db8::1', 'E272', 2, 7, 'expected an IPv4 address'],
    ['create x hash:ip,port\nadd x 192.0.2.1,tcp:99999', 'E272', 2, 7, 'expected a port'],
    ['create x bitmap:port range 10-20\nadd x 30', 'E272', 2, 7, "outside the set's range 10-20"],
    ['create x hash:ip family ipx', 'E270', 1, 25, 'family must be inet or inet6'],
    ['create x list:set\nadd x y', 'E272', 1, 8, 'no set of that name'],
  ])('refuses %j', (text, code, line, column, message) => {
    const d = parseIpsetSave(text, 'f').diagnostics;
    expect(d.map((x) => [x.code, x.span.start.line, x.span.start.column])).toEqual([[code, line, column]]);
    expect(d[0]!.message).toContain(message);
  });

  it('tests packets as xt_set does', () => {
    const f = ipsets;
    expect(matchSet(f, m('allow', ['src']), pkt('192.0.2.9', '192.0.2.1'))).toBe(true);
    expect(matchSet(f, m('allow', ['src']), pkt('192.0.2.5', '192.0.2.1'))).toBe(false); // nomatch entry
    expect(matchSet(f, m('allow', ['src'], { options: ['--return-nomatch'] }), pkt('192.0.2.5', '192.0.2.1'))).toBe(true);
    expect(matchSet(f, m('allow', ['src'], { options: ['--return-nomatch'] }), pkt('192.0.2.9', '192.0.2.1'))).toBe(false);
    expect(matchSet(f, m('allow', ['dst']), pkt('198.51.100.1', '192.0.2.9'))).toBe(true);
    expect(matchSet(f, m('allow', ['src'], { negated: true }), pkt('198.51.100.1', '192.0.2.1'))).toBe(true);
    expect(matchSet(f, m('masked', ['src']), pkt('203.0.113.200', '192.0.2.1'))).toBe(true);
    expect(matchSet(f, m('svc', ['dst', 'dst']), pkt('198.51.100.1', '192.0.2.1', 17, 9, 53))).toBe(true);
    expect(matchSet(f, m('svc', ['dst', 'src']), pkt('198.51.100.1', '192.0.2.1', 17, 9, 53))).toBe(false);
    expect(matchSet(f, m('svc', ['dst']), pkt('198.51.100.1', '192.0.2.1', 17, 9, 53))).toBe(false); // fewer directions than the dimension
    expect(matchSet(f, m('svc', ['dst', 'dst']), pkt('198.51.100.1', '192.0.2.1', 1, undefined, undefined, { icmp: { type: 8, code: 0 } }))).toBe(true);
    expect(matchSet(f, m('svc', ['dst', 'dst']), pkt('198.51.100.1', '192.0.2.1', 17, 9, 53, { laterFragment: true }))).toBe(false);
    expect(matchSet(f, m('ports', ['dst']), pkt('198.51.100.1', '192.0.2.1', 6, 9, 1500))).toBe(true);
    expect(matchSet(f, m('ports', ['dst']), pkt('198.51.100.1', '192.0.2.1', 132, 9, 1500))).toBe(false); // bitmap:port: TCP/UDP only
    expect(matchSet(f, m('v6', ['src']), pkt('2001:db8::1', '2001:db8::2'))).toBe(true);
    expect(matchSet(f, m('v6', ['src']), pkt('192.0.2.1', '192.0.2.2'))).toBe(false); // other family
    expect(matchSet(f, m('all', ['src']), pkt('2001:db8::1', '2001:db8::2'))).toBe(true);
    expect(matchSet(f, m('all', ['src']), pkt('198.51.100.9', '192.0.2.2'))).toBe(true);
    expect(matchSet(f, m('all', ['src']), pkt('198.51.100.20', '192.0.2.2'))).toBe(false);
    expect(matchSet(f, m('nosuch', ['src']), pkt('192.0.2.9', '192.0.2.1'))).toBe(false);
  });

  it('encodes map entries: one descriptor per set, LPM keys with the id, expanded ip,port', () => {
    expect(encodeProblems(ipsets)).toEqual([]);
    const enc = encodeIpsets(ipsets);
    expect(enc.rjc_set_desc.length).toBe(7);
    expect(enc.rjc_set_lpm4.length).toBe(2 + 2 + 1);
    expect(enc.rjc_set_lpm6.length).toBe(1);
    expect(enc.rjc_set_ipport.length).toBe(5);
    expect(enc.rjc_set_port.length).toBe(3);
    const k = enc.rjc_set_lpm4[0]!.key;
    expect([k.readUInt32LE(0), k.readUInt32LE(4), [...k.subarray(8)]]).toEqual([32 + 24, setId('allow'), [192, 0, 2, 0]]);
    expect(setId('allow')).not.toBe(setId('hosts'));
  });
});

describe('-m set in the model (src/model/state/set.ts)', () => {
  it('reads ports and ICMP type/code from the packet, as ip_set_get_ip_port does', () => {
    const text = `*filter
:INPUT ACCEPT [0:0]
-A INPUT -m set --match-set svc dst,dst -j DROP
-A INPUT -m set --match-set ports dst -j REJECT
COMMIT
`;
    const rs = parseRuleset(text, 'r').ruleset.families[0]!;
    const { ipsets } = parseIpsetSave(SAVE, 'sets.save');
    const env = { chain: 'INPUT' as const, ipsets };
    const verdict = (bytes: Uint8Array) => evaluate(rs, decodeIp(bytes), env).verdict;
    expect(verdict(ipv4({ src: '198.51.100.1', dst: '192.0.2.1' }, udp({ sport: 9, dport: 53 })))).toBe('drop');
    expect(verdict(ipv4({ src: '198.51.100.1', dst: '192.0.2.1' }, udp({ sport: 9, dport: 54 })))).toBe('accept');
    expect(verdict(ipv4({ src: '198.51.100.1', dst: '192.0.2.1' }, icmp({ type: 8, code: 0 })))).toBe('drop');
    expect(verdict(ipv4({ src: '198.51.100.1', dst: '192.0.2.9' }, tcp({ sport: 9, dport: 1501 })))).toBe('reject');
    expect(() => evaluate(rs, decodeIp(ipv4({}, udp({ sport: 1, dport: 2 }))), { chain: 'INPUT' })).toThrow('needs env.ipsets');
  });
});
