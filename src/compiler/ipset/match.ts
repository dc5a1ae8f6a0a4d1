/**
 * What `-m set --match-set NAME dirs` (xt_set revision 4, ip_set_test) decides for a packet,
 * over the sets of an ipset file: the reference the datapath (bpf/rjc_set.h) and the model
 * follow. Kernel behaviour mirrored:
 * - a set of the other family, or tested with fewer directions than its dimension, never
 *   matches (ip_set_test);
 * - hash:ip / hash:net: the address of direction 1; hash:net's most specific entry decides,
 *   and a `nomatch` entry is no match — with --return-nomatch the sense flips for hash:net
 *   (a match becomes no match and a nomatch entry a match);
 * - hash:ip,port: address of direction 1, protocol, and port of direction 2 (ICMP: type << 8
 *   | code; protocols without ports: port 0); a non-first fragment never matches;
 * - bitmap:port: port of direction 1 of a TCP or UDP packet, within the set's range;
 * - list:set: the first member that matches, tested with the same directions and options.
 */
import { addressBytes } from '../../model/address.js';
import type { SetMatch } from '../ir.js';
import type { IpsetDef, IpsetFile } from './types.js';

/** The packet fields a set test reads. Addresses network-order bytes; ports host numbers. */
export interface SetPacket {
  family: 'ipv4' | 'ipv6';
  src: Uint8Array;
  dst: Uint8Array;
  proto: number;
  /** TCP/UDP/SCTP/UDPLITE ports; absent when the header is not there. */
  sport?: number;
  dport?: number;
  /** ICMP/ICMPv6 type and code, when the header is there. */
  icmp?: { type: number; code: number };
  /** A non-first fragment, or IPv6 whose transport header ipv6_find_hdr cannot find. */
  laterFragment: boolean;
}

const PORT_PROTOS = new Set([6, 17, 132, 136]);

function inNet(a: Uint8Array, net: string, prefix: number): boolean {
  const n = addressBytes(net);
  if (a.length !== n.length) return false;
  for (let i = 0, left = prefix; i < a.length && left > 0; i++, left -= 8) {
    const mask = left >= 8 ? 0xff : (0xff << (8 - left)) & 0xff;
    if ((a[i]! & mask) !== (n[i]! & mask)) return false;
  }
  return true;
}

/** The port ip_set_get_ip_port reads for direction `src`, with the protocol; undefined: none. */
function portOf(p: SetPacket, src: boolean): { proto: number; port: number } | undefined {
  if (p.laterFragment) return undefined;
  if (PORT_PROTOS.has(p.proto)) {
    const port = src ? p.sport : p.dport;
    return port === undefined ? undefined : { proto: p.proto, port };
  }
  if ((p.proto === 1 && p.family === 'ipv4') || (p.proto === 58 && p.family === 'ipv6')) {
    return p.icmp ? { proto: p.proto, port: (p.icmp.type << 8) | p.icmp.code } : undefined;
  }
  return { proto: p.proto, port: 0 };
}

const DIMENSION: Record<IpsetDef['type'], number> = { 'hash:ip': 1, 'hash:net': 1, 'hash:ip,port': 2, 'bitmap:port': 1, 'list:set': 1 };

/** ip_set_test for one set: true when it matches. */
function testSet(sets: ReadonlyMap<string, IpsetDef>, set: IpsetDef, dirs: readonly ('src' | 'dst')[], returnNomatch: boolean, p: SetPacket, depth = 0): boolean {
  if (dirs.length < DIMENSION[set.type]) return false;
  if (set.family !== 'any' && set.family !== p.family) return false;
  const src1 = dirs[0] === 'src';
  const addr = src1 ? p.src : p.dst;
  switch (set.type) {
    case 'hash:ip':
      return set.entries.some((e) => e.kind === 'addr' && inNet(addr, e.address, e.prefix));
    case 'hash:net': {
      let best: { prefix: number; nomatch: boolean } | undefined;
      for (const e of set.entries) if (e.kind === 'addr' && inNet(addr, e.address, e.prefix) && (!best || e.prefix > best.prefix)) best = e;
      if (!best) return false;
      return returnNomatch ? best.nomatch : !best.nomatch;
    }
    case 'hash:ip,port': {
      const port = portOf(p, dirs[1] === 'src');
      if (!port) return false;
      return set.entries.some((e) => e.kind === 'addr-port' && e.proto === port.proto && e.port === port.port && inNet(addr, e.address, e.prefix));
    }
    case 'bitmap:port': {
      const port = portOf(p, src1);
      if (!port || (port.proto !== 6 && port.proto !== 17)) return false;
      return set.entries.some((e) => e.kind === 'port' && e.port === port.port);
    }
    case 'list:set':
      if (depth > 0) return false; // the kernel refuses a list:set inside a list:set
      return set.entries.some((e) => {
        const member = e.kind === 'member' ? sets.get(e.name) : undefined;
        return member !== undefined && testSet(sets, member, dirs, returnNomatch, p, depth + 1);
      });
  }
}

/** `-m set` on a packet. A set missing from `file` never matches (rejectc refuses such rules, E404). */
export function matchSet(file: IpsetFile, m: SetMatch, p: SetPacket): boolean {
  const sets = new Map(file.sets.map((s) => [s.name, s]));
  const set = sets.get(m.name);
  const hit = set !== undefined && testSet(sets, set, m.flags, m.options.includes('--return-nomatch'), p);
  return hit !== m.negated;
}
