/**
 * Hand-made IR for the back-end tests: small builders so a test states a ruleset in a few
 * lines without the front end. Spans point at a fake file with one line per rule.
 */
import fc from 'fast-check';
import type {
  Chain,
  Cidr,
  Family,
  FamilyRuleset,
  Match,
  Policy,
  RejectWith,
  Rule,
  Ruleset,
  Target,
} from '../src/compiler/ir.js';
import type { Span } from '../src/compiler/span.js';

let line = 0;

export function span(file = 'rules.txt'): Span {
  line++;
  return { file, start: { line, column: 1, offset: 0 }, end: { line, column: 10, offset: 9 } };
}

function cidr(text: string): Cidr {
  const [address, prefix] = text.split('/');
  return { address: address!, prefix: prefix ? Number(prefix) : address!.includes(':') ? 128 : 32 };
}

export type TargetSpec = 'ACCEPT' | 'DROP' | 'RETURN' | 'LOG' | null | { reject: RejectWith } | { jump: string } | { goto: string };

export interface RuleSpec {
  src?: string[];
  srcNeg?: boolean;
  dst?: string[];
  dstNeg?: boolean;
  proto?: number;
  protoNeg?: boolean;
  iif?: string;
  iifNeg?: boolean;
  oif?: string;
  oifNeg?: boolean;
  frag?: boolean;
  fragNeg?: boolean;
  matches?: Match[];
  target?: TargetSpec;
  text?: string;
}

function target(t: TargetSpec, s: Span): Target | null {
  if (t === null) return null;
  if (t === 'LOG') return { kind: 'target', target: 'LOG', span: s };
  if (typeof t === 'string') return { kind: 'target', target: t, span: s };
  if ('reject' in t) return { kind: 'target', target: 'REJECT', with: t.reject, span: s };
  if ('jump' in t) return { kind: 'target', target: 'jump', chain: t.jump, goto: false, span: s };
  return { kind: 'target', target: 'jump', chain: t.goto, goto: true, span: s };
}

function iface(name: string, negated: boolean, s: Span) {
  const wildcard = name.endsWith('+');
  return { negated, name: wildcard ? name.slice(0, -1) : name, wildcard, span: s };
}

export function rule(spec: RuleSpec): Rule {
  const s = span();
  const r: Rule = {
    kind: 'rule',
    span: s,
    source: spec.text ?? `rule at line ${s.start.line}`,
    base: {},
    matches: spec.matches ?? [],
    target: target(spec.target === undefined ? 'ACCEPT' : spec.target, s),
  };
  if (spec.src) r.base.src = { negated: !!spec.srcNeg, addresses: spec.src.map(cidr), span: s };
  if (spec.dst) r.base.dst = { negated: !!spec.dstNeg, addresses: spec.dst.map(cidr), span: s };
  if (spec.proto !== undefined) r.base.protocol = { negated: !!spec.protoNeg, protocol: spec.proto, span: s };
  if (spec.iif !== undefined) r.base.inInterface = iface(spec.iif, !!spec.iifNeg, s);
  if (spec.oif !== undefined) r.base.outInterface = iface(spec.oif, !!spec.oifNeg, s);
  if (spec.frag) r.base.fragment = { negated: !!spec.fragNeg, span: s };
  return r;
}

type Range = [number, number];

export function tcp(o: { sport?: Range; dport?: Range; sportNeg?: boolean; dportNeg?: boolean; flags?: [number, number]; flagsNeg?: boolean }): Match {
  const s = span();
  const m: Match = { kind: 'match', module: 'tcp', span: s };
  if (o.sport) m.sport = { negated: !!o.sportNeg, value: { from: o.sport[0], to: o.sport[1] }, span: s };
  if (o.dport) m.dport = { negated: !!o.dportNeg, value: { from: o.dport[0], to: o.dport[1] }, span: s };
  if (o.flags) m.flags = { negated: !!o.flagsNeg, value: { mask: o.flags[0], comp: o.flags[1] }, span: s };
  return m;
}

export function udp(o: { sport?: Range; dport?: Range; dportNeg?: boolean }): Match {
  const s = span();
  const m: Match = { kind: 'match', module: 'udp', span: s };
  if (o.sport) m.sport = { negated: false, value: { from: o.sport[0], to: o.sport[1] }, span: s };
  if (o.dport) m.dport = { negated: !!o.dportNeg, value: { from: o.dport[0], to: o.dport[1] }, span: s };
  return m;
}

export function multiport(direction: 'sports' | 'dports' | 'ports', ports: Range[], negated = false): Match {
  return { kind: 'match', module: 'multiport', direction, negated, ports: ports.map(([from, to]) => ({ from, to })), span: span() };
}

export function icmp(type: number, codes: Range = [0, 255], negated = false, v6 = false): Match {
  const s = span();
  return {
    kind: 'match',
    module: v6 ? 'icmp6' : 'icmp',
    icmpType: { negated, value: { type, codeMin: codes[0], codeMax: codes[1] }, span: s },
    span: s,
  };
}

export function mark(value: number, mask = 0xffffffff, negated = false): Match {
  const s = span();
  return { kind: 'match', module: 'mark', mark: { negated, value: { value, mask }, span: s }, span: s };
}

export function chain(name: string, rules: Rule[], policy?: Policy): Chain {
  const s = span();
  const c: Chain = { kind: 'chain', name, builtin: ['INPUT', 'FORWARD', 'OUTPUT'].includes(name), span: s, rules };
  if (policy) c.policy = { verdict: policy, span: s };
  return c;
}

export function family(fam: Family, chains: Chain[]): FamilyRuleset {
  return { kind: 'family', family: fam, tables: [{ kind: 'table', name: 'filter', span: span(), chains }] };
}

export function ruleset(...families: FamilyRuleset[]): Ruleset {
  return { kind: 'ruleset', file: 'rules.txt', backend: 'unknown', families };
}

// ---------------------------------------------------------------------------------------------
// Random rulesets in the compiled subset, as iptables/ip6tables command scripts (so a failure
// prints a rules file that reproduces it). Weighted toward real shapes: addresses and address
// lists, port lists, negations, user chains with RETURN, jumps and gotos.


export interface RulesetGenOptions {
  families: readonly ('ipv4' | 'ipv6')[];
  /** Rules per chain at most (built-in chains). */
  maxRules: number;
  /** User chains at most. */
  maxUserChains: number;
  /** Generate OUTPUT rules (false for XDP). */
  output: boolean;
  /** Interface names the rules may use. */
  interfaces: readonly string[];
}

const V4 = ['192.0.2.0/24', '192.0.2.1', '192.0.2.2', '192.0.2.128/25', '198.51.100.0/24', '198.51.100.7', '203.0.113.0/25', '10.0.0.0/8', '0.0.0.0/1', '127.0.0.1'];
const V6 = ['2001:db8::/32', '2001:db8::1', '2001:db8::2', '2001:db8:a::/64', '2001:db8:c::1', 'fe80::/10', '::1', '2001:db8:1::/48'];
const PORTS = ['22', '80', '53', '443', '1024:65535', '0:1023', '8000:8100', '7', '65535'];
const REJECT4 = ['icmp-net-unreachable', 'icmp-host-unreachable', 'icmp-proto-unreachable', 'icmp-port-unreachable', 'icmp-net-prohibited', 'icmp-host-prohibited', 'icmp-admin-prohibited'];
const REJECT6 = ['icmp6-no-route', 'icmp6-adm-prohibited', 'icmp6-addr-unreachable', 'icmp6-port-unreachable', 'icmp6-policy-fail', 'icmp6-reject-route'];

/** `a` one time in (1 + absent / weight); absent otherwise. */
const maybe = <T>(a: fc.Arbitrary<T>, weight = 1, absent = 2): fc.Arbitrary<T | null> => fc.oneof({ weight: absent, arbitrary: fc.constant(null) }, { weight, arbitrary: a });
const not = (s: string): fc.Arbitrary<string> => fc.oneof({ weight: 3, arbitrary: fc.constant(s) }, { weight: 1, arbitrary: fc.constant(`! ${s}`) });

function addresses(fam: 'ipv4' | 'ipv6'): fc.Arbitrary<string> {
  const pool = fam === 'ipv4' ? V4 : V6;
  return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...pool) }, { weight: 1, arbitrary: fc.subarray(pool, { minLength: 2, maxLength: 3 }).map((l) => l.join(',')) });
}

function protoPart(fam: 'ipv4' | 'ipv6'): fc.Arbitrary<{ proto: string | null; opts: string }> {
  const icmpName = fam === 'ipv4' ? 'icmp' : 'ipv6-icmp';
  const ports = fc.oneof(fc.constantFrom(...PORTS), fc.subarray(PORTS.filter((p) => !p.includes(':')), { minLength: 2, maxLength: 4 }).map((l) => l.join(',')));
  const tcp = fc
    .record({
      sport: maybe(fc.constantFrom(...PORTS)),
      dport: maybe(fc.constantFrom(...PORTS), 3),
      sneg: fc.boolean(),
      dneg: fc.boolean(),
      flags: maybe(fc.constantFrom('--syn', '! --syn', '--tcp-flags SYN,RST,ACK SYN', '--tcp-flags ALL NONE', '! --tcp-flags FIN,SYN FIN,SYN', '--tcp-flags RST RST')),
    })
    .map((r) =>
      [
        r.sport ? `${r.sneg ? '! ' : ''}--sport ${r.sport}` : '',
        r.dport ? `${r.dneg ? '! ' : ''}--dport ${r.dport}` : '',
        r.flags ?? '',
      ]
        .filter(Boolean)
        .join(' '),
    );
  const udp = fc.record({ dport: maybe(fc.constantFrom(...PORTS), 3), sport: maybe(fc.constantFrom(...PORTS)), neg: fc.boolean() }).map((r) =>
    [r.sport ? `--sport ${r.sport}` : '', r.dport ? `${r.neg ? '! ' : ''}--dport ${r.dport}` : ''].filter(Boolean).join(' '),
  );
  const multi = fc
    .record({ dir: fc.constantFrom('--dports', '--sports', '--ports'), list: ports, neg: fc.boolean() })
    .map((r) => `-m multiport ${r.neg ? '! ' : ''}${r.dir} ${r.list}`);
  const icmp =
    fam === 'ipv4'
      ? fc.constantFrom('--icmp-type echo-request', '--icmp-type 3/3', '! --icmp-type echo-request', '--icmp-type any', '--icmp-type 11', '--icmp-type destination-unreachable', '')
      : fc.constantFrom('--icmpv6-type 128', '--icmpv6-type 1/4', '! --icmpv6-type echo-request', '--icmpv6-type 135', '--icmpv6-type 1', '');
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant({ proto: null, opts: '' }) },
    { weight: 4, arbitrary: fc.record({ m: fc.oneof({ weight: 3, arbitrary: tcp }, { weight: 1, arbitrary: multi }) }).map(({ m }) => ({ proto: 'tcp', opts: m })) },
    { weight: 3, arbitrary: fc.record({ m: fc.oneof({ weight: 3, arbitrary: udp }, { weight: 1, arbitrary: multi }) }).map(({ m }) => ({ proto: 'udp', opts: m })) },
    { weight: 2, arbitrary: icmp.map((o) => ({ proto: icmpName, opts: o ? `-m ${fam === 'ipv4' ? 'icmp' : 'icmp6'} ${o}` : '' })) },
    { weight: 1, arbitrary: fc.constantFrom('47', '! tcp', '! udp', '132', 'all').map((p) => ({ proto: p, opts: '' })) },
  );
}

function extraModules(fam: 'ipv4' | 'ipv6', macOk: boolean): fc.Arbitrary<string> {
  const pool = fam === 'ipv4' ? V4 : V6;
  const range = fc.constantFrom(...(fam === 'ipv4' ? ['192.0.2.1-192.0.2.99', '198.51.100.7-203.0.113.200', '10.0.0.0-10.0.0.255'] : ['2001:db8::1-2001:db8::ff', '2001:db8:a::-2001:db8:c::ffff']));
  const mods = [
    fc.record({ r: range, neg: fc.boolean(), side: fc.constantFrom('src', 'dst') }).map((r) => `-m iprange ${r.neg ? '! ' : ''}--${r.side}-range ${r.r}`),
    fc.constantFrom('-m pkttype --pkt-type broadcast', '-m pkttype --pkt-type multicast', '-m pkttype ! --pkt-type unicast', '-m pkttype --pkt-type host'),
    fc.constantFrom('-m length --length 0:100', '-m length ! --length 60', '-m length --length 1000:65535', '-m length --length 40:60'),
    fam === 'ipv4'
      ? fc.constantFrom('-m ttl --ttl-eq 64', '-m ttl --ttl-lt 10', '-m ttl --ttl-gt 63', '-m ttl ! --ttl-eq 1')
      : fc.constantFrom('-m hl --hl-eq 64', '-m hl --hl-lt 10', '-m hl --hl-gt 63', '-m hl ! --hl-eq 255'),
    fc.constantFrom('-m mark --mark 0x1', '-m mark --mark 0x2/0x2', '-m mark ! --mark 0x0/0xff', '-m mark --mark 5'),
    fc.constantFrom('-m comment --comment "a comment"'),
    fam === 'ipv4'
      ? fc.constantFrom('-m addrtype --dst-type LOCAL', '-m addrtype --src-type UNICAST', '-m addrtype ! --dst-type BROADCAST,MULTICAST', '-m addrtype --src-type LOCAL --dst-type UNICAST')
      : fc.constantFrom('-m addrtype --dst-type LOCAL', '-m addrtype --src-type UNICAST', '-m addrtype --dst-type MULTICAST', '-m addrtype ! --src-type LOCAL,ANYCAST', '-m addrtype --dst-type UNSPEC'),
    fc.constantFrom(...pool).map((a) => `-m iprange --src-range ${a.split('/')[0]}-${a.split('/')[0]}`),
  ];
  if (macOk) mods.push(fc.constantFrom('-m mac --mac-source 02:00:00:00:00:01', '-m mac ! --mac-source 02:00:00:00:00:09', '-m mac --mac-source 02:00:00:00:00:AA'));
  return fc.oneof({ weight: 10, arbitrary: fc.constant('') }, ...mods.map((m) => ({ weight: 1, arbitrary: m })));
}

function ruleArb(fam: 'ipv4' | 'ipv6', chain: string, callable: string[], opts: RulesetGenOptions): fc.Arbitrary<string> {
  const builtin = ['INPUT', 'FORWARD', 'OUTPUT'].includes(chain);
  const macOk = chain === 'INPUT' || chain === 'FORWARD';
  return fc
    .record({
      // Few conditions per rule, as in real rulesets, so that packets reach rules.
      src: maybe(addresses(fam), 1, 3),
      srcNeg: fc.boolean(),
      dst: maybe(addresses(fam), 1, 3),
      dstNeg: fc.boolean(),
      iif: maybe(fc.constantFrom(...opts.interfaces), 1, 5),
      oif: maybe(fc.constantFrom(...opts.interfaces), 1, 5),
      ifNeg: fc.boolean(),
      frag: fam === 'ipv4' ? maybe(not('-f'), 1, 9) : fc.constant(null),
      proto: protoPart(fam),
      extra: extraModules(fam, macOk),
      extra2: maybe(extraModules(fam, macOk), 1, 3).map((x) => x ?? ''),
      target: fc.integer({ min: 0, max: 99 }),
      rejectType: fc.constantFrom(...(fam === 'ipv4' ? REJECT4 : REJECT6)),
      callee: callable.length > 0 ? fc.constantFrom(...callable) : fc.constant(''),
    })
    .map((r) => {
      const parts: string[] = [];
      // iptables refuses "!" on either address when one of them is a list.
      const list = (r.src ?? '').includes(',') || (r.dst ?? '').includes(',');
      if (r.src) parts.push(`${r.srcNeg && !list ? '! ' : ''}-s ${r.src}`);
      if (r.dst) parts.push(`${r.dstNeg && !list ? '! ' : ''}-d ${r.dst}`);
      if (r.iif && chain !== 'OUTPUT') parts.push(`${r.ifNeg ? '! ' : ''}-i ${r.iif}`);
      if (r.oif && chain !== 'INPUT') parts.push(`-o ${r.oif}`);
      if (r.frag) parts.push(r.frag);
      if (r.proto.proto) parts.push(`-p ${r.proto.proto}`);
      if (r.proto.opts) parts.push(r.proto.opts);
      if (r.extra) parts.push(r.extra);
      if (r.extra2 && r.extra2 !== r.extra && !r.extra2.startsWith(r.extra.split(' ').slice(0, 2).join(' ') || '@')) parts.push(r.extra2);
      const isTcp = r.proto.proto === 'tcp';
      const t = r.target;
      let target: string;
      if (t < 18) target = '-j ACCEPT';
      else if (t < 34) target = '-j DROP';
      else if (t < 52) target = `-j REJECT --reject-with ${isTcp && t % 2 === 0 ? 'tcp-reset' : r.rejectType}`;
      else if (t < 60) target = '-j LOG';
      else if (t < 66) target = '';
      else if (t < 76) target = '-j RETURN';
      else if (r.callee && t < 92) target = `-j ${r.callee}`;
      else if (r.callee) target = `-g ${r.callee}`;
      else target = builtin ? '-j DROP' : '-j RETURN';
      if (target) parts.push(target);
      return parts.join(' ');
    });
}

/** A random ruleset script (iptables / ip6tables commands). */
export function arbRulesetScript(opts: RulesetGenOptions): fc.Arbitrary<string> {
  const perFamily = (fam: 'ipv4' | 'ipv6') =>
    fc.integer({ min: 0, max: opts.maxUserChains }).chain((nUser) => {
      const users = Array.from({ length: nUser }, (_, i) => `U${i + 1}`);
      const hooks = opts.output ? ['INPUT', 'FORWARD', 'OUTPUT'] : ['INPUT', 'FORWARD'];
      const chains = [...hooks, ...users];
      return fc
        .record({
          policies: fc.array(fc.constantFrom('ACCEPT', 'DROP'), { minLength: 3, maxLength: 3 }),
          rules: fc.tuple(
            ...chains.map((c, i) => {
              // Built-ins may call any user chain; user chain Uk only later ones (no loops).
              const callable = i < hooks.length ? users : users.slice(i - hooks.length + 1);
              const max = i < hooks.length ? opts.maxRules : Math.max(1, Math.ceil(opts.maxRules / 3));
              return fc.array(ruleArb(fam, c, callable, opts), { maxLength: max });
            }),
          ),
        })
        .map(({ policies, rules }) => {
          const cmd = fam === 'ipv4' ? 'iptables' : 'ip6tables';
          const lines = hooks.map((h, i) => `${cmd} -P ${h} ${policies[i]}`);
          for (const u of users) lines.push(`${cmd} -N ${u}`);
          chains.forEach((c, i) => {
            for (const r of rules[i]!) lines.push(`${cmd} -A ${c} ${r}`.trimEnd());
          });
          return lines.join('\n');
        });
    });
  return fc.tuple(...opts.families.map(perFamily)).map((parts) => `${parts.join('\n')}\n`);
}

// ---------------------------------------------------------------------------------------------
// Random rulesets of real shapes (issue 4): blocklists of hosts and networks, service ports
// (single and multiport lists), per-interface and per-network user chains with RETURN, LOG,
// negations; 1 to `maxRules` rules in all.

const host4 = fc.tuple(fc.constantFrom('192.0.2', '198.51.100', '203.0.113'), fc.integer({ min: 1, max: 254 })).map(([n, h]) => `${n}.${h}`);
const net4 = fc.oneof(
  fc.constantFrom('192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '10.0.0.0/8', '198.51.100.0/25', '198.51.100.128/25'),
  fc.tuple(fc.constantFrom('192.0.2', '198.51.100', '203.0.113'), fc.integer({ min: 0, max: 15 })).map(([n, k]) => `${n}.${k * 16}/28`),
);
const host6 = fc.tuple(fc.constantFrom('2001:db8::', '2001:db8:a::', '2001:db8:c::'), fc.integer({ min: 1, max: 0xfff })).map(([n, h]) => `${n}${h.toString(16)}`);
const net6 = fc.constantFrom('2001:db8::/64', '2001:db8:a::/64', '2001:db8:c::/64', '2001:db8::/32', '2001:db8:a::/48');
const port = fc.oneof(fc.constantFrom(22, 25, 53, 80, 123, 443, 3306, 5432, 8080), fc.integer({ min: 1, max: 65535 }));

function realRule(fam: 'ipv4' | 'ipv6', chain: string, callee: string | undefined): fc.Arbitrary<string> {
  const host = fam === 'ipv4' ? host4 : host6;
  const net = fam === 'ipv4' ? net4 : net6;
  const addr = fc.oneof({ weight: 3, arbitrary: host }, { weight: 2, arbitrary: net });
  const addrList = fc.oneof({ weight: 3, arbitrary: addr }, { weight: 1, arbitrary: fc.array(addr, { minLength: 2, maxLength: 3 }).map((l) => l.join(',')) });
  const reject = fam === 'ipv4' ? 'icmp-port-unreachable' : 'icmp6-port-unreachable';
  const user = chain.startsWith('U');
  const shapes: fc.Arbitrary<string>[] = [
    addrList.map((a) => `-s ${a} -j DROP`),
    fc.tuple(port, fc.constantFrom('ACCEPT', 'DROP')).map(([p, t]) => `-p tcp -m tcp --dport ${p} -j ${t}`),
    fc.array(port, { minLength: 2, maxLength: 6 }).map((ps) => `-p tcp -m multiport --dports ${ps.join(',')} -j ACCEPT`),
    fc.tuple(net, port).map(([n, p]) => `-s ${n} -p tcp -m tcp --dport ${p} -j ACCEPT`),
    port.map((p) => `-p udp -m udp --dport ${p} -j REJECT --reject-with ${reject}`),
    fc.tuple(host, port).map(([h, p]) => `-d ${h} -p tcp -m tcp --dport ${p} -j REJECT --reject-with tcp-reset`),
    net.map((n) => `! -s ${n} -p tcp -m tcp --dport 22 -j DROP`),
    fc.constant(fam === 'ipv4' ? '-p icmp -m icmp --icmp-type 8 -j ACCEPT' : '-p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT'),
    fc.tuple(port, port).map(([a, b]) => `-p tcp -m tcp --sport ${Math.min(a, b)}:${Math.max(a, b)} -j LOG`),
  ];
  if (fam === 'ipv4') shapes.push(fc.tuple(host4, fc.integer({ min: 1, max: 40 })).map(([h, k]) => `-m iprange --src-range ${h}-${h.replace(/\.\d+$/, `.${Math.min(254, Number(h.split('.')[3]) + k)}`)} -j DROP`));
  if (user) shapes.push(net.map((n) => `-s ${n} -j RETURN`), fc.constant('-j LOG'), port.map((p) => `-p tcp -m tcp ! --dport ${p} -j RETURN`));
  if (callee) {
    shapes.push(
      fc.constantFrom('rjd0', 'rjd+', 'eth0').map((i) => (chain === 'OUTPUT' ? `-o ${i} -j ${callee}` : `-i ${i} -j ${callee}`)),
      net.map((n) => `-s ${n} -j ${callee}`),
      fc.constant(`-p tcp -g ${callee}`),
    );
  }
  return fc.oneof(...shapes);
}

/** A random ruleset of real shapes with 1..maxRules rules (iptables-save text per family). */
export function arbRealisticScript(opts: { families: readonly ('ipv4' | 'ipv6')[]; maxRules: number; output: boolean }): fc.Arbitrary<string> {
  const perFamily = (fam: 'ipv4' | 'ipv6', budget: number) =>
    fc.integer({ min: 0, max: 4 }).chain((nUser) => {
      const users = Array.from({ length: nUser }, (_, i) => `U${i + 1}`);
      const hooks = opts.output ? ['INPUT', 'FORWARD', 'OUTPUT'] : ['INPUT', 'FORWARD'];
      const chains = [...hooks, ...users];
      return fc
        .record({
          policies: fc.array(fc.constantFrom('ACCEPT', 'DROP'), { minLength: 3, maxLength: 3 }),
          sizes: fc.array(fc.nat({ max: 100 }), { minLength: chains.length, maxLength: chains.length }),
        })
        .chain(({ policies, sizes }) => {
          const total = sizes.reduce((a, b) => a + b, 0) || 1;
          const counts = sizes.map((s) => Math.round((s / total) * budget));
          return fc
            .tuple(
              ...chains.map((c, i) => {
                const later = i < hooks.length ? users : users.slice(i - hooks.length + 1);
                const rule = fc.option(fc.constantFrom(...(later.length ? later : ['-'])), { nil: undefined }).chain((callee) => realRule(fam, c, callee === '-' ? undefined : callee));
                return fc.array(rule, { minLength: counts[i]!, maxLength: counts[i]! });
              }),
            )
            .map((rules) => {
              const cmd = fam === 'ipv4' ? 'iptables' : 'ip6tables';
              const lines = hooks.map((h, i) => `${cmd} -P ${h} ${policies[i]}`);
              for (const u of users) lines.push(`${cmd} -N ${u}`);
              chains.forEach((c, i) => rules[i]!.forEach((r) => lines.push(`${cmd} -A ${c} ${r}`)));
              return lines.join('\n');
            });
        });
    });
  return fc
    .integer({ min: 1, max: opts.maxRules })
    .chain((n) => fc.tuple(...opts.families.map((f) => perFamily(f, Math.max(1, Math.round(n / opts.families.length))))))
    .map((parts) => `${parts.join('\n')}\n`);
}
