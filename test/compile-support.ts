/**
 * Hand-made IR for the back-end tests: small builders so a test states a ruleset in a few
 * lines without the front end. Spans point at a fake file with one line per rule.
 */
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
