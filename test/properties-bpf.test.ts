/**
 * fast-check, issue 3: random rulesets in the compiled subset (both families, user chains,
 * jumps, gotos, RETURN, LOG, negations, multi-address rules, every compiled match) × random
 * packets (valid, truncated, fragmented, bad checksums, IP options, IPv6 extension headers,
 * L2 broadcast/multicast, trailers). The generated program (BPF_PROG_TEST_RUN, through the
 * code path of `rejectc run`) and the model (src/model/) must agree on the verdict, the chain,
 * the deciding rule, the reply bytes and the counters moved.
 *
 * Each ruleset is written into the same loaded program (one per hook) through the generation
 * flip, and many packets run per ruleset. The seed is printed; RJC_SEED=n reruns it. A failure
 * prints the rules file and the frame that reproduce it.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRuleset } from '../src/compiler/frontend.js';
import { decodeFrame, hookView } from '../src/model/index.js';
import { arbRulesetScript } from './compile-support.js';
import { bothOutcomes, compileScript, expectAgreement, programFor, runParameters, setUpHost, type PacketCase, type TestHost } from './properties-bpf-support.js';
import { arbitraryPacket, valuesFromRuleset } from './support/arbitrary-packets.js';
import { canUseKernel } from './support/netns.js';

const SEED = Number(process.env.RJC_SEED ?? Date.now() % 2 ** 31);
const RULESETS = Number(process.env.RJC_RULESETS ?? 80);
const PACKETS = 45;

function arbCase(hook: 'tc' | 'xdp') {
  return arbRulesetScript({
    families: ['ipv4', 'ipv6'],
    maxRules: 8,
    maxUserChains: 3,
    output: hook === 'tc',
    interfaces: ['rjd0', 'lo', 'rjd+', 'eth0', '+'],
  }).chain((script) => {
    const parsed = parseRuleset(script, 'rules.txt');
    const values = valuesFromRuleset(parsed.ruleset);
    const packet = fc.record({
      p: arbitraryPacket({ values }),
      egress: hook === 'tc' ? fc.boolean() : fc.constant(false),
      dev: fc.constantFrom<'lo' | 'rjd0'>('rjd0', 'rjd0', 'lo'),
      mark: hook === 'tc' ? fc.oneof(fc.constantFrom(0, 1, 2, 5), fc.nat({ max: 0xffffffff })) : fc.constant(0),
    });
    return fc.record({ script: fc.constant(script), packets: fc.array(packet, { minLength: PACKETS, maxLength: PACKETS }) });
  });
}

/** Header problems ip_rcv()/ipv6_rcv() drop a received packet for. */
const RECEIVE_DROPS = new Set(['truncated-header', 'bad-version', 'bad-ihl', 'bad-length', 'bad-header-checksum', 'jumbo', 'bad-options', 'source-route', 'bad-hop-by-hop', 'bad-source', 'bad-destination']);

/**
 * Which generated frames a case uses:
 * - TC sees VLAN tags out of band; a frame with an in-frame tag is not IP to it.
 * - At TC egress (OUTPUT) only packets a local stack could send: the reply path's parser
 *   applies the receive-side header checks in both directions (rjc_parse() has no direction),
 *   while the kernel's OUTPUT hook never sees such packets from a socket anyway (reported to
 *   the bpf/ owner: the model lets a malformed locally generated packet reach OUTPUT).
 */
function usable(hook: 'tc' | 'xdp', frame: Uint8Array, egress: boolean): boolean {
  const type = (frame[12]! << 8) | frame[13]!;
  if (hook === 'tc' && (type === 0x8100 || type === 0x88a8)) return false;
  if (!egress) return true;
  const view = hookView(decodeFrame(frame), { chain: 'INPUT' });
  return view.ok || !RECEIVE_DROPS.has(view.drop);
}

describe.runIf(canUseKernel())('model and BPF program agree (issue 3)', () => {
  let t: TestHost;
  const totals: Record<string, number> = {};
  beforeAll(() => {
    t = setUpHost('properties-bpf');
  });
  afterAll(() => {
    t?.close();
    const all = Object.values(totals).reduce((a, b) => a + b, 0);
    console.log(`properties-bpf: ${all} agreeing packet cases in all`);
    if (Object.keys(totals).length === 2) expect(all).toBeGreaterThanOrEqual(2000);
  });

  for (const hook of ['tc', 'xdp'] as const) {
    it(`${hook}: verdict, chain, rule, reply and counters, ${RULESETS} rulesets x ${PACKETS} packets`, () => {
      console.log(`properties-bpf ${hook}: seed ${SEED} (RJC_SEED=${SEED} to rerun)`);
      let cases = 0;
      let refused = 0;
      let unfiltered = 0;
      const tally = new Map<string, number>();
      fc.assert(
        fc.property(arbCase(hook), ({ script, packets }) => {
          const compiled = compileScript(script, hook);
          if (!compiled) {
            refused++;
            if (process.env.RJC_SHOW_REFUSED) console.log(parseRuleset(script, 'rules.txt').diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.span.start.line}: ${d.code} ${d.message}`).join('\n'));
            return;
          }
          const program = programFor(t, compiled);
          t.ns.run(() => {
            program.replace(compiled.maps);
            for (const { p, egress, dev, mark } of packets) {
              if (!usable(hook, p.bytes, egress)) continue;
              // Ingress on rjd0 only: replies leave by the ingress device, and the host's
              // routes point out of rjd0 (a reply from rjd1 would be asymmetric routing).
              const pc: PacketCase = { frame: p.bytes, egress, dev: egress ? dev : 'rjd0', mark };
              if (expectAgreement(script, pc, bothOutcomes(t, program, compiled, pc), hook, tally)) cases++;
              else unfiltered++;
            }
          });
        }),
        runParameters(SEED, RULESETS),
      );
      console.log(
        `properties-bpf ${hook}: ${cases} packet cases agreed (${[...tally].map(([k, n]) => `${n} ${k}`).join(', ')}); ${unfiltered} more never reached a filter chain (passed to the stack, nothing counted); ${refused} generated rulesets refused by the front end`,
      );
      expect(refused).toBeLessThan(RULESETS / 5);
      // At least 2,000 agreeing cases over both hooks (the rest never reached a chain).
      expect(cases).toBeGreaterThan(1000);
      totals[hook] = cases;
    }, 600_000);
  }
});
