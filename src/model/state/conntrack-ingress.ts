/**
 * What `nf_conntrack_in()` decides at PREROUTING for a packet that belongs to no connection in
 * the table (nothing tracked for it yet), and whether it verified the transport checksum on the
 * way: the part of bpf/rjc_ct.h's ingress classification that depends on the packet alone.
 * The kernel's order, which decides both the state and the checksum trust REJECT gets later:
 *
 * 1. `get_l4proto()`: a non-first fragment, or IPv6 extension headers `ipv6_skip_exthdr()`
 *    cannot walk ("no next header", 59, among them): no conntrack, INVALID;
 * 2. `nf_ct_get_tuple()` and the protocol's error handler up to its checksum step: TCP without
 *    its 20-byte header or with a data offset below 5 words or past the segment, UDP whose
 *    length field is below 8 or past the datagram, ICMP/ICMPv6 shorter than 8 bytes, SCTP
 *    shorter than its 12-byte common header, GRE version 1 (PPTP) with 8 bytes whose protocol
 *    is not PPP: INVALID, checksum NOT verified;
 * 3. the checksum (`nf_conntrack_checksum`, CHECKSUM_NONE skbs): TCP, UDP unless its field is
 *    0, ICMP in IPv4, ICMPv6 in IPv6; wrong: INVALID; right: the skb is marked verified;
 * 4. the rest: tcp_error's flag table and `tcp_new()` (a SYN, or an ACK without
 *    RST/SYN+ACK/FIN, starts a connection), ICMP in the wrong family, ICMP types above 18,
 *    errors (about no connection: INVALID), ICMPv6 neighbour discovery and MLD (UNTRACKED),
 *    requests (NEW), other types (INVALID); UDP and every other protocol NEW.
 *
 * Pure: no I/O. The view's tuples are what xt_conntrack reads (`src.u.all`/`dst.u.all` as
 * ports: ICMP id and type<<8|code, GRE keys).
 */
import type { IpPacket } from '../packet.js';
import { get16, pseudoSum4, pseudoSum6, sum16, verifies } from '../checksum.js';
import type { ConnTuple, ConnView } from './conntrack.js';

/** The outcome for one packet. */
export interface IngressConntrack {
  view: ConnView;
  /** conntrack verified the transport checksum and found it right (the skb is marked). */
  checksumVerified: boolean;
  /** Why there is no connection (INVALID / UNTRACKED), for reports. */
  reason?: string;
}

/** tcp_valid_flags of nf_conntrack_proto_tcp.c (ECE, CWR, PSH ignored). */
const TCP_VALID_FLAGS = new Set([0x02, 0x22, 0x12, 0x04, 0x14, 0x11, 0x31, 0x10, 0x30]);

/** ICMP query type → its reply type (nf_conntrack_invert_icmp_tuple), per family. */
const ICMP_QUERIES: Record<IpPacket['family'], Map<number, number>> = {
  ipv4: new Map([
    [8, 0],
    [13, 14],
    [15, 16],
    [17, 18],
  ]),
  ipv6: new Map([
    [128, 129],
    [139, 140],
  ]),
};

/** ICMPv6 types icmpv6_error() marks UNTRACKED (MLD, router and neighbour discovery). */
const ICMP6_UNTRACKED = new Set([130, 131, 132, 133, 134, 135, 136, 143]);

/** icmp_is_err(): the ICMP types conntrack follows into the packet they quote. */
const ICMP4_ERRORS = new Set([3, 4, 5, 11, 12]);

const invalid = (reason: string, checksumVerified = false): IngressConntrack => ({ view: { state: 'INVALID' }, checksumVerified, reason });

/** Where conntrack finds the transport header: protocol and offset, or why it cannot. */
function transport(ip: IpPacket): { protocol: number; offset: number } | string {
  if (ip.family === 'ipv4') return ip.header.fragOffset !== 0 ? 'non-first fragment' : { protocol: ip.header.protocol, offset: ip.header.headerLength };
  const skip = ip.skipExthdr;
  if (skip.offset < 0) return skip.nextHeader === 59 ? 'no next header' : 'extension headers';
  if ((skip.fragOffField & ~0x7) !== 0) return 'non-first fragment';
  return { protocol: skip.nextHeader, offset: skip.offset };
}

/** Step 2: the header checks made before the checksum; a reason when they refuse. */
function headerProblem(protocol: number, l4: Uint8Array): string | undefined {
  switch (protocol) {
    case 6: {
      if (l4.length < 20) return 'tcp: short header';
      const doff = (l4[12]! >> 4) * 4;
      return doff < 20 || doff > l4.length ? 'tcp: data offset' : undefined;
    }
    case 17: {
      if (l4.length < 8) return 'udp: short header';
      const len = get16(l4, 4);
      return len < 8 || len > l4.length ? 'udp: length' : undefined;
    }
    case 1:
    case 58:
      return l4.length < 8 ? 'icmp: short header' : undefined;
    case 132:
      return l4.length < 12 ? 'sctp: short header' : undefined;
    case 47:
      return l4.length >= 8 && (l4[1]! & 7) === 1 && get16(l4, 2) !== 0x880b ? 'gre: version 1 without PPP' : undefined;
  }
  return undefined;
}

/** Step 3: true (right), false (wrong) or undefined (not verified). */
function checksum(ip: IpPacket, protocol: number, l4: Uint8Array): boolean | undefined {
  const pseudo = (proto: number) => (ip.family === 'ipv4' ? pseudoSum4(ip.header.src, ip.header.dst, proto, l4.length) : pseudoSum6(ip.header.src, ip.header.dst, proto, l4.length));
  if (protocol === 6 || (protocol === 17 && get16(l4, 6) !== 0)) return verifies(pseudo(protocol) + sum16(l4));
  if (protocol === 1 && ip.family === 'ipv4') return verifies(sum16(l4));
  if (protocol === 58 && ip.family === 'ipv6') return verifies(pseudo(58) + sum16(l4));
  return undefined;
}

/** An address as text addressBytes() reads back (IPv6: eight uncompressed groups). */
function addressText(a: Uint8Array): string {
  if (a.length === 4) return a.join('.');
  return Array.from({ length: 8 }, (_, i) => get16(a, 2 * i).toString(16)).join(':');
}

function tuple(src: Uint8Array, dst: Uint8Array, sport: number, dport: number): ConnTuple {
  return { src: addressText(src), dst: addressText(dst), sport, dport };
}

/** A NEW connection of the packet's own: orig = its tuple, reply = the inversion. */
function fresh(ip: IpPacket, protocol: number, orig: [number, number], reply: [number, number], checksumVerified: boolean): IngressConntrack {
  const { src, dst } = ip.header;
  return {
    view: { state: 'NEW', conn: { direction: 'ORIGINAL', status: 0, l4proto: protocol, orig: tuple(src, dst, ...orig), reply: tuple(dst, src, ...reply) } },
    checksumVerified,
  };
}

/**
 * The state conntrack gives `ip` at PREROUTING when the table holds no connection it belongs
 * to, and whether it verified its checksum. Precondition: `ip` is a packet the receive path
 * hands to PREROUTING (decoded by decodeIp/decodeFrame, no `problem`). `checksumState`:
 * `verify` for CHECKSUM_NONE skbs (veth, test-run; the default), `trusted` when the skb
 * arrived verified (CHECKSUM_UNNECESSARY: conntrack checks nothing).
 */
export function ingressWithoutConnection(ip: IpPacket, checksumState: 'verify' | 'trusted' = 'verify'): IngressConntrack {
  const where = transport(ip);
  if (typeof where === 'string') return invalid(where);
  const { protocol, offset } = where;
  const l4 = ip.bytes.subarray(Math.min(offset, ip.bytes.length));
  const problem = headerProblem(protocol, l4);
  if (problem) return invalid(problem);
  const sum = checksumState === 'verify' ? checksum(ip, protocol, l4) : undefined;
  if (sum === false) return invalid('bad checksum');
  const verified = sum === true;
  switch (protocol) {
    case 6: {
      const flags = l4[13]!;
      if (!TCP_VALID_FLAGS.has(flags & 0x37)) return invalid('tcp: flags', verified);
      // tcp_new(): tcp_conntracks[ORIGINAL][index][NONE] must not be sIV.
      const rst = flags & 0x04;
      const syn = flags & 0x02;
      const ack = flags & 0x10;
      const fin = flags & 0x01;
      if (rst || (syn && ack) || (!syn && (fin || !ack))) return invalid('tcp: no new connection', verified);
      const sport = get16(l4, 0);
      const dport = get16(l4, 2);
      return fresh(ip, 6, [sport, dport], [dport, sport], verified);
    }
    case 17: {
      const sport = get16(l4, 0);
      const dport = get16(l4, 2);
      return fresh(ip, 17, [sport, dport], [dport, sport], verified);
    }
    case 1:
    case 58: {
      if ((protocol === 1) !== (ip.family === 'ipv4')) return invalid('icmp: other family', verified);
      const type = l4[0]!;
      const code = l4[1]!;
      if (ip.family === 'ipv6' && ICMP6_UNTRACKED.has(type)) return { view: { state: 'UNTRACKED' }, checksumVerified: verified, reason: 'icmpv6: neighbour discovery / MLD' };
      if (ip.family === 'ipv4' && type > 18) return invalid('icmp: unknown type', verified);
      if (ip.family === 'ipv4' ? ICMP4_ERRORS.has(type) : type < 128) return invalid('icmp: error about no connection', verified);
      const reply = ICMP_QUERIES[ip.family].get(type);
      if (reply === undefined) return invalid('icmp: not a request', verified);
      const id = get16(l4, 4);
      return fresh(ip, protocol, [id, (type << 8) | code], [id, (reply << 8) | code], verified);
    }
    case 47: {
      // gre_pkt_to_tuple(): version 1 carrying PPP has the call id as its destination key.
      const key = l4.length >= 8 && (l4[1]! & 7) === 1 ? get16(l4, 6) : 0;
      return fresh(ip, 47, [0, key], [key, 0], verified);
    }
  }
  return fresh(ip, protocol, [0, 0], [0, 0], verified);
}
