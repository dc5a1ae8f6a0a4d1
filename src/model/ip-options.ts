/**
 * IPv4 options as the receive path processes them (`__ip_options_compile` with an skb, called
 * from `ip_rcv_options` before any filter hook) and as an ICMP reply echoes them
 * (`__ip_options_echo` + `ip_options_build`), net/ipv4/ip_options.c.
 *
 * Receiving fills Record Route / Timestamp slots that have room and advances their pointers
 * **without** fixing the IP header checksum; the stale checksum is what makes REJECT's checksum
 * gate fail later (nf-reject.md §3.5).
 */
import { put32 } from './checksum.js';

export const IPOPT = {
  END: 0,
  NOOP: 1,
  RR: 7,
  TIMESTAMP: 68,
  SEC: 130,
  LSRR: 131,
  CIPSO: 134,
  SID: 136,
  SSRR: 137,
  RA: 148,
} as const;

const TS_TSONLY = 0;
const TS_TSANDADDR = 1;
const TS_PRESPEC = 3;

/** `struct ip_options` fields the model uses; offsets are from the start of the IP header. */
export interface IpOptionsInfo {
  optlen: number;
  srr: number;
  rr: number;
  ts: number;
  cipso: number;
  rrNeedaddr: boolean;
  tsNeedaddr: boolean;
  tsNeedtime: boolean;
  /** The receive path modified the header (and left its checksum stale). */
  changed: boolean;
}

export interface CompileContext {
  /** `spec_dst`: the address written into RR / TS-with-address slots. Null: do not fill. */
  specDst: Uint8Array | null;
  /** Milliseconds since midnight UTC for timestamp slots. Null: do not fill. */
  timestampMs: number | null;
  /** `inet_addr_type(addr) == RTN_UNICAST`, i.e. the address is not this host's. */
  isForeignUnicast: (addr: Uint8Array) => boolean;
}

export type CompileResult = { ok: true; info: IpOptionsInfo } | { ok: false };

function emptyInfo(optlen: number): IpOptionsInfo {
  return { optlen, srr: 0, rr: 0, ts: 0, cipso: 0, rrNeedaddr: false, tsNeedaddr: false, tsNeedtime: false, changed: false };
}

/**
 * `__ip_options_compile(net, opt, skb)`: validates the options of `packet` (an IPv4 header with
 * ihl > 5) and applies the receive-side fills in place. `ok: false` means the stack drops the
 * packet (it sends a parameter problem itself; not REJECT's doing). CIPSO is refused too: it
 * only validates against a configured CIPSO DOI, which rejectc assumes there is none of.
 */
export function compileReceivedOptions(packet: Uint8Array, ctx: CompileContext): CompileResult {
  const ihl = (packet[0]! & 0x0f) * 4;
  const info = emptyInfo(ihl - 20);
  let p = 20;
  let l = info.optlen;
  while (l > 0) {
    const type = packet[p]!;
    if (type === IPOPT.END) {
      for (p++, l--; l > 0; p++, l--) {
        if (packet[p] !== IPOPT.END) {
          packet[p] = IPOPT.END;
          info.changed = true;
        }
      }
      break;
    }
    if (type === IPOPT.NOOP) {
      l--;
      p++;
      continue;
    }
    if (l < 2) return { ok: false };
    const optlen = packet[p + 1]!;
    if (optlen < 2 || optlen > l) return { ok: false };
    if (!compileOne(packet, p, optlen, info, ctx)) return { ok: false };
    l -= optlen;
    p += optlen;
  }
  return { ok: true, info };
}

function compileOne(b: Uint8Array, p: number, optlen: number, info: IpOptionsInfo, ctx: CompileContext): boolean {
  switch (b[p]) {
    case IPOPT.SSRR:
    case IPOPT.LSRR:
      if (optlen < 3 || b[p + 2]! < 4 || info.srr) return false;
      info.srr = p;
      return true;
    case IPOPT.RR:
      return compileRecordRoute(b, p, optlen, info, ctx);
    case IPOPT.TIMESTAMP:
      return compileTimestamp(b, p, optlen, info, ctx);
    case IPOPT.RA:
      return optlen >= 4;
    case IPOPT.CIPSO:
      return false;
    default:
      return true;
  }
}

function compileRecordRoute(b: Uint8Array, p: number, optlen: number, info: IpOptionsInfo, ctx: CompileContext): boolean {
  if (info.rr || optlen < 3 || b[p + 2]! < 4) return false;
  const ptr = b[p + 2]!;
  if (ptr <= optlen) {
    if (ptr + 3 > optlen) return false;
    if (ctx.specDst) {
      b.set(ctx.specDst, p + ptr - 1);
      info.changed = true;
    }
    b[p + 2] = ptr + 4;
    info.rrNeedaddr = true;
  }
  info.rr = p;
  return true;
}

function compileTimestamp(b: Uint8Array, p: number, optlen: number, info: IpOptionsInfo, ctx: CompileContext): boolean {
  if (info.ts || optlen < 4 || b[p + 2]! < 5) return false;
  const ptr = b[p + 2]!;
  if (ptr > optlen) {
    // Full: count the overflow (4-bit counter); a full counter is an error.
    const overflow = b[p + 3]! >> 4;
    if (overflow === 15) return false;
    b[p + 3] = (b[p + 3]! & 0x0f) | ((overflow + 1) << 4);
    info.changed = true;
    info.ts = p;
    return true;
  }
  if (ptr + 3 > optlen) return false;
  let timeAt = -1;
  switch (b[p + 3]! & 0x0f) {
    case TS_TSONLY:
      info.ts = p;
      timeAt = p + ptr - 1;
      info.tsNeedtime = true;
      b[p + 2] = ptr + 4;
      break;
    case TS_TSANDADDR:
      if (ptr + 7 > optlen) return false;
      info.ts = p;
      if (ctx.specDst) {
        b.set(ctx.specDst, p + ptr - 1);
        timeAt = p + ptr + 3;
      }
      info.tsNeedaddr = true;
      info.tsNeedtime = true;
      b[p + 2] = ptr + 8;
      break;
    case TS_PRESPEC: {
      if (ptr + 7 > optlen) return false;
      info.ts = p;
      if (ctx.isForeignUnicast(b.slice(p + ptr - 1, p + ptr + 3))) break;
      timeAt = p + ptr + 3;
      info.tsNeedtime = true;
      b[p + 2] = ptr + 8;
      break;
    }
    default:
      break;
  }
  if (timeAt >= 0 && ctx.timestampMs !== null) {
    put32(b, timeAt, ctx.timestampMs >>> 0);
    info.changed = true;
  }
  return true;
}

/**
 * `__ip_options_echo` + `ip_options_build` for an ICMP error: the reply's option bytes (a
 * multiple of 4, possibly empty), or null when echoing fails (-EINVAL: no reply).
 * Record Route and Timestamp are copied and, where the orig had room, get the reply source
 * (`replySource`) and time filled in; CIPSO is copied; NOP, EOL and the rest are dropped.
 * Source routes never get here (the receive path drops them: accept_source_route is 0).
 */
export function echoOptions(
  packet: Uint8Array,
  sopt: IpOptionsInfo,
  replySource: Uint8Array,
  timestampMs: number,
  isForeignUnicast: (addr: Uint8Array) => boolean,
): Uint8Array | null {
  if (sopt.optlen === 0) return new Uint8Array(0);
  const out: number[] = [];
  const fills: { at: number; value: Uint8Array }[] = [];
  if (sopt.rr) {
    const optlen = packet[sopt.rr + 1]!;
    const soffset = packet[sopt.rr + 2]!;
    const start = out.length;
    out.push(...packet.slice(sopt.rr, sopt.rr + optlen));
    if (sopt.rrNeedaddr && soffset <= optlen) {
      if (soffset + 3 > optlen) return null;
      out[start + 2] = soffset + 4;
      fills.push({ at: start + soffset + 4 - 5, value: replySource });
    }
  }
  if (sopt.ts) {
    const optlen = packet[sopt.ts + 1]!;
    let soffset = packet[sopt.ts + 2]!;
    const start = out.length;
    out.push(...packet.slice(sopt.ts, sopt.ts + optlen));
    if (soffset <= optlen) {
      let needaddr = false;
      let needtime = false;
      if (sopt.tsNeedaddr) {
        if (soffset + 3 > optlen) return null;
        needaddr = true;
        soffset += 4;
      }
      if (sopt.tsNeedtime) {
        if (soffset + 3 > optlen) return null;
        if ((out[start + 3]! & 0x0f) !== TS_PRESPEC) {
          needtime = true;
          soffset += 4;
        } else if (soffset + 7 <= optlen) {
          const addr = Uint8Array.from(out.slice(start + soffset - 1, start + soffset + 3));
          if (!isForeignUnicast(addr)) {
            needtime = true;
            soffset += 8;
          }
        }
      }
      out[start + 2] = soffset;
      const time = new Uint8Array(4);
      put32(time, 0, timestampMs >>> 0);
      if (needaddr) fills.push({ at: start + soffset - 9, value: replySource });
      if (needtime) fills.push({ at: start + soffset - 5, value: time });
    }
  }
  if (sopt.cipso) {
    const optlen = packet[sopt.cipso + 1]!;
    out.push(...packet.slice(sopt.cipso, sopt.cipso + optlen));
  }
  while (out.length & 3) out.push(IPOPT.END);
  const bytes = Uint8Array.from(out);
  for (const f of fills) if (f.at >= 0 && f.at + 4 <= bytes.length) bytes.set(f.value, f.at);
  return bytes;
}
