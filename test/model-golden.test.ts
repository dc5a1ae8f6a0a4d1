/**
 * Every golden request/reply pair captured from the kernel (test/fixtures/golden, the copy of
 * ../shared/spec/golden, loaded with test/bpf/golden.ts) through the model: the reply must
 * equal the captured one byte for byte except the fields the file lists as volatile; no-reply
 * cases must be a drop with no reply. The environment is rebuilt from the case's topology and `setup` commands.
 *
 * What this proves: the model's matching, hook normalisation and reply construction agree with
 * the kernel on all 112 captures, including the two that need IPv4 reassembly before INPUT (the
 * model reassembles them with reassembleIpv4; a BPF hook cannot, see docs/semantics.md).
 */
import { describe, expect, it } from 'vitest';
import { parseRuleset } from '../src/compiler/frontend.js';
import type { FamilyRuleset } from '../src/compiler/ir.js';
import { decodeFrame, evaluate, fromHex, reassembleIpv4, toHex, type ModelEnv } from '../src/model/index.js';
import { frameOf, loadGoldenCases, maskVolatile, type GoldenCase } from './bpf/golden.js';

/** The capture topology (golden/README.md, nf-reject.md §11) as a model environment. */
function goldenEnv(c: GoldenCase): ModelEnv {
  const forward = c.topology.startsWith('forward');
  const env: ModelEnv = forward
    ? {
        chain: 'FORWARD',
        inInterface: 'rS',
        outInterface: 'rC',
        localAddresses: [
          { address: '198.51.100.126', prefix: 25, interface: 'rS' },
          { address: '198.51.100.129', prefix: 25, interface: 'rC' },
          { address: '2001:db8:a::fe', prefix: 64, interface: 'rS' },
          { address: '2001:db8:c::fe', prefix: 64, interface: 'rC' },
        ],
        reply: { icmpSourceV4: '198.51.100.126', icmpSourceV6: '2001:db8:a::fe' },
      }
    : {
        chain: 'INPUT',
        inInterface: 'vB',
        localAddresses: [
          { address: '192.0.2.2', prefix: 24, interface: 'vB' },
          { address: '2001:db8::2', prefix: 64, interface: 'vB' },
        ],
      };
  const reply = { ...env.reply };
  for (const command of c.setup ?? []) {
    let m: RegExpMatchArray | null;
    if ((m = command.match(/^ip addr add (\S+)\/(\d+) dev (\S+)$/))) {
      env.localAddresses!.push({ address: m[1]!, prefix: Number(m[2]), interface: m[3]! });
    } else if ((m = command.match(/^ip route replace .* hoplimit (\d+)$/))) {
      reply.ipv4ReplyRouteHoplimit = Number(m[1]);
    } else if ((m = command.match(/^sysctl -qw net\.ipv4\.ip_default_ttl=(\d+)$/))) {
      reply.ipv4DefaultTtl = Number(m[1]);
    } else if ((m = command.match(/^sysctl -qw net\.ipv6\.conf\.\S+\.hop_limit=(\d+)$/))) {
      reply.ipv6HopLimit = Number(m[1]);
    } else if (!command.startsWith('ip neigh ')) {
      throw new Error(`setup command not understood: ${command}`);
    }
  }
  env.reply = reply;
  // The kernel's replies traverse OUTPUT; these cases install OUTPUT rules to show it.
  if (c.rule.includes(' OUTPUT ')) env.filterRepliesThroughOutput = true;
  return env;
}

/** The case's `rule` commands through the front end (one command per line). */
function goldenRuleset(c: GoldenCase): FamilyRuleset {
  const { ruleset, diagnostics } = parseRuleset(c.rule.split(' ; ').join('\n'), `${c.name}.rules`);
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  expect(ruleset.families.map((f) => f.family)).toEqual([c.family]);
  return ruleset.families[0]!;
}

const cases = loadGoldenCases();
const masked = (bytes: Uint8Array, c: GoldenCase): string => toHex(maskVolatile(bytes, c.volatile));

describe('golden REJECT captures through the model', () => {
  it('finds all 112 captures', () => {
    expect(cases.length).toBe(112);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const env = goldenEnv(c);
    let input = fromHex(c.input_hex);
    if (c.input_hex_all && env.chain === 'INPUT' && c.family === 'ipv4') {
      // IPv4 local delivery reassembles before INPUT (nf-reject.md §3.2).
      input = reassembleIpv4(c.input_hex_all.map(fromHex))!;
      expect(input).not.toBeNull();
    }
    const decision = evaluate(goldenRuleset(c), decodeFrame(frameOf(toHex(input), c.family, c.l2_dst)), env);
    if (c.reply_hex === null) {
      expect(decision.verdict).toBe('drop');
      expect(decision.reply).toBeNull();
      return;
    }
    expect(decision.verdict).toBe('reject');
    expect(decision.reply).not.toBeNull();
    expect(masked(decision.reply!, c)).toBe(masked(fromHex(c.reply_hex), c));
  });
});
