/**
 * `-m recent` tables (net/netfilter/xt_recent.c, recent_mt revision 1), for the model's rule
 * walk: per name, entries keyed by (family, masked address), each with up to
 * `ip_pkt_list_tot` time stamps in jiffies (a ring), the TTL of its last update, and the
 * table's LRU order (at most `ip_list_tot` entries: the oldest goes first). Mutated exactly
 * when the walk reaches the match, as the kernel does.
 */
import type { RecentMatch } from '../../compiler/ir.js';

/** xt_recent module parameters. */
export interface RecentParams {
  /** Jiffies per second (CONFIG_HZ). */
  hz: number;
  /** `ip_pkt_list_tot`: time stamps remembered per address (default 20). */
  pktListTot: number;
  /** `ip_list_tot`: addresses remembered per table (default 100). */
  listTot: number;
}

export const DEFAULT_RECENT_PARAMS: RecentParams = { hz: 250, pktListTot: 20, listTot: 100 };

interface Entry {
  stamps: bigint[];
  nstamps: number;
  index: number;
  ttl: number;
}

/** `time_after(a, b)`: a is later than b (jiffies). */
function timeAfter(a: bigint, b: bigint): boolean {
  return b - a < 0n;
}

/** The address with `mask` applied (mask given as a prefix length). */
export function maskedKey(family: 'ipv4' | 'ipv6', addr: Uint8Array, prefix: number): string {
  const out = Uint8Array.from(addr);
  for (let i = 0; i < out.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - 8 * i));
    out[i]! &= bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return `${family}|${Buffer.from(out).toString('hex')}`;
}

/** The prefix length of a recent `--mask` (absent: all ones). Undefined for a non-contiguous mask. */
export function recentMaskPrefix(mask: string | undefined, family: 'ipv4' | 'ipv6'): number | undefined {
  const full = family === 'ipv4' ? 32 : 128;
  if (mask === undefined) return full;
  const bytes = mask.includes(':') ? ipv6Bytes(mask) : Uint8Array.from(mask.split('.').map(Number));
  let prefix = 0;
  let ended = false;
  for (const b of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      const one = ((b >> bit) & 1) === 1;
      if (one && ended) return undefined;
      if (one) prefix++;
      else ended = true;
    }
  }
  return Math.min(prefix, full);
}

function ipv6Bytes(text: string): Uint8Array {
  const [head, tail] = text.split('::');
  const words = (s: string | undefined) => (s ? s.split(':').filter((x) => x !== '').map((w) => parseInt(w, 16)) : []);
  const h = words(head);
  const t = words(tail);
  const all = tail === undefined ? h : [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** All recent tables of a network namespace. */
export class RecentTables {
  /** name -> key -> entry; Map order is the LRU order (oldest first). */
  private readonly tables = new Map<string, Map<string, Entry>>();

  constructor(readonly params: RecentParams = DEFAULT_RECENT_PARAMS) {}

  private table(name: string): Map<string, Entry> {
    let t = this.tables.get(name);
    if (!t) this.tables.set(name, (t = new Map()));
    return t;
  }

  /** Addresses in table `name` (keys as {@link maskedKey}), oldest first. */
  keys(name: string): string[] {
    return [...this.table(name).keys()];
  }

  /**
   * recent_mt: the match result for a packet whose address (by --rsource/--rdest) is `addr`
   * and whose TTL as the match sees it is `ttl`, at time `jiffies`. Mutates the table.
   */
  match(m: RecentMatch, family: 'ipv4' | 'ipv6', addr: Uint8Array, ttl: number, jiffies: bigint): boolean {
    const t = this.table(m.name);
    const prefix = recentMaskPrefix(m.mask, family) ?? (family === 'ipv4' ? 32 : 128);
    const key = maskedKey(family, addr, prefix);
    const cmd = m.command.value;
    let ret = m.command.negated;
    let e = t.get(key);
    // recent_entry_lookup with --rttl: the TTLs agree, or either is 0.
    if (e && m.rttl && ttl !== 0 && e.ttl !== 0 && e.ttl !== ttl) e = undefined;
    if (!e) {
      if (cmd !== 'set') return ret;
      if (t.size >= this.params.listTot) t.delete(t.keys().next().value!);
      const fresh: Entry = { stamps: [jiffies], nstamps: 1, index: 1, ttl };
      t.delete(key);
      t.set(key, fresh);
      return !ret;
    }
    if (cmd === 'set') ret = !ret;
    else if (cmd === 'remove') {
      t.delete(key);
      return !ret;
    } else {
      const seconds = m.seconds ?? 0;
      const time = jiffies - BigInt(seconds * this.params.hz);
      let hits = 0;
      for (let i = 0; i < e.nstamps; i++) {
        if (seconds && timeAfter(time, e.stamps[i]!)) continue;
        if (!m.hitcount || ++hits >= m.hitcount) {
          ret = !ret;
          break;
        }
      }
      // --reap: the table's oldest entry goes when its last stamp is older than the window.
      if (m.reap) {
        const [oldestKey, oldest] = t.entries().next().value!;
        const updating = cmd === 'update' && ret;
        if (!(oldest === e && updating) && timeAfter(time, oldest.stamps[(oldest.index - 1 + this.params.pktListTot) % this.params.pktListTot]!)) t.delete(oldestKey);
      }
    }
    if (cmd === 'set' || (cmd === 'update' && ret)) {
      e.index %= this.params.pktListTot;
      e.stamps[e.index++] = jiffies;
      if (e.index > e.nstamps) e.nstamps = e.index;
      e.ttl = ttl;
      if (t.has(key)) {
        t.delete(key);
        t.set(key, e);
      }
    }
    return ret;
  }
}
