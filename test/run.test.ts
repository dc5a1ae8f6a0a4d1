/**
 * `rejectc run` through the CLI (node dist/src/cli.js, inside a throwaway namespace so the host
 * configuration it reads is a known one): the exact JSON document, the deciding rule as
 * file:line and text, and the reply bytes, which must equal the model's reply for the same
 * packet (src/model/); from rules and from a directory written by `rejectc compile`; TC and XDP;
 * and its user errors.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRuleset } from '../src/compiler/frontend.js';
import { readFileSync } from 'node:fs';
import { decodeIp, evaluateRuleset } from '../src/model/index.js';
import { createNetns, deleteNetns, canUseKernel, type Netns } from './support/netns.js';
import { icmp, ipv4, ipv6, tcp, udp } from './support/packets.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const DEMO = join(ROOT, 'examples', 'demo.rules');
const DEMO6 = join(ROOT, 'examples', 'demo6.rules');

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe.runIf(canUseKernel())('rejectc run', () => {
  let ns: Netns;
  let out: string;
  beforeAll(() => {
    ns = createNetns();
    out = mkdtempSync(join(tmpdir(), 'rjc-run-'));
  });
  afterAll(() => {
    deleteNetns(ns);
    rmSync(out, { recursive: true, force: true });
  });

  function run(args: string[], input?: string) {
    const r = ns.exec([process.execPath, CLI, 'run', ...args], { allowFail: true, ...(input !== undefined ? { input } : {}) });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  function json(args: string[]) {
    const r = run([...args, '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    return JSON.parse(r.stdout);
  }

  /** The model's reply for a packet at INPUT (default environment), as hex. */
  function modelReply(rules: string, packet: Uint8Array): string | null {
    const parsed = parseRuleset(readFileSync(rules, 'utf8'), rules);
    const d = evaluateRuleset(parsed.ruleset, decodeIp(packet), { chain: 'INPUT' });
    return d.reply ? hex(d.reply) : null;
  }

  const syn23 = ipv4({ src: '192.0.2.1', dst: '192.0.2.2' }, tcp({ sport: 40000, dport: 23, flags: 'S', seq: 1000 }));
  const udp9 = ipv4({ src: '192.0.2.1', dst: '192.0.2.2' }, udp({ sport: 40000, dport: 9, payload: [1, 2, 3, 4] }));
  const syn80 = ipv4({ src: '192.0.2.1', dst: '192.0.2.2' }, tcp({ sport: 40000, dport: 80, flags: 'S' }));

  it('prints exactly {verdict, chain, rule, reply}: a RST like the kernel builds it, from the rule that decided', () => {
    const r = json([DEMO, '--packet', hex(syn23)]);
    expect(Object.keys(r)).toEqual(['verdict', 'chain', 'rule', 'reply']);
    expect(r).toEqual({
      verdict: 'reject',
      chain: 'INPUT',
      rule: { file: DEMO, line: 7, text: '-A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset' },
      reply: modelReply(DEMO, syn23),
    });
    // A RST: 40 bytes, flags RST|ACK, ack = seq + 1.
    expect(r.reply).toMatch(/^45000028/);
    expect(r.reply.slice(56, 64)).toBe((1001).toString(16).padStart(8, '0'));
  });

  it('answers UDP with the ICMP error, and lets an unmatched packet through to the policy', () => {
    const u = json([DEMO, '--packet', hex(udp9)]);
    expect(u).toMatchObject({ verdict: 'reject', rule: { line: 8 } });
    expect(u.reply).toBe(modelReply(DEMO, udp9));
    expect(json([DEMO, '--packet', hex(syn80)])).toEqual({ verdict: 'accept', chain: 'INPUT', rule: null, reply: null });
    expect(json([DEMO, '--packet', hex(syn80), '--chain', 'FORWARD'])).toEqual({ verdict: 'drop', chain: 'FORWARD', rule: null, reply: null });
  });

  it('runs IPv6 and XDP, and a --frame as given', () => {
    const ping6 = ipv6({ src: '2001:db8::1', dst: '2001:db8::2' }, icmp({ type: 128, code: 0, payload: [0, 1, 0, 1] }));
    const r6 = json([DEMO6, '--packet', hex(ping6), '--hook', 'xdp']);
    expect(r6).toMatchObject({ verdict: 'reject', chain: 'INPUT', rule: { line: 8 } });
    const p6 = parseRuleset(readFileSync(DEMO6, 'utf8'), DEMO6);
    const m6 = evaluateRuleset(p6.ruleset, decodeIp(ping6), { chain: 'INPUT' });
    expect(r6.reply).toBe(hex(m6.reply!));
    const frame = `0200000000020200000000010800${hex(syn23)}`;
    expect(json([DEMO, '--frame', frame])).toMatchObject({ verdict: 'reject', rule: { line: 7 } });
  });

  it('runs a directory written by rejectc compile (maps.json validated on read)', () => {
    const c = spawnSync(process.execPath, [CLI, 'compile', DEMO, '-o', join(out, 'demo')], { encoding: 'utf8' });
    expect(c.status).toBe(0);
    expect(json([join(out, 'demo'), '--packet', hex(syn23)])).toMatchObject({ verdict: 'reject', rule: { line: 7 } });
    const wrongHook = run([join(out, 'demo'), '--packet', hex(syn23), '--hook', 'xdp']);
    expect(wrongHook.status).toBe(1);
    expect(wrongHook.stderr).toContain('was compiled for --hook tc');
  });

  it('prints a readable summary without --json', () => {
    const r = run([DEMO, '--packet', hex(syn23)]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('verdict: reject\nchain: INPUT\n');
    expect(r.stdout).toContain(`rule: ${DEMO}:7: -A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset`);
  });

  it('refuses bad arguments with exit 1', () => {
    expect(run([DEMO, '--packet', 'zz'])).toMatchObject({ status: 1 });
    expect(run([DEMO, '--packet', hex(syn23), '--frame', hex(syn23)]).stderr).toContain('give exactly one of --packet HEX or --frame HEX');
    expect(run([DEMO, '--packet', '00112233']).stderr).toContain('not an IPv4 or IPv6 packet');
    const bad = run(['-', '--packet', hex(syn23)], '*filter\n-A INPUT -m statistic --mode nth --every 2 --packet 0 -j ACCEPT\nCOMMIT\n');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('error[E400]');
  });
});
