/**
 * Live atomic replace under traffic. A client streams numbered UDP datagrams to ports 5000,
 * 5001 and 5002 while the server's ruleset is swapped between A (drop 5000) and B (drop 5001)
 * — both REJECT 5002 with icmp-port-unreachable and accept the rest by policy — 100 times by
 * generation flips (same shape), then 20 times by program swaps (shapes differ). It proves:
 * no datagram to 5002, which both rulesets reject, ever gets through (no packet judged by
 * neither ruleset or by a mix); nothing arrives twice; and the counters add up exactly across
 * all the replaces: the REJECT rule counted every datagram to 5002 and sent one ICMP error
 * for each, and the policy counted exactly the datagrams that arrived.
 *
 * The rulesets are compiled by the real compiler and applied with the same engine as
 * `rejectc apply` (in-process, main thread in the namespace), so 100 replaces take seconds.
 * Needs root; skips otherwise.
 */
import { describe, expect, it } from 'vitest';
import { compile } from '../src/compiler/compile.js';
import { parseRuleset } from '../src/compiler/frontend.js';
import type { RulesetArtifact } from '../src/runtime/artifact.js';
import { type ApplyOutcome, applyArtifact, detachInterface } from '../src/runtime/apply.js';
import { buildCached } from '../src/runtime/clang.js';
import { artifactFromManifest } from '../src/runtime/manifest.js';
import { runProbeAsync, startProbe } from '../src/runtime/probe.js';
import { readInterfaceStats } from '../src/runtime/stats.js';
import { type Pair, canUseKernel, withPair } from './support/netns.js';

function artifact(drop: number, extraRule = ''): RulesetArtifact {
  const text = [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    extraRule,
    `-A INPUT -p udp -m udp --dport ${drop} -j DROP`,
    '-A INPUT -p udp -m udp --dport 5002 -j REJECT --reject-with icmp-port-unreachable',
    'COMMIT',
    '',
  ]
    .filter((l) => l !== '')
    .join('\n');
  const parsed = parseRuleset(text, `drop-${drop}.rules`);
  expect(parsed.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const result = compile(parsed.ruleset, { hook: 'tc' });
  expect(result.artifacts, JSON.stringify(result.diagnostics)).toBeDefined();
  return artifactFromManifest(result.artifacts!.maps, buildCached(result.artifacts!.c));
}

interface Run {
  sent: Record<string, number>;
  received: Record<string, number[]>;
  actions: ApplyOutcome['action'][];
}

/** Streams to the three ports while applying `rulesets` in turn `swaps` times. */
async function replaceUnderTraffic(pair: Pair, rulesets: readonly RulesetArtifact[], swaps: number): Promise<Run> {
  const ports = '5000,5001,5002';
  await pair.a.runAsync(() => applyArtifact(rulesets[0]!, { ifnames: [pair.ifA] }));
  const sink = await startProbe(pair.a.name, ['sink', ports, '1.5', '120']);
  const stream = runProbeAsync<{ sent: Record<string, number> }>(pair.b.name, ['stream', pair.endA.ipv4, ports, String(Math.max(3, swaps / 15)), '1500']);
  const actions: ApplyOutcome['action'][] = [];
  await new Promise((r) => setTimeout(r, 300)); // traffic is flowing before the first replace
  for (let i = 1; i <= swaps; i++) {
    const [out] = await pair.a.runAsync(() => applyArtifact(rulesets[i % rulesets.length]!, { ifnames: [pair.ifA] }));
    actions.push(out!.action);
  }
  const { sent } = await stream;
  const { received } = JSON.parse((await sink.output).trim().split('\n').pop()!) as { received: Record<string, number[]> };
  return { sent, received, actions };
}

function checkConsistent(pair: Pair, run: Run): void {
  const { sent, received } = run;
  expect(received['5002']).toEqual([]);
  const arrived = [...received['5000']!, ...received['5001']!];
  expect(new Set(arrived).size).toBe(arrived.length);
  // Both rulesets were in force at some point: each port got some datagrams through.
  expect(received['5000']!.length).toBeGreaterThan(0);
  expect(received['5001']!.length).toBeGreaterThan(0);
  expect(received['5000']!.length).toBeLessThan(sent['5000']!);
  expect(received['5001']!.length).toBeLessThan(sent['5001']!);

  const stats = pair.a.run(() => readInterfaceStats(pair.ifA));
  const input = stats.chains.find((c) => c.family === 'ipv4' && c.chain === 'INPUT')!;
  const reject = input.rules.find((r) => r.text.includes('--dport 5002'))!;
  expect(reject.packets).toBe(sent['5002']);
  expect(stats.replies.sent['icmp-ipv4']).toBe(sent['5002']);
  expect(input.policyCount!.packets).toBe(arrived.length);
}

describe.skipIf(!canUseKernel())('live: atomic replace under traffic (needs root)', () => {
  it('100 generation flips: nothing both reject passes, every datagram counted once', async () => {
    const A = artifact(5000);
    const B = artifact(5001);
    expect(A.shape).toBe(B.shape);
    await withPair(
      async (pair) => {
        pair.a.exec(['sysctl', '-qw', 'net.ipv4.icmp_ratemask=0']);
        const run = await replaceUnderTraffic(pair, [A, B], 100);
        expect(run.actions).toEqual(Array(100).fill('flipped'));
        checkConsistent(pair, run);
        console.log(`flips: sent ${JSON.stringify(run.sent)}, received 5000/5001/5002: ${run.received['5000']!.length}/${run.received['5001']!.length}/${run.received['5002']!.length}`);
        await pair.a.runAsync(() => detachInterface(pair.ifA));
      },
      { tag: 'rf' },
    );
  });

  it('20 program swaps (different shapes): the same guarantees', async () => {
    const A = artifact(5000);
    const B = artifact(5001, '-A INPUT -s 198.51.100.0/24 -i veth-a -j DROP');
    expect(A.shape).not.toBe(B.shape);
    await withPair(
      async (pair) => {
        pair.a.exec(['sysctl', '-qw', 'net.ipv4.icmp_ratemask=0']);
        const run = await replaceUnderTraffic(pair, [A, B], 20);
        expect(run.actions).toEqual(Array(20).fill('replaced'));
        checkConsistent(pair, run);
        await pair.a.runAsync(() => detachInterface(pair.ifA));
      },
      { tag: 'rs' },
    );
  });
});
