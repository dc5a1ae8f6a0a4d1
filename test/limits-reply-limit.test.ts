// --reply-limit SPEC, `# rejectc: reply-limit` directives and the JSON configuration file:
// accepted and refused spellings (with positions), and what they resolve to on a host.
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../src/compiler/diagnostics.js';
import {
  RST_DEFAULT,
  applyReplyLimitOps,
  buildReplyBudget,
  cliSpan,
  defaultReplyLimitSettings,
  describeReplyBudget,
  findReplyLimitDirectives,
  icmpSysctlsOf,
  parseReplyLimitArgument,
  parseReplyLimitConfig,
  parseReplyLimitSpec,
  resolveReplyBudget,
  type ReplyLimitOp,
} from '../src/compiler/reply-limit.js';
import { defaultIcmpSysctls } from '../src/model/limits/index.js';

const HZ = 250;
const host = defaultIcmpSysctls(HZ);

function resolve(ops: readonly ReplyLimitOp[], sysctls = host) {
  return resolveReplyBudget(applyReplyLimitOps(defaultReplyLimitSettings(), ops), sysctls);
}

function spec(text: string) {
  const r = parseReplyLimitSpec(text);
  expect(r.diagnostics.map((d) => d.message)).toEqual([]);
  return r.ops;
}

describe('defaults', () => {
  it('mirror the kernel for ICMP and ICMPv6 (shared global bucket) and use RST_DEFAULT for RST', () => {
    const p = resolve([]);
    expect(p.kinds.icmp).toEqual({ limited: true, globalSlot: 1, msgsPerSec: 1000, msgsBurst: 50, peerTimeout: 250, peerBurst: 6, consume: 'random' });
    expect(p.kinds.icmp6).toEqual({ limited: true, globalSlot: 1, msgsPerSec: 1000, msgsBurst: 50, peerTimeout: 25, peerBurst: 6, consume: 'random' });
    expect(p.kinds.rst).toEqual({ limited: true, globalSlot: 0, msgsPerSec: RST_DEFAULT.rate, msgsBurst: RST_DEFAULT.burst, peerTimeout: 25, peerBurst: 6, consume: 'one' });
    expect(p.peerTableSize).toBe(65_536);
    expect(describeReplyBudget(p)).toEqual([
      'RST: 1000/s, burst 50; per source one per 100 ms, burst 6',
      'ICMP: 1000/s, burst 50 (shared with ICMPv6); per source one per 1000 ms, burst 6',
      'ICMPv6: 1000/s, burst 50 (shared with ICMP); per source one per 100 ms, burst 6',
    ]);
  });
  it('follow the host: ratemask without the unreachable type lifts the limit, ratelimit 0 lifts the per-source one', () => {
    const p = resolve([], { ...host, icmpRatemask: 0, icmp6RatelimitMs: 0, icmpMsgsPerSec: 20 });
    expect(p.kinds.icmp.limited).toBe(false);
    expect(p.kinds.icmp6).toMatchObject({ limited: true, peerTimeout: 0, msgsPerSec: 20 });
  });
  it('read the runtime host config shape (type ranges)', () => {
    const s = icmpSysctlsOf(
      { ipv4: { icmp: { ratelimitMs: 500, ratemask: [[3, 4], [11, 12]] } }, ipv6: { icmp: { ratelimitMs: 100, ratemask: [[0, 1], [3, 127]] } }, icmpGlobal: { msgsPerSec: 1000, msgsBurst: 50 } },
      HZ,
    );
    expect(s.icmpRatemask).toBe(0x1818);
    expect(s.icmp6Ratemask.has(1)).toBe(true);
    expect(s.icmp6Ratemask.has(2)).toBe(false);
    expect(s.icmp6Ratemask.size).toBe(127);
    expect(resolve([], s).kinds.icmp.peerTimeout).toBe(125);
  });
});

describe('--reply-limit SPEC', () => {
  it.each([
    ['off', { rst: false, icmp: false, icmp6: false }],
    ['kernel', { rst: false, icmp: true, icmp6: true }],
    ['default', { rst: true, icmp: true, icmp6: true }],
    ['off,icmp=default', { rst: false, icmp: true, icmp6: false }],
    ['rst=off', { rst: false, icmp: true, icmp6: true }],
    ['rst=kernel', { rst: false, icmp: true, icmp6: true }],
    ['off,rst.rate=5/s', { rst: true, icmp: false, icmp6: false }],
  ])('%s', (text, limited) => {
    const p = resolve(spec(text));
    expect({ rst: p.kinds.rst.limited, icmp: p.kinds.icmp.limited, icmp6: p.kinds.icmp6.limited }).toEqual(limited);
  });

  it('sets numbers, with units, later items winning', () => {
    const p = resolve(spec(' rst.rate=200/s, rst.burst=20 ,rst.per-source=1s,rst.per-source-burst=3,rst.rate=300,sources=1024'));
    expect(p.kinds.rst).toMatchObject({ msgsPerSec: 300, msgsBurst: 20, peerTimeout: 250, peerBurst: 3 });
    expect(p.peerTableSize).toBe(1024);
    expect(resolve(spec('icmp.per-source=10/s')).kinds.icmp.peerTimeout).toBe(25);
    expect(resolve(spec('icmp.per-source=3/s')).kinds.icmp.peerTimeout).toBe(84); // ceil(1000/3)=334 ms -> 84 jiffies
    expect(resolve(spec('icmp.per-source=off')).kinds.icmp.peerTimeout).toBe(0);
    expect(resolve(spec('icmp.per-source=7ms')).kinds.icmp.peerTimeout).toBe(2);
    expect(resolve(spec('rst.rate=0')).kinds.rst.msgsPerSec).toBe(0);
  });

  it('keeps ICMPv6 on the ICMP bucket unless it gets its own rate or burst', () => {
    const shared = resolve(spec('icmp.rate=10,icmp.burst=2'));
    expect(shared.kinds.icmp6).toMatchObject({ globalSlot: 1, msgsPerSec: 10, msgsBurst: 2 });
    const own = resolve(spec('icmp.rate=10,icmp6.burst=7'));
    expect(own.kinds.icmp6).toMatchObject({ globalSlot: 2, msgsPerSec: 1000, msgsBurst: 7 });
    expect(own.kinds.icmp).toMatchObject({ globalSlot: 1, msgsPerSec: 10, msgsBurst: 50 });
  });

  it.each([
    ['', 'empty item'],
    ['rst', 'expected off, kernel, default'],
    ['tcp.rate=5', 'unknown reply kind "tcp"'],
    ['rst.speed=5', 'unknown setting "speed"'],
    ['rst.rate=5/min', 'expected replies per second'],
    ['rst.rate=-1', 'expected replies per second'],
    ['rst.rate=3000000000', 'at most 2147483647/s'],
    ['rst.burst=x', 'expected a whole number from 0'],
    ['rst.per-source=0/s', 'never refills'],
    ['rst.per-source=100', 'expected a duration'],
    ['rst.per-source=2h', 'expected a duration'],
    ['rst.per-source=4000s', 'at most 3600s'],
    ['rst.per-source-burst=0', 'from 1 to 1000'],
    ['rst=on', 'expected rst=off, rst=kernel or rst=default'],
    ['sources=0', 'from 1 to 16777216'],
  ])('refuses %j (%s)', (text, reason) => {
    const r = parseReplyLimitSpec(text);
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]!.code).toBe('E260');
    expect(r.diagnostics[0]!.message).toContain(reason);
  });

  it('points at the bad item with a caret', () => {
    const text = 'rst.rate=5/s,icmp.burst=lots,icmp6=off';
    const r = parseReplyLimitSpec(text, cliSpan(text));
    expect(r.diagnostics).toHaveLength(1);
    expect(formatDiagnostic(r.diagnostics[0]!, text)).toBe(
      [
        '--reply-limit:1:14: error[E260]: invalid reply limit "icmp.burst=lots": burst: expected a whole number from 0 to 2147483647',
        '  |',
        '1 | rst.rate=5/s,icmp.burst=lots,icmp6=off',
        '  |              ^^^^^^^^^^^^^^^',
        '  = e.g. --reply-limit rst.rate=200/s,rst.burst=20,icmp=kernel; see docs/rate-limits.md',
      ].join('\n'),
    );
  });
});

describe('# rejectc: reply-limit directives in a rules file', () => {
  it('applies them in order and reports errors at their place in the file', () => {
    const text = ['*filter', '# rejectc: reply-limit rst.rate=100/s', '#rejectc:reply-limit icmp=off, rst.burst=9', '# a comment about rejectc: reply-limit', '-A INPUT -j REJECT', '  # rejectc: reply-limit rst.burst=many', 'COMMIT', ''].join('\n');
    const r = findReplyLimitDirectives(text, 'rules.v4');
    const p = resolve(r.ops);
    expect(p.kinds.rst).toMatchObject({ msgsPerSec: 100, msgsBurst: 9 });
    expect(p.kinds.icmp.limited).toBe(false);
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]!.span.start).toMatchObject({ line: 6, column: 26 });
    expect(r.diagnostics[0]!.message).toBe('invalid reply limit "rst.burst=many": burst: expected a whole number from 0 to 2147483647');
  });
});

describe('configuration file (ajv, schema/reply-limit.schema.json)', () => {
  it('accepts modes, numbers and durations', () => {
    const json = JSON.stringify({ replyLimit: { sources: 100, rst: { rate: '50/s', burst: 5, perSource: '250ms', perSourceBurst: 2 }, icmp: 'off', icmp6: { perSource: 40 } } });
    const r = parseReplyLimitConfig(json, 'rejectc.json');
    expect(r.diagnostics).toEqual([]);
    const p = resolve(r.ops);
    expect(p.kinds.rst).toMatchObject({ limited: true, msgsPerSec: 50, msgsBurst: 5, peerTimeout: 63, peerBurst: 2 });
    expect(p.kinds.icmp.limited).toBe(false);
    expect(p.kinds.icmp6).toMatchObject({ limited: true, peerTimeout: 10, globalSlot: 1 });
    expect(p.peerTableSize).toBe(100);
    expect(parseReplyLimitConfig('{}', 'empty.json')).toEqual({ ops: [], diagnostics: [] });
  });
  it.each([
    ['{"replyLimit": {"rst": {"rate": "fast"}}}', '/replyLimit/rst/rate'],
    ['{"replyLimit": {"rst": {"rates": 5}}}', '/replyLimit/rst'],
    ['{"replyLimit": {"tcp": "off"}}', '/replyLimit'],
    ['{"replyLimit": {"icmp": "on"}}', '/replyLimit/icmp'],
    ['{"replyLimit": {"rst": {}}}', '/replyLimit/rst'],
    ['{"replyLimit": {"sources": 0}}', '/replyLimit/sources'],
    ['{"reply_limit": {}}', '/'],
    ['{"replyLimit": {"rst": {"perSource": "0/s"}}}', '/replyLimit/rst/perSource'],
  ])('refuses %s', (json, where) => {
    const r = parseReplyLimitConfig(json, 'bad.json');
    expect(r.ops).toEqual([]);
    expect(r.diagnostics.length).toBeGreaterThan(0);
    expect(r.diagnostics.every((d) => d.code === 'E262')).toBe(true);
    expect(r.diagnostics.map((d) => d.message).join('\n')).toContain(where);
  });
  it('reports invalid JSON at its position', () => {
    const r = parseReplyLimitConfig('{\n  "replyLimit": {,}\n}', 'broken.json');
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]!.span.start.line).toBe(2);
    expect(r.diagnostics[0]!.message).toContain('not valid JSON');
  });
});

describe('buildReplyBudget (what apply calls)', () => {
  const rulesText = '# rejectc: reply-limit rst.rate=100/s,rst.burst=10\n*filter\nCOMMIT\n';
  const files: Record<string, string> = { '/etc/rejectc.json': JSON.stringify({ replyLimit: { rst: { burst: 3 }, icmp6: 'off' } }) };
  const read = (path: string) => {
    const text = files[path];
    if (text === undefined) throw new Error(`no ${path}`);
    return text;
  };

  it('applies host defaults, then the rules file, then the argument', () => {
    const r = buildReplyBudget({ rulesText, rulesFile: 'r', argument: 'rst.per-source=1s', host, read });
    expect(r.diagnostics).toEqual([]);
    expect(r.params.kinds.rst).toMatchObject({ msgsPerSec: 100, msgsBurst: 10, peerTimeout: 250 });
    expect(buildReplyBudget({ rulesText, rulesFile: 'r', argument: 'rst=off', host, read }).params.kinds.rst.limited).toBe(false);
    expect(buildReplyBudget({ rulesText, rulesFile: 'r', host, read }).params.kinds.rst.msgsBurst).toBe(10);
  });
  it('reads @FILE arguments as JSON configuration files', () => {
    const r = buildReplyBudget({ rulesText, rulesFile: 'r', argument: '@/etc/rejectc.json', host, read });
    expect(r.params.kinds.rst).toMatchObject({ msgsPerSec: 100, msgsBurst: 3 });
    expect(r.params.kinds.icmp6.limited).toBe(false);
    expect(parseReplyLimitArgument('@/etc/rejectc.json', read).ops).toHaveLength(2);
    expect(() => parseReplyLimitArgument('@/nope.json', read)).toThrow('no /nope.json');
  });
  it('uses nothing of a setting with errors', () => {
    const r = buildReplyBudget({ rulesText, rulesFile: 'r', argument: 'rst.burst=x', host, read });
    expect(r.diagnostics.map((d) => d.code)).toEqual(['E260']);
    expect(r.params.kinds.rst.msgsBurst).toBe(RST_DEFAULT.burst);
  });
});
