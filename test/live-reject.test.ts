/**
 * Live, for every reject type, IPv4 and IPv6, TC and XDP: a real client in a peer namespace
 * gets the same result from rejectc (applied with the CLI, `rejectc apply`) as from the
 * kernel's own REJECT for the same rule (`iptables`/`ip6tables` in an identical namespace
 * pair): the connect() errno for tcp-reset, and for ICMP types the error a UDP socket reads
 * with IP_RECVERR (errno, ICMP type and code, and the address it came from). A server listens
 * on the probed ports, so every refusal comes from the rule, not from a closed port. ICMP
 * rate limiting is off in both (icmp_ratemask), as for the golden captures.
 * Needs root; skips otherwise.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REJECT_TYPES } from '../src/layout/codes.js';
import { probeTcp, probeUdp, startProbe } from '../src/runtime/probe.js';
import { ensureBuilt, rejectc } from './fixtures/runtime/cli.js';
import { type Pair, canUseKernel, createPair, stop } from './support/netns.js';

type Family = 'ipv4' | 'ipv6';
const TCP_PORT = 23;
const UDP_PORT = 9;

/** The rule (iptables arguments after the chain) for a reject type. */
function ruleArgs(name: string): string[] {
  return name === 'tcp-reset'
    ? ['-p', 'tcp', '-m', 'tcp', '--dport', String(TCP_PORT), '-j', 'REJECT', '--reject-with', name]
    : ['-p', 'udp', '-m', 'udp', '--dport', String(UDP_PORT), '-j', 'REJECT', '--reject-with', name];
}

function saveFile(name: string): string {
  return ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', `-A INPUT ${ruleArgs(name).join(' ')}`, 'COMMIT', ''].join('\n');
}

/** What the client sees: connect() for tcp-reset, the IP_RECVERR error of a UDP send otherwise. */
function observe(pair: Pair, family: Family, name: string): unknown {
  const dst = family === 'ipv4' ? pair.endA.ipv4 : pair.endA.ipv6;
  return name === 'tcp-reset' ? probeTcp(pair.b.name, dst, TCP_PORT) : probeUdp(pair.b.name, dst, UDP_PORT);
}

function quietIcmpLimits(pair: Pair): void {
  pair.a.exec(['sysctl', '-qw', 'net.ipv4.icmp_ratemask=0']);
  pair.a.sh('echo > /proc/sys/net/ipv6/icmp/ratemask');
}

describe.skipIf(!canUseKernel())('live: every reject type against the kernel REJECT (needs root)', () => {
  let kernel: Pair;
  let ours: Pair;
  const listeners: ChildProcess[] = [];
  let dir: string;

  beforeAll(async () => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'rjc-live-'));
    kernel = createPair({ tag: 'lk' });
    ours = createPair({ tag: 'lr' });
    for (const p of [kernel, ours]) {
      quietIcmpLimits(p);
      listeners.push((await startProbe(p.a.name, ['serve', String(TCP_PORT), String(UDP_PORT)])).child);
    }
  });

  afterAll(async () => {
    for (const l of listeners) await stop(l);
    kernel?.cleanup();
    ours?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const cases = REJECT_TYPES.flatMap((t) => (t.family === 'both' ? (['ipv4', 'ipv6'] as const) : [t.family]).map((family) => ({ name: t.name, family })));

  for (const hook of ['tc', 'xdp'] as const) {
    it(`${hook}: each reject type gives the client what the kernel's REJECT gives`, () => {
      const report: string[] = [];
      for (const { name, family } of cases) {
        const tool = family === 'ipv4' ? 'iptables' : 'ip6tables';
        kernel.a.exec([tool, '-w', '-F', 'INPUT']);
        kernel.a.exec([tool, '-w', '-A', 'INPUT', ...ruleArgs(name)]);
        const expected = observe(kernel, family, name);

        const file = join(dir, `${hook}-${family}-${name}.rules`);
        writeFileSync(file, saveFile(name));
        const applied = rejectc(ours.a.name, ['apply', file, '--dev', ours.ifA, '--hook', hook, '--family', family]);
        expect(applied.stderr, `${hook} ${family} ${name}`).toBe('');
        expect(applied.status).toBe(0);
        const got = observe(ours, family, name);
        report.push(`${family} ${name}: ${JSON.stringify(got)}`);
        expect(got, `${hook} ${family} ${name}`).toEqual(expected);
        // A real refusal, not a timeout that both sides happen to share.
        expect(JSON.stringify(got)).toMatch(/"errno": ?"E[A-Z]+"/);
      }
      kernel.a.exec(['iptables', '-w', '-F', 'INPUT']);
      kernel.a.exec(['ip6tables', '-w', '-F', 'INPUT']);
      console.log(`${hook}: ${cases.length} reject types matched the kernel\n  ${report.join('\n  ')}`);

      // The counters saw each refused probe once, and replies were sent, none suppressed.
      const stats = JSON.parse(rejectc(ours.a.name, ['stats', '--dev', ours.ifA, '--json']).stdout) as {
        replies: { sent: Record<string, number>; suppressed: Record<string, number> };
      };
      const sent = Object.values(stats.replies.sent).reduce((a, b) => a + b, 0);
      expect(sent).toBeGreaterThanOrEqual(cases.length);
      expect(Object.values(stats.replies.suppressed).reduce((a, b) => a + b, 0)).toBe(0);
      expect(rejectc(ours.a.name, ['detach', '--dev', ours.ifA]).status).toBe(0);
    });
  }
});
