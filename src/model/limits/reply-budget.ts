/**
 * rejectc's reply budget, and the kernel ICMP error limiter it imitates.
 *
 * Every reply rejectc sends (RST, ICMP, ICMPv6) first asks the budget of its kind: a global token
 * bucket (shared by the kinds that name the same slot; ICMP and ICMPv6 share one by default, as
 * the kernel's IPv4 and IPv6 share `icmp_global`), then a per-peer bucket keyed by the reply's
 * destination (the rejected packet's source). An over-budget reply is not sent and the packet is
 * dropped, as REJECT does when the kernel cannot reply. The arithmetic is the kernel's
 * (token-buckets.ts), so with the host's sysctls rejectc answers ICMP exactly as often as the
 * kernel would. limit-algorithms.md §4.
 */
import { checkHz, msecsToJiffies } from './kernel-constants.js';
import {
  LruMap,
  XRLIM_BURST_FACTOR,
  globalAllow,
  globalConsume,
  newGlobalBucket,
  newPeerBucket,
  peerAllow,
  type GlobalBucketState,
  type PeerBucketState,
} from './token-buckets.js';

export const REPLY_KINDS = ['rst', 'icmp', 'icmp6'] as const;
export type ReplyKind = (typeof REPLY_KINDS)[number];

/** The numeric index of a kind in BPF maps (RJC_REPLY_RST, _ICMP, _ICMP6). */
export const REPLY_KIND_INDEX: Record<ReplyKind, number> = { rst: 0, icmp: 1, icmp6: 2 };

/** One kind's budget, resolved to the numbers the BPF program uses. */
export interface ReplyKindBudget {
  /** False: replies of this kind are never limited. */
  limited: boolean;
  /** Global bucket index 0..2; kinds with the same slot share its credit (and its settings). */
  globalSlot: number;
  /** Global refill per second; 0 never refills (nothing is sent once the credit is gone). */
  msgsPerSec: number;
  /** Global bucket size. */
  msgsBurst: number;
  /** Jiffies one reply costs in its peer's bucket; 0 turns the per-peer bucket off. */
  peerTimeout: number;
  /** Replies a peer's bucket holds (the kernel's XRLIM_BURST_FACTOR, 6). */
  peerBurst: number;
  /** `random`: a sent reply takes 0, 1 or 2 global credits like the kernel; `one`: exactly 1. */
  consume: 'random' | 'one';
}

/** The whole budget: per kind, plus HZ and the size of the per-peer LRU table. */
export interface ReplyBudgetParams {
  hz: number;
  /** Entries of the per-peer LRU map (all kinds together). */
  peerTableSize: number;
  kinds: Record<ReplyKind, ReplyKindBudget>;
}

/** Why a reply was or was not sent. */
export type BudgetVerdict = 'sent' | 'global' | 'peer';

/** The host's ICMP limiter sysctls (per network namespace) and its HZ. */
export interface IcmpSysctls {
  hz: number;
  /** net.ipv4.icmp_ratelimit, milliseconds (the kernel keeps msecs_to_jiffies of it). */
  icmpRatelimitMs: number;
  /** net.ipv4.icmp_ratemask: bit t set limits ICMP type t. */
  icmpRatemask: number;
  /** net.ipv4.icmp_msgs_per_sec (also used for ICMPv6). */
  icmpMsgsPerSec: number;
  /** net.ipv4.icmp_msgs_burst (also used for ICMPv6). */
  icmpMsgsBurst: number;
  /** net.ipv6.icmp.ratelimit, milliseconds. */
  icmp6RatelimitMs: number;
  /** net.ipv6.icmp.ratemask: the ICMPv6 types that are limited. */
  icmp6Ratemask: ReadonlySet<number>;
}

/** The defaults of Linux 6.18 (limit-algorithms.md §4), HZ given. */
export function defaultIcmpSysctls(hz: number): IcmpSysctls {
  const v6 = new Set<number>();
  for (let t = 0; t <= 127; t++) if (t !== 2) v6.add(t);
  return {
    hz,
    icmpRatelimitMs: 1000,
    icmpRatemask: 0x1818,
    icmpMsgsPerSec: 1000,
    icmpMsgsBurst: 50,
    icmp6RatelimitMs: 100,
    icmp6Ratemask: v6,
  };
}

/** `icmpv4_mask_allow` negated: is this ICMPv4 type/code rate limited at all? */
export function icmp4Limited(s: IcmpSysctls, type: number, code: number): boolean {
  if (type > 18) return false; // NR_ICMP_TYPES
  if (type === 3 && code === 4) return false; // fragmentation needed: PMTU discovery
  return ((s.icmpRatemask >>> type) & 1) === 1;
}

/** `icmpv6_mask_allow` negated: is this ICMPv6 type rate limited at all? */
export function icmp6Limited(s: IcmpSysctls, type: number): boolean {
  if (type > 255 || type === 2) return false; // packet too big is never limited
  return s.icmp6Ratemask.has(type);
}

/**
 * The budget of the kernel's ICMP limiter for the messages REJECT sends (ICMPv4 type 3 with a
 * code other than 4, ICMPv6 type 1), given the host's sysctls. RST is not limited by the kernel;
 * the `rst` entry here is off, and reply-limit.ts supplies rejectc's own RST default.
 */
export function kernelRejectBudget(s: IcmpSysctls, peerTableSize: number): ReplyBudgetParams {
  checkHz(s.hz);
  const global = { globalSlot: REPLY_KIND_INDEX.icmp, msgsPerSec: s.icmpMsgsPerSec, msgsBurst: s.icmpMsgsBurst };
  return {
    hz: s.hz,
    peerTableSize,
    kinds: {
      rst: { limited: false, globalSlot: 0, msgsPerSec: 0, msgsBurst: 0, peerTimeout: 0, peerBurst: XRLIM_BURST_FACTOR, consume: 'one' },
      icmp: {
        limited: icmp4Limited(s, 3, 3),
        ...global,
        peerTimeout: Number(msecsToJiffies(s.icmpRatelimitMs, s.hz)),
        peerBurst: XRLIM_BURST_FACTOR,
        consume: 'random',
      },
      icmp6: {
        limited: icmp6Limited(s, 1),
        ...global,
        peerTimeout: Number(msecsToJiffies(s.icmp6RatelimitMs, s.hz)),
        peerBurst: XRLIM_BURST_FACTOR,
        consume: 'random',
      },
    },
  };
}

/** Hex of an address, with the kind, as a peer-table key. */
function peerKey(kind: ReplyKind, addr: Uint8Array): string {
  return `${kind}|${Buffer.from(addr).toString('hex')}`;
}

/**
 * The reply budget with its state: what the BPF program's `rjc_reply_budget()` does. The peer
 * table forgets its least recently used peer when full (a forgotten peer comes back with a full
 * bucket, as an evicted inet_peer does); the kernel model uses an unbounded table.
 */
export class ReplyBudget {
  private readonly globals: GlobalBucketState[] = [newGlobalBucket(), newGlobalBucket(), newGlobalBucket()];
  private readonly peers: LruMap<PeerBucketState>;

  constructor(readonly params: ReplyBudgetParams) {
    this.peers = new LruMap(params.peerTableSize);
  }

  /**
   * May a reply of `kind` to `peer` (4 or 16 address bytes) be sent at jiffies `now`? `random`
   * is the u32 the program draws for the kernel's random consumption (used only if sent).
   */
  allow(kind: ReplyKind, peer: Uint8Array, now: bigint, random: number): BudgetVerdict {
    if (!this.params.kinds[kind].limited) return 'sent';
    return this.charge(kind, peer, now, random);
  }

  /** The buckets of `kind` applied whether or not the kind is `limited`. */
  charge(kind: ReplyKind, peer: Uint8Array, now: bigint, random: number): BudgetVerdict {
    const k = this.params.kinds[kind];
    const g = this.globals[k.globalSlot]!;
    if (!globalAllow(g, { msgsPerSec: k.msgsPerSec, msgsBurst: k.msgsBurst, hz: this.params.hz }, now)) return 'global';
    if (k.peerTimeout !== 0) {
      const id = peerKey(kind, peer);
      let p = this.peers.get(id);
      if (!p) p = newPeerBucket(now, this.params.hz);
      const ok = peerAllow(p, k.peerTimeout, now, k.peerBurst);
      this.peers.set(id, p);
      if (!ok) return 'peer';
    }
    globalConsume(g, k.consume === 'random' ? (random >>> 0) % 3 : 1);
    return 'sent';
  }

  /** The global credit of a slot, for inspection. */
  globalCredit(slot: number): number {
    return this.globals[slot]!.credit;
  }
}

/**
 * The kernel's ICMP error limiter for any ICMP type (what `__icmp_send` / `icmp6_send` apply),
 * with one shared global bucket and unbounded per-peer tables per family. Loopback, which the
 * kernel never limits, is the caller's business.
 */
export class KernelIcmpLimiter {
  private readonly budget: ReplyBudget;

  constructor(readonly sysctls: IcmpSysctls) {
    const p = kernelRejectBudget(sysctls, Number.POSITIVE_INFINITY);
    this.budget = new ReplyBudget(p);
  }

  /** 'sent', 'global' or 'peer' for a limited type; 'sent' for types the ratemask leaves alone. */
  allow(family: 'ipv4' | 'ipv6', type: number, code: number, peer: Uint8Array, now: bigint, random: number): BudgetVerdict {
    const limited = family === 'ipv4' ? icmp4Limited(this.sysctls, type, code) : icmp6Limited(this.sysctls, type);
    if (!limited) return 'sent';
    return this.budget.charge(family === 'ipv4' ? 'icmp' : 'icmp6', peer, now, random);
  }
}
