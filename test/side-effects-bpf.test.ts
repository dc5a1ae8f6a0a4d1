/**
 * Matches with side effects in the generated program vs the model: random rulesets where
 * `-m recent` (--set, --rcheck, --update, --remove, windows, hit counts, negations, --rsource
 * and --rdest, masks) sits in jump and goto rules, in the rules of the chains they enter
 * (nested, with RETURN), before and after header matches, next to -m limit and -m mark; random
 * packets (some cut short, so that header matches after a recent match hotdrop) at random
 * times, at INPUT and OUTPUT. The program (built with RJC_LIMIT_TEST_CLOCK:
 * its jiffies are a map the test writes) and the model (src/model/, whose recent tables
 * test/recent-kernel.test.ts ties to the kernel) must agree on every packet: verdict,
 * deciding rule, counters — which proves every recent match ran exactly when, and as often
 * as, the kernel runs it. Seed printed; RJC_SEED reruns.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MinimumShape } from '../src/compiler/classify/shape.js';
import { RateLimitState, planRateLimits } from '../src/model/limits/index.js';
import { RecentTables } from '../src/model/state/recent.js';
import { clockFrame, compileScript, countCalls, runParameters, setUpHost, TestClockProgram, type TestHost } from './properties-bpf-support.js';
import { canUseKernel } from './support/netns.js';

const SEED = Number(process.env.RJC_SEED ?? Date.now() % 2 ** 31);
const RULESETS = Number(process.env.RJC_RULESETS ?? 300);
const PACKETS = 40;
/** Time stamps per recent entry on both sides (xt_recent's default ip_pkt_list_tot). */
const STAMPS = 20;
/** One program for every ruleset: room for the largest generated one, recent and limits included. */
const SHAPE: MinimumShape = { allFields: true, slots: 256, counters: 128, checks: 256, checksPerSlot: 8, classes: 64, level2: 256, stage1: 64, rates: 64, modules: { recent: STAMPS } };

type Fam = 'ipv4' | 'ipv6';
const ADDR = {
  ipv4: { local: '192.0.2.2', peers: ['198.51.100.7', '198.51.100.9', '203.0.113.5'], mask: '255.255.255.0' },
  ipv6: { local: '2001:db8::2', peers: ['2001:db8:1::7', '2001:db8:1::9', '2001:db8:2::5'], mask: 'ffff:ffff:ffff:ffff::' },
} as const;
const PORTS = [22, 53];

/** A -m recent match as iptables-save prints it (only combinations the kernel accepts). */
const arbRecent = (fam: Fam) =>
  fc
    .record({
      cmd: fc.constantFrom('set', 'set', 'rcheck', 'rcheck', 'update', 'remove'),
      negated: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      seconds: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      hitcount: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
      table: fc.constantFrom('t0', 't1'),
      rdest: fc.boolean(),
      mask: fc.boolean(),
      rttl: fc.boolean(),
    })
    .map((r) => {
      const checks = r.cmd === 'rcheck' || r.cmd === 'update';
      const opts = [
        `-m recent ${r.negated ? '! ' : ''}--${r.cmd}`,
        ...(checks && r.seconds ? [`--seconds ${r.seconds}`] : []),
        ...(checks && r.hitcount ? [`--hitcount ${r.hitcount}`] : []),
        ...(checks && r.rttl ? ['--rttl'] : []),
        `--name ${r.table}`,
        ...(r.mask ? [`--mask ${ADDR[fam].mask}`] : []),
        r.rdest ? '--rdest' : '--rsource',
      ];
      return opts.join(' ');
    });

const arbMatch = (fam: Fam, proto: 'tcp' | 'udp' | null) => {
  const options: { weight: number; arbitrary: fc.Arbitrary<string> }[] = [
    { weight: 5, arbitrary: arbRecent(fam) },
    {
      weight: 1,
      arbitrary: fc.record({ rate: fc.integer({ min: 1, max: 30 }), burst: fc.integer({ min: 1, max: 3 }) }).map((l) => `-m limit --limit ${l.rate}/minute --limit-burst ${l.burst}`),
    },
    { weight: 1, arbitrary: fc.constantFrom('-m mark --mark 0x1', '-m mark ! --mark 0x1') },
  ];
  if (proto) {
    options.push({ weight: 2, arbitrary: fc.constantFrom(...PORTS).map((p) => `-m ${proto} --dport ${p}`) });
    options.push({ weight: 1, arbitrary: fc.subarray(PORTS, { minLength: 1 }).map((ps) => `-m multiport --ports ${ps.join(',')}`) });
  }
  return fc.oneof(...options);
};

const arbRule = (fam: Fam, chain: string, targets: string[]) =>
  fc.constantFrom<'tcp' | 'udp' | null>('tcp', 'udp', null).chain((proto) =>
    fc
      .record({ matches: fc.array(arbMatch(fam, proto), { minLength: 1, maxLength: 3 }), target: fc.constantFrom(...targets) })
      .map((r) => `-A ${chain}${proto ? ` -p ${proto}` : ''} ${r.matches.join(' ')}${r.target ? ` ${r.target}` : ''}`),
  );

/** A save file: INPUT and OUTPUT rules entering SUB (by -j and -g), SUB entering SUB2; recent everywhere. */
const arbRuleset = fc
  .record({ fam: fc.constantFrom<Fam>('ipv4', 'ipv6'), backend: fc.constantFrom('nf_tables', 'legacy') })
  .chain(({ fam, backend }) => {
    const verdicts = ['-j ACCEPT', '-j DROP', '-j REJECT', '-j LOG', ''];
    const calls = ['-j SUB', '-j SUB', '-g SUB'];
    return fc
      .record({
        input: fc.array(arbRule(fam, 'INPUT', [...verdicts, ...calls]), { minLength: 1, maxLength: 6 }),
        output: fc.array(arbRule(fam, 'OUTPUT', [...verdicts, ...calls]), { maxLength: 3 }),
        sub: fc.array(arbRule(fam, 'SUB', [...verdicts, '-j RETURN', '-j SUB2']), { minLength: 1, maxLength: 4 }),
        sub2: fc.array(arbRule(fam, 'SUB2', [...verdicts, '-j RETURN']), { minLength: 1, maxLength: 3 }),
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
          ':SUB2 - [0:0]',
          ...r.input,
          ...r.output,
          ...r.sub,
          ...r.sub2,
          'COMMIT',
          '',
        ].join('\n'),
      }));
  });

/** A packet between a peer and this host. */
const arbPacket = (fam: Fam) =>
  fc.record({
    peer: fc.nat(ADDR[fam].peers.length - 1),
    egress: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    proto: fc.constantFrom('tcp', 'udp'),
    sport: fc.constantFrom(...PORTS, 40000),
    dport: fc.constantFrom(...PORTS, 40001),
    ttl: fc.constantFrom(64, 64, 63),
    /** Cut short: the tcp/udp/multiport matches after a recent match then hotdrop. */
    cut: fc.oneof({ weight: 7, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 7 }) }),
    mark: fc.constantFrom(0, 1),
    /** Time since the previous packet: same instant, a few jiffies, within the windows, beyond them. */
    gapMs: fc.oneof(
      { weight: 3, arbitrary: fc.constant(0) },
      { weight: 2, arbitrary: fc.integer({ min: 1, max: 20 }) },
      { weight: 3, arbitrary: fc.integer({ min: 20, max: 1500 }) },
      { weight: 1, arbitrary: fc.integer({ min: 1500, max: 4000 }) },
    ),
  });

describe.runIf(canUseKernel())('side effects in the generated program agree with the model', () => {
  let t: TestHost;
  let program: TestClockProgram;
  beforeAll(() => {
    t = setUpHost('side-effects');
    program = new TestClockProgram(t);
  });
  afterAll(() => {
    program?.close();
    t?.close();
  });

  it(`${RULESETS} random rulesets x ${PACKETS} packets at random times: verdict, rule, counters`, () => {
    console.log(`side-effects-bpf: seed ${SEED} (RJC_SEED=${SEED} to rerun)`);
    const hz = t.host.hz;
    const tally = new Map<string, number>();
    const ran = new Map<string, number>();
    let cases = 0;
    let refused = 0;
    const arb = arbRuleset.chain(({ fam, script }) => fc.record({ fam: fc.constant(fam), script: fc.constant(script), packets: fc.array(arbPacket(fam), { minLength: PACKETS, maxLength: PACKETS }) }));
    fc.assert(
      fc.property(arb, ({ fam, script, packets }) => {
        const compiled = compileScript(script, 'tc', SHAPE);
        if (!compiled) {
          refused++;
          return;
        }
        expect(compiled.maps.shape.recent).toBe(STAMPS);
        const rates = new RateLimitState(planRateLimits(compiled.ruleset, hz));
        const recent = new RecentTables({ hz, pktListTot: STAMPS, listTot: 1000 });
        // Count what the recent matches decide, to show the property exercises them.
        recent.match = countCalls(recent.match.bind(recent), ran, (r, m) => `${m.command.value} ${r}`);
        cases += program.runPackets(compiled, script, packets, (pk, mac) => clockFrame(fam, ADDR[fam], pk, mac), (now) => ({ rateLimits: rates, recent, now }), tally);
      }),
      runParameters(SEED, RULESETS),
    );
    const show = (m: Map<string, number>) => [...m].sort().map(([k, n]) => `${n} ${k}`).join(', ');
    console.log(`side-effects-bpf: ${cases} packet cases agreed (${show(tally)}); ${refused} rulesets refused by the front end; recent matches said ${show(ran)}`);
    expect(refused).toBeLessThan(RULESETS / 10);
    expect(cases).toBeGreaterThanOrEqual(RULESETS * PACKETS * 0.8);
    // Every command ran and decided both ways.
    for (const cmd of ['set', 'rcheck', 'update', 'remove']) {
      expect(ran.get(`${cmd} true`) ?? 0, `${cmd} matched`).toBeGreaterThan(RULESETS);
      if (cmd !== 'set') expect(ran.get(`${cmd} false`) ?? 0, `${cmd} did not match`).toBeGreaterThan(RULESETS / 2);
    }
  }, 600_000);
});
