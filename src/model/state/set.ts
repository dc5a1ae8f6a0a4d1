/**
 * The model's side of `-m set`: the packet fields ip_set_get_ip_port reads, taken from a
 * hook packet, for the semantics in src/compiler/ipset/match.ts. IPv4: the header's protocol
 * and fragment offset; IPv6: ipv6_find_hdr's result (independent of the rule's `-p`).
 */
import type { SetPacket } from '../../compiler/ipset/match.js';
import type { HookPacket } from '../hook-view.js';
import { readIcmp, readTcp, readUdp } from '../packet.js';

const PORT_PROTOS = new Set([6, 17, 132, 136]);

/** The fields a set test reads from `pkt`. */
export function setPacketOf(pkt: HookPacket): SetPacket {
  const ip = pkt.ip;
  const b = ip.bytes;
  let proto: number;
  let thoff: number;
  let later: boolean;
  if (ip.family === 'ipv4') {
    proto = ip.header.protocol;
    thoff = ip.header.headerLength;
    later = ip.header.fragOffset !== 0;
  } else {
    const f = ip.findHdr;
    proto = f.ok ? f.protocol : 0;
    thoff = f.ok ? f.offset : 0;
    later = !f.ok || f.fragOffset !== 0;
  }
  const out: SetPacket = { family: ip.family, src: ip.header.src, dst: ip.header.dst, proto, laterFragment: later };
  if (later) return out;
  if (PORT_PROTOS.has(proto)) {
    // get_port reads the whole struct tcphdr (20 bytes) for TCP, 8 bytes for the others.
    const h = proto === 6 ? readTcp(b, thoff) : readUdp(b, thoff);
    if (h) {
      out.sport = h.sport;
      out.dport = h.dport;
    }
  } else if ((proto === 1 && ip.family === 'ipv4') || (proto === 58 && ip.family === 'ipv6')) {
    const ic = readIcmp(b, thoff);
    if (ic) out.icmp = ic;
  }
  return out;
}
