/**
 * The differential suite's comparison, without the kernel: what maskVolatile hides (exactly
 * the fields the kernel fills non-deterministically, nothing else), and that each known
 * difference explains only its own documented shape of divergence.
 */
import { describe, expect, it } from 'vitest';
import { parseRuleset } from '../src/compiler/frontend.js';
import { maskVolatile } from './diff/compare.js';
import { emptyFamily, printFamily } from './diff/gen-rules.js';
import { classifyKnown, type KnownContext } from './diff/known.js';
import { DEFAULT_SERVER_INTERFACES, MAC } from './diff/topology.js';
import type { Observation, Passed } from './diff/wire.js';
import { ethernet, icmp, ipOptions, ipv4, ipv6, tcp, udp } from './support/packets.js';

const orig4 = ipv4({ src: '203.0.113.7', dst: '192.0.2.2' }, udp({ sport: 1000, dport: 53 }));
/** The kind of ICMP error the server sends about orig4. */
const error4 = ipv4({ src: '192.0.2.2', dst: '203.0.113.7', id: 0x4321, tos: 0xc0 }, icmp({ type: 3, code: 3, payload: orig4 }));

function differingBytes(a: Uint8Array, b: Uint8Array): number[] {
  return [...a.keys()].filter((i) => a[i] !== b[i]);
}

describe('maskVolatile', () => {
  it('hides the IPv4 identification and header checksum of an ICMP error the server built, and nothing else', () => {
    const masked = maskVolatile(error4, [orig4]);
    expect(differingBytes(error4, masked)).toEqual([4, 5, 10, 11].filter((i) => error4[i] !== 0));
  });

  it('hides nothing of a TCP RST, of a forwarded copy of the orig, or of an ICMP message that is the orig itself', () => {
    const rst = ipv4({ src: '192.0.2.2', dst: '203.0.113.7', df: true, id: 0 }, tcp({ sport: 53, dport: 1000, flags: 'RA' }));
    expect(maskVolatile(rst, [orig4])).toEqual(rst);
    const echo = ipv4({ src: '203.0.113.7', dst: '198.51.100.9' }, icmp({ type: 8, payload: [1, 2, 3] }));
    const forwarded = Uint8Array.from(echo);
    forwarded[8] = 63;
    expect(maskVolatile(forwarded, [echo])).toEqual(forwarded);
  });

  it('hides the flow label of an ICMPv6 message the server built, not its traffic class or anything else', () => {
    const orig6 = ipv6({ src: '2001:db8:3::7', dst: '2001:db8::2' }, udp({ sport: 1000, dport: 53 }));
    const error6 = ipv6({ src: '2001:db8::2', dst: '2001:db8:3::7', flowLabel: 0xabcde, trafficClass: 0 }, icmp({ type: 1, code: 4, payload: orig6 }));
    expect(differingBytes(error6, maskVolatile(error6, [orig6]))).toEqual([1, 2, 3]);
  });

  it('hides the time slots of a Timestamp option, and the checksums that cover them', () => {
    const stamped = ipv4({ src: '203.0.113.7', dst: '198.51.100.9', options: ipOptions.timestamp(2, 1) }, udp({ sport: 1, dport: 2 }));
    stamped.set([1, 2, 3, 4], 24); // the first slot, filled by a hop
    const masked = maskVolatile(stamped, []);
    expect(differingBytes(stamped, masked)).toEqual([10, 11, 24, 25, 26, 27].filter((i) => stamped[i] !== 0));
  });
});

describe('known differences', () => {
  const frameOf = (ip: Uint8Array) => ethernet(ip, { dst: MAC.serverIn, src: MAC.client });
  const syn = ipv4({ src: '203.0.113.7', dst: '192.0.2.2' }, tcp({ sport: 1000, dport: 23, flags: 'S' }));
  const rst = ethernet(ipv4({ src: '192.0.2.2', dst: '203.0.113.7', df: true, id: 0 }, tcp({ sport: 23, dport: 1000, flags: 'RA', seq: 0, ack: 1 })), { dst: MAC.client, src: MAC.serverIn });
  const rules = (output: string[]) => {
    const text = printFamily(emptyFamily('ipv4')).replace('COMMIT', [...output.map((l) => `-A OUTPUT ${l}`), 'COMMIT'].join('\n'));
    return { ipv4: parseRuleset(text, 'ipv4.rules', { family: 'ipv4' }).ruleset.families[0] };
  };
  const nothing: Observation = { client: [], passed: [], far: [] };
  const context = (output: string[], kernel: Observation, rejectc: Observation): KnownContext => ({
    rules: rules(output),
    frame: frameOf(syn),
    origs: [syn],
    kernel,
    rejectc,
    side: 'tc',
    interfaces: DEFAULT_SERVER_INTERFACES,
  });

  it('reply-filtered-by-output explains a RST the kernel\'s OUTPUT chain drops', () => {
    expect(classifyKnown(context(['-p tcp -j DROP'], nothing, { ...nothing, client: [rst] }))).toBe('reply-filtered-by-output');
  });

  it('but not when OUTPUT lets it pass, nor when something else differs too', () => {
    expect(classifyKnown(context(['-p udp -j DROP'], nothing, { ...nothing, client: [rst] }))).toBeUndefined();
    const passed = { hook: 'INPUT' as const, indev: 2, outdev: 0, packet: syn };
    expect(classifyKnown(context(['-p tcp -j DROP'], nothing, { ...nothing, client: [rst], passed: [passed] }))).toBeUndefined();
    expect(classifyKnown(context(['-p tcp -j DROP'], { ...nothing, client: [rst] }, nothing))).toBeUndefined();
  });

  describe('output-icmp4-source', () => {
    // A packet the server sends, REJECTed in OUTPUT: the ICMP error about it comes back over lo, from the server's address in the kernel, from the peer's in rejectc.
    const own = ipv4({ src: '192.0.2.2', dst: '203.0.113.7' }, tcp({ sport: 23, dport: 1000, flags: 'RA' }));
    const errorFrom = (src: string) => ipv4({ src, dst: '192.0.2.2', id: 0x77, tos: 0xc0 }, icmp({ type: 3, code: 3, payload: own }));
    const atInput = (packet: Uint8Array, indev = 1) => ({ hook: 'INPUT' as const, indev, outdev: 0, packet });
    const input = atInput(syn, 2);
    const kernel: Observation = { ...nothing, passed: [input, atInput(errorFrom('192.0.2.2'))] };
    const mine = (src: string, indev = 1): Observation => ({ ...nothing, passed: [input, atInput(errorFrom(src), indev)] });

    it("explains rejectc's error from the quoted packet's destination, at TC", () => {
      expect(classifyKnown(context([], kernel, mine('203.0.113.7')))).toBe('output-icmp4-source');
    });

    it('but not from another address, nor entering elsewhere than lo, nor at XDP, nor with anything else different', () => {
      expect(classifyKnown(context([], kernel, mine('203.0.113.8')))).toBeUndefined();
      expect(classifyKnown(context([], kernel, mine('203.0.113.7', 2)))).toBeUndefined();
      expect(classifyKnown({ ...context([], kernel, mine('203.0.113.7')), side: 'xdp' })).toBeUndefined();
      expect(classifyKnown(context([], kernel, { ...mine('203.0.113.7'), client: [rst] }))).toBeUndefined();
      expect(classifyKnown(context([], kernel, { ...nothing, passed: [input] }))).toBeUndefined();
    });

    it("with reply-filtered-by-output: the kernel's OUTPUT chain judges its own error, from the server's address", () => {
      // The kernel's error (from 192.0.2.2) is REJECTed by OUTPUT in turn; rejectc's reaches INPUT.
      expect(classifyKnown(context(['-s 192.0.2.0/24 -j REJECT'], { ...nothing, passed: [input] }, mine('203.0.113.7')))).toBe('reply-filtered-by-output');
      // A rule that refuses rejectc's version but not the kernel's explains nothing.
      expect(classifyKnown(context(['-s 203.0.113.0/24 -j REJECT'], { ...nothing, passed: [input] }, mine('203.0.113.7')))).toBeUndefined();
      expect(classifyKnown({ ...context(['-s 192.0.2.0/24 -j REJECT'], { ...nothing, passed: [input] }, mine('203.0.113.7')), side: 'xdp' })).toBeUndefined();
    });
  });

  describe('xdp-connection-state', () => {
    const state = ['-m state --state INVALID -j DROP'];
    const echoReply = ipv4({ src: '192.0.2.2', dst: '203.0.113.7' }, icmp({ type: 0, rest: [0x12, 0x34, 0, 1] }));
    const udpOut = ipv4({ src: '192.0.2.2', dst: '203.0.113.7' }, udp({ sport: 53, dport: 1000 }));
    const errorAbout = (quoted: Uint8Array) => frameOf(ipv4({ src: '203.0.113.7', dst: '192.0.2.2' }, icmp({ type: 3, code: 1, payload: quoted.subarray(0, 28) })));
    // The kernel let the error in (RELATED), rejectc did not.
    const at = (frame: Uint8Array, side: 'tc' | 'xdp', output = state) => classifyKnown({ ...context(output, { ...nothing, passed: [{ hook: 'INPUT', indev: 2, outdev: 0, packet: frame.subarray(14) }] }, nothing), frame, side });

    it('explains, at XDP, an ICMP error about an ICMP query (RELATED to a connection XDP cannot know)', () => {
      expect(at(errorAbout(echoReply), 'xdp')).toBe('xdp-connection-state');
      // A redirect is an error for conntrack too (icmp_is_err; found by seed 634277786).
      const redirect = frameOf(ipv4({ src: '203.0.113.7', dst: '192.0.2.2' }, icmp({ type: 5, code: 1, payload: echoReply.subarray(0, 28) })));
      expect(at(redirect, 'xdp')).toBe('xdp-connection-state');
      expect(at(redirect, 'tc')).toBeUndefined();
    });

    it('but not at TC, not about a UDP datagram, not without state matches', () => {
      expect(at(errorAbout(echoReply), 'tc')).toBeUndefined();
      expect(at(errorAbout(udpOut), 'xdp')).toBeUndefined();
      expect(at(errorAbout(echoReply), 'xdp', [])).toBeUndefined();
    });
  });

  describe('loopback-not-filtered', () => {
    // Found by seed 636446126: a UDP datagram from the server's own address to a closed port; the
    // stack's ICMPv6 port unreachable goes to the server itself over lo, where the kernel's INPUT
    // chain REJECTs it (no error about an error); rejectc, applied to the server's link, never sees lo.
    const hex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
    const orig = hex('6b500000000a114020010db800000000000000000000000220010db800000000000000000000000213c40019000a0e9881ef');
    const error = hex('6002eb58003a3a4020010db800000000000000000000000220010db800000000000000000000000201042692000000006b500000000a114020010db800000000000000000000000220010db800000000000000000000000213c40019000a0e9881ef');
    const rules6 = (input: string[]) => {
      const text = printFamily(emptyFamily('ipv6')).replace('COMMIT', [...input.map((l) => `-A INPUT ${l}`), 'COMMIT'].join('\n'));
      return { ipv6: parseRuleset(text, 'ipv6.rules', { family: 'ipv6' }).ruleset.families[0] };
    };
    const atInput = (packet: Uint8Array, indev: number) => ({ hook: 'INPUT' as const, indev, outdev: 0, packet });
    const kernel: Observation = { ...nothing, passed: [atInput(orig, 2)] };
    const mine = (...extra: Passed[]): Observation => ({ ...nothing, passed: [atInput(orig, 2), ...extra] });
    const at = (input: string[], rejectc: Observation, side: 'tc' | 'xdp' = 'tc') =>
      classifyKnown({ rules: rules6(input), frame: ethernet(orig, { dst: MAC.serverIn, src: MAC.client }), origs: [orig], kernel, rejectc, side, interfaces: DEFAULT_SERVER_INTERFACES });

    it("explains a packet the server sent itself over lo that the kernel's INPUT chain refuses", () => {
      expect(at(['-p ipv6-icmp -j REJECT'], mine(atInput(error, 1)))).toBe('loopback-not-filtered');
      expect(at(['-i lo -j DROP'], mine(atInput(error, 1)), 'xdp')).toBe('loopback-not-filtered');
    });

    it('but not when the chains let it pass, nor off lo, nor with anything else different', () => {
      expect(at([], mine(atInput(error, 1)))).toBeUndefined();
      expect(at(['-p ipv6-icmp ! -i lo -j REJECT'], mine(atInput(error, 1)))).toBeUndefined();
      expect(at(['-p ipv6-icmp -j REJECT'], mine(atInput(error, 2)))).toBeUndefined();
      expect(at(['-p ipv6-icmp -j REJECT'], { ...mine(atInput(error, 1)), client: [rst] })).toBeUndefined();
      expect(at(['-p ipv6-icmp -j REJECT'], { ...nothing, passed: [atInput(error, 1)] })).toBeUndefined();
    });
  });

  it('conntrack-defrag explains nothing for a ruleset without state matches', () => {
    const frag = frameOf(ipv4({ src: '203.0.113.7', dst: '198.51.100.9', mf: true }, udp({ sport: 1, dport: 2, payload: new Uint8Array(16) })));
    expect(classifyKnown({ ...context([], { ...nothing, client: [rst] }, nothing), frame: frag })).toBeUndefined();
  });
});
