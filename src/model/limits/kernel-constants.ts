/**
 * Constants the kernel's rate limiters derive from CONFIG_HZ, and the jiffies conversions they
 * use. Everything here is integer arithmetic with the kernel's widths: `bigint` stands for u64
 * (`unsigned long` on 64-bit), plain numbers for u32/int. See ../shared/spec/limit-algorithms.md.
 *
 * Sources: net/netfilter/xt_limit.c and xt_hashlimit.c (`MAX_CPJ`, `POW2_BELOW32/64`),
 * include/linux/jiffies.h (`msecs_to_jiffies`).
 */

export const U32_MAX = 0xffff_ffff;
export const U64_MASK = (1n << 64n) - 1n;

/** `x mod 2^64` (the kernel's u64 wrap-around). */
export function u64(x: bigint): bigint {
  return BigInt.asUintN(64, x);
}

/** `x mod 2^32` as a number (the kernel's u32 wrap-around). */
export function u32(x: bigint | number): number {
  return Number(BigInt.asUintN(32, BigInt(x)));
}

/** `(s64)x` for a u64 bit pattern. */
export function s64(x: bigint): bigint {
  return BigInt.asIntN(64, x);
}

/** The largest power of two <= x (the kernel's `POW2_BELOW32`/`POW2_BELOW64` macros). x >= 1. */
export function pow2Below(x: bigint): bigint {
  if (x < 1n) throw new RangeError('pow2Below needs x >= 1');
  let p = 1n;
  while (p * 2n <= x) p *= 2n;
  return p;
}

/** Seconds per day: the slowest rate iptables can express is 1/day. */
const DAY = 86_400n;

/** Checks that `hz` is a plausible CONFIG_HZ (the kernel offers 100, 250, 300, 1000). */
export function checkHz(hz: number): void {
  if (!Number.isInteger(hz) || hz < 1 || hz > 10_000) throw new RangeError(`invalid HZ ${hz}`);
}

/**
 * xt_limit's and hashlimit revision 1's `CREDITS_PER_JIFFY`: the largest power of two
 * <= floor(0xFFFFFFFF / (HZ * 86400)). HZ=250: 128.
 */
export function cpj32(hz: number): number {
  checkHz(hz);
  return Number(pow2Below(BigInt(U32_MAX) / (BigInt(hz) * DAY)));
}

/**
 * hashlimit revision 2/3's 64-bit `CREDITS_PER_JIFFY`: the largest power of two
 * <= floor((2^64-1) / (HZ * 86400)). HZ=250: 2^39.
 */
export function cpj64(hz: number): bigint {
  checkHz(hz);
  return pow2Below(U64_MASK / (BigInt(hz) * DAY));
}

/**
 * hashlimit byte mode's `CREDITS_PER_JIFFY_BYTES`: the largest power of two
 * <= floor(0xFFFFFFFF / HZ). HZ=250: 2^24.
 */
export function cpjBytes(hz: number): number {
  checkHz(hz);
  return Number(pow2Below(BigInt(U32_MAX) / BigInt(hz)));
}

/** The kernel's `MAX_JIFFY_OFFSET` (64-bit): ((LONG_MAX >> 1) - 1). */
export const MAX_JIFFY_OFFSET = (((1n << 63n) - 1n) >> 1n) - 1n;

/**
 * The kernel's `msecs_to_jiffies(m)` for a non-negative `m` (unsigned int): rounds up.
 * For HZ dividing 1000 (100, 250, 1000) this is `ceil(m / (1000/HZ))`; for other HZ
 * `ceil(m * HZ / 1000)` (what the kernel's multiply-shift approximates).
 */
export function msecsToJiffies(ms: number, hz: number): bigint {
  checkHz(hz);
  if (!Number.isInteger(ms) || ms < 0) throw new RangeError(`invalid milliseconds ${ms}`);
  const m = BigInt(ms);
  const h = BigInt(hz);
  if (1000n % h === 0n) return (m + 1000n / h - 1n) / (1000n / h);
  if (h % 1000n === 0n) return m * (h / 1000n);
  return (m * h + 999n) / 1000n;
}

/** The kernel's `jiffies_to_msecs(j)` (what reading a `*_ms_jiffies` sysctl prints). */
export function jiffiesToMsecs(j: bigint, hz: number): number {
  checkHz(hz);
  const h = BigInt(hz);
  if (1000n % h === 0n) return Number(BigInt.asUintN(32, (1000n / h) * j));
  if (h % 1000n === 0n) return Number(BigInt.asUintN(32, (j + h / 1000n - 1n) / (h / 1000n)));
  return Number(BigInt.asUintN(32, (j * 1000n) / h));
}

/**
 * The kernel's initial jiffies value on 64-bit (`INITIAL_JIFFIES`): jiffies start 5 minutes
 * before the 32-bit wrap so that wrap bugs show up early. Useful as a realistic test epoch.
 */
export function initialJiffies(hz: number): bigint {
  checkHz(hz);
  return BigInt.asUintN(32, BigInt(-300 * hz));
}
