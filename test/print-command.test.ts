/**
 * `rejectc print`: canonical output on stdout and exit 0; with errors in the input nothing on
 * stdout, diagnostics with a code frame on stderr and exit 1. Printing is stable: printing the
 * output again gives the same text. A few runs go through the built CLI (dist/).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import printCommand, { printText } from '../src/commands/print.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rjc-print-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function run(path: string, family?: 'ipv4' | 'ipv6') {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
  try {
    return { code: printCommand(path, family ? { family } : {}), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

const SCRIPT = [
  '#!/bin/sh',
  'IPT=/sbin/iptables',
  '$IPT -P INPUT DROP',
  '$IPT -N web',
  '$IPT -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT',
  '$IPT -A INPUT -p TCP --dport ssh -s 192.0.2.0/255.255.255.0,198.51.100.7 -j ACCEPT',
  '$IPT -A INPUT -p tcp -j web',
  '$IPT -A web -p tcp --syn --dport www -m limit --limit 5/minute -j LOG --log-prefix "web: "',
  '$IPT -A web -p tcp -j REJECT --reject-with tcp',
  '',
].join('\n');

describe('print', () => {
  it('prints a script in iptables-save spelling', () => {
    const r = run(file('fw.sh', SCRIPT));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        `# iptables-save format, printed by rejectc from ${join(dir, 'fw.sh')}`,
        '*filter',
        ':INPUT DROP [0:0]',
        ':FORWARD ACCEPT [0:0]',
        ':OUTPUT ACCEPT [0:0]',
        ':web - [0:0]',
        '-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT',
        '-A INPUT -s 192.0.2.0/24 -p tcp -m tcp --dport 22 -j ACCEPT',
        '-A INPUT -s 198.51.100.7/32 -p tcp -m tcp --dport 22 -j ACCEPT',
        '-A INPUT -p tcp -j web',
        '-A web -p tcp -m tcp --dport 80 --tcp-flags FIN,SYN,RST,ACK SYN -m limit --limit 5/min -j LOG --log-prefix "web: "',
        '-A web -p tcp -j REJECT --reject-with tcp-reset',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it('is stable: printing its own output gives the same text', () => {
    const first = printText(SCRIPT, 'fw.sh').output!;
    const second = printText(first, 'fw.sh').output!;
    expect(second).toBe(first);
  });

  it('prints both families, IPv4 first', () => {
    const text = ['iptables -A INPUT -p icmp --icmp-type ping -j ACCEPT', 'ip6tables -A INPUT -p icmpv6 --icmpv6-type ping -j ACCEPT', ''].join('\n');
    const out = printText(text, 'both.sh').output!;
    expect(out.split('\n').filter((l) => l.startsWith('#') || l.startsWith('-A'))).toEqual([
      '# iptables-save format, printed by rejectc from both.sh',
      '-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT',
      '# ip6tables-save format, printed by rejectc from both.sh',
      '-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT',
    ]);
  });

  it('refuses input with errors: nothing on stdout, a code frame on stderr, exit 1', () => {
    const r = run(file('bad.rules', '*filter\n-A INPUT -p tcp --dport 99999 -j ACCEPT\nCOMMIT\n'));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('bad.rules:2:25: error[E204]: invalid port "99999"');
    expect(r.stderr).toContain('^^^^^');
  });

  it('prints with warnings, which go to stderr', () => {
    const r = run(file('old.rules', '*nat\n-A POSTROUTING -d ! 192.0.2.0/24 -j MASQUERADE\nCOMMIT\n'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('-A POSTROUTING ! -d 192.0.2.0/24 -j MASQUERADE');
    expect(r.stderr).toContain('W103');
  });

  const cli = join(import.meta.dirname, '..', 'dist', 'src', 'cli.js');
  it.runIf(existsSync(cli))('runs through the CLI, reading stdin', () => {
    const ok = spawnSync(process.execPath, [cli, 'print', '-'], { input: '*filter\n-A INPUT -p udp --dport 53 -j ACCEPT\nCOMMIT\n', encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('-A INPUT -p udp -m udp --dport 53 -j ACCEPT');
    const bad = spawnSync(process.execPath, [cli, 'print', '-'], { input: '*filter\n-A INPUT -m nosuch -j ACCEPT\nCOMMIT\n', encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('unsupported match module "nosuch"');
  });
});
