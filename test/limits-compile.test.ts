/**
 * -m limit and -m hashlimit compiled into the classifier (issue 7 in issue 4's classifier):
 * random rulesets where rate limits sit before and after header matches, in jump rules, next
 * to multiport alternatives, marks and multi-address rules, at INPUT and OUTPUT, for both
 * iptables back-ends; random packets at random times. The generated program (built with
 * RJC_LIMIT_TEST_CLOCK: its clock is a map the test writes) and the model (src/model/ with
 * RateLimitState, which test/limits-kernel.test.ts ties to the kernel) must agree on every
 * packet: verdict, deciding rule, counters. That proves the order of evaluation (a token is
 * spent exactly when the kernel reaches the match), per-expansion buckets and shared tables.
 * Seed printed; RJC_SEED reruns.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { compile } from '../src/compiler/compile.js';
import { parseRuleset } from '../src/compiler/frontend.js';
import { validateMapsJson } from '../src/compiler/schema/validate.js';
import runCommand from '../src/commands/run.js';
import { UserError } from '../src/errors.js';
import { limitParams } from '../src/model/limits/index.js';
import type { MinimumShape } from '../src/compiler/classify/shape.js';
import { RateLimitState, planRateLimits } from '../src/model/limits/index.js';
import { rateObjectParams } from '../src/runtime/rate-limits.js';
import { clockFrame, compileScript, countCalls, runParameters, setUpHost, TestClockProgram, type TestHost } from './properties-bpf-support.js';
import { canUseKernel, createNetns, deleteNetns } from './support/netns.js';
import { ipv4, udp } from './support/packets.js';

const SEED = Number(process.env.RJC_SEED ?? Date.now() % 2 ** 31);
const RULESETS = Number(process.env.RJC_RULESETS ?? 120);
const PACKETS = 50;
/** One program for every ruleset: room for the largest generated one, rate limits included. */
const SHAPE: MinimumShape = { allFields: true, slots: 256, counters: 128, checks: 256, checksPerSlot: 8, classes: 64, level2: 256, stage1: 64, rates: 64, hashlimit: true };

type Fam = 'ipv4' | 'ipv6';
const ADDR = {
  ipv4: { local: '192.0.2.2', peers: ['198.51.100.7', '198.51.100.9', '203.0.113.5'], nets: ['198.51.100.0/28', '198.51.100.9', '203.0.113.0/24'] },
  ipv6: { local: '2001:db8::2', peers: ['2001:db8:1::7', '2001:db8:1::9', '2001:db8:2::5'], nets: ['2001:db8:1::/120', '2001:db8:1::9', '2001:db8:2::/64'] },
} as const;
const PORTS = [22, 53];

/** One match of a generated rule, as iptables-save prints it. */
const arbMatch = (fam: Fam, proto: 'tcp' | 'udp' | 'icmp' | null, tables: number) => {
  const options: fc.Arbitrary<string>[] = [
    // Slow enough that buckets run dry within a ruleset's packets, fast enough to refill at times.
    fc.record({ rate: fc.integer({ min: 1, max: 30 }), unit: fc.constantFrom('second', 'minute', 'minute'), burst: fc.integer({ min: 1, max: 3 }) }).map((l) => `-m limit --limit ${l.rate}/${l.unit} --limit-burst ${l.burst}`),
    fc
      .record({
        dir: fc.constantFrom('upto', 'above'),
        rate: fc.integer({ min: 1, max: 20 }),
        burst: fc.integer({ min: 1, max: 3 }),
        mode: fc.subarray(['srcip', 'dstip', 'srcport', 'dstport'], { minLength: 0 }),
        mask: fc.option(fc.constantFrom(fam === 'ipv4' ? 24 : 64, fam === 'ipv4' ? 30 : 120), { nil: undefined }),
        table: fc.nat(tables - 1),
      })
      .map(
        (h) =>
          `-m hashlimit --hashlimit-${h.dir} ${h.rate}/sec --hashlimit-burst ${h.burst}${h.mode.length ? ` --hashlimit-mode ${h.mode.join(',')}` : ''}` +
          `${h.mask !== undefined && h.mode.includes('srcip') ? ` --hashlimit-srcmask ${h.mask}` : ''} --hashlimit-name t${h.table}`,
      ),
    fc.constantFrom('-m mark --mark 0x1', '-m mark ! --mark 0x1'),
  ];
  if (proto === 'tcp' || proto === 'udp') {
    options.push(fc.constantFrom(...PORTS).map((p) => `-m ${proto} --dport ${p}`));
    options.push(fc.constantFrom(...PORTS).map((p) => `-m ${proto} ! --sport ${p}`));
    options.push(fc.subarray(PORTS, { minLength: 1 }).map((ps) => `-m multiport --ports ${ps.join(',')}`));
  }
  if (proto === 'icmp') options.push(fc.constant(fam === 'ipv4' ? '-m icmp --icmp-type 8' : '-m icmp6 --icmpv6-type 128'));
  return fc.oneof(...options);
};

const arbRule = (fam: Fam, chain: string, targets: string[], tables: number) =>
  fc.constantFrom<'tcp' | 'udp' | 'icmp' | null>('tcp', 'udp', 'icmp', null).chain((proto) =>
    fc
      .record({
        src: fc.option(fc.subarray([...ADDR[fam].nets], { minLength: 1, maxLength: 2 }), { nil: undefined, freq: 3 }),
        matches: fc.array(arbMatch(fam, proto, tables), { minLength: 1, maxLength: 3 }),
        target: fc.constantFrom(...targets),
      })
      .map((r) => {
        const p = proto === null ? '' : ` -p ${proto === 'icmp' && fam === 'ipv6' ? 'ipv6-icmp' : proto}`;
        const src = r.src && chain !== 'OUTPUT' ? ` -s ${r.src.join(',')}` : '';
        return `-A ${chain}${src}${p} ${r.matches.join(' ')} -j ${r.target}`;
      }),
  );

/** A save file: INPUT and OUTPUT rules, a user chain entered from both, rate limits everywhere. */
const arbRuleset = fc
  .record({ fam: fc.constantFrom<Fam>('ipv4', 'ipv6'), backend: fc.constantFrom('nf_tables', 'legacy'), tables: fc.integer({ min: 1, max: 2 }) })
  .chain(({ fam, backend, tables }) => {
    const verdicts = ['ACCEPT', 'DROP', 'REJECT', 'LOG'];
    return fc
      .record({
        input: fc.array(arbRule(fam, 'INPUT', [...verdicts, 'SUB'], tables), { minLength: 1, maxLength: 6 }),
        output: fc.array(arbRule(fam, 'OUTPUT', [...verdicts, 'SUB'], tables), { maxLength: 3 }),
        sub: fc.array(arbRule(fam, 'SUB', [...verdicts, 'RETURN'], tables), { minLength: 1, maxLength: 3 }),
        policy: fc.constantFrom('ACCEPT', 'DROP'),
      })
      .map((r) => ({
        fam,
        script: [
          `# Generated by ${fam === 'ipv4' ? 'iptables' : 'ip6tables'}-save v1.8.9 (${backend})`,
          '*filter',
          `:INPUT ${r.policy} [0:0]`,
          ':FORWARD ACCEPT [0:0]',
          ':OUTPUT ACCEPT [0:0]',
          ':SUB - [0:0]',
          ...r.input,
          ...r.output,
          ...r.sub,
          'COMMIT',
          '',
        ].join('\n'),
      }));
  });

/** A packet between a peer and this host, sometimes cut short (hashlimit and tcp/udp then hotdrop). */
const arbPacket = (fam: Fam) =>
  fc.record({
    peer: fc.nat(ADDR[fam].peers.length - 1),
    egress: fc.boolean(),
    proto: fc.constantFrom('tcp', 'udp', 'udp', 'icmp'),
    sport: fc.constantFrom(...PORTS, 40000, 40000),
    dport: fc.constantFrom(...PORTS, ...PORTS, 40001),
    cut: fc.option(fc.integer({ min: 1, max: 7 }), { nil: undefined, freq: 8 }),
    mark: fc.constantFrom(0, 1),
    /** Time since the previous packet: same instant, a few jiffies, a fraction of the rates, seconds. */
    gapMs: fc.oneof(
      { weight: 3, arbitrary: fc.constant(0) },
      { weight: 3, arbitrary: fc.integer({ min: 1, max: 20 }) },
      { weight: 2, arbitrary: fc.integer({ min: 20, max: 600 }) },
      { weight: 1, arbitrary: fc.integer({ min: 600, max: 5000 }) },
    ),
  });

const save = (backend: 'nf_tables' | 'legacy', lines: string[]) =>
  [`# Generated by iptables-save v1.8.9 (${backend})`, '*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ...lines, 'COMMIT', ''].join('\n');

function compiled(text: string, options: { hz?: number; hook?: 'tc' | 'xdp' } = {}) {
  const parsed = parseRuleset(text, 'rules.txt');
  expect(parsed.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return compile(parsed.ruleset, { hook: options.hook ?? 'tc', ...(options.hz ? { hz: options.hz } : {}) });
}

const codes = (r: ReturnType<typeof compiled>) => r.diagnostics.map((d) => `${d.span.start.line} ${d.code}`);

describe('compiling rate limits', () => {
  it('refuses what the kernel of a given HZ refuses (E261); without HZ the runtime does, naming the rule', () => {
    // (Settings every kernel refuses, e.g. a rate times burst that overflows, the front end
    // refuses already, E217.)
    expect(codes(compiled(save('nf_tables', ['-A INPUT -m limit --limit 1/day -j ACCEPT'])))).toEqual([]);
    // xt_limit 1/hour with burst 32: refused at HZ 300 only (the u32 credit cap wraps).
    const at = (hz: number) => limitParams({ avg: 36_000_000, burst: 32 }, 'legacy', hz).ok;
    expect([100, 250, 300, 1000].map(at)).toEqual([true, true, false, true]);
    const text = save('legacy', ['-A INPUT -m limit --limit 1/hour --limit-burst 32 -j ACCEPT']);
    expect(codes(compiled(text))).toEqual([]);
    expect(codes(compiled(text, { hz: 300 }))).toEqual(['6 E261']);
    const r = compiled(text);
    // ...and the runtime refuses it on such a host, naming the rule.
    expect(() => rateObjectParams(r.artifacts!.maps, 300, 2 ** 31)).toThrow(UserError);
    expect(() => rateObjectParams(r.artifacts!.maps, 300, 2 ** 31)).toThrow(/rules\.txt:6:\d+: error\[E261\]: the kernel refuses this -m limit \(iptables-legacy\): xt_limit: Overflow/);
    expect(rateObjectParams(r.artifacts!.maps, 250, 2 ** 31)).toHaveLength(1);
  });

  it("warns when a shared hashlimit table ignores a rule's settings (W260), refuses another --hashlimit-rate-match (E261)", () => {
    const hl = (extra: string) => `-A INPUT -m hashlimit --hashlimit-upto 5/sec --hashlimit-mode srcip --hashlimit-name t ${extra}-j ACCEPT`;
    expect(codes(compiled(save('nf_tables', [hl(''), hl('--hashlimit-burst 9 ')])))).toEqual(['7 W260']);
    expect(codes(compiled(save('nf_tables', [hl(''), hl('--hashlimit-rate-match ')])))).toEqual(['7 E261']);
  });

  it('lists the rate-limit objects in maps.json: a bucket per copy of a multi-address rule, a table per name', () => {
    const r = compiled(
      save('legacy', [
        '-A INPUT -s 198.51.100.1,198.51.100.2 -m limit --limit 3/min --limit-burst 2 -j ACCEPT',
        '-A INPUT -m hashlimit --hashlimit-above 1/sec --hashlimit-mode srcip,dstport --hashlimit-srcmask 24 --hashlimit-name a -j DROP',
        '-A INPUT -p tcp -m hashlimit --hashlimit-upto 2/sec --hashlimit-name a -m limit --limit 1/s -m tcp --dport 22 -j ACCEPT',
      ]),
    );
    const m = r.artifacts!.maps;
    expect(validateMapsJson(JSON.parse(JSON.stringify(m))).ok).toBe(true);
    expect(m.shape.rates).toBe(16);
    expect(m.shape.hashlimit).toBe(true);
    expect(m.rateLimits!.map((o) => [o.index, o.kind, o.line, o.kind === 'limit' ? `${o.backend} ${o.avg}/${o.burst} copy ${o.expansion}/${o.expansions}` : `${o.name} mode ${o.cfg.mode} mask ${o.cfg.srcmask}`])).toEqual([
      [0, 'limit', 6, 'legacy 200000/2 copy 0/2'],
      [1, 'limit', 6, 'legacy 200000/2 copy 1/2'],
      [2, 'hashlimit', 7, 'a mode 22 mask 24'],
      [3, 'limit', 8, 'legacy 10000/5 copy 0/1'],
    ]);
    // The third rule: a gate (its steps up to the last rate limit), then the rule after it.
    const slots = r.classified!.slots.filter((s) => s.role !== 'pad');
    expect(slots.map((s) => `${s.role} ${s.checks.map((c) => (c.kind === 'rate' ? `${c.module}#${c.rate}` : c.kind)).join(',')}${s.checks.length ? ` ->${s.fail}` : ''}`)).toEqual([
      'rule limit#0 ->1',
      'rule limit#1 ->2',
      'rule hashlimit#2 ->3',
      'gate hashlimit#2,limit#3 ->6',
      'hotdrop ',
      'rule ',
    ]);
  });

  it('keeps the shape (and the C) of rulesets without rate limits', () => {
    const r = compiled(save('nf_tables', ['-A INPUT -p tcp --dport 22 -j ACCEPT']));
    expect(r.artifacts!.maps.shape.rates).toBeUndefined();
    expect(r.artifacts!.maps.rateLimits).toBeUndefined();
    expect(r.artifacts!.c).not.toContain('RJC_USES_RATE');
  });
});

describe.runIf(canUseKernel())('rejectc run with rate limits', () => {
  it('runs a fresh bucket for the host: the first packet passes a -m limit rule, XDP included', () => {
    const ns = createNetns();
    const dir = mkdtempSync(join(tmpdir(), 'rjc-limits-run-'));
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const file = join(dir, 'rules');
      writeFileSync(file, save('legacy', ['-A INPUT -p udp -m limit --limit 1/hour --limit-burst 1 -m udp --dport 53 -j ACCEPT', '-A INPUT -p udp -j DROP']));
      const packet = Buffer.from(ipv4({ src: '198.51.100.1', dst: '192.0.2.2' }, udp({ sport: 1, dport: 53, payload: [1] }))).toString('hex');
      for (const hook of ['tc', 'xdp'] as const) {
        out.mockClear();
        expect(ns.run(() => runCommand(file, { packet, hook, json: true }))).toBe(0);
        const report = JSON.parse(String(out.mock.calls.map((c) => c[0]).join('')));
        expect(report).toMatchObject({ verdict: 'accept', rule: { line: 6 } });
      }
    } finally {
      out.mockRestore();
      rmSync(dir, { recursive: true, force: true });
      deleteNetns(ns);
    }
  });
});

describe.runIf(canUseKernel())('rate limits in the classifier agree with the model (issue 7)', () => {
  let t: TestHost;
  let program: TestClockProgram;
  beforeAll(() => {
    t = setUpHost('limits-compile');
    program = new TestClockProgram(t);
  });
  afterAll(() => {
    program?.close();
    t?.close();
  });

  it(`${RULESETS} random rulesets x ${PACKETS} packets at random times: verdict, rule, counters`, () => {
    console.log(`limits-compile: seed ${SEED} (RJC_SEED=${SEED} to rerun)`);
    const hz = t.host.hz;
    const tally = new Map<string, number>();
    const spent = { limit: new Map<string, number>(), hashlimit: new Map<string, number>() };
    let cases = 0;
    const arb = arbRuleset.chain(({ fam, script }) => fc.record({ fam: fc.constant(fam), script: fc.constant(script), packets: fc.array(arbPacket(fam), { minLength: PACKETS, maxLength: PACKETS }) }));
    fc.assert(
      fc.property(arb, ({ fam, script, packets }) => {
        const compiled = compileScript(script, 'tc', SHAPE);
        expect(compiled, 'the generated ruleset parses').not.toBeNull();
        expect(compiled!.maps.shape.rates).toBe(SHAPE.rates);
        const state = new RateLimitState(planRateLimits(compiled!.ruleset, hz));
        // Count what the rate limits decide, to show the property exercises them.
        state.limit = countCalls(state.limit.bind(state), spent.limit, String);
        state.hashlimit = countCalls(state.hashlimit.bind(state), spent.hashlimit, (r) => r);
        cases += program.runPackets(compiled!, script, packets, (pk, mac) => clockFrame(fam, ADDR[fam], pk, mac), (now) => ({ rateLimits: state, now }), tally);
      }),
      runParameters(SEED, RULESETS),
    );
    const show = (m: Map<string, number>) => [...m].map(([k, n]) => `${n} ${k}`).join(', ');
    console.log(`limits-compile: ${cases} packet cases agreed (${show(tally)}); -m limit said ${show(spent.limit)}; hashlimit said ${show(spent.hashlimit)}`);
    expect(cases).toBeGreaterThanOrEqual(RULESETS * PACKETS * 0.8);
    // The limits were exercised both ways (and hashlimit also hotdropped cut packets).
    expect(spent.limit.get('true') ?? 0).toBeGreaterThan(RULESETS * 2);
    expect(spent.limit.get('false') ?? 0).toBeGreaterThan(RULESETS * 2);
    expect(spent.hashlimit.get('match') ?? 0).toBeGreaterThan(RULESETS * 2);
    expect(spent.hashlimit.get('nomatch') ?? 0).toBeGreaterThan(RULESETS * 2);
  }, 600_000);
});
