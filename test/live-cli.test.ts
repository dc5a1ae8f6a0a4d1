/**
 * The `apply`/`stats`/`detach`/`demo` commands as a user runs them (the built CLI under
 * `ip netns exec`, in throwaway namespaces). What it proves:
 * - detach restores the interface: another owner's tc filter and clsact qdisc survive
 *   apply + detach, and an XDP program of another owner is never replaced;
 * - a failed apply (syntax error, OUTPUT rules for XDP, missing interface, no privileges,
 *   no clang) exits 1 or 2 with a one-line cause, and leaves the interface exactly as it was;
 * - concurrent invocations on one interface are serialised (both succeed, one after the other);
 * - a compile directory and standard input can be applied; stats --json and --zero work;
 * - `rejectc demo` runs end to end and leaves nothing behind.
 * Needs root; skips otherwise.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeTcp, probeUdp } from '../src/runtime/probe.js';
import { buildFixture } from './fixtures/runtime/build.js';
import { REPO, ensureBuilt, rejectc, rejectcAsync } from './fixtures/runtime/cli.js';
import { type Pair, canUseKernel, execArgv, withPair } from './support/netns.js';

let dir: string;
const rules = (name: string, lines: string[]) => {
  const file = join(dir, name);
  writeFileSync(file, ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ...lines, 'COMMIT', ''].join('\n'));
  return file;
};

/** Everything attached to the interface and rejectc's record of it, for before/after comparisons. */
function snapshot(pair: Pair): string {
  const tc = ['ingress', 'egress'].map((d) => pair.a.exec(['tc', '-j', 'filter', 'show', 'dev', pair.ifA, d]).stdout);
  const link = JSON.parse(pair.a.exec(['ip', '-j', '-d', 'link', 'show', 'dev', pair.ifA]).stdout) as Array<Record<string, unknown>>;
  const qdisc = pair.a.exec(['tc', 'qdisc', 'show', 'dev', pair.ifA]).stdout;
  const state = pair.a.sh(`cat /run/rejectc/netns:${pair.a.name}/${pair.ifA}/state.json 2>/dev/null || true`).stdout;
  return JSON.stringify({ tc, xdp: link[0]?.['xdp'] ?? null, qdisc, state });
}

describe.skipIf(!canUseKernel())('live: rejectc apply/stats/detach/demo from the command line (needs root)', () => {
  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'rjc-cli-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('detach restores the interface: a foreign tc filter and its qdisc survive apply + detach', async () => {
    await withPair(
      (pair) => {
        pair.a.exec(['tc', 'qdisc', 'add', 'dev', pair.ifA, 'clsact']);
        pair.a.exec(['tc', 'filter', 'add', 'dev', pair.ifA, 'ingress', 'prio', '9', 'handle', '5', 'bpf', 'da', 'obj', buildFixture('tiny'), 'sec', 'tc']);
        const before = snapshot(pair);
        const file = rules('out.rules', ['-A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset', '-A OUTPUT -p udp -m udp --dport 4000 -j DROP']);
        const applied = rejectc(pair.a.name, ['apply', file, '--dev', pair.ifA]);
        expect(applied.stderr).toBe('');
        expect(applied.stdout).toMatch(/attached at tc ingress \+ egress/);
        expect(probeTcp(pair.b.name, pair.endA.ipv4, 23).errno).toBe('ECONNREFUSED');
        const during = pair.a.exec(['tc', '-j', 'filter', 'show', 'dev', pair.ifA, 'ingress']).stdout;
        expect(during).toMatch(/"pref":9/);
        expect(during).toMatch(/"pref":1,/);
        const detached = rejectc(pair.a.name, ['detach', '--dev', pair.ifA]);
        expect(detached.status).toBe(0);
        expect(detached.stdout).toMatch(/removed tc ingress filter, tc egress filter, pins, state/);
        expect(detached.stdout).not.toMatch(/clsact/);
        expect(snapshot(pair)).toBe(before);
        // And once more: nothing left to remove, still exit 0.
        expect(rejectc(pair.a.name, ['detach', '--dev', pair.ifA]).stdout).toMatch(/nothing of rejectc's/);
      },
      { tag: 'cd' },
    );
  });

  it('never replaces an XDP program of another owner', async () => {
    await withPair(
      (pair) => {
        pair.a.exec(['ip', 'link', 'set', 'dev', pair.ifA, 'xdpgeneric', 'obj', buildFixture('tiny'), 'sec', 'xdp']);
        const before = snapshot(pair);
        const file = rules('x.rules', ['-A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset']);
        const res = rejectc(pair.a.name, ['apply', file, '--dev', pair.ifA, '--hook', 'xdp']);
        expect(res.status).toBe(2);
        expect(res.stderr).toMatch(/another XDP program \(id \d+\) is attached there, and rejectc replaces only its own: bpf_xdp_attach\(\) failed: EBUSY/);
        expect(res.stderr).toMatch(/\n {2}fix: detach that program first/);
        expect(snapshot(pair)).toBe(before);
      },
      { tag: 'cx' },
    );
  });

  it('a failed apply exits 1 or 2 with its cause and leaves the interface exactly as it was', async () => {
    await withPair(
      (pair) => {
        const good = rules('good.rules', ['-A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset']);
        expect(rejectc(pair.a.name, ['apply', good, '--dev', pair.ifA]).status).toBe(0);
        const before = snapshot(pair);

        const bad = join(dir, 'bad.rules');
        writeFileSync(bad, '*filter\n-A INPUT -p tcp --dport 23 -j REJECT --reject-with tcp-reset\n-A INPUT -p tcp --dport 99999 -j DROP\nCOMMIT\n');
        const syntax = rejectc(pair.a.name, ['apply', bad, '--dev', pair.ifA]);
        expect(syntax.status).toBe(1);
        expect(syntax.stderr).toMatch(/bad\.rules:3:\d+: error/);

        const out = rules('output.rules', ['-A OUTPUT -p udp -j DROP']);
        const xdpOut = rejectc(pair.a.name, ['apply', out, '--dev', pair.ifA, '--hook', 'xdp']);
        expect(xdpOut.status).toBe(1);
        expect(xdpOut.stderr).toMatch(/E402/);

        const missing = rejectc(pair.a.name, ['apply', good, '--dev', `${pair.ifA},rjc-none0`]);
        expect(missing.status).toBe(2);
        expect(missing.stderr).toMatch(/^rejectc: error: interface "rjc-none0" does not exist in network namespace "rjc\w+"\n {2}fix: /);

        const unprivileged = rejectc(pair.a.name, ['apply', good, '--dev', pair.ifA], { prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] });
        expect(unprivileged.status).toBe(2);
        expect(unprivileged.stderr).toBe('rejectc: error: rejectc apply needs CAP_BPF and CAP_NET_ADMIN to load and attach BPF programs\n  fix: run it as root (e.g. with sudo)\n');

        // No clang on PATH, and an empty object cache so that it is really needed.
        const cache = mkdtempSync(join(tmpdir(), 'rjc-nocache-'));
        const noClang = rejectc(pair.a.name, ['apply', rules('other.rules', ['-A INPUT -p udp -j DROP']), '--dev', pair.ifA], {
          env: { ...process.env, PATH: '/usr/sbin:/sbin', TMPDIR: cache },
        });
        rmSync(cache, { recursive: true, force: true });
        expect(noClang.status).toBe(2);
        expect(noClang.stderr).toMatch(/^rejectc: error: clang is not installed\n {2}fix: apt-get install clang/);

        expect(snapshot(pair)).toBe(before);
        expect(probeTcp(pair.b.name, pair.endA.ipv4, 23).errno).toBe('ECONNREFUSED');
        rejectc(pair.a.name, ['detach', '--dev', pair.ifA]);
      },
      { tag: 'cf' },
    );
  });

  it('serialises concurrent invocations on one interface', async () => {
    await withPair(
      async (pair) => {
        const a = rules('ca.rules', ['-A INPUT -p udp -m udp --dport 7001 -j DROP']);
        const b = rules('cb.rules', ['-A INPUT -p udp -m udp --dport 7002 -j DROP']);
        const results = await Promise.all([rejectcAsync(pair.a.name, ['apply', a, '--dev', pair.ifA]), rejectcAsync(pair.a.name, ['apply', b, '--dev', pair.ifA])]);
        expect(results.map((r) => r.status)).toEqual([0, 0]);
        const actions = results.map((r) => (/: (attached|replaced atomically)/.exec(r.stdout) ?? [])[1]).sort();
        expect(actions).toEqual(['attached', 'replaced atomically']);
        // The last one to run is what is in force, and the state says so.
        const stats = JSON.parse(rejectc(pair.a.name, ['stats', '--dev', pair.ifA, '--json']).stdout) as { source: string };
        const last = results.find((r) => r.stdout.includes('replaced'))!.stdout.includes('ca.rules') ? a : b;
        expect(stats.source).toBe(last);
        expect(rejectc(pair.a.name, ['detach', '--dev', pair.ifA]).status).toBe(0);
      },
      { tag: 'cc' },
    );
  });

  it('applies a compile directory and standard input; stats --json counts and --zero resets', async () => {
    await withPair(
      (pair) => {
        const file = rules('d.rules', ['-A INPUT -p udp -m udp --dport 9 -j REJECT --reject-with icmp-port-unreachable']);
        const out = join(dir, 'compiled');
        expect(rejectc(undefined, ['compile', file, '-o', out]).status).toBe(0);
        const fromDir = rejectc(pair.a.name, ['apply', out, '--dev', pair.ifA]);
        expect(fromDir.stderr).toBe('');
        expect(fromDir.stdout).toMatch(/attached at tc ingress/);
        expect(probeUdp(pair.b.name, pair.endA.ipv4, 9).icmp).toMatchObject({ type: 3, code: 3 });
        const stats = JSON.parse(rejectc(pair.a.name, ['stats', '--dev', pair.ifA, '--json', '--zero']).stdout) as {
          chains: Array<{ chain: string; family: string; rules: Array<{ line: number; packets: number }> }>;
          replies: { sent: Record<string, number> };
        };
        expect(stats.chains.find((c) => c.family === 'ipv4' && c.chain === 'INPUT')!.rules).toEqual([expect.objectContaining({ line: 5, packets: 1 })]);
        expect(stats.replies.sent['icmp-ipv4']).toBe(1);
        const zeroed = JSON.parse(rejectc(pair.a.name, ['stats', '--dev', pair.ifA, '--json']).stdout) as typeof stats;
        expect(zeroed.chains[0]!.rules[0]!.packets).toBe(0);
        expect(zeroed.replies.sent['icmp-ipv4']).toBe(0);

        // Standard input, same shape: a generation flip; the counters of the kept rule survive.
        expect(probeUdp(pair.b.name, pair.endA.ipv4, 9).icmp).toMatchObject({ type: 3, code: 3 });
        const stdin = rejectc(pair.a.name, ['apply', '-', '--dev', pair.ifA], { input: `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p udp -m udp --dport 9 -j REJECT --reject-with icmp-port-unreachable\nCOMMIT\n` });
        expect(stdin.stdout).toMatch(/replaced atomically \(same program/);
        const human = rejectc(pair.a.name, ['stats', '--dev', pair.ifA]).stdout;
        expect(human).toMatch(/\n +1 +\d+ REJECT +-A INPUT -p udp -m udp --dport 9 -j REJECT --reject-with icmp-port-unreachable {2}\(<stdin>:5\)\n/);
        expect(rejectc(pair.a.name, ['detach', '--dev', pair.ifA]).status).toBe(0);
        expect(rejectc(pair.a.name, ['stats', '--dev', pair.ifA]).status).toBe(1);
      },
      { tag: 'cs' },
    );
  });

  it('rejectc demo runs end to end and leaves no namespace, pin or state behind', () => {
    const res = execArgv([process.execPath, join(REPO, 'dist', 'src', 'cli.js'), 'demo'], { allowFail: true, timeoutMs: 120_000 });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(res.stdout).toMatch(/6 of 6 probes were refused by rejectc/);
    expect(res.stdout).toMatch(/ping 192\.0\.2\.1 → ICMP type 3 code 13/);
    const ns = /server {2}(rjcdemo\d+s)/.exec(res.stdout)![1]!;
    expect(execArgv(['ip', 'netns', 'list']).stdout).not.toContain(ns);
    expect(existsSync(`/sys/fs/bpf/rejectc/netns:${ns}`)).toBe(false);
  });
});
