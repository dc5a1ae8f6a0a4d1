/**
 * compile() and `rejectc compile`: refusals by name with their position (E400 matches,
 * E401 targets, E402 OUTPUT under XDP, W101 other tables, E403 size), maps.json against its
 * schema (on write and on read), the manifest's rule and counter table, generations, and the
 * command writing rejectc.bpf.c / rejectc.bpf.o / maps.json (--json summary).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../src/compiler/compile.js';
import { forGeneration } from '../src/compiler/emit/map-entries.js';
import { ruleOfSlot } from '../src/compiler/emit/manifest.js';
import { parseRuleset } from '../src/compiler/frontend.js';
import { validateMapsJson } from '../src/compiler/schema/validate.js';
import { compileText } from '../src/commands/compile.js';

function compiled(text: string, hook: 'tc' | 'xdp' = 'tc') {
  const parsed = parseRuleset(text, 'rules.txt');
  expect(parsed.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return compile(parsed.ruleset, { hook });
}

function codes(text: string, hook: 'tc' | 'xdp' = 'tc'): string[] {
  return compileText(text, 'rules.txt', { hook }).diagnostics.map((d) => `${d.span.start.line}:${d.span.start.column} ${d.code}`);
}

describe('refusals', () => {
  it('refuses match modules not compiled yet by name, at the match', () => {
    const text = '*filter\n-A INPUT -p tcp -m statistic --mode random --probability 0.5 -j ACCEPT\nCOMMIT\n';
    const r = compileText(text, 'rules.txt', { hook: 'tc' });
    expect(r.artifacts).toBeUndefined();
    const d = r.diagnostics.find((x) => x.code === 'E400')!;
    expect(d.message).toBe('match "statistic" is parsed but not compiled yet: random/nth sampling is not compiled yet');
    expect(d.span.start).toMatchObject({ line: 2, column: text.split('\n')[1]!.indexOf('-m statistic') + 1 });
  });

  it('refuses --tcp-option and addrtype --limit-iface-in, and compiles plain addrtype', () => {
    expect(codes('*filter\n-A INPUT -p tcp --tcp-option 2 -j DROP\nCOMMIT\n')).toEqual(['2:17 E400']);
    expect(codes('*filter\n-A INPUT -m addrtype --dst-type LOCAL --limit-iface-in -j DROP\nCOMMIT\n').map((c) => c.split(' ')[1])).toEqual(['E400']);
    expect(codes('*filter\n-A INPUT -m addrtype --dst-type LOCAL -j DROP\nCOMMIT\n')).toEqual([]);
  });

  it('refuses targets other than the filter verdicts, LOG and jumps (E401)', () => {
    const r = compileText('*filter\n-A INPUT -j NFLOG --nflog-group 1\nCOMMIT\n', 'rules.txt', { hook: 'tc' });
    expect(r.diagnostics.map((d) => [d.code, d.message])).toEqual([['E401', 'target "NFLOG" cannot be compiled: only ACCEPT, DROP, REJECT, RETURN, LOG and jumps to user chains are compiled']]);
  });

  it('refuses OUTPUT rules (or an OUTPUT DROP policy) for XDP (E402), not for TC', () => {
    const rules = '*filter\n:OUTPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n-A OUTPUT -p tcp --dport 25 -j REJECT --reject-with tcp-reset\nCOMMIT\n';
    expect(codes(rules, 'xdp')).toEqual(['4:1 E402']);
    expect(codes(rules, 'tc')).toEqual([]);
    expect(codes('*filter\n:OUTPUT DROP [0:0]\nCOMMIT\n', 'xdp').map((c) => c.split(' ')[1])).toEqual(['E402']);
  });

  it('warns that other tables are not compiled (W101) and still compiles the filter table', () => {
    const r = compileText('*nat\n-A PREROUTING -p tcp -j REDIRECT --to-ports 8080\nCOMMIT\n*filter\n-A INPUT -j DROP\nCOMMIT\n', 'rules.txt', { hook: 'tc' });
    expect(r.diagnostics.map((d) => `${d.span.start.line} ${d.code} ${d.severity}`)).toEqual(['1 W101 warning']);
    expect(r.artifacts).toBeDefined();
  });

  it('refuses a ruleset that does not fit the program (E403) on the rule responsible', () => {
    // 200 copies of a 4-way expanded rule jumping to a 300-rule chain: > 200,000 flat rules.
    const lines = ['*filter', ':BIG - [0:0]'];
    for (let i = 0; i < 300; i++) lines.push(`-A BIG -s 192.0.2.${i % 250} -j DROP`);
    for (let i = 0; i < 200; i++) lines.push('-A INPUT -s 198.51.100.1,198.51.100.2 -d 203.0.113.1,203.0.113.2 -j BIG');
    lines.push('COMMIT', '');
    const d = compileText(lines.join('\n'), 'rules.txt', { hook: 'tc' }).diagnostics;
    expect(d.map((x) => x.code)).toEqual(['E403']);
    expect(d[0]!.message).toMatch(/chain INPUT expands to \d+ rules/);
  });
});

describe('maps.json', () => {
  const text = [
    '*filter',
    ':INPUT DROP [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':WEB - [0:0]',
    '-A INPUT -s 192.0.2.0/24,198.51.100.0/24 -p tcp -j WEB',
    '-A INPUT -p udp -m multiport --ports 53,123 -j ACCEPT',
    '-A WEB -p tcp -m tcp --dport 80 -j ACCEPT',
    '-A WEB -j LOG',
    'COMMIT',
    '',
  ].join('\n');
  const maps = compiled(text).artifacts!.maps;

  it('validates against the schema, and broken documents do not', () => {
    expect(validateMapsJson(JSON.parse(JSON.stringify(maps)))).toMatchObject({ ok: true });
    const broken = JSON.parse(JSON.stringify(maps));
    broken.maps[1].entries.keys = broken.maps[1].entries.keys.slice(2);
    expect(validateMapsJson(broken)).toMatchObject({ ok: false });
    const extra = { ...JSON.parse(JSON.stringify(maps)), surprise: 1 };
    expect(validateMapsJson(extra).ok).toBe(false);
    expect(validateMapsJson({ ...JSON.parse(JSON.stringify(maps)), format: 'rejectc-maps/0' }).ok).toBe(false);
  });

  it('lists every flat rule with its source, path and slots, and counters like iptables -L -v', () => {
    const input = maps.chains.find((c) => c.family === 'ipv4' && c.chain === 'INPUT')!;
    const rules = input.rules.map((i) => maps.rules[i]!);
    expect(rules.map((r) => `${r.source.line}/${r.source.expansion} ${r.role} ${r.action}${r.via.length ? ` via ${r.via.map((v) => v.line).join(',')}` : ''}`)).toEqual([
      '6/0 jump continue',
      '8/0 rule accept via 6',
      '9/0 rule continue via 6',
      '6/1 jump continue',
      '8/0 rule accept via 6',
      '9/0 rule continue via 6',
      '7/0 rule accept',
    ]);
    // The WEB rules have one counter each although inlined twice; the jump has one per copy.
    expect(maps.counters.map((c) => `${c.chain}#${c.ruleNumber}.${c.expansion}`)).toEqual(['INPUT#1.0', 'INPUT#1.1', 'INPUT#2.0', 'WEB#1.0', 'WEB#2.0']);
    expect(rules[1]!.counter).toBe(rules[4]!.counter);
    expect(input.policy).toBe('DROP');
    // --ports takes two slots (source or destination port); slots map back to rules.
    expect(rules[6]!.slotCount).toBe(2);
    expect(ruleOfSlot(maps, rules[6]!.firstSlot + 1)).toBe(input.rules[6]);
  });

  it('places generation 1 at an index offset (arrays) or in the key (hash, LPM)', () => {
    const act = maps.maps.find((m) => m.name === 'rjc_act')!;
    const l2 = maps.maps.find((m) => m.name === 'rjc_l2')!;
    for (const m of [act, l2]) {
      const e = { count: m.entries!.count, keys: Buffer.from(m.entries!.keys, 'hex'), values: Buffer.from(m.entries!.values, 'hex') };
      const g1 = forGeneration(e, m.generation, m.keySize, 1);
      expect(g1.values).toEqual(e.values);
      if (m.generation.kind === 'index') expect(g1.keys.readUInt32LE(0)).toBe(e.keys.readUInt32LE(0) + m.generation.stride);
      else if (m.generation.kind === 'key') expect(g1.keys.readUInt32LE(m.generation.offset)).toBe(1);
    }
  });

  it('keeps the shape (and so the program) across a small edit', () => {
    const edited = text.replace('-A WEB -j LOG', '-A WEB -p tcp -m tcp --dport 8080 -j ACCEPT\n-A WEB -j LOG');
    const a = compiled(text).artifacts!;
    const b = compiled(edited).artifacts!;
    expect(b.maps.shape.id).toBe(a.maps.shape.id);
    const strip = (c: string) => c.replace(/\/\*[\s\S]*?\*\//g, '');
    expect(strip(b.c)).toBe(strip(a.c));
  });
});

describe('rejectc compile (command)', () => {
  it('writes rejectc.bpf.c, rejectc.bpf.o and a valid maps.json, and prints one JSON document', () => {
    const cli = join(import.meta.dirname, '..', 'dist', 'src', 'cli.js');
    const out = mkdtempSync(join(tmpdir(), 'rjc-compile-'));
    try {
      const examples = join(import.meta.dirname, '..', 'examples', 'demo.rules');
      const run = spawnSync(process.execPath, [cli, 'compile', examples, '-o', out, '--json'], { encoding: 'utf8' });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      const summary = JSON.parse(run.stdout);
      expect(summary).toMatchObject({ hook: 'tc', rules: { source: 3, flat: 3 } });
      expect(summary.maps.find((m: { name: string }) => m.name === 'rjc_act')).toMatchObject({ entries: 64 });
      for (const f of ['rejectc.bpf.c', 'rejectc.bpf.o', 'maps.json']) expect(existsSync(join(out, f))).toBe(true);
      expect(validateMapsJson(JSON.parse(readFileSync(join(out, 'maps.json'), 'utf8'))).ok).toBe(true);
      const bad = spawnSync(process.execPath, [cli, 'compile', '-', '-o', out], { input: '*filter\n-A INPUT -m statistic --mode nth --every 2 --packet 0 -j ACCEPT\nCOMMIT\n', encoding: 'utf8' });
      expect(bad.status).toBe(1);
      expect(bad.stderr).toContain('<stdin>:2:10: error[E400]: match "statistic" is parsed but not compiled yet');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
