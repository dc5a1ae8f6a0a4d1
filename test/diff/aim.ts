/**
 * Aiming generated frames at rules: which addresses of a rule can appear in a frame of the
 * differential topology ({@link roles}), and per rule a {@link RuleTarget} — the protocol,
 * ports, ICMP type and addresses a packet needs to match its base matches — that the stream
 * generator (gen-stream.ts) applies to a random frame ({@link aim}).
 */
import type { Family, FamilyRuleset, Rule } from '../../src/compiler/ir.js';
import { addressBytes, broadcastOf, inPrefix, networkOf } from '../../src/model/address.js';
import { icmp, raw, tcp, udp, type L4Spec } from '../support/packets.js';
import { addressText } from './compare.js';
import { FAR_V4, FAR_V6, ONLINK_SOURCES_V4, ONLINK_SOURCES_V6, SERVER_V4, SERVER_V6 } from './topology.js';

/** Where a frame goes (see gen-stream.ts). */
export type Destination = 'input' | 'forward' | 'hairpin' | 'special';

function isIn(address: string, prefix: string): boolean {
  const [net, len] = prefix.split('/');
  const a = addressBytes(address);
  const n = addressBytes(net!);
  return a.length === n.length && inPrefix(a, n, Number(len));
}

/**
 * Where an address can appear in a frame of the topology: as a source (its replies must
 * route back to the client), and as a destination of which class; undefined when it cannot
 * be used (on-link hosts the server would have to resolve with ARP/ND, the far link).
 */
export function roles(address: string): { source: boolean; destination?: Destination } | undefined {
  const v4 = !address.includes(':');
  const servers: readonly string[] = v4 ? SERVER_V4 : SERVER_V6;
  if (servers.includes(address)) return { source: false, destination: 'input' };
  if (v4) {
    const b = addressBytes(address);
    if (b[0]! >= 224 || b[0] === 0 || b[0] === 127) return { source: false, destination: 'special' };
    if (isIn(address, '192.0.2.0/24')) return (ONLINK_SOURCES_V4 as readonly string[]).includes(address) ? { source: true, destination: 'hairpin' } : undefined;
    if (isIn(address, FAR_V4.prefix)) return isIn(address, FAR_V4.link) ? undefined : { source: false, destination: 'forward' };
    return { source: true, destination: 'hairpin' };
  }
  if (address.toLowerCase().startsWith('ff')) return { source: false, destination: 'special' };
  if (isIn(address, '2001:db8::/64') || isIn(address, 'fe80::/10')) return (ONLINK_SOURCES_V6 as readonly string[]).includes(address) ? { source: true } : undefined;
  if (isIn(address, FAR_V6.prefix)) return { source: false, destination: 'forward' };
  if (isIn(address, '2001:db8:1::/64') || address === '::' || address === '::1') return undefined;
  return { source: true, destination: 'hairpin' };
}

/** Addresses a prefix offers: its network address, the next one, and its last one. */
export function samples(address: string, prefix: number): string[] {
  const base = addressBytes(address);
  const net = networkOf(base, prefix);
  const next = Uint8Array.from(net);
  next[next.length - 1] = (next[next.length - 1]! + 1) & 0xff;
  return [...new Set([net, next, broadcastOf(base, prefix)].map(addressText))];
}

/** Where a frame goes when a rule's chain decides it (the server / through it). */
const DEFAULT_DESTINATION: Record<Family, Record<'input' | 'forward', string>> = {
  ipv4: { input: SERVER_V4[0], forward: '198.51.100.9' },
  ipv6: { input: SERVER_V6[0], forward: '2001:db8:2::9' },
};

/** What a packet needs to match one rule's base matches and first transport match. */
export interface RuleTarget {
  family: Family;
  protocol?: number;
  sport?: number;
  dport?: number;
  icmp?: { type: number; code: number };
  src?: string;
  dst?: string;
  /** The chain's destination class (INPUT: the server, FORWARD: through it). */
  to?: Destination;
}

function usable(cidrs: { address: string; prefix: number }[] | undefined, want: 'source' | 'destination'): string | undefined {
  for (const c of cidrs ?? []) {
    for (const a of samples(c.address, c.prefix)) {
      const r = roles(a);
      if (r && (want === 'source' ? r.source : r.destination)) return a;
    }
  }
  return undefined;
}

function targetOf(family: Family, chain: string, rule: Rule): RuleTarget {
  const t: RuleTarget = { family };
  const b = rule.base;
  if (b.protocol && !b.protocol.negated && b.protocol.protocol !== 0) t.protocol = b.protocol.protocol;
  if (b.src && !b.src.negated) t.src = usable(b.src.addresses, 'source');
  if (b.dst && !b.dst.negated) t.dst = usable(b.dst.addresses, 'destination');
  if (chain === 'INPUT') t.to = 'input';
  if (chain === 'FORWARD') t.to = 'forward';
  for (const m of rule.matches) {
    if ((m.module === 'tcp' || m.module === 'udp') && t.dport === undefined) {
      if (m.dport && !m.dport.negated) t.dport = m.dport.value.from;
      if (m.sport && !m.sport.negated) t.sport = m.sport.value.from;
    } else if (m.module === 'multiport' && !m.negated && m.ports[0]) {
      if (m.direction !== 'sports') t.dport = m.ports[0].from;
      else t.sport = m.ports[0].from;
    } else if ((m.module === 'icmp' || m.module === 'icmp6') && m.icmpType && !m.icmpType.negated && m.icmpType.value.type !== 255) {
      t.icmp = { type: m.icmpType.value.type, code: m.icmpType.value.codeMin };
    }
  }
  return t;
}

/** One target per filter rule of the rulesets. */
export function ruleTargets(rulesets: readonly FamilyRuleset[]): RuleTarget[] {
  return rulesets.flatMap((f) => f.tables.filter((t) => t.name === 'filter').flatMap((t) => t.chains.flatMap((c) => c.rules.map((r) => targetOf(f.family, c.name, r)))));
}

/** The transport of a frame changed to what `t` asks for (payload and checksum kept). */
function aimL4(l4: L4Spec, t: RuleTarget): L4Spec {
  const payload = l4.kind === 'raw' ? l4.bytes : l4.payload;
  const checksum = l4.kind === 'raw' ? undefined : l4.checksum;
  const ports = l4.kind === 'tcp' || l4.kind === 'udp' ? { sport: l4.sport, dport: l4.dport } : { sport: 40000, dport: 80 };
  const sport = t.sport ?? ports.sport;
  const dport = t.dport ?? ports.dport;
  switch (t.protocol) {
    case 6:
      return l4.kind === 'tcp' ? { ...l4, sport, dport } : tcp({ sport, dport, payload, ...(checksum ? { checksum } : {}) });
    case 17:
      return l4.kind === 'udp' ? { ...l4, sport, dport } : udp({ sport, dport, payload, ...(checksum ? { checksum } : {}) });
    case 1:
    case 58:
      return icmp({ type: t.icmp?.type ?? (t.protocol === 1 ? 8 : 128), code: t.icmp?.code ?? 0, payload, ...(checksum ? { checksum } : {}) });
    case undefined:
      return l4.kind === 'tcp' || l4.kind === 'udp' ? { ...l4, sport, dport } : l4;
    default:
      return raw(t.protocol, payload ?? []);
  }
}

/**
 * `spec` changed to match target `t` (protocol, ports, ICMP type, addresses), when `t` is of
 * the frame's family; the frame's shape, options and L2 stay as generated.
 */
export function aim<S extends { family: Family; src: string; dst: string; to: Destination; l4: L4Spec }>(spec: S, t: RuleTarget | undefined): S {
  if (!t || t.family !== spec.family) return spec;
  const out = { ...spec, l4: aimL4(spec.l4, t) };
  if (t.src) out.src = t.src;
  if (t.dst) {
    out.dst = t.dst;
    out.to = roles(t.dst)?.destination ?? out.to;
  } else if (t.to && t.to !== out.to) {
    out.to = t.to;
    out.dst = DEFAULT_DESTINATION[t.family][t.to as 'input' | 'forward'];
  }
  return out;
}
