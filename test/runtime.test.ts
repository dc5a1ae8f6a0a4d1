/**
 * src/runtime object/map/program layer against the real kernel: loads small TC and XDP
 * programs compiled by clang here (test/fixtures/runtime/), round-trips map elements (array,
 * hash, per-CPU, batch, iteration), test-runs them (return code, rewritten data, context),
 * and checks that a verifier refusal becomes a VerifierError that keeps the log.
 * Needs root (CAP_BPF); skips with the reason otherwise.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BpfMap,
  BpfObject,
  BpfProgram,
  LibbpfError,
  PROG_TYPE,
  TC_ACT,
  VerifierError,
  XDP_ACTION,
  ensureBpffs,
  numPossibleCpus,
  sumPerCpuU64,
  summariseVerifierLog,
  u32,
} from '../src/runtime/libbpf.js';
import { EnvironmentError, UserError } from '../src/errors.js';
import { buildFixture } from './fixtures/runtime/build.js';
import { canUseKernel } from './support/netns.js';

const frame = (len: number, fill = 1) => Buffer.alloc(len, fill);
const value12 = (a: number, b: bigint) => {
  const v = Buffer.alloc(16);
  v.writeUInt32LE(a, 0);
  v.writeBigUInt64LE(b, 8);
  return v;
};

describe.skipIf(!canUseKernel())('runtime: BPF objects, maps and test-run (needs root)', () => {
  let obj: BpfObject;

  beforeAll(() => {
    obj = BpfObject.open(buildFixture('tiny'));
    obj.map('table').setMaxEntries(128);
    obj.load();
  });
  afterAll(() => obj?.close());

  it('lists maps and programs by name with their layouts', () => {
    expect([...obj.maps.keys()].sort()).toEqual(['config', 'counters', 'seen', 'table']);
    expect([...obj.programs.keys()].sort()).toEqual(['rjc_test_tc', 'rjc_test_xdp']);
    expect(obj.program('rjc_test_tc').type).toBe(PROG_TYPE.schedCls);
    expect(obj.program('rjc_test_xdp').type).toBe(PROG_TYPE.xdp);
    expect(obj.program('rjc_test_tc').sectionName).toBe('tc');
    const table = obj.map('table');
    expect(table.info).toMatchObject({ name: 'table', keySize: 4, valueSize: 16, maxEntries: 128 });
    expect(obj.map('counters').perCpu).toBe(true);
    expect(obj.program('rjc_test_tc').id).toBeGreaterThan(0);
    expect(() => obj.map('nope')).toThrow(/has no map "nope"/);
  });

  it('round-trips hash elements: update, lookup, iterate, delete', () => {
    const table = obj.map('table');
    for (let k = 1; k <= 5; k++) table.update(u32(k), value12(k * 10, BigInt(k) << 40n));
    expect(table.lookup(u32(3))!.readUInt32LE(0)).toBe(30);
    expect(table.lookup(u32(3))!.readBigUInt64LE(8)).toBe(3n << 40n);
    expect(table.lookup(u32(99))).toBeUndefined();
    expect([...table.keys()].map((k) => k.readUInt32LE(0)).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(table.delete(u32(2))).toBe(true);
    expect(table.delete(u32(2))).toBe(false);
    expect(() => table.update(u32(1), value12(0, 0n), 'noexist')).toThrow(LibbpfError);
    table.update(u32(1), value12(11, 0n), 'exist');
    expect(table.lookup(u32(1))!.readUInt32LE(0)).toBe(11);
  });

  it('batch-updates many entries in one call', () => {
    const table = obj.map('table');
    const keys = Array.from({ length: 50 }, (_, i) => u32(1000 + i));
    const values = keys.map((_, i) => value12(i, BigInt(i)));
    table.updateBatch(keys, values);
    expect(table.lookup(u32(1049))!.readUInt32LE(0)).toBe(49);
    for (const k of keys) table.delete(k);
  });

  it('checks key and value sizes before the native call', () => {
    const table = obj.map('table');
    expect(() => table.update(Buffer.alloc(3), value12(0, 0n))).toThrow(/key is 3 bytes, expected 4/);
    expect(() => table.update(u32(1), Buffer.alloc(12))).toThrow(/value is 12 bytes, expected 16/);
    expect(() => obj.map('config').delete(u32(0))).toThrow(/array/);
    expect(() => obj.map('counters').lookup(u32(0))).toThrow(/per-CPU/);
    expect(() => obj.map('config').setMaxEntries(8)).toThrow(/already loaded/);
  });

  it('reads and writes per-CPU values, one per possible CPU, padded to 8 bytes', () => {
    const counters = obj.map('counters');
    const n = numPossibleCpus();
    expect(n).toBeGreaterThan(0);
    const perCpu = Array.from({ length: n }, (_, cpu) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt(cpu + 1) * 100n);
      return b;
    });
    counters.updatePerCpu(u32(1), perCpu);
    const back = counters.lookupPerCpu(u32(1))!;
    expect(back).toHaveLength(n);
    expect(back.map((b) => b.readBigUInt64LE(0))).toEqual(perCpu.map((b) => b.readBigUInt64LE(0)));
    expect(sumPerCpuU64(back)).toBe(BigInt((n * (n + 1)) / 2) * 100n);
    counters.updatePerCpu(u32(1), Buffer.alloc(8));
    expect(sumPerCpuU64(counters.lookupPerCpu(u32(1))!)).toBe(0n);
    expect(() => counters.updatePerCpu(u32(1), [Buffer.alloc(8)].concat(n > 1 ? [] : [Buffer.alloc(8)]))).toThrow(/per-CPU values/);
  });

  it('test-runs a TC program: return code, rewritten data, context in and out, counters', () => {
    const prog = obj.program('rjc_test_tc');
    const config = obj.map('config');
    const counters = obj.map('counters');
    counters.updatePerCpu(u32(0), Buffer.alloc(8));
    config.update(u32(0), u32(TC_ACT.SHOT));
    config.update(u32(1), u32(0x5a));
    config.update(u32(2), u32(1));
    const r = prog.testRun({ data: frame(60), ctx: { kind: 'skb', mark: 0x1234, ingressIfindex: 0 } });
    expect(r.retval).toBe(TC_ACT.SHOT);
    expect(r.data).toHaveLength(60);
    expect(r.data[0]).toBe(0x5a);
    expect(r.data.subarray(1).every((b) => b === 1)).toBe(true);
    expect(r.ctx).toMatchObject({ kind: 'skb', mark: 0x1234, ifindex: 1, wireLen: 60 });
    expect(obj.map('seen').lookup(u32(0))!.readUInt32LE(0)).toBe(0x1234);
    expect(obj.map('seen').lookup(u32(3))!.readUInt32LE(0)).toBe(60);
    expect(sumPerCpuU64(counters.lookupPerCpu(u32(0))!)).toBe(1n);

    config.update(u32(0), u32(TC_ACT.OK));
    const r2 = prog.testRun({ data: frame(100), repeat: 10 });
    expect(r2.retval).toBe(TC_ACT.OK);
    expect(sumPerCpuU64(counters.lookupPerCpu(u32(0))!)).toBe(11n);
    expect(r2.duration).toBeGreaterThanOrEqual(0);
  });

  it('test-runs an XDP program with its own context kind', () => {
    const prog = obj.program('rjc_test_xdp');
    obj.map('config').update(u32(0), u32(XDP_ACTION.TX));
    obj.map('config').update(u32(1), u32(0x77));
    obj.map('config').update(u32(2), u32(1));
    const r = prog.testRun({ data: frame(64) });
    expect(r.retval).toBe(XDP_ACTION.TX);
    expect(r.data[0]).toBe(0x77);
    // lo (ifindex 1) exists in every namespace; the kernel checks the device.
    const r2 = prog.testRun({ data: frame(64), ctx: { kind: 'xdp', ingressIfindex: 1 } });
    expect(r2.ctx).toMatchObject({ kind: 'xdp', ingressIfindex: 1 });
    expect(obj.map('seen').lookup(u32(1))!.readUInt32LE(0)).toBe(1);
  });

  it('refuses bad test-run arguments before the native call', () => {
    const prog = obj.program('rjc_test_tc');
    expect(() => prog.testRun({ data: frame(10) })).toThrow(/at least 14 bytes/);
    expect(() => prog.testRun({ data: frame(60), ctx: { kind: 'xdp' } })).toThrow(/does not fit/);
    expect(() => prog.testRun({ data: frame(60), repeat: 0 })).toThrow(/repeat/);
    expect(() => prog.testRun({ data: frame(60), ctx: { kind: 'skb', mark: -1 } })).toThrow(/u32/);
    // The kernel refuses an skb context naming an interface that does not exist.
    expect(() => prog.testRun({ data: frame(60), ctx: { kind: 'skb', ifindex: 999999 } })).toThrow(LibbpfError);
  });

  it('turns a verifier refusal into a VerifierError with the whole log and a summary', () => {
    const bad = BpfObject.open(buildFixture('refused'));
    try {
      let caught: unknown;
      try {
        bad.load();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(VerifierError);
      expect(caught).toBeInstanceOf(EnvironmentError);
      const v = caught as VerifierError;
      expect(v.program).toBe('rjc_test_refused');
      expect(v.code).toBe('EACCES');
      expect(v.log).toMatch(/invalid access to packet/);
      expect(v.log).toMatch(/processed \d+ insns/);
      expect(v.summary).toMatch(/outside of the packet/);
      expect(v.message).toMatch(/verifier refused BPF program "rjc_test_refused".*EACCES.*outside of the packet/);
      expect(v.fix).toBeTruthy();
    } finally {
      bad.close();
    }
  });

  it('reports a missing object file as a user error and a non-ELF file as a libbpf error', () => {
    expect(() => BpfObject.open('/nonexistent/x.bpf.o')).toThrow(UserError);
    const dir = mkdtempSync(join(tmpdir(), 'rjc-bad-'));
    try {
      const path = join(dir, 'not-elf.o');
      writeFileSync(path, 'not an ELF file');
      let caught: unknown;
      try {
        BpfObject.open(path).close();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(LibbpfError);
      expect((caught as LibbpfError).call).toBe('bpf_object__open_file');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('pins a map and a program, reopens them by pin, and a new object reuses the pinned map', () => {
    ensureBpffs();
    const dir = `/sys/fs/bpf/rjc-test-${process.pid}`;
    mkdirSync(dir, { recursive: true });
    const second = BpfObject.open(buildFixture('tiny'));
    try {
      obj.map('counters').updatePerCpu(u32(0), Buffer.alloc(8));
      obj.map('counters').pin(`${dir}/counters`);
      obj.program('rjc_test_tc').pin(`${dir}/prog`);
      using pinned = BpfMap.openPinned(`${dir}/counters`);
      expect(pinned.info).toMatchObject({ name: 'counters', keySize: 4, valueSize: 8, maxEntries: 2 });
      expect(pinned.id).toBe(obj.map('counters').id);
      using prog = BpfProgram.openPinned(`${dir}/prog`);
      expect(prog.id).toBe(obj.program('rjc_test_tc').id);
      expect(prog.name).toBe('rjc_test_tc');

      // A second load of the same object shares the counters (e.g. across a program swap).
      second.map('counters').reuse(pinned);
      second.load();
      expect(second.map('counters').id).toBe(pinned.id);
      second.program('rjc_test_tc').testRun({ data: frame(60) });
      second.program('rjc_test_tc').testRun({ data: frame(60) });
      expect(sumPerCpuU64(pinned.lookupPerCpu(u32(0))!)).toBe(2n);
      expect(() => second.map('table').reuse(pinned)).toThrow(/already loaded|cannot reuse/);
    } finally {
      second.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to reuse a map of another layout', () => {
    const a = BpfObject.open(buildFixture('tiny'));
    try {
      expect(() => a.map('table').reuse(obj.map('counters'))).toThrow(/cannot reuse/);
    } finally {
      a.close();
    }
  });

  it('fails cleanly on use after close', () => {
    const a = BpfObject.open(buildFixture('tiny'));
    const map = a.map('config');
    a.close();
    a.close();
    expect(() => map.fd).toThrow(/closed/);
    expect(() => a.map('config')).toThrow(/closed/);
  });
});

describe('runtime: verifier log summary', () => {
  it('keeps the last complaint lines and drops statistics, instructions and source lines', () => {
    const log = [
      '0: R1=ctx() R10=fp0',
      '; return data[20]; @ refused.bpf.c:10',
      '1: (71) r0 = *(u8 *)(r1 +20)',
      'invalid access to packet, off=20 size=1, R1(id=0,off=20,r=0)',
      'R1 offset is outside of the packet',
      'processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0',
      '',
    ].join('\n');
    expect(summariseVerifierLog(log)).toBe('invalid access to packet, off=20 size=1, R1(id=0,off=20,r=0) | R1 offset is outside of the packet');
    expect(summariseVerifierLog('')).toBe('');
  });
});

describe.skipIf(!canUseKernel())('runtime: tcx sections with libbpf 1.1 (needs root)', () => {
  it('loads programs of the tcx/ingress and tcx/egress sections as TC programs', () => {
    const obj = BpfObject.open(buildFixture('tcx'));
    try {
      expect(obj.program('rjc_test_tcx_in').sectionName).toBe('tcx/ingress');
      expect(obj.program('rjc_test_tcx_in').type).toBe(PROG_TYPE.schedCls);
      expect(obj.program('rjc_test_tcx_out').type).toBe(PROG_TYPE.schedCls);
      obj.load();
      expect(obj.program('rjc_test_tcx_in').testRun({ data: frame(60) }).retval).toBe(TC_ACT.OK);
    } finally {
      obj.close();
    }
  });
});
