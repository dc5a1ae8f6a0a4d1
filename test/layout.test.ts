/**
 * src/layout is the single definition of the codes and map layouts shared with the BPF C.
 * These tests prove that the committed bpf/rjc_layout.h is exactly what the generator writes
 * (so nobody edits it by hand or forgets to regenerate), that clang agrees with the computed
 * offsets (the header's _Static_asserts), and that marshalling is byte-exact.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CHAIN_IDS,
  CHAIN_NONE,
  MAPS,
  NO_REPLY_REASONS,
  REJECT_TYPES,
  REPLY_KINDS,
  REPLY_STATS_ENTRIES,
  STRUCTS,
  decodeStruct,
  encodeStruct,
  formatIpv6,
  generateLayoutHeader,
  layoutStruct,
  parseIpv6,
  rejectCode,
  rejectTypeByCode,
  replyStatsIndex,
  structLayout,
  summarizeReplyStats,
} from '../src/layout/index.js';
import { FILTER_HOOKS, type RejectWith } from '../src/compiler/ir.js';

const root = resolve(import.meta.dirname, '..');

describe('bpf/rjc_layout.h', () => {
  it('is exactly what scripts/gen-layout.ts generates (regenerate it after editing src/layout)', () => {
    const committed = readFileSync(join(root, 'bpf/rjc_layout.h'), 'utf8');
    expect(committed).toBe(generateLayoutHeader());
  });

  it('compiles with clang for BPF, so every offset asserted from TypeScript holds in C', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rjc-layout-'));
    try {
      const src = join(dir, 'check.c');
      // Both the production maps and the test-harness maps.
      writeFileSync(src, '#define RJC_TEST_HARNESS\n#include "rjc_layout.h"\nchar _license[] SEC("license") = "GPL";\n');
      execFileSync('clang', ['-target', 'bpf', '-O2', '-g', '-Wall', '-Werror', '-I', join(root, 'bpf'), '-c', src, '-o', join(dir, 'check.o')]);
      // Every map is in the object under its layout name.
      const syms = execFileSync('llvm-objdump', ['-t', join(dir, 'check.o')], { encoding: 'utf8' });
      for (const m of MAPS) expect(syms).toContain(` ${m.name}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a wrong offset in TypeScript would fail the C build (the asserts are live)', () => {
    const header = generateLayoutHeader().replace(
      /_Static_assert\(__builtin_offsetof\(struct rjc_config, reserved\) == 4,/,
      '_Static_assert(__builtin_offsetof(struct rjc_config, reserved) == 5,',
    );
    expect(header).toContain('== 5,');
    const dir = mkdtempSync(join(tmpdir(), 'rjc-layout-'));
    try {
      writeFileSync(join(dir, 'rjc_layout.h'), header);
      writeFileSync(join(dir, 'check.c'), '#include "rjc_layout.h"\n');
      expect(() =>
        execFileSync('clang', ['-target', 'bpf', '-O2', '-I', dir, '-c', join(dir, 'check.c'), '-o', join(dir, 'check.o')], { stdio: 'pipe' }),
      ).toThrow(/static assert|static_assert/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('codes', () => {
  it('cover every --reject-with of both families with the ICMP type/code of nf-reject.md §2', () => {
    const names: RejectWith[] = [
      'icmp-net-unreachable', 'icmp-host-unreachable', 'icmp-proto-unreachable', 'icmp-port-unreachable',
      'icmp-net-prohibited', 'icmp-host-prohibited', 'tcp-reset', 'icmp-admin-prohibited',
      'icmp6-no-route', 'icmp6-adm-prohibited', 'icmp6-addr-unreachable', 'icmp6-port-unreachable',
      'icmp6-policy-fail', 'icmp6-reject-route',
    ];
    expect(REJECT_TYPES.map((t) => t.name).sort()).toEqual([...names].sort());
    const icmp = Object.fromEntries(REJECT_TYPES.filter((t) => t.icmp).map((t) => [t.name, `${t.icmp!.type}/${t.icmp!.code}`]));
    expect(icmp).toEqual({
      'icmp-net-unreachable': '3/0', 'icmp-host-unreachable': '3/1', 'icmp-proto-unreachable': '3/2',
      'icmp-port-unreachable': '3/3', 'icmp-net-prohibited': '3/9', 'icmp-host-prohibited': '3/10',
      'icmp-admin-prohibited': '3/13', 'icmp6-no-route': '1/0', 'icmp6-adm-prohibited': '1/1',
      'icmp6-addr-unreachable': '1/3', 'icmp6-port-unreachable': '1/4', 'icmp6-policy-fail': '1/5',
      'icmp6-reject-route': '1/6',
    });
    for (const n of names) expect(rejectTypeByCode(rejectCode(n))?.name).toBe(n);
    expect(new Set(REJECT_TYPES.map((t) => t.code)).size).toBe(REJECT_TYPES.length);
    expect(REJECT_TYPES.every((t) => t.code > 0 && t.code < 256)).toBe(true);
    expect(() => rejectCode('bogus' as RejectWith)).toThrow(/no reject code/);
  });

  it('number chains in FILTER_HOOKS order, with a distinct "none"', () => {
    expect(FILTER_HOOKS.map((h) => CHAIN_IDS[h])).toEqual([0, 1, 2]);
    expect(Object.values(CHAIN_IDS)).not.toContain(CHAIN_NONE);
  });

  it('give reply kinds and no-reply reasons dense, unique codes and stats indexes', () => {
    expect(REPLY_KINDS.map((k) => k.code)).toEqual(REPLY_KINDS.map((_, i) => i));
    expect(NO_REPLY_REASONS.map((k) => k.code)).toEqual(NO_REPLY_REASONS.map((_, i) => i));
    const all = [
      ...REPLY_KINDS.map((k) => replyStatsIndex({ kind: 'sent', code: k.code })),
      ...NO_REPLY_REASONS.map((r) => replyStatsIndex({ kind: 'suppressed', code: r.code })),
    ];
    expect(new Set(all).size).toBe(REPLY_STATS_ENTRIES);
    expect(Math.max(...all)).toBe(REPLY_STATS_ENTRIES - 1);
    const stats = summarizeReplyStats(Array.from({ length: REPLY_STATS_ENTRIES }, (_, i) => BigInt(i * 10)));
    expect(stats.sent['tcp-reset-ipv4']).toBe(0);
    expect(stats.sent['icmp-ipv6']).toBe(30);
    expect(stats.suppressed['fragment']).toBe(REPLY_KINDS.length * 10);
    expect(() => summarizeReplyStats(Array(REPLY_STATS_ENTRIES + 1).fill(0))).toThrow();
  });
});

describe('struct marshalling', () => {
  it('lays out structs with C alignment (u32 after u8 is padded to 4)', () => {
    const l = layoutStruct({
      name: 't',
      doc: '',
      fields: [
        { name: 'a', type: 'u8', doc: '' },
        { name: 'b', type: 'u32', doc: '' },
        { name: 'c', type: 'u16', doc: '' },
      ],
    });
    expect(l.fields.map((f) => f.offset)).toEqual([0, 4, 8]);
    expect(l.size).toBe(12);
  });

  it('encodes and decodes every shared struct byte-exactly', () => {
    const cfg = structLayout('rjc_config');
    const buf = encodeStruct(cfg, { ip_default_ttl: 99, ipv6_all_hop_limit: 77 });
    expect([...buf]).toEqual([99, 77, 0, 0, 0, 0, 0, 0]);
    expect(decodeStruct(cfg, buf)).toMatchObject({ ip_default_ttl: 99, ipv6_all_hop_limit: 77 });

    const k4 = encodeStruct(structLayout('rjc_route4_key'), { prefixlen: 24, addr: '192.0.2.0' });
    expect(k4.toString('hex')).toBe('18000000c0000200');
    const k6 = structLayout('rjc_addr6_key');
    const b6 = encodeStruct(k6, { ifindex: 3, addr: 'fe80::a' });
    expect(b6.toString('hex')).toBe('03000000fe80000000000000000000000000000a');
    expect(decodeStruct(k6, b6)).toEqual({ ifindex: 3, addr: 'fe80::a' });

    for (const s of STRUCTS) {
      const l = structLayout(s.name);
      expect(decodeStruct(l, encodeStruct(l, {}))).toBeDefined();
    }
  });

  it('refuses values that do not fit and unknown fields', () => {
    const cfg = structLayout('rjc_config');
    expect(() => encodeStruct(cfg, { ip_default_ttl: 256 })).toThrow(/does not fit/);
    expect(() => encodeStruct(cfg, { ttl: 1 })).toThrow(/no field/);
    expect(() => encodeStruct(structLayout('rjc_addr4_key'), { addr: '300.1.1.1' })).toThrow(/bad IPv4/);
  });

  it('parses and prints IPv6 text (RFC 5952)', () => {
    expect(formatIpv6(parseIpv6('2001:db8::1'))).toBe('2001:db8::1');
    expect(formatIpv6(parseIpv6('2001:0db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1');
    expect(formatIpv6(parseIpv6('::'))).toBe('::');
    expect(formatIpv6(parseIpv6('::ffff:192.0.2.1'))).toBe('::ffff:c000:201');
    expect(() => parseIpv6('1::2::3')).toThrow();
    expect(() => parseIpv6('1:2:3')).toThrow();
  });
});
