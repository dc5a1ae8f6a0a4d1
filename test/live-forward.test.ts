/**
 * INPUT sees only packets for this host. A router namespace forwards between a client and a
 * server; rejectc runs on the router's client-side interface with INPUT and FORWARD rules for
 * the same port, IPv4 and IPv6. Datagrams to the router itself are decided by INPUT; datagrams
 * the router forwards to the server are decided by FORWARD, never by INPUT — exactly as the
 * kernel's own iptables/ip6tables rules decide them in an identical topology (same ICMP type,
 * code and source, same errno), and the counters put each packet in the right chain.
 * Needs root; skips otherwise.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeUdp, startProbe } from '../src/runtime/probe.js';
import { ensureBuilt, rejectc } from './fixtures/runtime/cli.js';
import { type Routed, canUseKernel, createRouted, stop } from './support/netns.js';

const RULES = (icmp: { port: string; admin: string }) => [
  '*filter',
  ':INPUT ACCEPT [0:0]',
  ':FORWARD DROP [0:0]',
  ':OUTPUT ACCEPT [0:0]',
  `-A INPUT -p udp -m udp --dport 7000 -j REJECT --reject-with ${icmp.port}`,
  `-A FORWARD -p udp -m udp --dport 7000 -j REJECT --reject-with ${icmp.admin}`,
  '-A FORWARD -p udp -m udp --dport 7001 -j ACCEPT',
  '-A FORWARD -p udp -m udp --sport 7001 -j ACCEPT',
  'COMMIT',
  '',
];
const V4 = RULES({ port: 'icmp-port-unreachable', admin: 'icmp-admin-prohibited' });
const V6 = RULES({ port: 'icmp6-port-unreachable', admin: 'icmp6-adm-prohibited' });

/** Loads the same rules into the kernel of a router (iptables-restore / ip6tables-restore). */
function kernelRules(topo: Routed): void {
  topo.router.exec(['iptables-restore'], { input: V4.join('\n') });
  topo.router.exec(['ip6tables-restore'], { input: V6.join('\n') });
  // Other families' traffic (neighbour discovery) must pass: the FORWARD DROP is per family.
}

interface Seen {
  router7000: unknown;
  server7000: unknown;
  server7001: unknown;
  server7002: unknown;
}

function observe(topo: Routed, family: 'ipv4' | 'ipv6'): Seen {
  const c = topo.client.name;
  const router = family === 'ipv4' ? topo.routerIn.ipv4 : topo.routerIn.ipv6;
  const server = family === 'ipv4' ? topo.serverEnd.ipv4 : topo.serverEnd.ipv6;
  return {
    router7000: probeUdp(c, router, 7000),
    server7000: probeUdp(c, server, 7000),
    server7001: probeUdp(c, server, 7001, 1),
    server7002: probeUdp(c, server, 7002, 1),
  };
}

describe.skipIf(!canUseKernel())('live: INPUT only for this host, FORWARD for the rest (needs root)', () => {
  let kernel: Routed;
  let ours: Routed;
  const listeners: ChildProcess[] = [];
  let dir: string;

  beforeAll(async () => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'rjc-fwd-'));
    kernel = createRouted({ tag: 'fk' });
    ours = createRouted({ tag: 'fr' });
    for (const t of [kernel, ours]) {
      for (const ns of [t.router, t.client]) {
        ns.exec(['sysctl', '-qw', 'net.ipv4.icmp_ratemask=0']);
        ns.sh('echo > /proc/sys/net/ipv6/icmp/ratemask');
      }
      listeners.push((await startProbe(t.router.name, ['serve', '7000'])).child);
      listeners.push((await startProbe(t.server.name, ['serve', '7000', '7001', '7002'])).child);
    }
    kernelRules(kernel);
  });

  afterAll(async () => {
    for (const l of listeners) await stop(l);
    kernel?.cleanup();
    ours?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('decides forwarded packets by FORWARD and local ones by INPUT, as the kernel does', () => {
    const v4 = join(dir, 'router.rules');
    const v6 = join(dir, 'router6.rules');
    writeFileSync(v4, V4.join('\n'));
    writeFileSync(v6, V6.join('\n'));
    // Both router interfaces: FORWARD also judges the server's answers on their way back.
    const devs = `${ours.routerIn.ifname},${ours.routerOut.ifname}`;
    const applied = rejectc(ours.router.name, ['apply', v4, v6, '--dev', devs]);
    expect(applied.stderr).toBe('');
    expect(applied.status).toBe(0);

    for (const family of ['ipv4', 'ipv6'] as const) {
      const expected = observe(kernel, family);
      const got = observe(ours, family);
      expect(got, family).toEqual(expected);
      // What the kernel answers, spelled out: INPUT's port unreachable from the router, FORWARD's
      // administratively prohibited (also from the router), 7001 forwarded both ways (the
      // server's echo comes back), 7002 dropped by FORWARD's policy (no answer).
      const [port, admin] = family === 'ipv4' ? [{ type: 3, code: 3 }, { type: 3, code: 13 }] : [{ type: 1, code: 4 }, { type: 1, code: 1 }];
      expect(got.router7000).toMatchObject({ result: 'error', icmp: port });
      expect(got.server7000).toMatchObject({ result: 'error', icmp: admin });
      expect(got.server7001).toMatchObject({ result: 'answered' });
      expect(got.server7002).toMatchObject({ result: 'timeout' });
    }

    const stats = JSON.parse(rejectc(ours.router.name, ['stats', '--dev', ours.routerIn.ifname, '--json']).stdout) as {
      chains: Array<{ family: string; chain: string; policyCount?: { packets: number }; rules: Array<{ line: number; packets: number }> }>;
    };
    for (const family of ['ipv4', 'ipv6']) {
      const chain = (name: string) => stats.chains.find((c) => c.family === family && c.chain === name)!;
      expect(chain('INPUT').rules.map((r) => [r.line, r.packets])).toEqual([[5, 1]]);
      expect(chain('FORWARD').rules.map((r) => [r.line, r.packets])).toEqual([
        [6, 1],
        [7, 1],
        [8, 0],
      ]);
      expect(chain('FORWARD').policyCount!.packets).toBeGreaterThanOrEqual(1);
    }
    // The server side saw the answer to 7001 (FORWARD, --sport 7001) and nothing for INPUT.
    const back = JSON.parse(rejectc(ours.router.name, ['stats', '--dev', ours.routerOut.ifname, '--json']).stdout) as typeof stats;
    const backChain = (family: string, name: string) => back.chains.find((c) => c.family === family && c.chain === name)!;
    expect(backChain('ipv4', 'FORWARD').rules.map((r) => r.packets)).toEqual([0, 0, 1]);
    expect(backChain('ipv4', 'INPUT').rules.map((r) => r.packets)).toEqual([0]);
    expect(rejectc(ours.router.name, ['detach', '--dev', devs]).status).toBe(0);
  });
});
