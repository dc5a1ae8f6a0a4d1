/**
 * Every extension the option level knows: the match modules and targets it parses into IR,
 * and the names of iptables extensions it refuses by name (E201/E202).
 */
import type { Family } from '../../ir.js';
import { addrtypeMatch } from './matches/addrtype.js';
import { connlimitMatch } from './matches/connlimit.js';
import { hashlimitMatch } from './matches/hashlimit.js';
import { hlMatch, ttlMatch } from './matches/hop.js';
import { icmp6Match, icmpMatch } from './matches/icmp.js';
import { iprangeMatch } from './matches/iprange.js';
import { fragMatch, ipv6headerMatch, rtMatch } from './matches/ipv6-headers.js';
import { limitMatch } from './matches/limit.js';
import { multiportMatch } from './matches/multiport.js';
import { ownerMatch } from './matches/owner.js';
import { physdevMatch } from './matches/physdev.js';
import { recentMatch } from './matches/recent.js';
import { setMatch } from './matches/set.js';
import { commentMatch, lengthMatch, macMatch, markMatch, pkttypeMatch } from './matches/simple.js';
import { conntrackMatch, stateMatch } from './matches/state.js';
import { statisticMatch } from './matches/statistic.js';
import { tcpMatch, udpMatch } from './matches/tcp-udp.js';
import { dscpMatch, ecnMatch, tosMatch } from './matches/tos-dscp-ecn.js';
import type { MatchSpec, TargetSpec } from './spec.js';
import { logTarget } from './targets/log.js';
import { checksumTarget, classifyTarget, dscpTarget, ecnTarget, hlTarget, tcpmssTarget, tosTarget, tproxyTarget, ttlTarget } from './targets/mangle.js';
import { connmarkTarget, markTarget } from './targets/marks.js';
import { auditTarget, connsecmarkTarget, ctTarget, nflogTarget, nfqueueTarget, notrackTarget, rateestTarget, setTarget, synproxyTarget, teeTarget, traceTarget } from './targets/misc.js';
import { dnatTarget, masqueradeTarget, redirectTarget, snatTarget } from './targets/nat.js';
import { rejectTarget } from './targets/reject.js';
import { acceptTarget, dropTarget, queueTarget, returnTarget } from './targets/verdicts.js';

/** The match modules rejectc parses into IR. */
export const MATCHES: readonly MatchSpec[] = [
  tcpMatch, udpMatch, icmpMatch, icmp6Match, multiportMatch, stateMatch, conntrackMatch, limitMatch,
  hashlimitMatch, addrtypeMatch, recentMatch, ownerMatch, macMatch, commentMatch, ttlMatch, hlMatch,
  iprangeMatch, setMatch, pkttypeMatch, lengthMatch, markMatch, connlimitMatch, statisticMatch,
  physdevMatch, tosMatch, dscpMatch, ecnMatch, fragMatch, ipv6headerMatch, rtMatch,
];

/** The targets rejectc parses (verdicts, REJECT, LOG, and targets kept as OtherTarget). */
export const TARGETS: readonly TargetSpec[] = [
  acceptTarget, dropTarget, returnTarget, queueTarget, rejectTarget, logTarget,
  dnatTarget, snatTarget, masqueradeTarget, redirectTarget, markTarget, connmarkTarget, tosTarget,
  dscpTarget, ttlTarget, hlTarget, ecnTarget, classifyTarget, tcpmssTarget, checksumTarget,
  tproxyTarget, nflogTarget, notrackTarget, traceTarget, ctTarget, auditTarget, setTarget,
  rateestTarget, teeTarget, nfqueueTarget, connsecmarkTarget, synproxyTarget,
];

/**
 * Match modules of iptables 1.8 and xtables-addons that rejectc does not parse. `-m NAME` with
 * one of these is E201 without the "no such module" note.
 */
const UNSUPPORTED_MATCHES = new Set([
  'ah', 'bpf', 'cgroup', 'cluster', 'connbytes', 'connlabel', 'connmark', 'cpu', 'dccp', 'devgroup',
  'dst', 'esp', 'eui64', 'hbh', 'helper', 'ipcomp', 'ipvs', 'mh', 'nfacct', 'osf', 'policy', 'quota',
  'rateest', 'realm', 'rpfilter', 'sctp', 'socket', 'srh', 'string', 'tcpmss', 'time', 'u32',
  'udplite', 'geoip', 'account', 'condition', 'fuzzy', 'ipp2p', 'psd', 'quota2', 'pknock', 'lscan',
  'iface', 'dhcpmac', 'gradm', 'ipv4options', 'layer7',
]);

/** Targets of iptables 1.8 and xtables-addons that rejectc does not parse (E202). */
const UNSUPPORTED_TARGETS = new Set([
  'ULOG', 'NETMAP', 'DNPT', 'SNPT', 'SECMARK', 'LED', 'IDLETIMER', 'HMARK', 'TCPOPTSTRIP', 'CLUSTERIP', 'MIRROR', 'SAME', 'TARPIT', 'DELUDE', 'CHAOS', 'ECHO', 'IPMARK', 'LOGMARK', 'SYSRQ',
  'STEAL', 'DHCPMAC', 'ACCOUNT', 'DNETMAP', 'PROTO', 'IMQ', 'ROUTE', 'XOR', 'NETFLOW',
]);

function familyOk(spec: { family?: Family }, family: Family): boolean {
  return spec.family === undefined || spec.family === family;
}

/** Specs by name (and alias) per family, in registry order: what `find` over the lists gives. */
function byName<S extends { name: string; aliases?: readonly string[]; family?: Family }>(specs: readonly S[]): Record<Family, Map<string, S>> {
  const out: Record<Family, Map<string, S>> = { ipv4: new Map(), ipv6: new Map() };
  for (const family of ['ipv4', 'ipv6'] as const) {
    for (const spec of specs) {
      if (!familyOk(spec, family)) continue;
      for (const name of [spec.name, ...(spec.aliases ?? [])]) if (!out[family].has(name)) out[family].set(name, spec);
    }
  }
  return out;
}

const MATCHES_BY_NAME = byName(MATCHES);
const TARGETS_BY_NAME = byName(TARGETS);

/** The match spec `-m name` loads for `family` (by name or alias), if rejectc parses it. */
export function findMatch(name: string, family: Family): MatchSpec | undefined {
  return MATCHES_BY_NAME[family].get(name);
}

/** The target spec `-j name` loads for `family`, if rejectc parses it. */
export function findTarget(name: string, family: Family): TargetSpec | undefined {
  return TARGETS_BY_NAME[family].get(name);
}

export function isUnsupportedMatch(name: string): boolean {
  return UNSUPPORTED_MATCHES.has(name);
}

export function isUnsupportedTarget(name: string): boolean {
  return UNSUPPORTED_TARGETS.has(name);
}

/** Extensions (for `family`) that have a long option `name`, for "did you mean -m X" notes. */
export function optionOwners(name: string, family: Family): { kind: 'match' | 'target'; name: string }[] {
  const out: { kind: 'match' | 'target'; name: string }[] = [];
  for (const spec of [...MATCHES, ...TARGETS]) {
    if (!familyOk(spec, family)) continue;
    if (spec.options.some((o) => o.names.includes(name))) out.push({ kind: spec.kind, name: spec.name });
  }
  return out;
}
