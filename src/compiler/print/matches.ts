/**
 * Each match module's options as its iptables `save` function writes them (order, spelling,
 * `!` placement), i.e. the words after ` -m NAME`.
 */
import type {
  AddrtypeMatch, ConntrackMatch, Family, HashlimitMatch, Match, Neg, OwnerMatch, PhysdevMatch, Range, RecentMatch,
  RtMatch, FragMatch, StatisticMatch, TcpMatch, UdpMatch, Cidr,
} from '../ir.js';
import { formatIcmpType } from '../values/icmp-types.js';
import { hex } from '../values/numbers.js';
import { formatRange } from '../values/ports.js';
import { formatByteBurst, formatByteRate, formatRate, HASHLIMIT_SCALE, LIMIT_SCALE } from '../values/rates.js';
import { formatTcpFlags } from '../values/tcp-flags.js';
import { saveString } from './quote.js';

/** `[!] --opt value...` for an optional negatable value. */
export function negOpt<T>(flag: string, v: Neg<T> | undefined, format: (value: T) => string | string[]): string[] {
  if (!v) return [];
  const value = format(v.value);
  return [...(v.negated ? ['!'] : []), flag, ...(Array.isArray(value) ? value : [value])];
}

/** `[!] --flag` for a negatable flag. */
function negFlag(flag: string, v: Neg<true> | undefined): string[] {
  return v ? [...(v.negated ? ['!'] : []), flag] : [];
}

const hex2 = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;
const range = (r: Range) => formatRange(r);

function ports(m: TcpMatch | UdpMatch): string[] {
  return [...negOpt('--sport', m.sport, range), ...negOpt('--dport', m.dport, range)];
}

function saveTcp(m: TcpMatch): string[] {
  return [
    ...ports(m),
    ...negOpt('--tcp-option', m.option, String),
    ...negOpt('--tcp-flags', m.flags, (f) => [formatTcpFlags(f.mask), formatTcpFlags(f.comp)]),
  ];
}

/** conntrack prints an address alone when its mask is full, else `addr/prefix`. */
function ctAddr(c: Cidr): string {
  const full = c.address.includes(':') ? 128 : 32;
  return c.prefix === full ? c.address : `${c.address}/${c.prefix}`;
}

function saveConntrack(m: ConntrackMatch): string[] {
  return [
    ...negOpt('--ctstate', m.ctstate, (s) => s.join(',')),
    ...negOpt('--ctproto', m.ctproto, String),
    ...negOpt('--ctorigsrc', m.ctorigsrc, ctAddr),
    ...negOpt('--ctorigdst', m.ctorigdst, ctAddr),
    ...negOpt('--ctreplsrc', m.ctreplsrc, ctAddr),
    ...negOpt('--ctrepldst', m.ctrepldst, ctAddr),
    ...negOpt('--ctorigsrcport', m.ctorigsrcport, range),
    ...negOpt('--ctorigdstport', m.ctorigdstport, range),
    ...negOpt('--ctreplsrcport', m.ctreplsrcport, range),
    ...negOpt('--ctrepldstport', m.ctrepldstport, range),
    ...negOpt('--ctstatus', m.ctstatus, (s) => s.join(',')),
    ...negOpt('--ctexpire', m.ctexpire, range),
    ...(m.ctdir ? ['--ctdir', m.ctdir.value] : []),
  ];
}

function saveHashlimit(m: HashlimitMatch, family: Family): string[] {
  const out = [m.direction === 'above' ? '--hashlimit-above' : '--hashlimit-upto'];
  let quantum: number;
  if (m.bytes) {
    out.push(formatByteRate(m.avg));
    if (m.burst > 0) out.push('--hashlimit-burst', formatByteBurst(m.avg, m.burst));
    quantum = m.burst === 0 ? 15_000 : 60_000;
  } else {
    const r = formatRate(m.avg, HASHLIMIT_SCALE);
    out.push(r.text, '--hashlimit-burst', String(m.burst));
    quantum = r.quantumMs;
  }
  if (m.mode.length > 0) out.push('--hashlimit-mode', m.mode.join(','));
  out.push('--hashlimit-name', m.name);
  if (m.htableSize) out.push('--hashlimit-htable-size', String(m.htableSize));
  if (m.htableMax) out.push('--hashlimit-htable-max', String(m.htableMax));
  if (m.htableGcinterval !== undefined && m.htableGcinterval !== 1000) out.push('--hashlimit-htable-gcinterval', String(m.htableGcinterval));
  if (m.htableExpire !== undefined && m.htableExpire !== quantum) out.push('--hashlimit-htable-expire', String(m.htableExpire));
  const full = family === 'ipv4' ? 32 : 128;
  if (m.srcmask !== undefined && m.srcmask !== full) out.push('--hashlimit-srcmask', String(m.srcmask));
  if (m.dstmask !== undefined && m.dstmask !== full) out.push('--hashlimit-dstmask', String(m.dstmask));
  if (m.rateMatch) {
    out.push('--hashlimit-rate-match');
    if (m.rateInterval !== undefined && m.rateInterval !== 1) out.push('--hashlimit-rate-interval', String(m.rateInterval));
  }
  return out;
}

function saveAddrtype(m: AddrtypeMatch): string[] {
  return [
    ...negOpt('--src-type', m.srcType, (t) => t.join(',')),
    ...negOpt('--dst-type', m.dstType, (t) => t.join(',')),
    ...(m.limitIfaceIn ? ['--limit-iface-in'] : []),
    ...(m.limitIfaceOut ? ['--limit-iface-out'] : []),
  ];
}

function saveRecent(m: RecentMatch, family: Family): string[] {
  const out = negOpt(`--${m.command.value}`, m.command, () => []);
  if (m.seconds !== undefined) out.push('--seconds', String(m.seconds));
  if (m.reap) out.push('--reap');
  if (m.hitcount) out.push('--hitcount', String(m.hitcount));
  if (m.rttl) out.push('--rttl');
  out.push('--name', m.name);
  out.push('--mask', m.mask ?? (family === 'ipv4' ? '255.255.255.255' : 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'));
  out.push(m.side === 'rdest' ? '--rdest' : '--rsource');
  return out;
}

const idRange = (r: Range) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`);

function saveOwner(m: OwnerMatch): string[] {
  return [
    ...negFlag('--socket-exists', m.socketExists),
    ...negOpt('--uid-owner', m.uid, idRange),
    ...negOpt('--gid-owner', m.gid, idRange),
    ...(m.suppGroups ? ['--suppl-groups'] : []),
  ];
}

function saveStatistic(m: StatisticMatch): string[] {
  const bang = m.negated ? ['!'] : [];
  if (m.mode === 'random') return ['--mode', 'random', ...bang, '--probability', (m.probability ?? 0).toFixed(11)];
  return ['--mode', 'nth', ...bang, '--every', String(m.every ?? 1), '--packet', String(m.packet ?? 0)];
}

function iface(v: { name: string; wildcard: boolean }): string {
  return v.name + (v.wildcard ? '+' : '');
}

function savePhysdev(m: PhysdevMatch): string[] {
  return [
    ...negFlag('--physdev-is-in', m.isIn),
    ...negOpt('--physdev-in', m.physdevIn, iface),
    ...negFlag('--physdev-is-out', m.isOut),
    ...negOpt('--physdev-out', m.physdevOut, iface),
    ...negFlag('--physdev-is-bridged', m.isBridged),
  ];
}

function saveFrag(m: FragMatch): string[] {
  return [
    ...negOpt('--fragid', m.id, range),
    ...negOpt('--fraglen', m.len, String),
    ...(m.reserved ? ['--fragres'] : []),
    ...(m.first ? ['--fragfirst'] : []),
    ...(m.more ? ['--fragmore'] : []),
    ...(m.last ? ['--fraglast'] : []),
  ];
}

function saveRt(m: RtMatch): string[] {
  return [
    ...negOpt('--rt-type', m.rtType, String),
    ...negOpt('--rt-segsleft', m.segsLeft, range),
    ...negOpt('--rt-len', m.len, String),
    ...(m.reserved ? ['--rt-0-res'] : []),
    ...(m.addrs ? ['--rt-0-addrs', m.addrs.join(',')] : []),
    ...(m.notStrict ? ['--rt-0-not-strict'] : []),
  ];
}

/** The words after `-m NAME` for a match of a rule of `family`, as iptables-save writes them. */
export function saveMatch(m: Match, family: Family): string[] {
  switch (m.module) {
    case 'tcp':
      return saveTcp(m);
    case 'udp':
      return ports(m);
    case 'icmp':
      return negOpt('--icmp-type', m.icmpType, (t) => formatIcmpType(t, 'ipv4'));
    case 'icmp6':
      return negOpt('--icmpv6-type', m.icmpType, (t) => formatIcmpType(t, 'ipv6'));
    case 'multiport':
      return [...(m.negated ? ['!'] : []), `--${m.direction}`, m.ports.map(range).join(',')];
    case 'state':
      return [...(m.negated ? ['!'] : []), '--state', m.states.join(',')];
    case 'conntrack':
      return saveConntrack(m);
    case 'limit': {
      const out = ['--limit', formatRate(m.avg, LIMIT_SCALE).text];
      if (m.burst !== 5) out.push('--limit-burst', String(m.burst));
      return out;
    }
    case 'hashlimit':
      return saveHashlimit(m, family);
    case 'addrtype':
      return saveAddrtype(m);
    case 'recent':
      return saveRecent(m, family);
    case 'owner':
      return saveOwner(m);
    case 'mac':
      return negOpt('--mac-source', m.source, (s) => s);
    case 'comment':
      return ['--comment', saveString(m.text)];
    case 'ttl':
    case 'hl':
      return [...(m.op === 'ne' ? ['!'] : []), `--${m.module}-${m.op === 'ne' ? 'eq' : m.op}`, String(m.value)];
    case 'iprange':
      return [...negOpt('--src-range', m.src, (r) => `${r.from}-${r.to}`), ...negOpt('--dst-range', m.dst, (r) => `${r.from}-${r.to}`)];
    case 'set':
      return [...(m.negated ? ['!'] : []), '--match-set', m.name, m.flags.join(','), ...m.options];
    case 'pkttype':
      return negOpt('--pkt-type', m.pktType, (t) => (t === 'host' ? 'unicast' : t));
    case 'length':
      return negOpt('--length', m.length, range);
    case 'mark':
      return negOpt('--mark', m.mark, (v) => (v.mask === 0xffffffff ? hex(v.value) : `${hex(v.value)}/${hex(v.mask)}`));
    case 'connlimit':
      return [`--connlimit-${m.direction}`, String(m.limit), '--connlimit-mask', String(m.mask ?? (family === 'ipv4' ? 32 : 128)), `--connlimit-${m.side}`];
    case 'statistic':
      return saveStatistic(m);
    case 'physdev':
      return savePhysdev(m);
    case 'tos':
      return negOpt('--tos', m.tos, (t) => `${hex2(t.value)}/${hex2(t.mask)}`);
    case 'dscp':
      return negOpt('--dscp', m.dscp, hex2);
    case 'ecn':
      return [...negFlag('--ecn-tcp-ece', m.tcpEce), ...negFlag('--ecn-tcp-cwr', m.tcpCwr), ...negOpt('--ecn-ip-ect', m.ipEct, String)];
    case 'frag':
      return saveFrag(m);
    case 'ipv6header':
      return [...(m.negated ? ['!'] : []), '--header', m.headers.join(','), ...(m.soft ? ['--soft'] : [])];
    case 'rt':
      return saveRt(m);
  }
}
