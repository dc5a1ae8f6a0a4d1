/**
 * Unit tables for the model's evaluator (src/model/evaluate.ts, matches.ts, hook-view.ts):
 * iptables' chain walk (first match, policies, LOG/target-less continue, -j/-g/RETURN, the
 * multi-address expansion order, counters) and each match's edge cases (negation, fragments,
 * truncated headers and hotdrop, IPv6 protocol determination, interfaces per hook, pkttype,
 * addrtype, mac, length, ttl/hl, mark), plus what never reaches the filter table.
 */
import { describe, expect, it } from 'vitest';
import type { FamilyRuleset, Match, Rule } from '../src/compiler/ir.js';
import { decodeFrame, decodeIp, evaluate, evaluateRuleset, ModelUnsupportedError, type Decision, type ModelEnv } from '../src/model/index.js';
import { accept, addrs, drop, jump, log, neg, proto, reject, ret, rule, ruleset, SPAN } from './model-support.js';
import { ethernet, fragmentIpv4, fragmentIpv6, icmp, ipOptions, ipv4, ipv6, raw, tcp, truncated, udp, withTrailer } from './support/packets.js';

/** The fields of the match module named `T` (`ttl`/`hl` share one IR type). */
type Fields<T extends Match['module']> = Omit<Extract<Match, { module: T }> | (T extends 'ttl' | 'hl' ? Extract<Match, { module: 'ttl' | 'hl' }> : never), 'kind' | 'span' | 'module'>;

const m = <T extends Match['module']>(module: T, fields: Fields<T>): Match => ({ kind: 'match', span: SPAN, module, ...fields }) as Match;

const INPUT: ModelEnv = { chain: 'INPUT', inInterface: 'eth0', localAddresses: [{ address: '192.0.2.2', prefix: 24, interface: 'eth0' }] };

const syn = (dport = 22, ip = {}): Uint8Array => ipv4(ip, tcp({ sport: 40000, dport, flags: 'S' }));
const dgram = (dport = 53, ip = {}): Uint8Array => ipv4(ip, udp({ sport: 40000, dport }));

function run(rs: FamilyRuleset, bytes: Uint8Array, env: ModelEnv = INPUT): Decision {
  return evaluate(rs, bytes[0]! >> 4 === 4 || bytes[0]! >> 4 === 6 ? decodeIp(bytes) : decodeFrame(bytes), env);
}

/** Index of the deciding rule in its chain, or 'policy'. */
function decided(d: Decision): string {
  return d.rule ? `${d.ruleChain}#${d.ruleIndex}${d.expansion ? `.${d.expansion}` : ''} ${d.verdict}` : `${d.cause.kind} ${d.verdict}`;
}

function touched(d: Decision): string[] {
  return d.counters.map((c) => (c.kind === 'policy' ? `policy ${c.chain}` : `${c.chain}#${c.index}.${c.expansion}`));
}

/** A one-rule INPUT chain with policy DROP: 'match' means the rule's ACCEPT decided. */
function matches(r: Rule, bytes: Uint8Array, env: ModelEnv = INPUT, family: 'ipv4' | 'ipv6' = 'ipv4'): 'match' | 'nomatch' | 'hotdrop' {
  const d = run(ruleset(family, { [env.chain]: { policy: 'DROP', rules: [r] } }), bytes, env);
  if (d.cause.kind === 'hotdrop') return 'hotdrop';
  return d.cause.kind === 'rule' ? 'match' : 'nomatch';
}

describe('chain walk', () => {
  const tcp22 = m('tcp', { dport: neg({ from: 22, to: 22 }) });

  it('first match wins; no match falls to the policy and moves its counter', () => {
    const rs = ruleset('ipv4', { INPUT: { policy: 'DROP', rules: [rule({ protocol: proto(6) }, [tcp22], accept), rule({ protocol: proto(6) }, [], reject('tcp-reset'))] } });
    expect(decided(run(rs, syn(22)))).toBe('INPUT#0 accept');
    const other = run(rs, syn(80));
    expect(decided(other)).toBe('INPUT#1 reject');
    expect(touched(other)).toEqual(['INPUT#1.0']);
    const d = run(rs, dgram());
    expect(decided(d)).toBe('policy drop');
    expect(touched(d)).toEqual(['policy INPUT']);
    expect(d.counters[0]).toMatchObject({ kind: 'policy', bytes: 28 });
  });

  it('the default policy is ACCEPT, and an absent filter table accepts', () => {
    expect(decided(run(ruleset('ipv4', {}), syn()))).toBe('policy accept');
    expect(evaluate({ kind: 'family', family: 'ipv4', tables: [] }, decodeIp(syn()), INPUT).verdict).toBe('accept');
  });

  it('LOG and target-less rules are counted and evaluation continues', () => {
    const rs = ruleset('ipv4', { INPUT: { rules: [rule({}, [], log), rule({}, [], null), rule({}, [], drop), rule({}, [], accept)] } });
    const d = run(rs, syn());
    expect(decided(d)).toBe('INPUT#2 drop');
    expect(touched(d)).toEqual(['INPUT#0.0', 'INPUT#1.0', 'INPUT#2.0']);
  });

  it('-j returns after the jumping rule; RETURN and the end of a user chain pop', () => {
    const rs = ruleset('ipv4', {
      INPUT: { policy: 'DROP', rules: [rule({}, [], jump('USER')), rule({ protocol: proto(6) }, [], accept)] },
      USER: { rules: [rule({ protocol: proto(17) }, [], drop), rule({ protocol: proto(1) }, [], ret), rule({}, [], log)] },
    });
    expect(decided(run(rs, syn()))).toBe('INPUT#1 accept');
    expect(touched(run(rs, syn()))).toEqual(['INPUT#0.0', 'USER#2.0', 'INPUT#1.0']);
    expect(decided(run(rs, dgram()))).toBe('USER#0 drop');
    const ping = run(rs, ipv4({}, icmp({ type: 8 })));
    expect(touched(ping)).toEqual(['INPUT#0.0', 'USER#1.0', 'policy INPUT']);
  });

  it('-g does not push: the goto chain ending returns to the caller of the caller', () => {
    const rs = ruleset('ipv4', {
      INPUT: { policy: 'DROP', rules: [rule({}, [], jump('A')), rule({}, [], accept)] },
      A: { rules: [rule({}, [], jump('B', true)), rule({}, [], drop)] },
      B: { rules: [rule({ protocol: proto(17) }, [], ret)] },
    });
    // tcp: B ends -> back to INPUT after the -j A rule (A's remaining rules are skipped).
    expect(decided(run(rs, syn()))).toBe('INPUT#1 accept');
    expect(decided(run(rs, dgram()))).toBe('INPUT#1 accept');
    const top = ruleset('ipv4', { INPUT: { policy: 'DROP', rules: [rule({}, [], jump('B', true)), rule({}, [], accept)] }, B: { rules: [] } });
    expect(decided(run(top, syn()))).toBe('policy drop');
  });

  it('RETURN in a built-in chain is the policy', () => {
    const rs = ruleset('ipv4', { INPUT: { policy: 'DROP', rules: [rule({}, [], ret), rule({}, [], accept)] } });
    const d = run(rs, syn());
    expect(decided(d)).toBe('policy drop');
    expect(touched(d)).toEqual(['INPUT#0.0', 'policy INPUT']);
  });

  it('multi-address rules expand source outer, destination inner, each with its own counter', () => {
    const r = rule({ src: addrs(['198.51.100.1', '198.51.100.2']), dst: addrs(['192.0.2.2', '192.0.2.3']) }, [], drop);
    const rs = ruleset('ipv4', { INPUT: { rules: [r] } });
    const pick = (src: string, dst: string): number => run(rs, syn(22, { src, dst })).expansion;
    expect([pick('198.51.100.1', '192.0.2.2'), pick('198.51.100.1', '192.0.2.3'), pick('198.51.100.2', '192.0.2.2'), pick('198.51.100.2', '192.0.2.3')]).toEqual([0, 1, 2, 3]);
    expect(touched(run(rs, syn(22, { src: '198.51.100.2', dst: '192.0.2.3' })))).toEqual(['INPUT#0.3']);
  });

  it('returning from a jump continues with the next expansion of the same rule', () => {
    const rs = ruleset('ipv4', {
      INPUT: { rules: [rule({ src: addrs(['198.51.0.0/16', '198.51.100.0/24']) }, [], jump('COUNT'))] },
      COUNT: { rules: [rule({}, [], log)] },
    });
    const d = run(rs, syn(22, { src: '198.51.100.7' }));
    expect(touched(d)).toEqual(['INPUT#0.0', 'COUNT#0.0', 'INPUT#0.1', 'COUNT#0.0', 'policy INPUT']);
  });

  it('a hotdrop drops at once: no counter for that rule, later rules never run', () => {
    const rs = ruleset('ipv4', {
      INPUT: { rules: [rule({}, [], log), rule({ protocol: proto(6) }, [m('tcp', { dport: neg({ from: 1, to: 1 }) })], accept), rule({}, [], accept)] },
    });
    const d = run(rs, ipv4({}, truncated(tcp({ sport: 1, dport: 2 }), 12)));
    expect(d.cause.kind).toBe('hotdrop');
    expect(d.verdict).toBe('drop');
    expect(d.ruleIndex).toBe(1);
    expect(touched(d)).toEqual(['INPUT#0.0']);
    expect(d.reply).toBeNull();
  });

  it('counts the IP length, not the L2 trailer', () => {
    const rs = ruleset('ipv4', { INPUT: { rules: [rule({}, [], accept)] } });
    const d = run(rs, ethernet(withTrailer(syn(), 9)));
    expect(d.counters[0]).toMatchObject({ bytes: 40 });
  });

  it('evaluateRuleset picks the family; an absent family accepts; unsupported modules throw', () => {
    const v6drop = ruleset('ipv6', { INPUT: { rules: [rule({}, [], drop)] } });
    const all = { kind: 'ruleset' as const, file: 't', backend: 'unknown' as const, families: [v6drop] };
    expect(evaluateRuleset(all, decodeIp(ipv6({}, udp({ sport: 1, dport: 2 }))), INPUT).verdict).toBe('drop');
    expect(evaluateRuleset(all, decodeIp(syn()), INPUT).verdict).toBe('accept');
    const set = ruleset('ipv4', { INPUT: { rules: [rule({}, [m('set', { negated: false, name: 'blocked', flags: ['src'], options: [] })], drop)] } });
    expect(() => run(set, syn())).toThrow(ModelUnsupportedError);
  });
});

describe('base matches', () => {
  it('addresses with prefixes and !', () => {
    expect(matches(rule({ src: addrs(['198.51.100.0/25']) }, [], accept), syn(22, { src: '198.51.100.127' }))).toBe('match');
    expect(matches(rule({ src: addrs(['198.51.100.0/25']) }, [], accept), syn(22, { src: '198.51.100.128' }))).toBe('nomatch');
    expect(matches(rule({ src: addrs(['198.51.100.0/25'], true) }, [], accept), syn(22, { src: '198.51.100.128' }))).toBe('match');
    expect(matches(rule({ dst: addrs(['0.0.0.0/0'], true) }, [], accept), syn())).toBe('nomatch');
    expect(matches(rule({ dst: addrs(['2001:db8::/33']) }, [], accept), ipv6({ dst: '2001:db8:7fff::1' }, udp({ sport: 1, dport: 2 })), INPUT, 'ipv6')).toBe('match');
    expect(matches(rule({ dst: addrs(['2001:db8::/33']) }, [], accept), ipv6({ dst: '2001:db8:8000::1' }, udp({ sport: 1, dport: 2 })), INPUT, 'ipv6')).toBe('nomatch');
  });

  it('interfaces: exact, + prefix, !, and the missing device of each hook', () => {
    const iface = (name: string, wildcard = false, negated = false) => ({ name, wildcard, negated, span: SPAN });
    expect(matches(rule({ inInterface: iface('eth0') }, [], accept), syn())).toBe('match');
    expect(matches(rule({ inInterface: iface('eth') }, [], accept), syn())).toBe('nomatch');
    expect(matches(rule({ inInterface: iface('eth', true) }, [], accept), syn())).toBe('match');
    expect(matches(rule({ inInterface: iface('', true) }, [], accept), syn())).toBe('match');
    expect(matches(rule({ inInterface: iface('eth0', false, true) }, [], accept), syn())).toBe('nomatch');
    // INPUT has no output device; OUTPUT no input device.
    expect(matches(rule({ outInterface: iface('eth0') }, [], accept), syn(), { ...INPUT, outInterface: 'eth0' })).toBe('nomatch');
    expect(matches(rule({ outInterface: iface('eth0', false, true) }, [], accept), syn())).toBe('match');
    const out: ModelEnv = { chain: 'OUTPUT', inInterface: 'eth0', outInterface: 'eth1' };
    expect(matches(rule({ inInterface: iface('eth0') }, [], accept), syn(), out)).toBe('nomatch');
    expect(matches(rule({ outInterface: iface('eth1') }, [], accept), syn(), out)).toBe('match');
    const fwd: ModelEnv = { chain: 'FORWARD', inInterface: 'eth0', outInterface: 'eth1' };
    expect(matches(rule({ inInterface: iface('eth0'), outInterface: iface('eth1') }, [], accept), syn(), fwd)).toBe('match');
  });

  it('-p and ! -p (IPv4); protocol 0 matches everything', () => {
    expect(matches(rule({ protocol: proto(6) }, [], accept), syn())).toBe('match');
    expect(matches(rule({ protocol: proto(6, true) }, [], accept), syn())).toBe('nomatch');
    expect(matches(rule({ protocol: proto(6, true) }, [], accept), dgram())).toBe('match');
    expect(matches(rule({ protocol: proto(0) }, [], accept), dgram())).toBe('match');
  });

  it('-f matches non-first fragments only; ! -f the rest', () => {
    const frags = fragmentIpv4(ipv4({}, udp({ sport: 1, dport: 2, payload: new Uint8Array(40) })), 16);
    const f = { negated: false, span: SPAN };
    expect(frags.map((p) => matches(rule({ fragment: f }, [], accept), p))).toEqual(['nomatch', 'match', 'match']);
    expect(frags.map((p) => matches(rule({ fragment: { ...f, negated: true } }, [], accept), p))).toEqual(['match', 'nomatch', 'nomatch']);
    expect(matches(rule({ fragment: f }, [], accept), dgram())).toBe('nomatch');
  });
});

describe('IPv6 protocol determination (ipv6_find_hdr)', () => {
  const v6 = (l4: Parameters<typeof ipv6>[1], exts: Parameters<typeof ipv6>[0]['extensions'] = []): Uint8Array => ipv6({ extensions: exts }, l4);
  const t = tcp({ sport: 1, dport: 80, payload: new Uint8Array(40) });
  const dport80 = m('tcp', { dport: neg({ from: 80, to: 80 }) });

  it('skips extension headers to the transport', () => {
    const p = v6(t, [{ kind: 'hop-by-hop' }, { kind: 'routing' }, { kind: 'dest-opts' }]);
    expect(matches(rule({ protocol: proto(6) }, [dport80], accept), p, INPUT, 'ipv6')).toBe('match');
    expect(matches(rule({ protocol: proto(60) }, [], accept), p, INPUT, 'ipv6')).toBe('nomatch');
  });

  it('a later fragment has its fragment header next header as protocol, but ports never match', () => {
    const later = fragmentIpv6(v6(t), 16)[1]!;
    expect(matches(rule({ protocol: proto(6) }, [], accept), later, INPUT, 'ipv6')).toBe('match');
    expect(matches(rule({ protocol: proto(6, true) }, [], accept), later, INPUT, 'ipv6')).toBe('nomatch');
    expect(matches(rule({ protocol: proto(6) }, [dport80], accept), later, INPUT, 'ipv6')).toBe('nomatch');
    expect(matches(rule({ protocol: proto(6) }, [m('tcp', { dport: neg({ from: 80, to: 80 }, true) })], accept), later, INPUT, 'ipv6')).toBe('nomatch');
    expect(matches(rule({ protocol: proto(44) }, [], accept), later, INPUT, 'ipv6')).toBe('nomatch');
    const first = fragmentIpv6(v6(t), 24)[0]!;
    expect(matches(rule({ protocol: proto(6) }, [dport80], accept), first, INPUT, 'ipv6')).toBe('match');
    // A first fragment with only 16 TCP bytes cannot be examined: hotdrop (iptables-legacy).
    const short = fragmentIpv6(v6(t), 16)[0]!;
    expect(matches(rule({ protocol: proto(6) }, [dport80], accept), short, INPUT, 'ipv6')).toBe('hotdrop');
  });

  it('hotdrops any -p rule when the walk fails; rules without -p are unaffected', () => {
    const nested = ipv6({ extensions: [{ kind: 'fragment', offset: 3, more: false }, { kind: 'dest-opts' }] }, t);
    expect(matches(rule({ protocol: proto(6) }, [], accept), nested, INPUT, 'ipv6')).toBe('hotdrop');
    expect(matches(rule({ protocol: proto(6, true) }, [], accept), nested, INPUT, 'ipv6')).toBe('hotdrop');
    expect(matches(rule({}, [], accept), nested, INPUT, 'ipv6')).toBe('match');
    const cut = ipv6({ nextHeader: 43 }, raw(43, [17]));
    expect(matches(rule({ protocol: proto(17) }, [], accept), cut, INPUT, 'ipv6')).toBe('hotdrop');
  });

  it('no next header (59) is a protocol', () => {
    const none = ipv6({}, raw(59, []));
    expect(matches(rule({ protocol: proto(59) }, [], accept), none, INPUT, 'ipv6')).toBe('match');
  });
});

describe('transport matches: fragments and truncated headers', () => {
  const ports = (dport: number, negated = false): Match => m('tcp', { dport: neg({ from: dport, to: dport }, negated) });

  it('non-first fragments never match port, flag or ICMP matches, even negated', () => {
    const later = fragmentIpv4(ipv4({}, tcp({ sport: 1, dport: 80, payload: new Uint8Array(40) })), 24)[1]!;
    expect(matches(rule({ protocol: proto(6) }, [ports(80)], accept), later)).toBe('nomatch');
    expect(matches(rule({ protocol: proto(6) }, [ports(80, true)], accept), later)).toBe('nomatch');
    expect(matches(rule({ protocol: proto(6) }, [m('tcp', { flags: neg({ mask: 0x17, comp: 0x02 }, true) })], accept), later)).toBe('nomatch');
    expect(matches(rule({ protocol: proto(6) }, [m('multiport', { negated: true, direction: 'dports', ports: [{ from: 1, to: 1 }] })], accept), later)).toBe('nomatch');
    const ilater = fragmentIpv4(ipv4({}, icmp({ type: 8, payload: new Uint8Array(40) })), 24)[1]!;
    expect(matches(rule({ protocol: proto(1) }, [m('icmp', { icmpType: neg({ type: 255, codeMin: 0, codeMax: 255 }) })], accept), ilater)).toBe('nomatch');
    expect(matches(rule({ protocol: proto(6) }, [], accept), later)).toBe('match');
  });

  it('IPv4 TCP at fragment offset 1 (8 bytes) is hotdropped; UDP is not', () => {
    expect(matches(rule({ protocol: proto(6) }, [ports(80)], accept), ipv4({ fragOffset: 1 }, tcp({ sport: 1, dport: 80 })))).toBe('hotdrop');
    expect(matches(rule({ protocol: proto(17) }, [m('udp', { dport: neg({ from: 80, to: 80 }) })], accept), ipv4({ fragOffset: 1 }, udp({ sport: 1, dport: 80 })))).toBe('nomatch');
  });

  it('hotdrops below the header size each match reads: tcp 20, udp 8, icmp 8, multiport 4', () => {
    const cut = (l4: Parameters<typeof truncated>[0], n: number): Uint8Array => ipv4({}, truncated(l4, n));
    const t = tcp({ sport: 1, dport: 80 });
    expect(matches(rule({ protocol: proto(6) }, [ports(80)], accept), cut(t, 19))).toBe('hotdrop');
    expect(matches(rule({ protocol: proto(6) }, [ports(80)], accept), cut(t, 20))).toBe('match');
    const mp = m('multiport', { negated: false, direction: 'dports', ports: [{ from: 80, to: 80 }] });
    expect(matches(rule({ protocol: proto(6) }, [mp], accept), cut(t, 4))).toBe('match');
    expect(matches(rule({ protocol: proto(6) }, [mp], accept), cut(t, 3))).toBe('hotdrop');
    const u = udp({ sport: 1, dport: 80 });
    expect(matches(rule({ protocol: proto(17) }, [m('udp', { dport: neg({ from: 80, to: 80 }) })], accept), cut(u, 7))).toBe('hotdrop');
    const echo = icmp({ type: 8 });
    const any = m('icmp', { icmpType: neg({ type: 255, codeMin: 0, codeMax: 255 }) });
    expect(matches(rule({ protocol: proto(1) }, [any], accept), cut(echo, 7))).toBe('hotdrop');
    expect(matches(rule({ protocol: proto(1) }, [any], accept), cut(echo, 8))).toBe('match');
    // Without a transport match, nothing reads the header: the rule matches.
    expect(matches(rule({ protocol: proto(6) }, [], accept), cut(t, 3))).toBe('match');
  });

  it('matches run in order: an earlier failing match prevents a later hotdrop', () => {
    const p = ipv4({ src: '198.51.100.9' }, truncated(tcp({ sport: 1, dport: 80 }), 10));
    const r = rule({ protocol: proto(6) }, [m('iprange', { src: neg({ from: '203.0.113.1', to: '203.0.113.9' }) }), ports(80)], accept);
    expect(matches(r, p)).toBe('nomatch');
  });
});

describe('tcp, udp, multiport, icmp', () => {
  it('port ranges and negation; --tcp-flags / --syn', () => {
    const r = (f: Partial<Record<'sport' | 'dport', [number, number, boolean?]>>): Rule =>
      rule({ protocol: proto(6) }, [m('tcp', Object.fromEntries(Object.entries(f).map(([k, [a, b, n]]) => [k, neg({ from: a, to: b }, n ?? false)])))], accept);
    expect(matches(r({ dport: [20, 22] }), syn(22))).toBe('match');
    expect(matches(r({ dport: [20, 22] }), syn(23))).toBe('nomatch');
    expect(matches(r({ dport: [20, 22, true] }), syn(23))).toBe('match');
    expect(matches(r({ sport: [40000, 40000], dport: [22, 22] }), syn(22))).toBe('match');
    const synOnly = rule({ protocol: proto(6) }, [m('tcp', { flags: neg({ mask: 0x17, comp: 0x02 }) })], accept);
    const flagged = (flags: string): Uint8Array => ipv4({}, tcp({ sport: 1, dport: 2, flags }));
    expect(['S', 'SA', 'SF', 'SP', 'SE'].map((f) => matches(synOnly, flagged(f)))).toEqual(['match', 'nomatch', 'nomatch', 'match', 'match']);
    const notSyn = rule({ protocol: proto(6) }, [m('tcp', { flags: neg({ mask: 0x17, comp: 0x02 }, true) })], accept);
    expect(matches(notSyn, flagged('SA'))).toBe('match');
  });

  it('--tcp-option: found, absent, negated; doff < 5 and missing option bytes hotdrop', () => {
    const opt = (n: number, negated = false): Rule => rule({ protocol: proto(6) }, [m('tcp', { option: neg(n, negated) })], accept);
    const withMss = ipv4({}, tcp({ sport: 1, dport: 2, options: [1, 2, 4, 5, 0xb4, 0, 0, 0] }));
    expect(matches(opt(2), withMss)).toBe('match');
    expect(matches(opt(8), withMss)).toBe('nomatch');
    expect(matches(opt(8, true), withMss)).toBe('match');
    expect(matches(opt(2, true), withMss)).toBe('nomatch');
    expect(matches(opt(2), syn())).toBe('nomatch');
    expect(matches(opt(2, true), syn())).toBe('match');
    expect(matches(opt(2), ipv4({}, tcp({ sport: 1, dport: 2, doff: 4 })))).toBe('hotdrop');
    expect(matches(opt(2), ipv4({}, tcp({ sport: 1, dport: 2, doff: 15 })))).toBe('hotdrop');
    // A zero length byte advances by one: the scan still finds a later kind.
    expect(matches(opt(8), ipv4({}, tcp({ sport: 1, dport: 2, options: [3, 0, 8, 2] })))).toBe('match');
  });

  it('udp ports', () => {
    const r = rule({ protocol: proto(17) }, [m('udp', { dport: neg({ from: 53, to: 53 }), sport: neg({ from: 1024, to: 65535 }) })], accept);
    expect(matches(r, ipv4({}, udp({ sport: 5000, dport: 53 })))).toBe('match');
    expect(matches(r, ipv4({}, udp({ sport: 53, dport: 53 })))).toBe('nomatch');
  });

  it('multiport directions and ranges, ! over the whole list', () => {
    const mp = (direction: 'sports' | 'dports' | 'ports', negated = false): Rule =>
      rule({ protocol: proto(6) }, [m('multiport', { negated, direction, ports: [{ from: 22, to: 22 }, { from: 8000, to: 8080 }] })], accept);
    const p = (sport: number, dport: number): Uint8Array => ipv4({}, tcp({ sport, dport }));
    expect(matches(mp('dports'), p(1, 8080))).toBe('match');
    expect(matches(mp('dports'), p(22, 1))).toBe('nomatch');
    expect(matches(mp('sports'), p(22, 1))).toBe('match');
    expect(matches(mp('ports'), p(8001, 1))).toBe('match');
    expect(matches(mp('ports'), p(1, 1))).toBe('nomatch');
    expect(matches(mp('ports', true), p(1, 1))).toBe('match');
    expect(matches(mp('dports', true), p(1, 22))).toBe('nomatch');
  });

  it('icmp type/code ranges, any (255); icmp6 has no any', () => {
    const ic = (type: number, min: number, max: number, negated = false): Rule =>
      rule({ protocol: proto(1) }, [m('icmp', { icmpType: neg({ type, codeMin: min, codeMax: max }, negated) })], accept);
    expect(matches(ic(3, 0, 255), ipv4({}, icmp({ type: 3, code: 13 })))).toBe('match');
    expect(matches(ic(3, 3, 3), ipv4({}, icmp({ type: 3, code: 13 })))).toBe('nomatch');
    expect(matches(ic(8, 0, 255, true), ipv4({}, icmp({ type: 0 })))).toBe('match');
    expect(matches(ic(255, 0, 255), ipv4({}, icmp({ type: 42 })))).toBe('match');
    expect(matches(ic(255, 0, 255, true), ipv4({}, icmp({ type: 42 })))).toBe('nomatch');
    const ic6 = (type: number): Rule => rule({ protocol: proto(58) }, [m('icmp6', { icmpType: neg({ type, codeMin: 0, codeMax: 255 }) })], accept);
    expect(matches(ic6(128), ipv6({}, icmp({ type: 128 })), INPUT, 'ipv6')).toBe('match');
    expect(matches(ic6(255), ipv6({}, icmp({ type: 128 })), INPUT, 'ipv6')).toBe('nomatch');
  });
});

describe('other matches', () => {
  it('iprange, inclusive, per direction, with !', () => {
    const r = (from: string, to: string, negated = false): Rule => rule({}, [m('iprange', { src: neg({ from, to }, negated) })], accept);
    expect(matches(r('198.51.100.10', '198.51.100.20'), syn(1, { src: '198.51.100.20' }))).toBe('match');
    expect(matches(r('198.51.100.10', '198.51.100.20'), syn(1, { src: '198.51.100.21' }))).toBe('nomatch');
    expect(matches(r('198.51.100.10', '198.51.100.20', true), syn(1, { src: '198.51.100.21' }))).toBe('match');
    const r6 = rule({}, [m('iprange', { dst: neg({ from: '2001:db8::1', to: '2001:db8::ff:0' }) })], accept);
    expect(matches(r6, ipv6({ dst: '2001:db8::fe:1234' }, udp({ sport: 1, dport: 2 })), INPUT, 'ipv6')).toBe('match');
  });

  it('mac: the frame source; an IP packet without its frame never matches, even negated', () => {
    const r = (negated: boolean): Rule => rule({}, [m('mac', { source: neg('02:00:00:00:00:01', negated) })], accept);
    expect(matches(r(false), ethernet(syn()))).toBe('match');
    expect(matches(r(false), ethernet(syn(), { src: '02:00:00:00:00:09' }))).toBe('nomatch');
    expect(matches(r(true), ethernet(syn(), { src: '02:00:00:00:00:09' }))).toBe('match');
    expect(matches(r(true), syn())).toBe('nomatch');
  });

  it('pkttype from the destination MAC; OUTPUT is always host', () => {
    const r = (t: 'unicast' | 'broadcast' | 'multicast' | 'host', negated = false): Rule => rule({}, [m('pkttype', { pktType: neg(t, negated) })], accept);
    expect(matches(r('broadcast'), ethernet(syn(), { dst: 'broadcast' }))).toBe('match');
    expect(matches(r('multicast'), ethernet(syn(), { dst: 'multicast' }))).toBe('match');
    expect(matches(r('unicast'), ethernet(syn()))).toBe('match');
    expect(matches(r('host'), syn())).toBe('match');
    expect(matches(r('unicast', true), ethernet(syn(), { dst: 'broadcast' }))).toBe('match');
    expect(matches(r('broadcast'), ethernet(syn(), { dst: 'broadcast' }), { chain: 'OUTPUT' })).toBe('nomatch');
  });

  it('addrtype (IPv4): local table types, any-of lists, limit-iface-in', () => {
    const at = (types: ('LOCAL' | 'BROADCAST' | 'MULTICAST' | 'UNICAST')[], negated = false, limitIfaceIn = false): Rule =>
      rule({}, [m('addrtype', { dstType: neg(types, negated), limitIfaceIn })], accept);
    expect(matches(at(['LOCAL']), syn())).toBe('match');
    expect(matches(at(['LOCAL']), syn(1, { src: '127.0.0.1', dst: '127.0.0.1' }), { ...INPUT, inInterface: 'lo' })).toBe('match');
    expect(matches(at(['BROADCAST']), dgram(1, { dst: '192.0.2.255' }))).toBe('match');
    expect(matches(at(['BROADCAST']), dgram(1, { dst: '255.255.255.255' }))).toBe('match');
    // ipv4_is_zeronet() is 0.0.0.0 only since Linux 5.3: the rest of 0.0.0.0/8 is unicast.
    expect(matches(at(['BROADCAST']), dgram(1, { dst: '0.0.0.0' }), { chain: 'OUTPUT' })).toBe('match');
    expect(matches(at(['UNICAST']), dgram(1, { dst: '0.0.0.9' }), { chain: 'OUTPUT' })).toBe('match');
    expect(matches(at(['MULTICAST']), dgram(1, { dst: '239.1.2.3' }))).toBe('match');
    expect(matches(at(['UNICAST']), syn(1, { dst: '203.0.113.5' }))).toBe('match');
    expect(matches(at(['BROADCAST', 'MULTICAST']), syn())).toBe('nomatch');
    expect(matches(at(['LOCAL'], true), syn())).toBe('nomatch');
    expect(matches(at(['LOCAL'], false, true), syn(), { ...INPUT, inInterface: 'eth1' })).toBe('nomatch');
    expect(matches(at(['UNICAST'], false, true), syn(), { ...INPUT, inInterface: 'eth1' })).toBe('match');
  });

  it('addrtype (IPv6): every listed type must hold; LOCAL, ANYCAST by lookup', () => {
    const env: ModelEnv = { chain: 'INPUT', inInterface: 'eth0', localAddresses: [{ address: '2001:db8::2', prefix: 64, interface: 'eth0' }] };
    const at = (types: ('LOCAL' | 'MULTICAST' | 'UNICAST' | 'ANYCAST' | 'UNSPEC')[], src = false): Rule =>
      rule({}, [m('addrtype', src ? { srcType: neg(types) } : { dstType: neg(types) })], accept);
    const p = (dst: string, src = '2001:db8::1'): Uint8Array => ipv6({ src, dst }, udp({ sport: 1, dport: 2 }));
    expect(matches(at(['LOCAL']), p('2001:db8::2'), env, 'ipv6')).toBe('match');
    expect(matches(at(['UNICAST', 'LOCAL']), p('2001:db8::2'), env, 'ipv6')).toBe('match');
    expect(matches(at(['MULTICAST', 'LOCAL']), p('2001:db8::2'), env, 'ipv6')).toBe('nomatch');
    expect(matches(at(['MULTICAST']), p('ff02::1'), env, 'ipv6')).toBe('match');
    expect(matches(at(['ANYCAST']), p('2001:db8::'), env, 'ipv6')).toBe('match');
    expect(matches(at(['UNICAST']), p('2001:db8::9'), env, 'ipv6')).toBe('match');
  });

  it('length counts the IP length (no trailer); IPv6 is payload_len + 40', () => {
    const len = (from: number, to: number, negated = false): Rule => rule({}, [m('length', { length: neg({ from, to }, negated) })], accept);
    expect(matches(len(40, 40), ethernet(withTrailer(syn(), 20)))).toBe('match');
    expect(matches(len(41, 100), syn())).toBe('nomatch');
    expect(matches(len(41, 100, true), syn())).toBe('match');
    expect(matches(len(48, 48), ipv6({}, udp({ sport: 1, dport: 2 })), INPUT, 'ipv6')).toBe('match');
  });

  it('ttl / hl: eq ne lt gt; FORWARD sees the decremented value', () => {
    const ttl = (op: 'eq' | 'ne' | 'lt' | 'gt', value: number): Rule => rule({}, [m('ttl', { op, value })], accept);
    const p = syn(1, { ttl: 10, dst: '203.0.113.5' });
    expect(['eq', 'ne', 'lt', 'gt'].map((op) => matches(ttl(op as 'eq', 10), p))).toEqual(['match', 'nomatch', 'nomatch', 'nomatch']);
    expect(matches(ttl('lt', 11), p)).toBe('match');
    expect(matches(ttl('gt', 9), p)).toBe('match');
    expect(matches(ttl('eq', 9), p, { chain: 'FORWARD' })).toBe('match');
    const hl = rule({}, [m('hl', { op: 'eq', value: 63 })], accept);
    expect(matches(hl, ipv6({}, udp({ sport: 1, dport: 2 })), { chain: 'FORWARD' }, 'ipv6')).toBe('match');
  });

  it('mark with mask and !', () => {
    const mk = (value: number, mask: number, negated = false): Rule => rule({}, [m('mark', { mark: neg({ value, mask }, negated) })], accept);
    expect(matches(mk(0x10, 0xf0), syn(), { ...INPUT, mark: 0x1f })).toBe('match');
    expect(matches(mk(0x10, 0xf0), syn(), { ...INPUT, mark: 0x2f })).toBe('nomatch');
    expect(matches(mk(0x10, 0xf0, true), syn(), { ...INPUT, mark: 0x2f })).toBe('match');
    expect(matches(mk(0x80000000, 0xffffffff), syn(), { ...INPUT, mark: 0x80000000 })).toBe('match');
    expect(matches(mk(0, 0xffffffff), syn())).toBe('match');
  });

  it('comment always matches', () => {
    expect(matches(rule({}, [m('comment', { text: 'hi' })], accept), syn())).toBe('match');
  });
});

describe('what never reaches the filter table', () => {
  const rs = ruleset('ipv4', { INPUT: { policy: 'DROP', rules: [] }, FORWARD: { policy: 'DROP', rules: [] } });
  const rs6 = ruleset('ipv6', { INPUT: { policy: 'DROP', rules: [] }, FORWARD: { policy: 'DROP', rules: [] } });
  const stack = (d: Decision): string => (d.cause.kind === 'stack' ? `${d.verdict} ${d.cause.drop}` : d.cause.kind);

  it('IPv4 header problems, bad and source-route options', () => {
    expect(stack(run(rs, ipv4({ headerChecksum: 'bad' }, udp({ sport: 1, dport: 2 }))))).toBe('accept bad-header-checksum');
    expect(stack(run(rs, ipv4({ options: ipOptions.looseSourceRoute(['198.51.100.1']) }, udp({ sport: 1, dport: 2 }))))).toBe('accept source-route');
    expect(stack(run(rs, ipv4({ options: [7, 3, 3] }, udp({ sport: 1, dport: 2 }))))).toBe('accept bad-options');
    expect(stack(run(rs, ipv4({ options: [68, 4, 5, 0xf0] }, udp({ sport: 1, dport: 2 }))))).toBe('accept bad-options');
    expect(stack(run(rs, ethernet(syn(), { etherType: 0x0806 })))).toBe('accept not-ip');
    expect(stack(run(rs, ipv4({ options: ipOptions.routerAlert() }, udp({ sport: 1, dport: 2 }))))).toBe('policy');
  });

  it('IPv4 martians (input routing): bad sources and destinations, own addresses as source', () => {
    const u = (src: string, dst: string, p = 17): Uint8Array => ipv4({ src, dst, protocol: p }, udp({ sport: 1, dport: 2 }));
    expect(stack(run(rs, u('224.0.0.5', '192.0.2.2')))).toBe('accept bad-source');
    expect(stack(run(rs, u('255.255.255.255', '192.0.2.2')))).toBe('accept bad-source');
    expect(stack(run(rs, u('0.0.0.0', '192.0.2.2')))).toBe('accept bad-source');
    expect(stack(run(rs, u('0.0.0.0', '255.255.255.255')))).toBe('policy');
    expect(stack(run(rs, u('0.0.0.0', '224.0.0.1')))).toBe('policy');
    expect(stack(run(rs, u('0.0.0.0', '239.1.1.1')))).toBe('accept bad-source');
    expect(stack(run(rs, u('198.51.100.1', '0.0.0.0')))).toBe('accept bad-destination');
    // Since Linux 5.3 only 0.0.0.0 is the "zero network": 0.0.0.0/8 routes like any address.
    expect(stack(run(rs, u('198.51.100.1', '0.1.2.3'), { chain: 'FORWARD' }))).toBe('policy');
    expect(stack(run(rs, u('0.0.0.1', '192.0.2.2')))).toBe('policy');
    expect(stack(run(rs, u('0.0.0.1', '239.1.1.1')))).toBe('policy');
    expect(stack(run(rs, u('198.51.100.1', '127.0.0.1')))).toBe('accept bad-destination');
    expect(stack(run(rs, u('127.0.0.1', '192.0.2.2')))).toBe('accept bad-source');
    expect(stack(run(rs, u('192.0.2.2', '192.0.2.2')))).toBe('accept bad-source');
    expect(stack(run(rs, u('127.0.0.1', '127.0.0.1'), { ...INPUT, inInterface: 'lo' }))).toBe('policy');
    expect(stack(run(rs, u('127.0.0.1', '198.51.100.1'), { chain: 'OUTPUT' }))).toBe('policy');
  });

  it('FORWARD: TTL <= 1 and L2 broadcast frames are dropped before the hook', () => {
    const fwd: ModelEnv = { chain: 'FORWARD' };
    expect(stack(run(rs, syn(1, { ttl: 1, dst: '203.0.113.5' }), fwd))).toBe('accept ttl-exceeded');
    expect(stack(run(rs, syn(1, { ttl: 2, dst: '203.0.113.5' }), fwd))).toBe('policy');
    expect(stack(run(rs, ethernet(syn(1, { dst: '203.0.113.5' }), { dst: 'broadcast' }), fwd))).toBe('accept not-for-host');
    expect(stack(run(rs6, ipv6({ hopLimit: 1 }, udp({ sport: 1, dport: 2 })), fwd))).toBe('accept ttl-exceeded');
    expect(stack(run(rs6, ipv6({ src: 'fe80::a', dst: '2001:db8:c::1' }, udp({ sport: 1, dport: 2 })), fwd))).toBe('accept bad-source');
    expect(stack(run(rs6, ipv6({ src: 'fe80::a', dst: '2001:db8::2' }, udp({ sport: 1, dport: 2 }))))).toBe('policy');
  });

  it('OTHERHOST frames (another host\'s MAC) are dropped before INPUT and FORWARD when the device MAC is known', () => {
    const u = ipv4({ dst: '192.0.2.2' }, udp({ sport: 1, dport: 2 }));
    const mine = { ...INPUT, inMac: '02:00:00:00:00:02' };
    expect(stack(run(rs, ethernet(u, { dst: '02:00:00:00:00:09' }), mine))).toBe('accept otherhost');
    expect(stack(run(rs, ethernet(u, { dst: '02:00:00:00:00:02' }), mine))).toBe('policy');
    expect(stack(run(rs, ethernet(u, { dst: 'broadcast' }), mine))).toBe('policy');
    expect(stack(run(rs, ethernet(syn(1, { dst: '203.0.113.5' }), { dst: '02:00:00:00:00:09' }), { chain: 'FORWARD', inMac: '02:00:00:00:00:02' }))).toBe('accept otherhost');
    expect(stack(run(rs6, ethernet(ipv6({}, udp({ sport: 1, dport: 2 })), { dst: '02:00:00:00:00:09' }), mine))).toBe('accept otherhost');
    // Unknown device MAC (the default), or a packet without its frame: for this host.
    expect(stack(run(rs, ethernet(u, { dst: '02:00:00:00:00:09' })))).toBe('policy');
    expect(stack(run(rs, u, mine))).toBe('policy');
    // A locally generated packet is PACKET_HOST whatever MAC it goes to.
    expect(stack(run(rs, ethernet(u, { dst: '02:00:00:00:00:09' }), { chain: 'OUTPUT', inMac: '02:00:00:00:00:02' }))).toBe('policy');
  });

  it('multicast groups the ingress device has not joined never reach INPUT', () => {
    const groups = { ...INPUT, multicastGroups: [{ address: '224.0.0.1', interface: 'eth0' }, { address: 'ff02::1', interface: 'eth0' }, { address: '239.1.1.1', interface: 'eth1' }] };
    const u4 = (dst: string, p = 17) => ipv4({ src: '192.0.2.1', dst, protocol: p }, udp({ sport: 1, dport: 2 }));
    expect(stack(run(rs, u4('224.0.0.1'), groups))).toBe('policy');
    expect(stack(run(rs, u4('239.1.1.1'), groups))).toBe('accept not-joined'); // joined by eth1 only
    expect(stack(run(rs, u4('224.0.0.22', 2), groups))).toBe('accept not-joined'); // IGMPv3 reports: routers only
    expect(stack(run(rs6, ipv6({ dst: 'ff02::1' }, udp({ sport: 1, dport: 2 })), groups))).toBe('policy');
    expect(stack(run(rs6, ipv6({ dst: 'ff02::16' }, udp({ sport: 1, dport: 2 })), groups))).toBe('accept not-joined');
    expect(stack(run(rs6, ipv6({ dst: 'ff02::2' }, udp({ sport: 1, dport: 2 })), groups))).toBe('accept not-joined');
    // Without the list every group counts as joined.
    expect(stack(run(rs, u4('239.1.1.1')))).toBe('policy');
  });

  it('FORWARD back out the ingress device: IPv6 unspecified and link-local sources are forwarded, an IPv4 subnet-broadcast source is a martian', () => {
    const v6 = (src: string) => ipv6({ src, dst: '2001:db8:3::99' }, udp({ sport: 1, dport: 2 }));
    const hairpin: ModelEnv = { ...INPUT, chain: 'FORWARD', outInterface: 'eth0' };
    const across: ModelEnv = { ...INPUT, chain: 'FORWARD', outInterface: 'eth1' };
    expect(stack(run(rs6, v6('fe80::2'), hairpin))).toBe('policy');
    expect(stack(run(rs6, v6('::'), hairpin))).toBe('policy');
    expect(stack(run(rs6, v6('fe80::2'), across))).toBe('accept bad-source');
    expect(stack(run(rs6, v6('::'), across))).toBe('accept bad-source');
    const bcast = ipv4({ src: '192.0.2.255', dst: '203.0.113.5' }, udp({ sport: 1, dport: 2 }));
    expect(stack(run(rs, bcast, hairpin))).toBe('accept bad-source');
    expect(stack(run(rs, bcast, across))).toBe('policy');
  });

  it('IPv6 address checks and hop-by-hop options', () => {
    const u = udp({ sport: 1, dport: 2 });
    expect(stack(run(rs6, ipv6({ src: 'ff02::1' }, u)))).toBe('accept bad-source');
    // ip6_rcv_core() no longer drops v4-mapped sources (the check moved to tcp_v6_conn_request).
    expect(stack(run(rs6, ipv6({ src: '::ffff:192.0.2.1' }, u)))).toBe('policy');
    expect(stack(run(rs6, ipv6({ dst: '::1' }, u)))).toBe('accept bad-source');
    expect(stack(run(rs6, ipv6({ dst: 'ff01::1' }, u)))).toBe('accept bad-destination');
    expect(stack(run(rs6, ipv6({ dst: 'ff02::1' }, u)))).toBe('policy');
    expect(stack(run(rs6, ipv6({ extensions: [{ kind: 'hop-by-hop', options: [0x5e, 2, 0, 0] }] }, u)))).toBe('accept bad-hop-by-hop');
    expect(stack(run(rs6, ipv6({ extensions: [{ kind: 'hop-by-hop', options: [0x1e, 2, 0, 0] }] }, u)))).toBe('policy');
    expect(stack(run(rs6, ipv6({ extensions: [{ kind: 'hop-by-hop', options: [1, 8, 0, 0, 0, 0, 0, 0, 0, 0] }] }, u)))).toBe('accept bad-hop-by-hop');
    // Destination options are processed after INPUT: unknown discard options do not matter.
    expect(stack(run(rs6, ipv6({ extensions: [{ kind: 'dest-opts', options: [0x5e, 2, 0, 0] }] }, u)))).toBe('policy');
  });

  it('the RR fill leaves a stale header checksum that rules see (option modified)', () => {
    const p = ipv4({ options: ipOptions.recordRoute(2) }, udp({ sport: 1, dport: 2, checksum: 'zero' }));
    const d = run(ruleset('ipv4', { INPUT: { rules: [rule({}, [], reject('icmp-port-unreachable'))] } }), p);
    const quoted = d.reply!.slice(28 + 12);
    expect(Array.from(quoted.slice(20, 32))).toEqual([7, 11, 8, 192, 0, 2, 2, 0, 0, 0, 0, 0]);
    expect(quoted[10]! * 256 + quoted[11]!).toBe(p[10]! * 256 + p[11]!);
  });
});
