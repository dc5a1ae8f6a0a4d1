/**
 * A rule (one expansion of it) as the classifier sees it: a sequence of steps in the order
 * the kernel evaluates them (ip_packet_match / ip6_packet_match, then each match module), each
 * step a conjunction of field terms, plus the header states in which the step hotdrops.
 *
 * Semantics mirrored (see src/model/matches.ts, docs/semantics.md):
 * - IPv4 base: -s -d -i -o -p -f in one step; `-p 0` is no protocol match.
 * - IPv6 base: -s -d -i -o; then, with -p, the transport header lookup: it hotdrops when
 *   ipv6_find_hdr fails (hdr `noproto`).
 * - tcp/udp/icmp/icmp6 read their whole header, multiport only the ports; non-first
 *   fragments never match them (even negated); a header they cannot read hotdrops; TCP at
 *   fragment offset 1 hotdrops (tcp_mt).
 * - `-i`/`-o` where the hook has no such device compare against "" (nulldevname), decided
 *   here; `-m mac` never matches at OUTPUT.
 * - `-m mark` is not indexed: a post-check on candidate rules; so are `-m state` and
 *   `-m conntrack` (./stateful.ts), whose checks read the packet's connection, and `-m limit`
 *   / `-m hashlimit` (./rate-limits.ts), whose checks spend tokens.
 */
import type { AddrType, Family, FilterHook, Match, Neg, Range, Rule } from '../ir.js';
import type { Expansion } from '../flatten/types.js';
import {
  addressValue,
  cidrAtom,
  interfaceAtom,
  interval,
  intervalsOf,
  macValue,
  rangeToPrefixes,
  type Atom,
  type Term,
} from './atoms.js';
import { ADDRTYPE, HDR, type FieldId } from './fields.js';
import { conntrackChecks, ownerChecks, recentChecks, setChecks, stateChecks, type CtCheck, type OwnerCheck, type RecentCheck, type SetCheck } from './stateful.js';
import { NO_RATES, rateCheck, type RateCheck, type RatePlan } from './rate-limits.js';

export interface FieldTerm {
  field: FieldId;
  term: Term;
}

/** A condition the index does not hold; checked for candidate rules from a per-rule descriptor. */
export type PostCheck =
  | {
      kind: 'mark';
      value: number;
      mask: number;
      negated: boolean;
    }
  | CtCheck
  | SetCheck
  | RecentCheck
  | OwnerCheck
  | RateCheck;

export interface Step {
  /** All must hold. */
  terms: FieldTerm[];
  /** When present, at least one alternative's terms must all hold (multiport --ports). */
  anyOf?: FieldTerm[][];
  checks: PostCheck[];
  /** Header states (HDR) in which reaching this step hotdrops the packet. */
  hotdrop: number[];
  /** The step can never match at this hook (decided at compile time). */
  never?: boolean;
}

const ALL_HDR_BUT = (...states: number[]): Atom[] => intervalsOf(Object.values(HDR).filter((s) => !states.includes(s)));

// The header-state atoms of the steps, made once: every rule of a kind shares them (atoms are
// never changed after they are made), which spares an allocation and a sort per rule.
const HDR_FULL: readonly Atom[] = intervalsOf([HDR.full]);
const HDR_PORTS: readonly Atom[] = intervalsOf([HDR.full, HDR.short]);
const HDR_FRAGMENTS: readonly Atom[] = intervalsOf([HDR.frag, HDR.frag1]);
const HDR_PROTO_FOUND: readonly Atom[] = ALL_HDR_BUT(HDR.noproto);

/** The atoms of `-p N`, one array per protocol number for all rules (shared like the above). */
const PROTO_ATOMS: (readonly Atom[])[] = [];

function protoAtoms(protocol: number): readonly Atom[] {
  return (PROTO_ATOMS[protocol] ??= [interval(protocol, protocol)]);
}

function term(field: FieldId, negated: boolean, atoms: readonly Atom[]): FieldTerm {
  return { field, term: { negated, atoms: atoms as Atom[] } };
}

function rangeTerm(field: FieldId, n: Neg<Range>): FieldTerm {
  return term(field, n.negated, [interval(n.value.from, n.value.to)]);
}

/**
 * The steps of one expansion of `rule` at `hook`. Precondition: the rule passed
 * {@link unsupportedParts}, and `rates` plans its rate-limit matches.
 */
export function ruleSteps(rule: Rule, expansion: Expansion, family: Family, hook: FilterHook, rates: RatePlan = NO_RATES): Step[] {
  const steps = baseSteps(rule, expansion, family, hook);
  for (const m of rule.matches) steps.push(moduleStep(m, family, hook, expansion, rates));
  return steps;
}

/** The `-i`/`-o` terms of a rule's first step (`never` where the hook has no such device and the match cannot hold). */
function addDeviceTerms(first: Step, b: Rule['base'], hook: FilterHook): void {
  for (const [match, field, absentAt] of [
    [b.inInterface, 'iif', 'OUTPUT'],
    [b.outInterface, 'oif', 'INPUT'],
  ] as const) {
    if (!match) continue;
    if (hook === absentAt) {
      // The hook passes nulldevname: only `+` (the empty wildcard) matches "".
      const matchesEmpty = match.wildcard && match.name === '';
      if (matchesEmpty === match.negated) first.never = true;
      continue;
    }
    first.terms.push(term(field, match.negated, [interfaceAtom(match.name, match.wildcard)]));
  }
}

function baseSteps(rule: Rule, expansion: Expansion, family: Family, hook: FilterHook): Step[] {
  const b = rule.base;
  const first: Step = { terms: [], checks: [], hotdrop: [] };
  const v4 = family === 'ipv4';
  if (b.src && expansion.src) first.terms.push(term(v4 ? 'src4' : 'src6', b.src.negated, [cidrAtom(expansion.src.address, expansion.src.prefix)]));
  if (b.dst && expansion.dst) first.terms.push(term(v4 ? 'dst4' : 'dst6', b.dst.negated, [cidrAtom(expansion.dst.address, expansion.dst.prefix)]));
  // (Only rules with a device match pay for the list below.)
  if (b.inInterface || b.outInterface) addDeviceTerms(first, b, hook);
  if (v4) {
    if (b.protocol && b.protocol.protocol !== 0) first.terms.push(term('proto', b.protocol.negated, protoAtoms(b.protocol.protocol)));
    if (b.fragment) first.terms.push(term('hdr', b.fragment.negated, HDR_FRAGMENTS));
    return [first];
  }
  if (!b.protocol) return [first];
  const proto: Step = { terms: [term('hdr', false, HDR_PROTO_FOUND)], checks: [], hotdrop: [HDR.noproto] };
  if (b.protocol.protocol !== 0) proto.terms.push(term('proto', b.protocol.negated, protoAtoms(b.protocol.protocol)));
  return [first, proto];
}

/**
 * The address type field values a `--src-type`/`--dst-type` list accepts: IPv4 `addrtype_mt`
 * (the address's route type is in the list); IPv6 `match_type6` (MULTICAST, UNICAST, UNSPEC
 * must each hold if listed; then, if LOCAL, ANYCAST or UNREACHABLE is listed, the route lookup
 * must find one of them). Types ip6tables refuses match nothing (as the model has it).
 */
function addrTypeValues(types: readonly AddrType[], family: Family): number[] {
  const R = ADDRTYPE.rtn;
  if (family === 'ipv4') return types.map((t) => R[t]);
  const set = new Set(types);
  if (['BROADCAST', 'BLACKHOLE', 'PROHIBIT', 'THROW', 'NAT', 'XRESOLVE'].some((t) => set.has(t as AddrType))) return [];
  const B = ADDRTYPE.v6;
  const out: number[] = [];
  for (let p = 0; p < 32; p++) {
    if (set.has('MULTICAST') && !(p & B.multicast)) continue;
    if (set.has('UNICAST') && !(p & B.unicast)) continue;
    if (set.has('UNSPEC') && !(p & B.any)) continue;
    if (set.has('LOCAL') || set.has('ANYCAST') || set.has('UNREACHABLE')) {
      const found = (set.has('LOCAL') && p & B.local) || (set.has('ANYCAST') && p & B.anycast);
      if (!found) continue;
    }
    out.push(ADDRTYPE.v6Base + p);
  }
  return out;
}

/** Flag bytes f with (f & mask) == comp. */
function tcpFlagValues(mask: number, comp: number): number[] {
  const out: number[] = [];
  for (let f = 0; f < 256; f++) if ((f & mask) === comp) out.push(f);
  return out;
}

const PKT_TYPES = { unicast: 0, host: 0, broadcast: 1, multicast: 2, otherhost: 3, outgoing: 4, loopback: 5 } as const;

function moduleStep(m: Match, family: Family, hook: FilterHook, expansion: Expansion, rates: RatePlan): Step {
  const step: Step = { terms: [], checks: [], hotdrop: [] };
  const t = step.terms;
  switch (m.module) {
    case 'tcp':
      t.push(term('hdr', false, HDR_FULL));
      step.hotdrop = [HDR.short, HDR.none, HDR.frag1];
      if (m.sport) t.push(rangeTerm('sport', m.sport));
      if (m.dport) t.push(rangeTerm('dport', m.dport));
      if (m.flags) t.push(term('tcpflags', m.flags.negated, intervalsOf(tcpFlagValues(m.flags.value.mask, m.flags.value.comp))));
      return step;
    case 'udp':
      t.push(term('hdr', false, HDR_FULL));
      step.hotdrop = [HDR.short, HDR.none];
      if (m.sport) t.push(rangeTerm('sport', m.sport));
      if (m.dport) t.push(rangeTerm('dport', m.dport));
      return step;
    case 'icmp':
    case 'icmp6': {
      t.push(term('hdr', false, HDR_FULL));
      step.hotdrop = [HDR.none];
      const it = m.icmpType;
      if (it && !(m.module === 'icmp' && it.value.type === 0xff)) {
        t.push(term('icmp', it.negated, [interval((it.value.type << 8) | it.value.codeMin, (it.value.type << 8) | it.value.codeMax)]));
      } else if (it?.negated) {
        // `! --icmp-type any` matches nothing.
        t.push(term('icmp', false, []));
      }
      return step;
    }
    case 'multiport': {
      t.push(term('hdr', false, HDR_PORTS));
      step.hotdrop = [HDR.none];
      // Own port fields: multiport reads the ports from 4 bytes, where tcp/udp need the whole header.
      const atoms = m.ports.map((r) => interval(r.from, r.to));
      if (m.direction === 'sports') t.push(term('msport', m.negated, atoms));
      else if (m.direction === 'dports') t.push(term('mdport', m.negated, atoms));
      else if (m.negated) t.push(term('msport', true, atoms), term('mdport', true, atoms));
      else step.anyOf = [[term('msport', false, atoms)], [term('mdport', false, atoms)]];
      return step;
    }
    case 'iprange': {
      const v4 = family === 'ipv4';
      const bits = v4 ? 32 : 128;
      for (const [side, field] of [
        [m.src, v4 ? 'src4' : 'src6'],
        [m.dst, v4 ? 'dst4' : 'dst6'],
      ] as const) {
        if (!side) continue;
        const from = addressValue(side.value.from).value;
        const to = addressValue(side.value.to).value;
        t.push(term(field, side.negated, rangeToPrefixes(from, to, bits)));
      }
      return step;
    }
    case 'mac':
      if (hook === 'OUTPUT') step.never = true;
      else t.push(term('mac', m.source.negated, [interval(macValue(m.source.value), macValue(m.source.value))]));
      return step;
    case 'pkttype': {
      const v = PKT_TYPES[m.pktType.value];
      t.push(term('pkttype', m.pktType.negated, [interval(v, v)]));
      return step;
    }
    case 'length':
      t.push(rangeTerm('length', m.length));
      return step;
    case 'ttl':
    case 'hl': {
      const v = m.value;
      const atoms =
        m.op === 'eq' || m.op === 'ne' ? [interval(v, v)] : m.op === 'lt' ? (v > 0 ? [interval(0, v - 1)] : []) : v < 255 ? [interval(v + 1, 255)] : [];
      t.push(term('ttl', m.op === 'ne', atoms));
      return step;
    }
    case 'addrtype':
      if (m.srcType) t.push(term('srctype', m.srcType.negated, intervalsOf(addrTypeValues(m.srcType.value, family))));
      if (m.dstType) t.push(term('dsttype', m.dstType.negated, intervalsOf(addrTypeValues(m.dstType.value, family))));
      return step;
    case 'mark':
      step.checks.push({ kind: 'mark', value: m.mark.value.value >>> 0, mask: m.mark.value.mask >>> 0, negated: m.mark.negated });
      return step;
    case 'state':
      step.checks.push(...stateChecks(m));
      return step;
    case 'conntrack':
      step.checks.push(...conntrackChecks(m));
      return step;
    case 'set':
      step.checks.push(...setChecks(m));
      return step;
    case 'recent':
      step.checks.push(...recentChecks(m, family));
      return step;
    case 'owner':
      // The kernel accepts -m owner in OUTPUT (and POSTROUTING) only.
      if (hook !== 'OUTPUT') step.never = true;
      else step.checks.push(...ownerChecks(m));
      return step;
    case 'comment':
      return step;
    case 'limit':
    case 'hashlimit': {
      const check = rateCheck(m, expansion.index, rates);
      if (!check) throw new Error(`internal error: the ${m.module} match at line ${m.span.start.line} is not in the rate-limit plan`);
      step.checks.push(check);
      return step;
    }
    default:
      // Refused by unsupportedParts() before classification.
      step.never = true;
      return step;
  }
}
