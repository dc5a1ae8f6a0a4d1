/**
 * `-m hashlimit` revision 3 (what iptables 1.8.9 picks on Linux 6.x, with both back-ends):
 * from the IR match to the kernel's `struct hashlimit_cfg3`, the checks of
 * `hashlimit_mt_check_common`, the table defaults of `htable_create`, and the per-entry
 * constants of `rateinfo_init`. Mirrors net/netfilter/xt_hashlimit.c and
 * extensions/libxt_hashlimit.c; limit-algorithms.md §3.
 */
import type { Family, HashlimitMatch } from '../../compiler/ir.js';
import { U32_MAX, U64_MASK, cpj64, cpjBytes, msecsToJiffies, u64 } from './kernel-constants.js';

/** `XT_HASHLIMIT_*` mode bits (include/uapi/linux/netfilter/xt_hashlimit.h). */
export const HL_MODE = {
  HASH_DIP: 1 << 0,
  HASH_DPT: 1 << 1,
  HASH_SIP: 1 << 2,
  HASH_SPT: 1 << 3,
  INVERT: 1 << 4,
  BYTES: 1 << 5,
  RATE_MATCH: 1 << 6,
} as const;

/** XT_HASHLIMIT_SCALE_v2: revision 2/3 `avg` is in 1/1,000,000 s. */
export const XT_HASHLIMIT_SCALE_V2 = 1_000_000n;
/** XT_HASHLIMIT_BYTE_SHIFT: byte mode counts 16-byte chunks. */
export const XT_HASHLIMIT_BYTE_SHIFT = 4;
/** HASHLIMIT_MAX_SIZE: the kernel caps htable-size and htable-max to this. */
export const HASHLIMIT_MAX_SIZE = 1_048_576;

/** `struct hashlimit_cfg3` as iptables hands it to the kernel. */
export interface HashlimitCfg3 {
  mode: number;
  avg: bigint;
  burst: bigint;
  size: number;
  max: number;
  gcInterval: number;
  expire: number;
  srcmask: number;
  dstmask: number;
  interval: number;
}

/** libxt_hashlimit's `bytes_to_cost`: the byte-mode `avg` for a rate of `bytes` per second. */
export function bytesToCost(bytes: bigint): bigint {
  const r = BigInt.asUintN(32, bytes >> BigInt(XT_HASHLIMIT_BYTE_SHIFT));
  return BigInt(U32_MAX) / (r + 1n);
}

/** libxt_hashlimit's `cost_to_bytes`: the bytes per second a byte-mode `avg` stands for. */
export function costToBytes(cost: bigint): bigint {
  const r = cost !== 0n ? BigInt(U32_MAX) / cost : BigInt(U32_MAX);
  return u64((r - 1n) << BigInt(XT_HASHLIMIT_BYTE_SHIFT));
}

const RATE_PERIODS = [
  { mult: XT_HASHLIMIT_SCALE_V2 * 86_400n, name: 'day' },
  { mult: XT_HASHLIMIT_SCALE_V2 * 3_600n, name: 'hour' },
  { mult: XT_HASHLIMIT_SCALE_V2 * 60n, name: 'min' },
  { mult: XT_HASHLIMIT_SCALE_V2, name: 'sec' },
] as const;

/**
 * libxt_hashlimit's `print_rate` for revision 3: the unit iptables-save prints `period` in, and
 * that unit in milliseconds (the "quantum" the default `--hashlimit-htable-expire` equals).
 */
export function printRate(period: bigint): { rate: bigint; unit: string; quantumMs: number } {
  if (period === 0n) return { rate: 0n, unit: 'sec', quantumMs: 0 };
  let i = 1;
  for (; i < RATE_PERIODS.length; i++) {
    const m = RATE_PERIODS[i]!.mult;
    if (period > m || m / period < m % period) break;
  }
  const p = RATE_PERIODS[i - 1]!;
  return { rate: p.mult / period, unit: p.name, quantumMs: Number((p.mult / XT_HASHLIMIT_SCALE_V2) * 1000n) };
}

/** Byte-mode expiry defaults (XT_HASHLIMIT_BYTE_EXPIRE / _BURST, seconds). */
const BYTE_EXPIRE_MS = 15_000;
const BYTE_EXPIRE_BURST_MS = 60_000;
const DEFAULT_GC_INTERVAL_MS = 1_000;

/** The mode bits of an IR hashlimit match. */
export function hashlimitModeBits(m: HashlimitMatch): number {
  let mode = 0;
  for (const k of m.mode) {
    if (k === 'dstip') mode |= HL_MODE.HASH_DIP;
    else if (k === 'dstport') mode |= HL_MODE.HASH_DPT;
    else if (k === 'srcip') mode |= HL_MODE.HASH_SIP;
    else mode |= HL_MODE.HASH_SPT;
  }
  if (m.direction === 'above') mode |= HL_MODE.INVERT;
  if (m.bytes) mode |= HL_MODE.BYTES;
  if (m.rateMatch) mode |= HL_MODE.RATE_MATCH;
  return mode;
}

/**
 * The `hashlimit_cfg3` iptables builds for an IR match. The IR stores what iptables stores:
 * `avg` in 1/1e6 s (packet mode) or the byte cost `bytes_to_cost(bytes per second)` (byte
 * mode, where `bytes.perSecond` is only what iptables-save prints), and `burst` as the kernel's
 * refill count in byte mode. Absent options take iptables' defaults; an absent `htableExpire`
 * is the value iptables-save leaves out, i.e. the quantum of the printed rate (byte mode: 15 s,
 * or 60 s with a burst).
 */
export function hashlimitCfg3(m: HashlimitMatch, family: Family): HashlimitCfg3 {
  const mode = hashlimitModeBits(m);
  const bytes = m.bytes !== undefined;
  const avg = BigInt(m.avg);
  const burst = BigInt(m.burst);
  const interval = m.rateMatch ? (m.rateInterval ?? 1) : 0;
  let expire = m.htableExpire;
  if (expire === undefined) {
    if (bytes) expire = burst === 0n ? BYTE_EXPIRE_MS : BYTE_EXPIRE_BURST_MS;
    else expire = printRate(m.rateMatch && interval !== 0 ? avg * BigInt(interval) : avg).quantumMs;
  }
  const full = family === 'ipv4' ? 32 : 128;
  return {
    mode,
    avg,
    burst,
    size: m.htableSize ?? 0,
    max: m.htableMax ?? 0,
    gcInterval: m.htableGcinterval ?? DEFAULT_GC_INTERVAL_MS,
    expire,
    srcmask: m.srcmask ?? full,
    dstmask: m.dstmask ?? full,
    interval,
  };
}

/** How one entry's bucket is initialised and refilled (`rateinfo_init` / `rateinfo_recalc`). */
export type HashlimitBucketParams =
  | {
      kind: 'packets';
      /** CREDITS_PER_JIFFY (64-bit, revision 3). */
      cpj: bigint;
      /** Initial credit and cap: user2credits(avg * burst). */
      creditCap: bigint;
      /** Credits per packet: user2credits(avg). */
      cost: bigint;
    }
  | {
      kind: 'bytes';
      /** CREDITS_PER_JIFFY_BYTES. */
      cpj: bigint;
      /** CREDITS_PER_JIFFY_BYTES * HZ: a full bucket, refilled up to here. */
      full: bigint;
      /** Credits per 16-byte chunk: user2credits_byte(avg) (u32). */
      cost: bigint;
      /** How many times an empty bucket may be refilled at once (`credit_cap`): cfg.burst. */
      refills: bigint;
    }
  | {
      kind: 'rate';
      /** Packets (or bytes) per interval allowed: user2rate(avg). */
      rate: bigint;
      /** burst + rate (bytes: burst * rate, or rate). s64 in the kernel. */
      burst: bigint;
      /** The rate interval in jiffies: cfg.interval * HZ. */
      intervalJiffies: bigint;
    };

/** A hashlimit table as the kernel creates it from its first rule's config. */
export interface HashlimitTableParams {
  family: Family;
  name: string;
  /** The creating rule's mode: keying and init/refill follow these bits. */
  mode: number;
  srcmask: number;
  dstmask: number;
  /** Bucket count (affects only the default max). */
  size: number;
  /** Entries at most; a new flow beyond it is dropped (hotdrop). */
  max: number;
  gcIntervalMs: number;
  /** msecs_to_jiffies(expire). */
  expireJiffies: bigint;
  bucket: HashlimitBucketParams;
}

export type HashlimitCheck = { ok: true; params: HashlimitTableParams } | { ok: false; errno: 'EINVAL' | 'ERANGE'; reason: string };

/** Revision 3 `user2credits(user)` (u64 math, divide the constant operands first). */
export function hlUser2Credits(user: bigint, hz: number): bigint {
  const scale = XT_HASHLIMIT_SCALE_V2;
  const hzCpj = BigInt(hz) * cpj64(hz);
  if (scale >= hzCpj) return u64(user) / (scale / hzCpj);
  return u64(u64(user) * (hzCpj / scale));
}

/** `user2credits_byte(user)`: (user * HZ * CPJ_B) >> 32 with a u32 `user`. */
export function hlUser2CreditsByte(user: bigint, hz: number): bigint {
  const us = BigInt.asUintN(32, user);
  return BigInt.asUintN(32, u64(us * BigInt(hz) * BigInt(cpjBytes(hz))) >> 32n);
}

/** The kernel's default bucket count for a host with `ramBytes` of memory (`htable_create`). */
export function defaultHtableSize(ramBytes: number): number {
  if (ramBytes > 1024 * 1024 * 1024) return 8192;
  const size = Math.floor(ramBytes / 16384 / 8);
  return Math.max(16, size);
}

/**
 * The checks of `hashlimit_mt_check_common` and the table `htable_create` builds. `ramBytes`
 * sizes the default table like the kernel does (default: a host with more than 1 GiB).
 */
export function hashlimitTableParams(
  cfg: HashlimitCfg3,
  family: Family,
  name: string,
  hz: number,
  ramBytes = 2 ** 31,
): HashlimitCheck {
  if (cfg.gcInterval === 0 || cfg.expire === 0) return { ok: false, errno: 'EINVAL', reason: 'gcinterval and expire must not be 0' };
  const full = family === 'ipv4' ? 32 : 128;
  if (cfg.srcmask > full || cfg.dstmask > full) return { ok: false, errno: 'EINVAL', reason: `mask longer than ${full}` };
  let bucket: HashlimitBucketParams;
  if (cfg.mode & HL_MODE.RATE_MATCH) {
    if (cfg.avg === 0n || cfg.avg > BigInt(U32_MAX)) return { ok: false, errno: 'ERANGE', reason: 'invalid rate' };
    if (cfg.interval === 0) return { ok: false, errno: 'EINVAL', reason: 'invalid interval' };
    let rate: bigint;
    let burst: bigint;
    if (cfg.mode & HL_MODE.BYTES) {
      const a = BigInt.asUintN(32, cfg.avg);
      rate = u64(((a !== 0n ? BigInt(U32_MAX) / a : BigInt(U32_MAX)) - 1n) << BigInt(XT_HASHLIMIT_BYTE_SHIFT));
      burst = cfg.burst !== 0n ? BigInt.asIntN(64, cfg.burst * rate) : rate;
    } else {
      rate = XT_HASHLIMIT_SCALE_V2 / cfg.avg;
      burst = BigInt.asIntN(64, cfg.burst + rate);
    }
    bucket = { kind: 'rate', rate, burst, intervalJiffies: BigInt(cfg.interval) * BigInt(hz) };
  } else if (cfg.mode & HL_MODE.BYTES) {
    const cost = hlUser2CreditsByte(cfg.avg, hz);
    if (cost === 0n) return { ok: false, errno: 'EINVAL', reason: 'overflow, rate too high' };
    const cpj = BigInt(cpjBytes(hz));
    bucket = { kind: 'bytes', cpj, full: cpj * BigInt(hz), cost, refills: cfg.burst };
  } else {
    const cost = hlUser2Credits(cfg.avg, hz);
    const cap = hlUser2Credits(u64(cfg.avg * cfg.burst), hz);
    if (cfg.burst === 0n || cap < cost) return { ok: false, errno: 'ERANGE', reason: `overflow, try lower: ${cfg.avg}/${cfg.burst}` };
    bucket = { kind: 'packets', cpj: cpj64(hz), creditCap: cap, cost };
  }
  const size = Math.min(cfg.size !== 0 ? cfg.size : defaultHtableSize(ramBytes), HASHLIMIT_MAX_SIZE);
  let max = Math.min(cfg.max, HASHLIMIT_MAX_SIZE);
  if (max === 0) max = 8 * size;
  else if (max < size) max = size;
  return {
    ok: true,
    params: {
      family,
      name,
      mode: cfg.mode,
      srcmask: cfg.srcmask,
      dstmask: cfg.dstmask,
      size,
      max,
      gcIntervalMs: cfg.gcInterval,
      expireJiffies: msecsToJiffies(cfg.expire, hz),
      bucket,
    },
  };
}

/** True when a bucket parameter fits the u64 the kernel keeps it in (sanity for encoders). */
export function fitsU64(x: bigint): boolean {
  return x >= 0n && x <= U64_MASK;
}
