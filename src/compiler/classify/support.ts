/**
 * What the classifier compiles, and the refusals (by name, with the rule's position) for
 * everything else: match modules other issues will compile (E400), and targets the filter
 * datapath cannot run (E401).
 */
import { diag, type Diagnostic } from '../diagnostics.js';
import type { Match, MatchModule, Rule } from '../ir.js';
import { conntrackProblem, recentProblem, setProblem } from './stateful.js';

/** Modules not compiled yet, with the reason shown to the user. */
const NOT_COMPILED: Partial<Record<MatchModule, string>> = {
  connlimit: 'nf_conncount keeps its own per-rule lists of connections, which a TC/XDP program can neither read nor rebuild exactly from the conntrack table (no iteration from BPF)',
  statistic: 'random/nth sampling is not compiled yet',
  physdev: 'bridge ports are not visible at a TC/XDP hook',
  tos: 'TOS matching is not compiled yet',
  dscp: 'DSCP matching is not compiled yet',
  ecn: 'ECN matching is not compiled yet',
  frag: 'IPv6 fragment header matching is not compiled yet',
  ipv6header: 'IPv6 extension header matching is not compiled yet',
  rt: 'IPv6 routing header matching is not compiled yet',
};

function moduleProblem(m: Match): string | undefined {
  if (m.module === 'addrtype' && (m.limitIfaceIn || m.limitIfaceOut)) return '--limit-iface-in/--limit-iface-out (a per-device address lookup) are not compiled yet';
  if (m.module === 'tcp' && m.option) return 'TCP option matching (--tcp-option) is not compiled yet';
  if (m.module === 'conntrack') return conntrackProblem(m);
  if (m.module === 'set') return setProblem(m);
  if (m.module === 'recent') return recentProblem(m);
  return NOT_COMPILED[m.module];
}

/** Diagnostics for the parts of `rule` the classifier cannot compile (empty when it can). */
export function unsupportedParts(rule: Rule): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const m of rule.matches) {
    const reason = moduleProblem(m);
    // Point at the option that is refused when it is one option of a compiled module.
    const at = m.module === 'tcp' && m.option ? m.option.span : m.span;
    if (reason) out.push(diag('E400', at, { module: m.module, reason }));
  }
  const t = rule.target;
  if (t?.target === 'other') {
    out.push(diag('E401', t.span, { target: t.name, reason: 'only ACCEPT, DROP, REJECT, RETURN, LOG and jumps to user chains are compiled' }));
  }
  return out;
}
