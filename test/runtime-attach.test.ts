/**
 * TC and XDP attach/replace/detach through libbpf's netlink API, inside throwaway namespaces
 * (the calls run in-process with the main thread switched into the namespace). What it
 * proves: our filter sees real traffic; a foreign tc filter and the clsact qdisc that another
 * tool created survive our attach, replace and detach; a qdisc we created goes away only when
 * empty; XDP never clobbers a program it did not expect; pins land in a per-namespace
 * directory. Needs root; skips with the reason otherwise.
 */
import { existsSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BpfObject,
  LibbpfError,
  PIN_ROOT,
  TC_ACT,
  XDP_ACTION,
  attachTc,
  attachXdp,
  detachTc,
  detachXdp,
  ensurePinDir,
  listTcFilters,
  pinDirOf,
  queryTc,
  queryXdp,
  removeClsactIfUnused,
  sumPerCpuU64,
  u32,
} from '../src/runtime/libbpf.js';
import { buildFixture } from './fixtures/runtime/build.js';
import { ensureBuilt, nodeSnippet } from './fixtures/runtime/cli.js';
import { type Pair, canUseKernel, withPair } from './support/netns.js';

/** Sends `n` UDP datagrams from b to a's address (port 9), from inside b. */
function sendUdp(pair: Pair, n: number): void {
  pair.b.exec([
    'python3',
    '-c',
    `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor _ in range(${n}): s.sendto(b'x',('${pair.endA.ipv4}',9))`,
  ]);
}

function seenPackets(obj: BpfObject): bigint {
  return sumPerCpuU64(obj.map('counters').lookupPerCpu(u32(0))!);
}

function qdiscs(pair: Pair): string {
  return pair.a.exec(['tc', 'qdisc', 'show', 'dev', pair.ifA]).stdout;
}

describe.skipIf(!canUseKernel())('runtime: TC and XDP attach in a namespace (needs root)', () => {
  let first: BpfObject;
  let second: BpfObject;

  beforeAll(() => {
    first = BpfObject.open(buildFixture('tiny'));
    first.load();
    second = BpfObject.open(buildFixture('tiny'));
    second.load();
  });
  afterAll(() => {
    first?.close();
    second?.close();
  });

  it('attaches, replaces and detaches only our tc filter; a foreign filter and its qdisc stay', async () => {
    await withPair(
      (pair) => {
        // Another tool's clsact qdisc and bpf filter, made with tc itself.
        pair.a.exec(['tc', 'qdisc', 'add', 'dev', pair.ifA, 'clsact']);
        pair.a.exec(['tc', 'filter', 'add', 'dev', pair.ifA, 'ingress', 'prio', '9', 'handle', '5', 'bpf', 'da', 'obj', buildFixture('tiny'), 'sec', 'tc']);
        const ifindex = pair.a.ifindex(pair.ifA);
        const id = { ifindex, direction: 'ingress' as const, handle: 0x52, priority: 1 };

        const att = pair.a.run(() => attachTc(first.program('rjc_test_tc'), id));
        expect(att.createdQdisc).toBe(false);
        expect(att.progId).toBe(first.program('rjc_test_tc').id);
        expect(pair.a.run(() => queryTc(id))).toBe(att.progId);

        // Our filter runs first (priority 1) and sees real traffic.
        const before = seenPackets(first);
        sendUdp(pair, 5);
        expect(seenPackets(first) - before).toBeGreaterThanOrEqual(5n);

        // Attaching again without replace is refused; with replace the program swaps in place.
        let caught: unknown;
        try {
          pair.a.run(() => attachTc(second.program('rjc_test_tc'), id));
        } catch (err) {
          caught = err;
        }
        expect(caught).toBeInstanceOf(LibbpfError);
        expect((caught as LibbpfError).code).toBe('EEXIST');
        const swapped = pair.a.run(() => attachTc(second.program('rjc_test_tc'), { ...id, replace: true }));
        expect(swapped.progId).toBe(second.program('rjc_test_tc').id);
        expect(pair.a.run(() => queryTc(id))).toBe(swapped.progId);
        const secondBefore = seenPackets(second);
        const firstBefore = seenPackets(first);
        sendUdp(pair, 3);
        expect(seenPackets(second) - secondBefore).toBeGreaterThanOrEqual(3n);
        expect(seenPackets(first)).toBe(firstBefore);

        const filters = pair.a.run(() => listTcFilters(pair.ifA));
        expect(filters.map((f) => [f.direction, f.priority, f.handle, f.kind])).toEqual(
          expect.arrayContaining([
            ['ingress', 1, 0x52, 'bpf'],
            ['ingress', 9, 5, 'bpf'],
          ]),
        );

        expect(pair.a.run(() => detachTc(id))).toBe(true);
        expect(pair.a.run(() => detachTc(id))).toBe(false);
        expect(pair.a.run(() => queryTc(id))).toBeUndefined();
        // We did not create the qdisc: it stays, with the foreign filter.
        expect(pair.a.run(() => removeClsactIfUnused(ifindex, pair.ifA, att.createdQdisc))).toBe(false);
        expect(qdiscs(pair)).toMatch(/clsact/);
        const left = pair.a.run(() => listTcFilters(pair.ifA));
        expect(left.map((f) => [f.priority, f.handle])).toEqual([[9, 5]]);
      },
      { tag: 'ta' },
    );
  });

  it('removes a clsact qdisc it created once nothing is attached, and keeps it while anything is', async () => {
    await withPair(
      (pair) => {
        const ifindex = pair.a.ifindex(pair.ifA);
        const ingress = { ifindex, direction: 'ingress' as const, handle: 0x52, priority: 1 };
        const egress = { ...ingress, direction: 'egress' as const };
        const a1 = pair.a.run(() => attachTc(first.program('rjc_test_tc'), ingress));
        const a2 = pair.a.run(() => attachTc(first.program('rjc_test_tc'), egress));
        expect(a1.createdQdisc).toBe(true);
        expect(a2.createdQdisc).toBe(false);
        pair.a.run(() => detachTc(ingress));
        // The egress filter is still there: the qdisc must stay.
        expect(pair.a.run(() => removeClsactIfUnused(ifindex, pair.ifA, true))).toBe(false);
        expect(qdiscs(pair)).toMatch(/clsact/);
        pair.a.run(() => detachTc(egress));
        expect(pair.a.run(() => removeClsactIfUnused(ifindex, pair.ifA, true))).toBe(true);
        expect(qdiscs(pair)).not.toMatch(/clsact/);
      },
      { tag: 'tb' },
    );
  });

  it('checks tc arguments before any native call', () => {
    const prog = first.program('rjc_test_tc');
    expect(() => attachTc(prog, { ifindex: 0, direction: 'ingress', handle: 1, priority: 1 })).toThrow(/ifindex/);
    expect(() => attachTc(prog, { ifindex: 1, direction: 'sideways' as 'ingress', handle: 1, priority: 1 })).toThrow(/direction/);
    expect(() => attachTc(prog, { ifindex: 1, direction: 'ingress', handle: 0, priority: 1 })).toThrow(/handle/);
    expect(() => attachTc(prog, { ifindex: 1, direction: 'ingress', handle: 1, priority: 0x10000 })).toThrow(/priority/);
    expect(() => attachTc(first.program('rjc_test_xdp'), { ifindex: 1, direction: 'ingress', handle: 1, priority: 1 })).toThrow(/not a TC program/);
    expect(() => attachXdp(prog, { ifindex: 1, mode: 'generic' })).toThrow(/not an XDP program/);
  });

  for (const mode of ['generic', 'native'] as const) {
    it(`attaches, atomically replaces and detaches XDP (${mode}) without clobbering`, async () => {
      await withPair(
        (pair) => {
          const ifindex = pair.a.ifindex(pair.ifA);
          const p1 = first.program('rjc_test_xdp');
          const p2 = second.program('rjc_test_xdp');
          // config[0] is the program's verdict; the array starts at 0 = XDP_ABORTED.
          first.map('config').update(u32(0), u32(XDP_ACTION.PASS));
          second.map('config').update(u32(0), u32(XDP_ACTION.PASS));
          expect(pair.a.run(() => queryXdp(ifindex)).mode).toBe('none');
          const att = pair.a.run(() => attachXdp(p1, { ifindex, mode }));
          expect(att.progId).toBe(p1.id);
          const state = pair.a.run(() => queryXdp(ifindex));
          expect(state.mode).toBe(mode);
          expect(mode === 'native' ? state.nativeProgId : state.genericProgId).toBe(p1.id);

          const before = seenPackets(first);
          sendUdp(pair, 4);
          expect(seenPackets(first) - before).toBeGreaterThanOrEqual(4n);

          // A second attach that does not name the current program is refused.
          expect(() => pair.a.run(() => attachXdp(p2, { ifindex, mode }))).toThrow(LibbpfError);
          // Naming the wrong program is refused too; naming the right one swaps atomically.
          expect(() => pair.a.run(() => attachXdp(p2, { ifindex, mode, expectedProgId: p2.id }))).toThrow(LibbpfError);
          pair.a.run(() => attachXdp(p2, { ifindex, mode, expectedProgId: p1.id }));
          expect(pair.a.run(() => queryXdp(ifindex)).progId).toBe(p2.id);

          // Detach only removes the program we name.
          expect(pair.a.run(() => detachXdp(ifindex, mode, p1.id))).toBe(false);
          expect(pair.a.run(() => queryXdp(ifindex)).progId).toBe(p2.id);
          expect(pair.a.run(() => detachXdp(ifindex, mode, p2.id))).toBe(true);
          expect(pair.a.run(() => queryXdp(ifindex)).mode).toBe('none');
          first.map('config').update(u32(0), u32(TC_ACT.OK));
          second.map('config').update(u32(0), u32(TC_ACT.OK));
        },
        { tag: mode === 'native' ? 'xn' : 'xg' },
      );
    });
  }

  it('drops real traffic when the attached program says so (TC_ACT_SHOT), passes it otherwise', async () => {
    await withPair(
      (pair) => {
        const ifindex = pair.a.ifindex(pair.ifA);
        const id = { ifindex, direction: 'ingress' as const, handle: 0x52, priority: 1 };
        const config = first.map('config');
        pair.a.run(() => attachTc(first.program('rjc_test_tc'), id));
        const probe = (script: string) => pair.b.exec(['python3', '-c', script], { allowFail: true });
        // A TCP connect to a closed port: the kernel answers RST (refused) unless we drop the SYN.
        const connect = `import socket\ns=socket.socket()\ns.settimeout(0.5)\ntry:\n  s.connect(('${pair.endA.ipv4}', 7))\nexcept ConnectionRefusedError:\n  print('refused')\nexcept OSError:\n  print('timeout')`;
        try {
          config.update(u32(0), u32(TC_ACT.OK));
          expect(probe(connect).stdout.trim()).toBe('refused');
          config.update(u32(0), u32(TC_ACT.SHOT));
          expect(probe(connect).stdout.trim()).toBe('timeout');
        } finally {
          config.update(u32(0), u32(TC_ACT.OK));
          pair.a.run(() => detachTc(id));
        }
      },
      { tag: 'td' },
    );
  });

  it('puts pins of another namespace under netns:<name>/ and of the initial one under the interface name', async () => {
    expect(pinDirOf('eth0')).toBe(`${PIN_ROOT}/eth0`);
    await withPair(
      (pair) => {
        const dir = pair.a.run(() => pinDirOf(pair.ifA));
        try {
          expect(dir).toBe(`${PIN_ROOT}/netns:${pair.a.name}/${pair.ifA}`);
          // This process's mount namespace has bpffs at /sys/fs/bpf: the paths coincide.
          expect(pair.a.run(() => ensurePinDir(pair.ifA))).toBe(dir);
          expect(existsSync(dir)).toBe(true);
          // A process run under `ip netns exec` (private mount namespace, fresh sysfs without
          // bpffs) reaches the same directory through /proc/<parent>/root.
          ensureBuilt();
          const seen = nodeSnippet(
            pair.a.name,
            `const fs = await import('node:fs'); const d = rt.ensurePinDir(${JSON.stringify(pair.ifA)}); console.log(rt.pinDirOf(${JSON.stringify(pair.ifA)})); console.log(d.replace(/^\\/proc\\/\\d+\\/root/, '')); console.log(fs.existsSync(d) && !fs.existsSync(${JSON.stringify(dir)}));`,
          );
          expect(seen.stderr).toBe('');
          expect(seen.stdout.trim().split('\n')).toEqual([dir, dir, 'true']);
        } finally {
          rmSync(`${PIN_ROOT}/netns:${pair.a.name}`, { recursive: true, force: true });
        }
      },
      { tag: 'pd' },
    );
    expect(() => pinDirOf('bad/name')).toThrow(/invalid interface name/);
  });
});
