/**
 * fast-check generators of rulesets in the subset rejectc compiles, shaped like the real
 * ones in ../shared/corpus/real/ (counted there: address lists and single hosts, `-p tcp
 * -m tcp --dport`, `--tcp-flags FIN,SYN,RST,ACK SYN`, multiport lists, `-i`/`-o` with `+`
 * wildcards, user chains entered with `-j`/`-g` and left with RETURN, icmp types, every
 * REJECT type, LOG in front of a verdict, DROP policies), over the addresses of the
 * differential topology (test/diff/topology.ts) so that generated packets reach the rules.
 *
 * A generated ruleset is a {@link RulesetSpec}: plain records that fast-check can shrink
 * (a rule loses its matches one by one, a chain its rules), printed as the two files
 * `iptables-save` / `ip6tables-save` would write ({@link printSpec}). Generated rules are
 * valid for both iptables-legacy-restore and rejectc by construction: modules only with
 * their protocol, `-o` never in INPUT nor `-i` in OUTPUT, tcp-reset only with `-p tcp`,
 * `-m mac` never where OUTPUT can reach, user chains only jumping "forward" (no loops).
 */
import fc from 'fast-check';
import type { Family } from '../../src/compiler/ir.js';
import { MAC } from './topology.js';

/** A negatable value, as iptables prints it (`! -s x`, `-m tcp ! --dport 22`). */
export interface Neg<T> {
  not: boolean;
  v: T;
}

/** One `-m module ...` clause: its words after `-m`. */
export type MatchSpec = string[];

export interface RuleSpec {
  src?: Neg<string>;
  dst?: Neg<string>;
  inIf?: Neg<string>;
  outIf?: Neg<string>;
  /** Protocol name or number as iptables-save prints it. */
  proto?: Neg<string>;
  /** `-f` / `! -f` (IPv4). */
  fragment?: Neg<true>;
  matches: MatchSpec[];
  /** Words after `-j`/`-g` (e.g. ['REJECT', '--reject-with', 'tcp-reset']), or none. */
  target?: string[];
}

export interface ChainSpec {
  name: string;
  /** Built-in chains: ACCEPT or DROP; user chains: undefined. */
  policy?: 'ACCEPT' | 'DROP';
  rules: RuleSpec[];
}

/** The filter table of one family. */
export interface FamilySpec {
  family: Family;
  chains: ChainSpec[];
}

export interface RulesetSpec {
  /**
   * Stateful rulesets always track connections in both families (state matches, and the
   * "RELATED,ESTABLISHED first" preamble in INPUT and FORWARD) and have no OUTPUT rules;
   * stateless ones never track. Each kind runs on its own topology (fuzz.ts), so that
   * consecutive rulesets share one program and connection tracking stays on (or off).
   */
  stateful: boolean;
  ipv4: FamilySpec;
  ipv6: FamilySpec;
}

export const USER_CHAINS = ['U1', 'U2', 'U3'] as const;

/** Addresses in rules: the topology's hosts and prefixes, plus shapes real files use. */
const ADDRESSES: Record<Family, { src: string[]; dst: string[] }> = {
  ipv4: {
    src: ['192.0.2.1/32', '192.0.2.77/32', '192.0.2.0/24', '192.0.2.0/25', '192.0.2.200/30', '203.0.113.0/24', '203.0.113.7/32', '203.0.113.64/26', '198.51.100.128/25', '10.0.0.0/8', '0.0.0.0/0'],
    dst: ['192.0.2.2/32', '198.51.100.1/32', '192.0.2.255/32', '255.255.255.255/32', '224.0.0.0/4', '198.51.100.0/25', '198.51.100.9/32', '198.51.100.64/26', '192.0.2.0/24', '203.0.113.0/24'],
  },
  ipv6: {
    src: ['2001:db8::1/128', '2001:db8::77/128', '2001:db8::/64', 'fe80::/10', '2001:db8:3::/48', '2001:db8:3:5::/64', '2001:db8:3::7/128', '::/0', '2001:db8:3::/47'],
    dst: ['2001:db8::2/128', '2001:db8:1::1/128', 'ff00::/8', 'ff02::1/128', '2001:db8:2::/48', '2001:db8:2::9/128', '2001:db8:3::/48', 'fe80::/10'],
  },
};

/** Ports the packet generator also favours (test/diff/gen-stream.ts reads the rules' own). */
export const COMMON_PORTS = [22, 25, 53, 67, 68, 80, 123, 443, 1000, 5060, 8080] as const;

const REJECT_WITH: Record<Family, string[]> = {
  ipv4: ['icmp-net-unreachable', 'icmp-host-unreachable', 'icmp-proto-unreachable', 'icmp-port-unreachable', 'icmp-net-prohibited', 'icmp-host-prohibited', 'icmp-admin-prohibited'],
  ipv6: ['icmp6-no-route', 'icmp6-adm-prohibited', 'icmp6-addr-unreachable', 'icmp6-port-unreachable', 'icmp6-policy-fail', 'icmp6-reject-route'],
};

const neg = <T>(v: fc.Arbitrary<T>, notWeight = 1): fc.Arbitrary<Neg<T>> =>
  fc.record({ not: fc.oneof({ weight: 8, arbitrary: fc.constant(false) }, { weight: notWeight, arbitrary: fc.constant(true) }), v });

/** `v` one time in `n`, else undefined (which is also where shrinking goes). */
const sometimes = <T>(v: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: n - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: v });

/** `v` (n-1) times in `n`. */
const mostly = <T>(v: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: 1, arbitrary: fc.constant(undefined) }, { weight: n - 1, arbitrary: v });

const port = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...COMMON_PORTS) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 65535 }) });

/** `22`, or a range `1024:65535` (low < high: multiport refuses `80:80`). */
const portSpec = fc.oneof(
  { weight: 3, arbitrary: port.map(String) },
  { weight: 1, arbitrary: fc.tuple(port, port).filter(([a, b]) => a !== b).map(([a, b]) => `${Math.min(a, b)}:${Math.max(a, b)}`) },
);

const FLAG_SETS = [
  ['FIN,SYN,RST,ACK', 'SYN'],
  ['SYN,RST', 'SYN,RST'],
  ['FIN,SYN', 'FIN,SYN'],
  ['FIN,SYN,RST,PSH,ACK,URG', 'NONE'],
  ['FIN,SYN,RST,PSH,ACK,URG', 'FIN,PSH,URG'],
  ['ACK,FIN', 'FIN'],
  ['RST', 'RST'],
  ['ALL', 'ALL'],
] as const;

function tcpMatch(): fc.Arbitrary<MatchSpec> {
  return fc
    .record({ sport: sometimes(neg(portSpec), 4), dport: mostly(neg(portSpec), 3), flags: sometimes(neg(fc.constantFrom(...FLAG_SETS)), 3), syn: sometimes(fc.boolean(), 5) })
    .map((r) => {
      const w = ['tcp'];
      if (r.sport) w.push(...(r.sport.not ? ['!'] : []), '--sport', r.sport.v);
      if (r.dport) w.push(...(r.dport.not ? ['!'] : []), '--dport', r.dport.v);
      if (r.flags) w.push(...(r.flags.not ? ['!'] : []), '--tcp-flags', r.flags.v[0], r.flags.v[1]);
      else if (r.syn !== undefined) w.push(...(r.syn ? [] : ['!']), '--tcp-flags', 'FIN,SYN,RST,ACK', 'SYN');
      return w;
    });
}

function udpMatch(): fc.Arbitrary<MatchSpec> {
  return fc.record({ sport: sometimes(neg(portSpec), 4), dport: mostly(neg(portSpec), 3) }).map((r) => {
    const w = ['udp'];
    if (r.sport) w.push(...(r.sport.not ? ['!'] : []), '--sport', r.sport.v);
    if (r.dport) w.push(...(r.dport.not ? ['!'] : []), '--dport', r.dport.v);
    return w;
  });
}

function multiportMatch(): fc.Arbitrary<MatchSpec> {
  return fc
    .record({ not: fc.boolean(), dir: fc.constantFrom('--dports', '--dports', '--sports', '--ports'), ports: fc.uniqueArray(portSpec, { minLength: 1, maxLength: 7 }) })
    .map((r) => ['multiport', ...(r.not ? ['!'] : []), r.dir, r.ports.join(',')]);
}

/** iptables-save prints icmp types as numbers (`--icmp-type 8`, `3/1`) and `any` by name. */
function icmpMatch(family: Family): fc.Arbitrary<MatchSpec> {
  const types =
    family === 'ipv4'
      ? fc.constantFrom('8', '0', '3', '3/3', '3/1', '11', '13', '5', 'any', '8/0')
      : fc.constantFrom('128', '129', '1', '1/4', '2', '3', '4', '200', '128/0');
  return neg(types).map((t) => (family === 'ipv4' ? ['icmp', ...(t.not ? ['!'] : []), '--icmp-type', t.v] : ['icmp6', ...(t.not ? ['!'] : []), '--icmpv6-type', t.v]));
}

function genericMatch(family: Family, outputReachable: boolean, stateful: boolean): fc.Arbitrary<MatchSpec> {
  const ranges: fc.Arbitrary<[string, string]> =
    family === 'ipv4'
      ? fc.constantFrom<[string, string]>(['192.0.2.1', '192.0.2.100'], ['203.0.113.0', '203.0.113.127'], ['198.51.100.1', '198.51.100.9'], ['192.0.2.2', '192.0.2.2'])
      : fc.constantFrom<[string, string]>(['2001:db8::1', '2001:db8::ff'], ['2001:db8:3::', '2001:db8:3::ffff'], ['2001:db8:2::1', '2001:db8:2::9'], ['2001:db8::2', '2001:db8::2']);
  const options: fc.Arbitrary<MatchSpec>[] = [
    neg(ranges, 2).chain((r) => fc.constantFrom('--src-range', '--dst-range').map((dir) => ['iprange', ...(r.not ? ['!'] : []), dir, `${r.v[0]}-${r.v[1]}`])),
    neg(fc.constantFrom('unicast', 'broadcast', 'multicast'), 2).map((p) => ['pkttype', ...(p.not ? ['!'] : []), '--pkt-type', p.v]),
    neg(fc.constantFrom('0:100', '40', '41:1500', '1000:65535', '60:80'), 2).map((l) => ['length', ...(l.not ? ['!'] : []), '--length', l.v]),
    fc.tuple(fc.constantFrom('eq', 'lt', 'gt'), fc.constantFrom(1, 2, 63, 64, 65, 255)).map(([op, v]) => (family === 'ipv4' ? ['ttl', `--ttl-${op}`, String(v)] : ['hl', `--hl-${op}`, String(v)])),
    neg(fc.constantFrom('0x0', '0x1', '0x0/0xff', '0x5/0xf'), 2).map((m) => ['mark', ...(m.not ? ['!'] : []), '--mark', m.v]),
    fc.constantFrom('"allow ssh"', 'drop-spoofed', '"quoted: with spaces"').map((c) => ['comment', '--comment', c]),
  ];
  if (family === 'ipv4') options.push(fc.constant(['ttl', '!', '--ttl-eq', '64']));
  if (stateful) {
    // Connection state, as real rulesets use it (test/diff/gen-flow.ts sends the connections).
    const states = fc.constantFrom('NEW', 'ESTABLISHED', 'RELATED,ESTABLISHED', 'INVALID', 'NEW,ESTABLISHED', 'UNTRACKED', 'RELATED');
    const state = neg(states, 2).map((st) => ['state', ...(st.not ? ['!'] : []), '--state', st.v]);
    const conntrack = fc.tuple(neg(states, 2), fc.constantFrom(undefined, 'ORIGINAL', 'REPLY')).map(([st, dir]) => ['conntrack', ...(st.not ? ['!'] : []), '--ctstate', st.v, ...(dir ? ['--ctdir', dir] : [])]);
    options.push(state, state, conntrack, conntrack);
  }
  if (!outputReachable) options.push(neg(fc.constantFrom(MAC.client.toUpperCase(), '02:00:00:00:09:09')).map((m) => ['mac', ...(m.not ? ['!'] : []), '--mac-source', m.v]));
  return fc.oneof(...options);
}

interface RuleContext {
  family: Family;
  chain: string;
  /** User chains this rule may jump to. */
  jumpable: readonly string[];
  /** OUTPUT can reach this chain (then no -m mac). */
  outputReachable: boolean;
  stateful: boolean;
}

const PROTOS: Record<Family, string[]> = { ipv4: ['tcp', 'udp', 'icmp', 'gre', '47', 'all'], ipv6: ['tcp', 'udp', 'ipv6-icmp', '47', '59'] };

function target(ctx: RuleContext, proto: Neg<string> | undefined): fc.Arbitrary<string[] | undefined> {
  const tcp = proto && !proto.not && proto.v === 'tcp';
  const rejects = [...REJECT_WITH[ctx.family], ...(tcp ? ['tcp-reset', 'tcp-reset', 'tcp-reset'] : [])];
  const choices: { weight: number; arbitrary: fc.Arbitrary<string[] | undefined> }[] = [
    { weight: 4, arbitrary: fc.constant(['ACCEPT']) },
    { weight: 3, arbitrary: fc.constant(['DROP']) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constant(['LOG', '--log-prefix', '"rjc "']) },
  ];
  choices.push({ weight: 6, arbitrary: fc.oneof(fc.constant<string[]>(['REJECT']), fc.constantFrom(...rejects).map((w) => ['REJECT', '--reject-with', w])) });
  if (USER_CHAINS.includes(ctx.chain as never)) choices.push({ weight: 2, arbitrary: fc.constant(['RETURN']) });
  if (ctx.jumpable.length > 0) choices.push({ weight: 3, arbitrary: fc.tuple(fc.constantFrom(...ctx.jumpable), fc.boolean()).map(([c, g]) => [g ? '-g' : '-j', c]) });
  return fc.oneof(...choices);
}

function rule(ctx: RuleContext): fc.Arbitrary<RuleSpec> {
  const { family, chain } = ctx;
  // `! -p all` never matches, and iptables refuses it.
  const proto = mostly(neg(fc.constantFrom(...PROTOS[family], 'tcp', 'tcp', 'udp'), 1), 3).map((p) => (p?.v === 'all' ? { not: false, v: 'all' } : p));
  return proto.chain((p) => {
    const plain = p && !p.not ? p.v : undefined;
    const modules: fc.Arbitrary<MatchSpec>[] = [genericMatch(family, ctx.outputReachable, ctx.stateful)];
    if (plain === 'tcp') modules.push(tcpMatch(), tcpMatch(), multiportMatch());
    if (plain === 'udp') modules.push(udpMatch(), udpMatch(), multiportMatch());
    if (plain === 'icmp' && family === 'ipv4') modules.push(icmpMatch('ipv4'), icmpMatch('ipv4'));
    if (plain === 'ipv6-icmp' && family === 'ipv6') modules.push(icmpMatch('ipv6'), icmpMatch('ipv6'));
    const iface = (names: string[]) => neg(fc.constantFrom(...names), 2);
    return fc.record({
      src: sometimes(neg(fc.constantFrom(...ADDRESSES[family].src), 1), 2),
      dst: sometimes(neg(fc.constantFrom(...ADDRESSES[family].dst), 1), 3),
      inIf: chain === 'OUTPUT' ? fc.constant(undefined) : sometimes(iface(['s0', 's1', 's+', 'lo', 'eth0']), 4),
      outIf: chain === 'INPUT' ? fc.constant(undefined) : sometimes(iface(['s0', 's1', 's+', 'eth+']), 4),
      proto: fc.constant(p),
      fragment: family === 'ipv4' ? sometimes(neg(fc.constant(true as const), 1), 12) : fc.constant(undefined),
      matches: fc.array(fc.oneof(...modules), { maxLength: 2 }).map(dedupeModules),
      target: target(ctx, p),
    });
  });
}

/** iptables accepts a module twice, but rejectc's printer and real files never do it. */
function dedupeModules(ms: MatchSpec[]): MatchSpec[] {
  const seen = new Set<string>();
  return ms.filter((m) => !seen.has(m[0]!) && (seen.add(m[0]!), true));
}

const ESTABLISHED_FIRST: RuleSpec = { matches: [['state', '--state', 'RELATED,ESTABLISHED']], target: ['ACCEPT'] };

const RULE_COUNTS: Record<string, number> = { INPUT: 7, FORWARD: 5, OUTPUT: 2, U1: 4, U2: 3, U3: 3 };

function familySpec(family: Family, stateful: boolean): fc.Arbitrary<FamilySpec> {
  const policy = fc.oneof({ weight: 5, arbitrary: fc.constant('ACCEPT' as const) }, { weight: 1, arbitrary: fc.constant('DROP' as const) });
  const chainRules = (ctx: Omit<RuleContext, 'family' | 'stateful'>) => fc.array(rule({ ...ctx, family, stateful }), { maxLength: RULE_COUNTS[ctx.chain] ?? 3 });
  const users = (name: string, i: number) => chainRules({ chain: name, jumpable: USER_CHAINS.slice(i + 1), outputReachable: false });
  return fc
    .record({
      input: chainRules({ chain: 'INPUT', jumpable: USER_CHAINS, outputReachable: false }),
      forward: chainRules({ chain: 'FORWARD', jumpable: USER_CHAINS, outputReachable: false }),
      // OUTPUT sees the server's own answers (TCP RSTs, ICMP errors, echo replies): rare, simple.
      // (Not for stateful rulesets: each kind runs on its own topology, see fuzz.ts.)
      output: stateful ? fc.constant([] as RuleSpec[]) : fc.oneof({ weight: 4, arbitrary: fc.constant([] as RuleSpec[]) }, { weight: 1, arbitrary: chainRules({ chain: 'OUTPUT', jumpable: [], outputReachable: true }) }),
      policies: fc.tuple(policy, policy, stateful ? fc.constant('ACCEPT' as const) : fc.oneof({ weight: 9, arbitrary: fc.constant('ACCEPT' as const) }, { weight: 1, arbitrary: fc.constant('DROP' as const) })),
      u1: users('U1', 0),
      u2: users('U2', 1),
      u3: users('U3', 2),
    })
    .map((r) => ({
      family,
      chains: [
        // The classic stateful firewall: replies and related traffic first.
        { name: 'INPUT', policy: r.policies[0], rules: stateful ? [ESTABLISHED_FIRST, ...r.input] : r.input },
        { name: 'FORWARD', policy: r.policies[1], rules: stateful ? [ESTABLISHED_FIRST, ...r.forward] : r.forward },
        { name: 'OUTPUT', policy: r.policies[2], rules: r.output },
        { name: 'U1', rules: r.u1 },
        { name: 'U2', rules: r.u2 },
        { name: 'U3', rules: r.u3 },
      ],
    }));
}

/** An empty (all ACCEPT) table of a family. */
export function emptyFamily(family: Family): FamilySpec {
  return { family, chains: ['INPUT', 'FORWARD', 'OUTPUT'].map((name) => ({ name, policy: 'ACCEPT' as const, rules: [] })) };
}

/**
 * Rulesets of both families; most cases exercise one family in depth and leave the other
 * nearly empty, as many real hosts do.
 */
export function arbRuleset(): fc.Arbitrary<RulesetSpec> {
  const of = (stateful: boolean) => fc.record({ stateful: fc.constant(stateful), ipv4: familySpec('ipv4', stateful), ipv6: familySpec('ipv6', stateful) });
  return fc.oneof({ weight: 3, arbitrary: of(false) }, { weight: 1, arbitrary: of(true) });
}

function negated(flag: string, n: Neg<string> | undefined): string[] {
  return n ? [...(n.not ? ['!'] : []), flag, n.v] : [];
}

/** The `-A` line of a rule, in iptables-save's order of options. */
export function ruleLine(chain: string, r: RuleSpec): string {
  const w = ['-A', chain, ...negated('-s', r.src), ...negated('-d', r.dst), ...negated('-i', r.inIf), ...negated('-o', r.outIf), ...negated('-p', r.proto)];
  if (r.fragment) w.push(...(r.fragment.not ? ['!'] : []), '-f');
  for (const m of r.matches) w.push('-m', ...m);
  if (r.target) w.push(...(r.target[0] === '-g' || r.target[0] === '-j' ? r.target : ['-j', ...r.target]));
  return w.join(' ');
}

/** The iptables-save text of one family (header comment included, so rejectc knows the family). */
export function printFamily(f: FamilySpec): string {
  const tool = f.family === 'ipv4' ? 'iptables-save' : 'ip6tables-save';
  const lines = [`# Generated by ${tool} v1.8.9 (legacy)`, '*filter'];
  for (const c of f.chains) lines.push(`:${c.name} ${c.policy ?? '-'} [0:0]`);
  for (const c of f.chains) for (const r of c.rules) lines.push(ruleLine(c.name, r));
  lines.push('COMMIT', `# Completed`, '');
  return lines.join('\n');
}

/** Both files of a generated ruleset. */
export function printSpec(spec: RulesetSpec): { ipv4: string; ipv6: string } {
  return { ipv4: printFamily(spec.ipv4), ipv6: printFamily(spec.ipv6) };
}
