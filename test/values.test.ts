/**
 * Value parsers and printers (src/compiler/values/): accepted and refused spellings, checked
 * against iptables 1.8.9 and glibc behaviour.
 */
import { describe, expect, it } from 'vitest';
import {
  canonicalAddress, formatIpv6, parseCidr, parseCidrList, parseInetAton, parseIpv4, parseIpv6, parseMaskText,
} from '../src/compiler/values/addresses.js';
import { formatIcmpType, parseIcmpType } from '../src/compiler/values/icmp-types.js';
import { parseDecimal, parseUint, strtoul } from '../src/compiler/values/numbers.js';
import { formatRange, parseMultiport, parsePort, parsePortRange, serviceToPort } from '../src/compiler/values/ports.js';
import { formatProtocol, implicitModuleName, parseProtocol } from '../src/compiler/values/protocols.js';
import {
  bytesToCost, costToBytes, formatByteBurst, formatByteRate, formatRate, HASHLIMIT_SCALE, LIMIT_SCALE, parseByteRate,
  parseHashlimitBurst, parseLimitRate,
} from '../src/compiler/values/rates.js';
import type { Parsed } from '../src/compiler/values/result.js';
import { formatTcpFlags, parseTcpFlagList } from '../src/compiler/values/tcp-flags.js';

function value<T>(p: Parsed<T>): T {
  if (!p.ok) throw new Error(`expected a value, got ${p.problem.code} ${JSON.stringify(p.problem.params)}`);
  return p.value;
}

function code<T>(p: Parsed<T>): string {
  return p.ok ? 'ok' : p.problem.code;
}

describe('numbers (strtoul base 0)', () => {
  it.each([
    ['22', 22],
    ['0x16', 22],
    ['0X16', 22],
    ['026', 22],
    ['0', 0],
    ['+5', 5],
    [' 7', 7],
    ['-0', 0],
    ['65535', 65535],
  ])('%j is %d', (text, n) => {
    expect(parseUint(text, 0, 65535)).toBe(n);
  });

  it.each(['', '08', '0x', '22a', '-1', '65536', '1e3', '0x1g', ' ', '1 '])('%j is refused', (text) => {
    expect(parseUint(text, 0, 65535)).toBeUndefined();
  });

  it('reads decimal only where iptables uses base 10', () => {
    expect(parseDecimal('010', 0, 65535)).toBe(10);
    expect(parseDecimal('0x10', 0, 65535)).toBeUndefined();
  });

  it('reports how far it read', () => {
    expect(strtoul('1025-65535')).toEqual({ value: 1025, end: 4 });
    expect(strtoul('abc')).toEqual({ value: 0, end: 0 });
  });
});

describe('protocols', () => {
  it.each([
    ['tcp', 6],
    ['TCP', 6],
    ['6', 6],
    ['0x11', 17],
    ['udp', 17],
    ['icmp', 1],
    ['ICMP', 1],
    ['ipv6-icmp', 58],
    ['IPv6-ICMP', 58],
    ['icmpv6', 58],
    ['all', 0],
    ['0', 0],
    ['ip', 0],
    ['sctp', 132],
    ['udplite', 136],
    ['esp', 50],
    ['ah', 51],
    ['mh', 135],
    ['gre', 47],
    ['mptcp', 6],
    ['255', 255],
  ])('%s is %d', (text, n) => {
    expect(value(parseProtocol(text))).toBe(n);
  });

  it.each(['256', 'icmp6', 'Tcp', 'bogus', '', '-1'])('%j is refused', (text) => {
    expect(code(parseProtocol(text))).toBe('E204');
  });

  it.each([
    [6, 'tcp'],
    [17, 'udp'],
    [1, 'icmp'],
    [58, 'ipv6-icmp'],
    [41, 'ipv6'],
    [132, 'sctp'],
    [2, 'igmp'],
    [255, '255'],
    [200, '200'],
  ])('%d prints as %s', (n, text) => {
    expect(formatProtocol(n)).toBe(text);
  });

  it('names the match -p loads implicitly', () => {
    expect(implicitModuleName('tcp')).toBe('tcp');
    expect(implicitModuleName('6')).toBe('tcp');
    expect(implicitModuleName('58')).toBe('icmp6');
    expect(implicitModuleName('ipv6-icmp')).toBe('icmp6');
    expect(implicitModuleName('icmpv6')).toBe('icmp6');
    expect(implicitModuleName('all')).toBe('all');
    expect(implicitModuleName('0')).toBeUndefined();
  });
});

describe('ports and services', () => {
  it.each([
    ['ssh', 'tcp', 22],
    ['domain', 'udp', 53],
    ['www', 'tcp', 80],
    ['http', 'tcp', 80],
    ['https', 'tcp', 443],
    ['smtp', 'tcp', 25],
    ['ntp', 'udp', 123],
    ['bootps', 'udp', 67],
    ['ftp-data', 'tcp', 20],
  ])('%s/%s is %d', (name, proto, port) => {
    expect(serviceToPort(name, proto)).toBe(port);
  });

  it('looks services up per protocol only where iptables does', () => {
    expect(serviceToPort('bootps', 'tcp')).toBeUndefined();
    expect(serviceToPort('ssh', undefined)).toBe(22);
    expect(code(parsePort('bootps', 'tcp'))).toBe('E204');
    expect(value(parsePort('bootps', 'udp', 'xtopt'))).toBe(67);
  });

  it.each([
    ['22', { from: 22, to: 22 }],
    ['1024:', { from: 1024, to: 65535 }],
    [':1023', { from: 0, to: 1023 }],
    [':', { from: 0, to: 65535 }],
    ['ssh:http', { from: 22, to: 80 }],
    ['4:4', { from: 4, to: 4 }],
    ['0x16', { from: 22, to: 22 }],
  ])('tcp range %s', (text, r) => {
    expect(value(parsePortRange(text, 'tcp'))).toEqual(r);
  });

  it.each(['65536', '-1', '4:3', '', 'nosuch', '1:2:3', '99999999999'])('tcp range %j is refused', (text) => {
    expect(code(parsePortRange(text, 'tcp'))).toBe('E204');
  });

  it('reads xtopt ports in decimal', () => {
    expect(value(parsePortRange('010', undefined, 'xtopt'))).toEqual({ from: 10, to: 10 });
    expect(code(parsePortRange('0x16', undefined, 'xtopt'))).toBe('E204');
  });

  it.each([
    ['53,1024:65535', [{ from: 53, to: 53 }, { from: 1024, to: 65535 }]],
    ['ssh,http', [{ from: 22, to: 22 }, { from: 80, to: 80 }]],
    ['1,2,3,4,5,6,7,8,9,10,11,12,13,14,15', Array.from({ length: 15 }, (_, i) => ({ from: i + 1, to: i + 1 }))],
    ['1:2,3,4,5,6,7,8,9,10,11,12,13,14,15', [{ from: 1, to: 2 }, ...Array.from({ length: 13 }, (_, i) => ({ from: i + 3, to: i + 3 }))]],
  ])('multiport %s', (text, ports) => {
    expect(value(parseMultiport(text, 'tcp'))).toEqual(ports);
  });

  it.each(['1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16', '1:2,3:4,5:6,7:8,9:10,11:12,13:14,15:16', '22:22', '22:21', '1024:', ':80', '22,', '22,,23', '1024:65536'])('multiport %s is refused', (text) => {
    expect(code(parseMultiport(text, 'tcp'))).toBe('E204');
  });

  it('prints ranges', () => {
    expect(formatRange({ from: 22, to: 22 })).toBe('22');
    expect(formatRange({ from: 0, to: 65535 })).toBe('0:65535');
  });
});

describe('IPv4 addresses', () => {
  it.each([
    ['1.2.3.4', '1.2.3.4'],
    ['010.1.1.1', '8.1.1.1'],
    ['0x10.1.1.1', '16.1.1.1'],
    ['1.2.3', '1.2.3.0'],
    ['10', '10.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
  ])('%s reads as %s', (text, canon) => {
    expect(canonicalAddress(text, 'ipv4')).toBe(canon);
  });

  it.each(['1.2.3.256', '1.2.3.4.5', '', '1..2.3', 'a.b.c.d', '08.1.1.1', '1.2.3.4/24'])('%j is not an address', (text) => {
    expect(parseIpv4(text)).toBeUndefined();
  });

  it.each([
    ['10.11.12.13/8', { address: '10.0.0.0', prefix: 8 }],
    ['10.11.12.13/255.128.0.0', { address: '10.0.0.0', prefix: 9 }],
    ['10.11.12.13/0x18', { address: '10.11.12.0', prefix: 24 }],
    ['10.11.12.13/31', { address: '10.11.12.12', prefix: 31 }],
    ['1.2.3.4', { address: '1.2.3.4', prefix: 32 }],
    ['anything/0', { address: '0.0.0.0', prefix: 0 }],
  ])('cidr %s', (text, cidr) => {
    expect(value(parseCidr(text, 'ipv4'))).toEqual(cidr);
  });

  it.each([
    ['1.2.3.4/33', 'E204'],
    ['1.2.3.4/-1', 'E204'],
    ['1.2.3.4/08', 'E204'],
    ['1.2.3.4/', 'E204'],
    ['1.2.3.4/255.0.255.0', 'E211'],
    ['host.example.org', 'E208'],
    ['localhost', 'E208'],
    ['2001:db8::1', 'E204'],
    ['', 'E204'],
  ])('cidr %j is refused with %s', (text, c) => {
    expect(code(parseCidr(text, 'ipv4'))).toBe(c);
  });

  it('keeps address lists in order, duplicates included', () => {
    expect(value(parseCidrList('1.2.3.4,1.2.3.4/32,10.0.0.1/8', 'ipv4'))).toEqual([
      { address: '1.2.3.4', prefix: 32 },
      { address: '1.2.3.4', prefix: 32 },
      { address: '10.0.0.0', prefix: 8 },
    ]);
    expect(code(parseCidrList('1.2.3.4,', 'ipv4'))).toBe('E204');
  });

  it.each([
    ['24', '0.0.0.24'],
    ['255.255.0.0', '255.255.0.0'],
    ['10.1', '10.0.0.1'],
    ['0xff.0.0.0', '255.0.0.0'],
  ])('inet_aton %s', (text, canon) => {
    const v = parseInetAton(text);
    expect(v === undefined ? undefined : canonicalAddress(String(v >>> 24) + '.' + ((v >>> 16) & 255) + '.' + ((v >>> 8) & 255) + '.' + (v & 255), 'ipv4')).toBe(canon);
  });
});

describe('IPv6 addresses (inet_pton / inet_ntop)', () => {
  it.each([
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['::1.2.3.4', '::1.2.3.4'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:0:1:0:1:0:1:0', '1:0:1:0:1:0:1:0'],
    ['fe80::', 'fe80::'],
    ['c0::fe', 'c0::fe'],
  ])('%s prints as %s', (text, canon) => {
    expect(canonicalAddress(text, 'ipv6')).toBe(canon);
  });

  it.each(['[2001:db8::1]', 'fe80::1%eth0', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'g::', '::1.2.3', '1.2.3.4', ''])('%j is not an address', (text) => {
    expect(parseIpv6(text)).toBeUndefined();
  });

  it('formats words like glibc', () => {
    expect(formatIpv6([0, 0, 0, 0, 0, 0, 0, 0])).toBe('::');
    expect(formatIpv6([0, 0, 0, 0, 0, 0, 0x0102, 0x0304])).toBe('::1.2.3.4');
  });

  it.each([
    ['2001:db8::1/64', { address: '2001:db8::', prefix: 64 }],
    ['2001:db8::/ffff:ffff::', { address: '2001:db8::', prefix: 32 }],
    ['2001:db8::1/0x40', { address: '2001:db8::', prefix: 64 }],
    ['::/0', { address: '::', prefix: 0 }],
  ])('cidr %s', (text, cidr) => {
    expect(value(parseCidr(text, 'ipv6'))).toEqual(cidr);
  });

  it.each([
    ['2001:db8::1/129', 'E204'],
    ['2001:db8::/ffff:0:ffff::', 'E211'],
    ['1.2.3.4', 'E204'],
    ['ipv6.example.net', 'E208'],
  ])('cidr %s is refused with %s', (text, c) => {
    expect(code(parseCidr(text, 'ipv6'))).toBe(c);
  });

  it('reads masks as prefix lengths', () => {
    expect(value(parseMaskText('ffff:ffff:ffff:ffff::', 'ipv6'))).toBe(64);
    expect(value(parseMaskText('255.255.255.0', 'ipv4'))).toBe(24);
    expect(code(parseMaskText('255.255.255', 'ipv4'))).toBe('E204');
  });
});

describe('ICMP types', () => {
  it.each([
    ['any', { type: 255, codeMin: 0, codeMax: 255 }, 'any'],
    ['echo-request', { type: 8, codeMin: 0, codeMax: 255 }, '8'],
    ['ping', { type: 8, codeMin: 0, codeMax: 255 }, '8'],
    ['pong', { type: 0, codeMin: 0, codeMax: 255 }, '0'],
    ['ECHO-REPLY', { type: 0, codeMin: 0, codeMax: 255 }, '0'],
    ['host-unreachable', { type: 3, codeMin: 1, codeMax: 1 }, '3/1'],
    ['tos-host-redirect', { type: 5, codeMin: 3, codeMax: 3 }, '5/3'],
    ['destination-unreachable', { type: 3, codeMin: 0, codeMax: 255 }, '3'],
    ['dest', { type: 3, codeMin: 0, codeMax: 255 }, '3'],
    ['ttl-exceeded', { type: 11, codeMin: 0, codeMax: 255 }, '11'],
    ['3/4', { type: 3, codeMin: 4, codeMax: 4 }, '3/4'],
    ['0x8', { type: 8, codeMin: 0, codeMax: 255 }, '8'],
    ['8/0', { type: 8, codeMin: 0, codeMax: 0 }, '8/0'],
    ['3/3:4', { type: 3, codeMin: 3, codeMax: 4 }, '3/3:4'],
    ['255', { type: 255, codeMin: 0, codeMax: 255 }, 'any'],
    ['255/255', { type: 255, codeMin: 0, codeMax: 255 }, 'any'],
  ])('icmp %s', (text, t, printed) => {
    expect(value(parseIcmpType(text, 'ipv4'))).toEqual(t);
    expect(formatIcmpType(t, 'ipv4')).toBe(printed);
  });

  it.each([
    ['echo-re', 'E214'],
    ['p', 'E214'],
    ['ttl', 'E214'],
    ['', 'E214'],
    ['256', 'E204'],
    ['3/256', 'E204'],
    ['3/4:3', 'E204'],
    ['destination-unreachable/network-unreachable', 'E204'],
    ['nosuchtype', 'E204'],
  ])('icmp %j is refused with %s', (text, c) => {
    expect(code(parseIcmpType(text, 'ipv4'))).toBe(c);
  });

  it.each([
    ['no-route', { type: 1, codeMin: 0, codeMax: 0 }, '1/0'],
    ['echo-request', { type: 128, codeMin: 0, codeMax: 255 }, '128'],
    ['neighbor-solicitation', { type: 135, codeMin: 0, codeMax: 255 }, '135'],
    ['neighbour-advertisement', { type: 136, codeMin: 0, codeMax: 255 }, '136'],
    ['router-s', { type: 133, codeMin: 0, codeMax: 255 }, '133'],
    ['mld-listener-reduction', { type: 132, codeMin: 0, codeMax: 255 }, '132'],
    ['packet-too-big', { type: 2, codeMin: 0, codeMax: 255 }, '2'],
    ['255', { type: 255, codeMin: 0, codeMax: 255 }, '255'],
    ['255/255', { type: 255, codeMin: 255, codeMax: 255 }, '255/255'],
  ])('icmpv6 %s', (text, t, printed) => {
    expect(value(parseIcmpType(text, 'ipv6'))).toEqual(t);
    expect(formatIcmpType(t, 'ipv6')).toBe(printed);
  });

  it.each([['any'], ['n'], ['mld-listener-re']])('icmpv6 %s is refused', (text) => {
    expect(parseIcmpType(text, 'ipv6').ok).toBe(false);
  });
});

describe('rates', () => {
  it.each([
    ['5', 2000, '5/sec'],
    ['5/s', 2000, '5/sec'],
    ['5/SECOND', 2000, '5/sec'],
    ['5/m', 120000, '5/min'],
    ['5/mi', 120000, '5/min'],
    ['86400/day', 10000, '1/sec'],
    ['333/minute', 1801, '333/min'],
    ['7/minute', 85714, '7/min'],
    ['3/hour', 12000000, '3/hour'],
    ['2/day', 432000000, '2/day'],
    ['1000/hour', 36000, '1000/hour'],
    ['10000/s', 1, '10000/sec'],
    ['5xyz/s', 2000, '5/sec'],
  ])('limit %s: avg %d, printed %s', (text, avg, printed) => {
    expect(value(parseLimitRate(text))).toBe(avg);
    expect(formatRate(avg, LIMIT_SCALE).text).toBe(printed);
  });

  it.each(['0', '5/', '5/x', '1/3', '10001/s', 'abc', '-5'])('limit %j is refused', (text) => {
    expect(code(parseLimitRate(text))).toBe('E204');
  });

  it('prints hashlimit rates at scale 1e6 with the unit length', () => {
    expect(formatRate(1_000_000, HASHLIMIT_SCALE)).toEqual({ text: '1/sec', quantumMs: 1000 });
    expect(formatRate(60_000_000, HASHLIMIT_SCALE)).toEqual({ text: '1/min', quantumMs: 60_000 });
    expect(formatRate(86_400_000_000, HASHLIMIT_SCALE)).toEqual({ text: '1/day', quantumMs: 86_400_000 });
  });

  it.each([
    ['4kb/s', '4kb/s'],
    ['1024b/s', '1kb/s'],
    ['123456b/s', '123456b/s'],
    ['10mb/s', '10mb/s'],
    ['100kb/s', '100kb/s'],
  ])('byte rate %s prints as %s', (text, printed) => {
    const cost = value(parseByteRate(text)!);
    expect(formatByteRate(cost)).toBe(printed);
  });

  it('computes byte costs as libxt_hashlimit does', () => {
    expect(bytesToCost(1024)).toBe(Math.floor(0xffffffff / 65));
    expect(costToBytes(bytesToCost(4096))).toBe(4096);
    expect(parseByteRate('5/sec')).toBeUndefined();
    expect(formatByteBurst(bytesToCost(4096), 100)).toBe('400kb');
  });

  it.each([
    ['5', 5],
    ['400kb', 409600],
    ['1mb', 1048576],
    ['0x10', 16],
  ])('hashlimit burst %s is %d', (text, n) => {
    expect(value(parseHashlimitBurst(text))).toBe(n);
  });

  it.each(['0', '1000001', 'x', '-1'])('hashlimit burst %j is refused', (text) => {
    expect(code(parseHashlimitBurst(text))).toBe('E204');
  });
});

describe('TCP flags', () => {
  it.each([
    ['SYN', 0x02],
    ['syn,ack', 0x12],
    ['FIN,SYN,RST,ACK', 0x17],
    ['ALL', 0x3f],
    ['NONE', 0],
    ['', 0],
    ['SYN,SYN', 0x02],
  ])('%j is %d', (text, bits) => {
    expect(value(parseTcpFlagList(text))).toBe(bits);
  });

  it.each(['ECE', 'CWR', 'FOO', 'SYN;ACK'])('%s is refused', (text) => {
    expect(code(parseTcpFlagList(text))).toBe('E204');
  });

  it('prints in bit order', () => {
    expect(formatTcpFlags(0x3f)).toBe('FIN,SYN,RST,PSH,ACK,URG');
    expect(formatTcpFlags(0x12)).toBe('SYN,ACK');
    expect(formatTcpFlags(0)).toBe('NONE');
  });
});
