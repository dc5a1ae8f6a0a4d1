/**
 * Golden test through `rejectc run`'s code path: every request/reply pair captured from the
 * kernel (test/fixtures/golden, copied from ../shared/spec/golden) is compiled from its own
 * iptables command(s) (compileText), built, loaded and filled as `rejectc run` does
 * (LoadedRuleset: the RJC_TRACE build, maps filled from maps.json and from the host), and
 * test-run in a namespace rebuilt like the capture host (test/bpf/golden.ts), for TC and for
 * XDP where the ruleset allows it (no OUTPUT rules). The chain is detected as attached
 * (INPUT on the direct link, FORWARD on the router).
 *
 * It proves: the deciding rule is the case's REJECT rule; the reply equals the kernel's byte
 * for byte except the fields the case marks volatile; where the kernel sent nothing, the
 * verdict is a drop without reply. The cases a BPF hook cannot reproduce are those of
 * bpf/KNOWN-DIFFERENCES.md, asserted with rejectc's own outcome.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { FilterHook } from '../src/compiler/ir.js';
import { compileText } from '../src/commands/compile.js';
import { fillInterfaceNames, LoadedRuleset, type Artifacts } from '../src/commands/run.js';
import { readHostConfig, type HostConfig } from '../src/runtime/host-config.js';
import { writeHostMaps } from '../src/runtime/host-maps.js';
import { findIfindex } from '../src/runtime/libbpf.js';
import { createGoldenHost, describeDiff, frameOf, loadGoldenCases, maskVolatile, REPLIER_MAC, topologyOf, type GoldenCase, type GoldenHost } from './bpf/golden.js';
import { canUseKernel } from './support/netns.js';

/** bpf/KNOWN-DIFFERENCES.md: what rejectc does where the kernel differs. */
const KNOWN: Record<string, 'reply' | 'no reply'> = {
  'v4-icmp-frags-reassembled-before-input': 'no reply',
  'v4-tcp-frags-reassembled-before-input': 'no reply',
  'v4-icmp-output-drop-noreply': 'reply',
  'v4-tcp-reset-output-drop-noreply': 'reply',
  'v6-icmp-output-drop-noreply': 'reply',
  'v6-tcp-output-drop-noreply': 'reply',
};

const cases = loadGoldenCases();
const hosts = new Map<string, { host: GoldenHost; config: HostConfig }>();
/** Loaded programs by hook and shape; each case replaces the maps of one. */
const programs = new Map<string, LoadedRuleset>();
const tally = { runs: 0, exact: 0, known: 0, skipped: 0 };

function hostFor(c: GoldenCase) {
  const key = `${topologyOf(c)} ${JSON.stringify(c.setup ?? [])}`;
  let h = hosts.get(key);
  if (!h) {
    const host = createGoldenHost(topologyOf(c), c.setup);
    h = { host, config: host.ns.run(() => readHostConfig()) };
    hosts.set(key, h);
  }
  return h;
}

/** The case's rule commands as a script (its `rule` joins them with " ; "). */
function scriptOf(c: GoldenCase): string {
  return `${c.rule.split(' ; ').join('\n')}\n`;
}

function programFor(hook: 'tc' | 'xdp', a: Artifacts, config: HostConfig): LoadedRuleset {
  const key = `${hook} ${a.maps.shape.id}`;
  let p = programs.get(key);
  if (!p) {
    p = LoadedRuleset.load(a, config);
    programs.set(key, p);
  } else {
    p.replace(a.maps);
    writeHostMaps(p.obj, config);
    const names = p.obj.maps.get('rjc_ifname');
    if (names) fillInterfaceNames(names, config);
  }
  return p;
}

describe.runIf(canUseKernel())('golden packets through rejectc run', () => {
  afterAll(() => {
    for (const p of programs.values()) p.close();
    for (const h of hosts.values()) h.host.cleanup();
    console.log(
      `golden-run: ${cases.length} cases; ${tally.runs} runs (tc, and xdp where the ruleset has no OUTPUT rules): ` +
        `${tally.exact} as the kernel (byte-exact but volatile fields), ${tally.known} known differences (bpf/KNOWN-DIFFERENCES.md), ${tally.skipped} xdp runs not applicable`,
    );
  });

  it('has the 112 captured cases', () => {
    expect(cases).toHaveLength(112);
  });

  for (const hook of ['tc', 'xdp'] as const) {
    describe(hook, () => {
      for (const c of cases) {
        it(c.name, () => {
          const compiled = compileText(scriptOf(c), 'golden.rules', { hook });
          if (hook === 'xdp' && compiled.diagnostics.some((d) => d.code === 'E402')) {
            // An OUTPUT rule: XDP cannot run the ruleset, and says so.
            expect(KNOWN[c.name]).toBe('reply');
            tally.skipped++;
            return;
          }
          expect(compiled.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
          const artifacts = { maps: compiled.artifacts!.maps, c: compiled.artifacts!.c };
          const { host, config } = hostFor(c);
          const d = host.ns.run(() => {
            const p = programFor(hook, artifacts, config);
            const ifindex = findIfindex(host.ifname)!;
            return p.run(frameOf(c.input_hex, c.family, c.l2_dst ?? REPLIER_MAC), 'detect', { ifindex });
          });
          const chain: FilterHook = topologyOf(c) === 'direct' ? 'INPUT' : 'FORWARD';
          const rejectLine = scriptOf(c).split('\n').findIndex((l) => l.includes('-j REJECT')) + 1;
          expect(d.chain).toBe(chain);
          expect(d.rule, 'the REJECT rule decides').toMatchObject({ file: 'golden.rules', line: rejectLine });
          const expected = KNOWN[c.name] ?? (c.reply_hex === null ? 'no reply' : 'reply');
          if (expected === 'no reply') {
            expect(d.verdict, 'a drop without reply').toBe('drop');
            expect(d.reply).toBeNull();
          } else {
            expect(d.verdict).toBe('reject');
            expect(d.reply).not.toBeNull();
            if (!KNOWN[c.name]) {
              const got = maskVolatile(Buffer.from(d.reply!, 'hex'), c.volatile);
              const want = maskVolatile(Buffer.from(c.reply_hex!, 'hex'), c.volatile);
              expect(got.equals(want), describeDiff(got, want)).toBe(true);
            }
          }
          tally.runs++;
          if (KNOWN[c.name]) tally.known++;
          else tally.exact++;
        });
      }
    });
  }
});
