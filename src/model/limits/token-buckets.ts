/**
 * The two token buckets of the kernel's ICMP error limiter, which rejectc's reply budget reuses:
 * - the global bucket (`icmp_global_allow` / `icmp_global_consume`, net/ipv4/icmp.c): a signed
 *   credit refilled lazily, at most once per HZ/50 jiffies, by msgs_per_sec * elapsed / HZ, up to
 *   msgs_burst; each message sent takes 0, 1 or 2 credits at random (kernel) or exactly 1;
 * - the per-peer bucket (`inet_peer_xrlim_allow`, net/ipv4/inetpeer.c): tokens are jiffies, a
 *   message costs `timeout` jiffies, and the bucket holds at most `burst` (XRLIM_BURST_FACTOR, 6)
 *   messages' worth.
 * limit-algorithms.md §4. Time is jiffies as a bigint (unsigned long).
 */
import { u32 } from './kernel-constants.js';

/** Global bucket settings (the `icmp_msgs_per_sec` / `icmp_msgs_burst` sysctls and HZ). */
export interface GlobalBucketParams {
  msgsPerSec: number;
  msgsBurst: number;
  hz: number;
}

/** Global bucket state: `credit` is an int, `stamp` a u32 jiffies value. Both start at 0. */
export interface GlobalBucketState {
  credit: number;
  stamp: number;
}

export function newGlobalBucket(): GlobalBucketState {
  return { credit: 0, stamp: 0 };
}

/** `icmp_global_allow`: may a message be sent now? Refills when the credit is used up. */
export function globalAllow(s: GlobalBucketState, p: GlobalBucketParams, now: bigint): boolean {
  if (s.credit > 0) return true;
  const nowStamp = u32(now);
  const delta = Math.min(u32(nowStamp - s.stamp), p.hz);
  if (delta < Math.floor(p.hz / 50)) return false;
  const incr = Number((BigInt(p.msgsPerSec) * BigInt(delta)) / BigInt(p.hz)) | 0;
  if (incr === 0) return false;
  s.stamp = nowStamp;
  s.credit = Math.min((s.credit + incr) | 0, p.msgsBurst);
  return true;
}

/** `icmp_global_consume`: `credits` is what was drawn (kernel: uniform 0..2). */
export function globalConsume(s: GlobalBucketState, credits: number): void {
  s.credit = (s.credit - credits) | 0;
}

/** XRLIM_BURST_FACTOR: a peer may get this many messages back to back. */
export const XRLIM_BURST_FACTOR = 6;

/** Per-peer state (`rate_tokens` u32, `rate_last` jiffies). */
export interface PeerBucketState {
  tokens: number;
  last: bigint;
}

/** A peer seen for the first time (`inet_getpeer`): no tokens, but last touched 60 s ago. */
export function newPeerBucket(now: bigint, hz: number): PeerBucketState {
  return { tokens: 0, last: BigInt.asUintN(64, now - BigInt(60 * hz)) };
}

/**
 * `inet_peer_xrlim_allow(peer, timeout)` with the burst factor as a parameter: true if a
 * message to this peer may be sent now (and takes its tokens). `timeout` 0 always allows.
 */
export function peerAllow(s: PeerBucketState, timeout: number, now: bigint, burst = XRLIM_BURST_FACTOR): boolean {
  let token = BigInt(s.tokens);
  const delta = BigInt.asUintN(64, now - s.last);
  if (delta !== 0n) {
    s.last = now;
    token = BigInt.asUintN(64, token + delta);
    const cap = BigInt(burst) * BigInt(timeout);
    if (token > cap) token = cap;
  }
  let ok = false;
  if (token >= BigInt(timeout)) {
    token -= BigInt(timeout);
    ok = true;
  }
  s.tokens = u32(token);
  return ok;
}

/**
 * A bounded map that forgets its least recently used entry when full: the model of a BPF LRU
 * hash map (and, with an infinite capacity, of the kernel's inet_peer tree).
 */
export class LruMap<V> {
  private readonly map = new Map<string, V>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: string, value: V): void {
    this.map.delete(key);
    if (this.map.size >= this.capacity) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(key, value);
  }
}
