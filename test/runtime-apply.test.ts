/**
 * The apply/replace/stats/detach engine of src/runtime against real interfaces in throwaway
 * namespaces, with a small stand-in ruleset program (test/fixtures/runtime/ruleset.bpf.c:
 * first match over {protocol, port, verdict} rules, compiler-shaped counters). It proves:
 * attach and replace change what real traffic meets; a replace swaps atomically under
 * traffic (a port both rulesets drop never gets through, and every packet is counted exactly
 * once across the swaps); counters follow their rules through a replace; a failed apply
 * (verifier refusal, missing interface) leaves the interface as it was; detach removes only
 * rejectc's filter, pins and state, and a foreign filter with its clsact qdisc survive; the
 * per-interface lock serialises invocations. With compiled rulesets through `rejectc apply`:
 * a ruleset that needs a module its running program lacks (conntrack) gets a new program
 * (the shape covers the modules), and the host's HZ refuses rate limits at compile time.
 * Needs root; skips otherwise.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { limitParams } from '../src/model/limits/index.js';
import { KERNEL_HZ_VALUES } from '../src/compiler/classify/rate-limits.js';
import { readHostConfig } from '../src/runtime/host-config.js';
import { ensureBuilt, rejectc } from './fixtures/runtime/cli.js';
import { startServer, traffic } from './ct-support.js';
import { stop } from './support/netns.js';
import type { CounterSlot, Hook, RulesetArtifact } from '../src/runtime/artifact.js';
import { TC_HANDLE, TC_PRIORITY, applyArtifact, detachInterface } from '../src/runtime/apply.js';
import { pinDirOf } from '../src/runtime/bpffs.js';
import { EnvironmentError } from '../src/errors.js';
import { VerifierError, listTcFilters, queryTc, queryXdp, u32 } from '../src/runtime/libbpf.js';
import { lockPathOf, withInterfaceLock } from '../src/runtime/lock.js';
import { runProbeAsync, startProbe } from '../src/runtime/probe.js';
import { readState } from '../src/runtime/state.js';
import { formatStats, readInterfaceStats, zeroInterfaceStats } from '../src/runtime/stats.js';
import { buildFixture } from './fixtures/runtime/build.js';
import { type Pair, canUseKernel, withPair } from './support/netns.js';

interface FixtureRule {
  proto: number;
  dport: number;
  verdict: 'ACCEPT' | 'DROP';
}

const UDP = 17;

function ruleText(r: FixtureRule): string {
  return `-A INPUT${r.proto ? ' -p udp' : ''}${r.dport ? ` --dport ${r.dport}` : ''} -j ${r.verdict}`;
}

/** An artifact for the fixture program: rules, a policy, and one counter slot per rule + policy. */
function artifact(rules: FixtureRule[], policy: 'ACCEPT' | 'DROP', hook: Hook = 'tc', file = 'fixture.rules'): RulesetArtifact {
  const ruleValue = (r: FixtureRule) => {
    const b = Buffer.alloc(4);
    b.writeUInt8(r.proto, 0);
    b.writeUInt8(r.verdict === 'DROP' ? 1 : 0, 1);
    b.writeUInt16LE(r.dport, 2);
    return b;
  };
  const slots: CounterSlot[] = rules.map((r, i) => ({
    index: i,
    family: 'ipv4',
    chain: 'INPUT',
    kind: 'rule',
    rule: { file, line: i + 3, text: ruleText(r) },
    target: r.verdict,
  }));
  slots.push({ index: rules.length, family: 'ipv4', chain: 'INPUT', kind: 'policy', policy });
  return {
    source: file,
    objectPath: buildFixture('ruleset'),
    hook,
    programs: { ingress: hook === 'xdp' ? 'rjc_xdp' : 'rjc_ingress' },
    mapSizes: [
      { name: 'rjc_rules', maxEntries: Math.max(1, rules.length) },
      { name: 'rjc_counters', maxEntries: rules.length + 1 },
    ],
    mapEntries: [
      { name: 'rjc_rules', entries: rules.map((r, i) => ({ key: u32(i), value: ruleValue(r) })) },
      { name: 'rjc_meta', entries: [{ key: u32(0), value: u32(rules.length) }, { key: u32(1), value: u32(policy === 'DROP' ? 1 : 0) }] },
    ],
    counters: { map: 'rjc_counters', slots },
    shape: `fixture:${rules.length}`,
  };
}

/** Sends one UDP datagram per port from b to a and returns which ports a's sink received. */
async function reachable(pair: Pair, ports: number[]): Promise<number[]> {
  const sink = await startProbe(pair.a.name, ['sink', ports.join(','), '0.3', '2']);
  await runProbeAsync(pair.b.name, ['stream', pair.endA.ipv4, ports.join(','), String(ports.length / 100), '100']);
  const out = JSON.parse((await sink.output).trim().split('\n').pop()!) as { received: Record<string, number[]> };
  return ports.filter((p) => (out.received[String(p)] ?? []).length > 0);
}

const countOf = (pair: Pair, text: string) =>
  pair.a.run(() => readInterfaceStats(pair.ifA))
    .chains.flatMap((c) => c.rules)
    .find((r) => r.text === text);

describe.skipIf(!canUseKernel())('runtime: apply, replace, stats, detach (needs root)', () => {
  it('attaches, replaces under the same filter, carries counters, and detaches only its own', async () => {
    await withPair(
      async (pair) => {
        // A foreign tc filter and the clsact qdisc it needs, made by tc itself.
        pair.a.exec(['tc', 'qdisc', 'add', 'dev', pair.ifA, 'clsact']);
        pair.a.exec(['tc', 'filter', 'add', 'dev', pair.ifA, 'ingress', 'prio', '9', 'handle', '5', 'bpf', 'da', 'obj', buildFixture('tiny'), 'sec', 'tc']);

        const dropA = { proto: UDP, dport: 5001, verdict: 'DROP' as const };
        const a1 = artifact([dropA, { proto: UDP, dport: 0, verdict: 'ACCEPT' }], 'ACCEPT');
        const [out1] = await pair.a.runAsync(() => applyArtifact(a1, { ifnames: [pair.ifA] }));
        expect(out1).toMatchObject({ ifname: pair.ifA, action: 'attached', hook: 'tc', instance: 1 });
        expect(await reachable(pair, [5000, 5001])).toEqual([5000]);
        const stats1 = pair.a.run(() => readInterfaceStats(pair.ifA));
        expect(stats1.chains[0]!.rules.map((r) => [r.text, r.packets])).toEqual([
          ['-A INPUT -p udp --dport 5001 -j DROP', 1],
          ['-A INPUT -p udp -j ACCEPT', 1],
        ]);
        expect(formatStats(stats1)).toMatch(/Chain INPUT \(policy ACCEPT \d+ packets, \d+ bytes\)\n {2}pkts bytes target {5}rule\n {5}1 {4}\d+ DROP {7}-A INPUT -p udp --dport 5001 -j DROP {2}\(fixture\.rules:3\)/);

        // Replace: a new program behind the same filter; the DROP rule keeps its count.
        const a2 = artifact([{ proto: UDP, dport: 5000, verdict: 'DROP' }, dropA, { proto: UDP, dport: 0, verdict: 'ACCEPT' }], 'ACCEPT');
        const [out2] = await pair.a.runAsync(() => applyArtifact(a2, { ifnames: [pair.ifA] }));
        expect(out2).toMatchObject({ action: 'replaced', instance: 2 });
        expect(out2!.progIds.ingress).not.toBe(out1!.progIds.ingress);
        const ifindex = pair.a.ifindex(pair.ifA);
        expect(pair.a.run(() => queryTc({ ifindex, direction: 'ingress', handle: TC_HANDLE, priority: TC_PRIORITY }))).toBe(out2!.progIds.ingress);
        expect(await reachable(pair, [5000, 5001, 5002])).toEqual([5002]);
        expect(countOf(pair, '-A INPUT -p udp --dport 5001 -j DROP')!.packets).toBe(2);
        expect(countOf(pair, '-A INPUT -p udp --dport 5000 -j DROP')!.packets).toBe(1);
        expect(countOf(pair, '-A INPUT -p udp -j ACCEPT')!.packets).toBe(2);
        // Old generation pins are gone, the new ones exist.
        expect(pair.a.run(() => existsSync(`${pinDirOf(pair.ifA)}/p1`))).toBe(false);
        expect(pair.a.run(() => existsSync(`${pinDirOf(pair.ifA)}/p2/rjc_counters`))).toBe(true);

        // --zero
        await pair.a.runAsync(() => zeroInterfaceStats(pair.ifA));
        expect(countOf(pair, '-A INPUT -p udp --dport 5001 -j DROP')!.packets).toBe(0);

        const det = await pair.a.runAsync(() => detachInterface(pair.ifA));
        expect(det.removed).toEqual(expect.arrayContaining(['tc ingress filter', 'pins', 'state']));
        expect(det.removed).not.toContain('clsact qdisc');
        expect(pair.a.run(() => listTcFilters(pair.ifA)).map((f) => [f.priority, f.handle])).toEqual([[9, 5]]);
        expect(pair.a.exec(['tc', 'qdisc', 'show', 'dev', pair.ifA]).stdout).toMatch(/clsact/);
        expect(pair.a.run(() => readState(pair.ifA))).toBeUndefined();
        expect(pair.a.run(() => existsSync(pinDirOf(pair.ifA)))).toBe(false);
        expect(await reachable(pair, [5000, 5001])).toEqual([5000, 5001]);
      },
      { tag: 'ap' },
    );
  });

  it('leaves the interface exactly as it was when the kernel refuses the new program or an interface is missing', async () => {
    await withPair(
      async (pair) => {
        const good = artifact([{ proto: UDP, dport: 5001, verdict: 'DROP' }], 'ACCEPT');
        const [out] = await pair.a.runAsync(() => applyArtifact(good, { ifnames: [pair.ifA] }));
        const before = pair.a.run(() => readState(pair.ifA));
        const refused: RulesetArtifact = { ...good, objectPath: buildFixture('refused'), programs: { ingress: 'rjc_test_refused' }, mapSizes: [], mapEntries: [], shape: 'refused' };
        let caught: unknown;
        try {
          await pair.a.runAsync(() => applyArtifact(refused, { ifnames: [pair.ifA] }));
        } catch (err) {
          caught = err;
        }
        expect(caught).toBeInstanceOf(VerifierError);
        expect((caught as VerifierError).logFile).toMatch(/rejectc-verifier-.*\/rjc_test_refused\.log$/);
        expect(existsSync((caught as VerifierError).logFile!)).toBe(true);
        const ifindex = pair.a.ifindex(pair.ifA);
        expect(pair.a.run(() => queryTc({ ifindex, direction: 'ingress', handle: TC_HANDLE, priority: TC_PRIORITY }))).toBe(out!.progIds.ingress);
        expect(pair.a.run(() => readState(pair.ifA))).toEqual(before);
        expect(pair.a.run(() => existsSync(`${pinDirOf(pair.ifA)}/p2`))).toBe(false);

        // A list with a missing interface changes nothing on the existing one.
        await expect(pair.a.runAsync(() => applyArtifact(good, { ifnames: [pair.ifA, 'rjc-missing0'] }))).rejects.toThrow(EnvironmentError);
        expect(pair.a.run(() => readState(pair.ifA))).toEqual(before);
        expect(await reachable(pair, [5000, 5001])).toEqual([5000]);
        await pair.a.runAsync(() => detachInterface(pair.ifA));
        // We created the clsact qdisc, and nothing else uses it: detach removed it.
        expect(pair.a.exec(['tc', 'qdisc', 'show', 'dev', pair.ifA]).stdout).not.toMatch(/clsact/);
      },
      { tag: 'af' },
    );
  });

  it('swaps atomically under traffic: a port both rulesets drop never passes, every packet counted once', async () => {
    await withPair(
      async (pair) => {
        const both = { proto: UDP, dport: 5002, verdict: 'DROP' as const };
        const accept = { proto: UDP, dport: 0, verdict: 'ACCEPT' as const };
        const A = artifact([{ proto: UDP, dport: 5000, verdict: 'DROP' }, both, accept], 'ACCEPT');
        const B = artifact([{ proto: UDP, dport: 5001, verdict: 'DROP' }, both, accept], 'ACCEPT');
        await pair.a.runAsync(() => applyArtifact(A, { ifnames: [pair.ifA] }));
        const ports = '5000,5001,5002';
        const sink = await startProbe(pair.a.name, ['sink', ports, '1', '20']);
        const stream = runProbeAsync<{ sent: Record<string, number> }>(pair.b.name, ['stream', pair.endA.ipv4, ports, '3', '1500']);
        let swaps = 0;
        const t0 = Date.now();
        while (Date.now() - t0 < 2500) {
          await pair.a.runAsync(() => applyArtifact(swaps % 2 === 0 ? B : A, { ifnames: [pair.ifA] }));
          swaps++;
        }
        const sent = (await stream).sent;
        const received = (JSON.parse((await sink.output).trim().split('\n').pop()!) as { received: Record<string, number[]> }).received;
        expect(swaps).toBeGreaterThanOrEqual(10);
        expect(received['5002']).toEqual([]);
        // Both rulesets pass some of 5000 and 5001 over the run; neither sees anything twice.
        const accepted = received['5000']!.length + received['5001']!.length;
        expect(new Set([...received['5000']!, ...received['5001']!]).size).toBe(accepted);
        const stats = pair.a.run(() => readInterfaceStats(pair.ifA));
        const rules = stats.chains[0]!.rules;
        expect(rules.find((r) => r.text === ruleText(both))!.packets).toBe(sent['5002']);
        expect(rules.find((r) => r.text === ruleText(accept))!.packets).toBe(accepted);
        await pair.a.runAsync(() => detachInterface(pair.ifA));
      },
      { tag: 'as' },
    );
  });

  for (const mode of ['generic', 'native'] as const) {
    it(`applies, replaces and detaches with XDP (${mode}), and switches hooks tc → xdp → tc`, async () => {
      await withPair(
        async (pair) => {
          const ifindex = pair.a.ifindex(pair.ifA);
          const x1 = artifact([{ proto: UDP, dport: 5001, verdict: 'DROP' }], 'ACCEPT', 'xdp');
          const x2 = artifact([{ proto: UDP, dport: 5000, verdict: 'DROP' }], 'ACCEPT', 'xdp');
          const [o1] = await pair.a.runAsync(() => applyArtifact(x1, { ifnames: [pair.ifA], xdpMode: mode }));
          expect(o1).toMatchObject({ hook: 'xdp', xdpMode: mode, action: 'attached' });
          expect(await reachable(pair, [5000, 5001])).toEqual([5000]);
          const [o2] = await pair.a.runAsync(() => applyArtifact(x2, { ifnames: [pair.ifA] }));
          expect(o2).toMatchObject({ hook: 'xdp', xdpMode: mode, action: 'replaced' });
          expect(pair.a.run(() => queryXdp(ifindex)).progId).toBe(o2!.progIds.ingress);
          expect(await reachable(pair, [5000, 5001])).toEqual([5001]);

          // xdp → tc: the XDP program goes, the tc filter comes.
          const t1 = artifact([{ proto: UDP, dport: 5002, verdict: 'DROP' }], 'ACCEPT', 'tc');
          await pair.a.runAsync(() => applyArtifact(t1, { ifnames: [pair.ifA] }));
          expect(pair.a.run(() => queryXdp(ifindex)).mode).toBe('none');
          expect(await reachable(pair, [5000, 5001, 5002])).toEqual([5000, 5001]);
          // tc → xdp: the filter and the qdisc rejectc created go.
          await pair.a.runAsync(() => applyArtifact(x1, { ifnames: [pair.ifA], xdpMode: mode }));
          expect(pair.a.exec(['tc', 'qdisc', 'show', 'dev', pair.ifA]).stdout).not.toMatch(/clsact/);
          expect(await reachable(pair, [5000, 5001, 5002])).toEqual([5000, 5002]);

          const det = await pair.a.runAsync(() => detachInterface(pair.ifA));
          expect(det.removed).toContain(`XDP program (${mode})`);
          expect(pair.a.run(() => queryXdp(ifindex)).mode).toBe('none');
        },
        { tag: mode === 'native' ? 'an' : 'ag' },
      );
    });
  }

  it('serialises invocations on one interface with a lock', async () => {
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const first = withInterfaceLock('rjc-lock-t0', async () => {
      order.push('first in');
      await held;
      order.push('first out');
    });
    const second = withInterfaceLock('rjc-lock-t0', () => {
      order.push('second');
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(order).toEqual(['first in']);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first in', 'first out', 'second']);
    await expect(withInterfaceLock('rjc-lock-t0', () => withInterfaceLock('rjc-lock-t0', () => 1, 100))).rejects.toThrow(/holds the lock/);
    rmSync(lockPathOf('rjc-lock-t0'), { force: true });
  });
});

/** A filter table of IPv4 rules: TCP accepted when `accept` matches, else reset; OUTPUT rules for TC. */
function tcpRules(accept: string, hook: 'tc' | 'xdp'): string {
  return [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    `-A INPUT -p tcp ${accept} -j ACCEPT`,
    '-A INPUT -p tcp -j REJECT --reject-with tcp-reset',
    // (TC: both rulesets have an egress program, so the attach points alone do not tell them apart.)
    ...(hook === 'tc' ? ['-A OUTPUT -p tcp -m mark --mark 0x7 -j ACCEPT'] : []),
    'COMMIT',
    '',
  ].join('\n');
}

describe.skipIf(!canUseKernel())('rejectc apply with compiled rulesets (needs root)', () => {
  for (const hook of ['tc', 'xdp'] as const) {
    it(`${hook}: a ruleset that needs conntrack gets a program with it (never a flip onto one without), and back`, async () => {
      ensureBuilt();
      const dir = mkdtempSync(join(tmpdir(), 'rjc-apply-shape-'));
      const files = { A: join(dir, 'a.rules'), A2: join(dir, 'a2.rules'), B: join(dir, 'b.rules') };
      // A and B differ in one post-check only: -m mark (A) or -m state (B, which needs conntrack).
      writeFileSync(files.A, tcpRules('-m mark --mark 0x5', hook));
      writeFileSync(files.A2, tcpRules('-m mark --mark 0x6', hook));
      writeFileSync(files.B, tcpRules('-m state --state ESTABLISHED', hook));
      await withPair(
        async (pair) => {
          const servers = [await startServer(pair.a, 7001), await startServer(pair.b, 7001)];
          try {
            const apply = (file: string) => {
              const r = rejectc(pair.b.name, ['apply', file, '--dev', pair.ifB, '--hook', hook, ...(hook === 'xdp' ? ['--xdp-mode', 'generic'] : [])]);
              expect(r.status, r.stderr).toBe(0);
              return r.stdout;
            };
            /** b's connection out to a (its replies meet b's INPUT), and a's connection in to b. */
            const out = () => traffic(pair.b, 'tcp', pair.endA.ipv4, 7001).result;
            const into = () => traffic(pair.a, 'tcp', pair.endB.ipv4, 7001).result;
            expect(apply(files.A)).toMatch(/: attached/);
            expect(into()).toBe('refused');
            // B: the replies of b's own connection are ESTABLISHED; a new connection in is reset.
            // (Flipped onto A's program, which has no conntrack code, both would pass.)
            expect(apply(files.B)).toMatch(/new program swapped in/);
            expect([out(), into()]).toEqual(['ok', 'refused']);
            // A again: the SYN-ACK to b's connection is reset (to a: b's connect times out).
            expect(apply(files.A)).toMatch(/new program swapped in/);
            expect([out(), into()]).toEqual(['timeout', 'refused']);
            // Same shape: still a flip.
            expect(apply(files.A2)).toMatch(/same program, rules generation/);
            expect(into()).toBe('refused');
          } finally {
            for (const s of servers) await stop(s);
            rejectc(pair.b.name, ['detach', '--dev', pair.ifB]);
            rmSync(dir, { recursive: true, force: true });
          }
        },
        { tag: hook === 'tc' ? 'at' : 'ax' },
      );
    });
  }

  it("refuses a rate limit the host's HZ refuses at compile time (E261), with a code frame", async () => {
    ensureBuilt();
    const hz = readHostConfig().hz;
    // An iptables-legacy -m limit this HZ refuses and another HZ accepts (xt_limit's u32 credits wrap).
    let refused: string | undefined;
    for (const rate of [1, 2, 4, 8, 16, 32, 64, 128, 256]) {
      for (const burst of [5, 10, 32, 100, 1000, 10000]) {
        const avg = Math.round((86400 * 10000) / rate);
        const ok = (h: number) => limitParams({ avg, burst }, 'legacy', h).ok;
        if (!refused && !ok(hz) && KERNEL_HZ_VALUES.some(ok)) refused = `-m limit --limit ${rate}/day --limit-burst ${burst}`;
      }
    }
    expect(refused, `a -m limit refused at HZ ${hz} only`).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'rjc-apply-hz-'));
    const file = join(dir, 'rules');
    writeFileSync(file, ['# Generated by iptables-save v1.8.9 (legacy)', '*filter', ':INPUT ACCEPT [0:0]', `-A INPUT -p udp ${refused} -j ACCEPT`, 'COMMIT', ''].join('\n'));
    await withPair(
      async (pair) => {
        const r = rejectc(pair.b.name, ['apply', file, '--dev', pair.ifB]);
        expect(r.status).toBe(1);
        // file:line:col: error[E261], the rule's line, a caret under the match.
        expect(r.stderr).toMatch(new RegExp(`${file}:4:\\d+: error\\[E261\\]: the kernel refuses this -m limit`));
        expect(r.stderr).toContain(`-A INPUT -p udp ${refused} -j ACCEPT`);
        expect(r.stderr).toMatch(/\^/);
        // Nothing was attached.
        expect(pair.b.exec(['tc', 'filter', 'show', 'dev', pair.ifB, 'ingress']).stdout.trim()).toBe('');
      },
      { tag: 'ah' },
    );
    rmSync(dir, { recursive: true, force: true });
  });
});
