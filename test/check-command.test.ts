/**
 * `rejectc check`: exit codes, the human output (code frame with caret, summary line) and the
 * `--json` document. The command function is called directly; a few runs go through the built
 * CLI (dist/, built by `npm test`'s set-up step) to prove the wiring and exit codes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import checkCommand, { checkText } from '../src/commands/check.js';
import { UserError } from '../src/errors.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rjc-check-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Runs the command function, capturing what it writes. */
function run(path: string, options: { json?: boolean; family?: 'ipv4' | 'ipv6' } = {}) {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
  try {
    const code = checkCommand(path, options);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

const GOOD = '*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -p tcp -j REJECT --reject-with tcp-reset\nCOMMIT\n';
const BAD = '*filter\n-A INPUT -j nowhere\nCOMMIT\n';

describe('rejectc check (command function)', () => {
  it('exits 0 for a valid ruleset and says so on stderr, nothing on stdout', () => {
    const r = run(file('good.rules', GOOD));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/good\.rules: valid: 2 rules \(ipv4\); no problems\n$/);
  });

  it('exits 1 with a code frame and a caret under the offending word', () => {
    const path = file('bad.rules', BAD);
    const r = run(path);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      [
        `${path}:2:10: error[E300]: chain "nowhere" does not exist`,
        '  |',
        '2 | -A INPUT -j nowhere',
        '  |          ^^^^^^^^^^',
        '  = "nowhere" is neither a chain of table "filter" (create it with -N or ":nowhere - [0:0]" first) nor a target rejectc knows',
      ].join('\n'),
    );
    expect(r.stderr).toMatch(/: invalid: 0 rules \(ipv4\); 1 error\n$/);
  });

  it('exits 0 with warnings only, printing them', () => {
    const r = run(file('warn.sh', 'echo hi\niptables -A INPUT -j DROP\n'));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('warning[W100]: not an iptables command; line skipped');
    expect(r.stderr).toMatch(/valid: 1 rule \(ipv4\); 1 warning\n$/);
  });

  it('--json prints exactly one JSON document on stdout', () => {
    const path = file('bad2.rules', BAD);
    const r = run(path, { json: true });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    const doc = JSON.parse(r.stdout);
    expect(doc).toEqual({
      file: path,
      valid: false,
      diagnostics: [
        {
          code: 'E300',
          severity: 'error',
          message: 'chain "nowhere" does not exist',
          file: path,
          line: 2,
          column: 10,
          endLine: 2,
          endColumn: 20,
          notes: [expect.stringContaining('neither a chain')],
        },
      ],
      summary: { errors: 1, warnings: 0, rules: 0, families: ['ipv4'] },
    });
  });

  it('--json for a valid ruleset', () => {
    const r = run(file('good2.rules', GOOD), { json: true });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ valid: true, diagnostics: [], summary: { errors: 0, warnings: 0, rules: 2, families: ['ipv4'] } });
  });

  it('--family ipv6 reads a header-less save file as IPv6', () => {
    const { report } = checkText('*filter\n-A INPUT -j DROP\nCOMMIT\n', 'x', 'ipv6');
    expect(report.summary.families).toEqual(['ipv6']);
  });

  it('an unreadable file is a UserError (exit 1 through the CLI)', () => {
    expect(() => checkCommand(join(dir, 'missing.rules'))).toThrow(UserError);
  });
});

describe('rejectc check (built CLI)', () => {
  const cli = join(import.meta.dirname, '..', 'dist', 'src', 'cli.js');
  const node = (args: string[], input?: string) => spawnSync(process.execPath, [cli, ...args], { input, encoding: 'utf8' });

  it('the CLI is built (npm test builds it first)', () => {
    expect(existsSync(cli), `${cli} missing: run npm run build`).toBe(true);
  });

  it('exit 0 / 1 / 1 for valid, invalid, missing file; reads stdin for -', () => {
    expect(node(['check', file('cli-good.rules', GOOD)]).status).toBe(0);
    const bad = node(['check', file('cli-bad.rules', BAD)]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('error[E300]');
    expect(node(['check', join(dir, 'nope.rules')]).status).toBe(1);
    const stdin = node(['check', '-', '--json'], BAD);
    expect(stdin.status).toBe(1);
    expect(JSON.parse(stdin.stdout)).toMatchObject({ file: '<stdin>', valid: false });
  });

  it('--family is accepted and validated', () => {
    expect(node(['check', '--family', 'ipv6', '--json', file('cli-6.rules', '*filter\nCOMMIT\n')]).stdout).toContain('"families":["ipv6"]');
    expect(node(['check', '--family', 'ipv5', file('cli-5.rules', '*filter\nCOMMIT\n')]).status).toBe(1);
  });
});
