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
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MinimumShape } from '../src/compiler/classify/shape.js';
import { decodeFrame, hookView } from '../src/model/index.js';
import { RateLimitState, planRateLimits } from '../src/model/limits/index.js';
import { hostRamBytes, rateObjectParams, rateRunConfig } from '../src/runtime/rate-limits.js';
import { LoadedRuleset } from '../src/commands/run.js';
import { u32 } from '../src/runtime/map.js';
import { bothOutcomes, compileScript, expectAgreement, runParameters, setUpHost, type Compiled, type TestHost } from './properties-bpf-support.js';
import { canUseKernel } from './support/netns.js';
import { ethernet, ipv4, ipv6, tcp, truncated, udp, icmp, type L4Spec } from './support/packets.js';

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

interface PacketSpec {
  peer: number;
  egress: boolean;
  proto: string;
  sport: number;
  dport: number;
  cut?: number;
}

function frameOf(fam: Fam, p: PacketSpec): Uint8Array {
  const peer = ADDR[fam].peers[p.peer]!;
  const local = ADDR[fam].local;
  const [src, dst] = p.egress ? [local, peer] : [peer, local];
  let l4: L4Spec =
    p.proto === 'tcp' ? tcp({ sport: p.sport, dport: p.dport, flags: 'S' }) : p.proto === 'udp' ? udp({ sport: p.sport, dport: p.dport, payload: [1, 2, 3, 4] }) : icmp({ type: fam === 'ipv4' ? 8 : 128, code: 0, rest: [0, 1, 0, 1] });
  if (p.cut !== undefined) l4 = truncated(l4, p.cut, fam, { src, dst });
  const ip = fam === 'ipv4' ? ipv4({ src, dst }, l4) : ipv6({ src, dst }, l4);
  return ethernet(ip);
}

describe.runIf(canUseKernel())('rate limits in the classifier agree with the model (issue 7)', () => {
  let t: TestHost;
  let program: LoadedRuleset | undefined;
  beforeAll(() => {
    t = setUpHost('limits-compile');
  });
  afterAll(() => {
    program?.close();
    t?.close();
  });

  /** Loads the test-clock build on first use; later rulesets replace its maps (same shape). */
  function programFor(compiled: Compiled): LoadedRuleset {
    if (!program) program = t.ns.run(() => LoadedRuleset.load({ maps: compiled.maps, c: `#define RJC_LIMIT_TEST_CLOCK\n${compiled.c}` }, t.host));
    else program.replace(compiled.maps);
    // Fresh rate-limit state for the new ruleset, as the model's.
    const maps = program.obj.maps;
    for (const { name, entries } of rateRunConfig(rateObjectParams(compiled.maps, t.host.hz, hostRamBytes()))) for (const e of entries) maps.get(name)!.update(e.key, e.value);
    const flows = maps.get('rjc_hl_entries')!;
    for (const key of [...flows.keys()]) flows.delete(key);
    return program;
  }

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
        const limit = state.limit.bind(state);
        const hashlimit = state.hashlimit.bind(state);
        state.limit = (...a) => {
          const r = limit(...a);
          spent.limit.set(String(r), (spent.limit.get(String(r)) ?? 0) + 1);
          return r;
        };
        state.hashlimit = (...a) => {
          const r = hashlimit(...a);
          spent.hashlimit.set(r, (spent.hashlimit.get(r) ?? 0) + 1);
          return r;
        };
        t.ns.run(() => {
          const p = programFor(compiled!);
          const clock = p.obj.maps.get('rjc_test_clock')!;
          let ns = 10n ** 12n;
          for (const pk of packets) {
            ns += BigInt(pk.gapMs) * 1_000_000n;
            const jiffies = 4_294_667_296n + (ns * BigInt(hz)) / 1_000_000_000n;
            const v = Buffer.alloc(24);
            v.writeBigUInt64LE(ns, 0);
            v.writeBigUInt64LE(jiffies, 8);
            clock.update(u32(0), v);
            const frame = frameOf(fam, pk);
            if (!hookView(decodeFrame(frame), { chain: pk.egress ? 'OUTPUT' : 'INPUT' }).ok) continue;
            const pc = { frame, egress: pk.egress, dev: pk.egress ? ('lo' as const) : ('rjd0' as const), mark: pk.mark, env: { rateLimits: state, now: { ns, jiffies } } };
            const r = bothOutcomes(t, p, compiled!, pc);
            if (r.model) r.model.reply = r.bpf.reply = null;
            if (expectAgreement(script, pc, r, 'tc', tally)) cases++;
          }
        });
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
