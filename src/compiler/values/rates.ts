/**
 * Rates of `-m limit` and `-m hashlimit` (../shared/spec/limit-algorithms.md §0, §3;
 * libxt_limit.c and libxt_hashlimit.c `parse_rate`, `parse_bytes`, `print_rate`,
 * `print_bytes`).
 *
 * A packet rate `N[/unit]` becomes an average interval `avg = floor(scale * mult / N)` where
 * `unit` is a case-insensitive prefix of second, minute, hour or day (mult 1, 60, 3600, 86400)
 * and `N` is read like C's atoi (leading digits). `-m limit` uses scale 10,000, hashlimit
 * (revision 3) 1,000,000. Printing picks the unit back the way iptables does.
 */
import { invalid, ok, type Parsed } from './result.js';

export const LIMIT_SCALE = 10_000;
export const HASHLIMIT_SCALE = 1_000_000;

const UNITS: readonly (readonly [string, number])[] = [
  ['second', 1],
  ['minute', 60],
  ['hour', 3600],
  ['day', 86400],
];

/** C `atoi`/`atoll`: optional blanks and sign, then leading digits; 0 when there are none. */
export function atoi(text: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d*)/.exec(text)!;
  const n = m[2] === '' ? 0 : Number(m[2]);
  return m[1] === '-' ? -n : n;
}

/** A packet rate: the number and the unit multiplier in seconds. */
export interface PacketRate {
  count: number;
  mult: number;
}

/** `N[/unit]` as both limit and hashlimit read it; undefined for "bad rate". */
export function parsePacketRate(text: string): PacketRate | undefined {
  const slash = text.indexOf('/');
  let mult = 1;
  if (slash >= 0) {
    const unit = text.slice(slash + 1).toLowerCase();
    if (unit === '') return undefined;
    const found = UNITS.find(([name]) => name.startsWith(unit));
    if (!found) return undefined;
    mult = found[1];
  }
  const count = atoi(text);
  if (count === 0) return undefined;
  return { count, mult };
}

/**
 * The average interval in `scale` units for a packet rate. Negative counts wrap as in C
 * (they become huge, hence "too fast"); 0 means the rate is too fast to represent.
 */
export function rateToAvg(rate: PacketRate, scale: number, bits: 32 | 64): number {
  const count = rate.count < 0 ? rate.count + 2 ** bits : rate.count;
  return Math.floor((scale * rate.mult) / count);
}

/** Parses `--limit`: avg in 1/10000 s. */
export function parseLimitRate(text: string): Parsed<number> {
  const rate = parsePacketRate(text);
  if (!rate) return invalid('rate', text, 'expected N[/second|/minute|/hour|/day]');
  const avg = rateToAvg(rate, LIMIT_SCALE, 32);
  if (avg === 0) return invalid('rate', text, 'rate too fast (at most 10000/second)');
  return ok(avg);
}

/**
 * iptables' `print_rate`: the largest unit (day, hour, min, sec — tried from day downwards)
 * whose count is still a good representation, and that count. Returns the text and the unit's
 * length in milliseconds (hashlimit's "quantum").
 */
export function formatRate(avg: number, scale: number): { text: string; quantumMs: number } {
  const units: readonly (readonly [string, number])[] = [
    ['day', scale * 86400],
    ['hour', scale * 3600],
    ['min', scale * 60],
    ['sec', scale],
  ];
  let i = 1;
  for (; i < units.length; i++) {
    const mult = units[i]![1];
    if (avg > mult || Math.floor(mult / avg) < mult % avg) break;
  }
  const [name, mult] = units[i - 1]!;
  return { text: `${Math.floor(mult / avg)}/${name}`, quantumMs: (mult / scale) * 1000 };
}

// ---------------------------------------------------------------------------------------------
// hashlimit byte rates (`Nb/s`, `Nkb/s`, `Nmb/s`)

export const HASHLIMIT_BYTE_SHIFT = 4;
const U32 = 0xffffffff;

/** libxt_hashlimit `bytes_to_cost`. */
export function bytesToCost(bytes: number): number {
  const r = Math.floor(bytes / 2 ** HASHLIMIT_BYTE_SHIFT) >>> 0;
  return Math.floor(U32 / (r + 1));
}

/** libxt_hashlimit `cost_to_bytes`. */
export function costToBytes(cost: number): number {
  const r = cost ? Math.floor(U32 / cost) : U32;
  return (r - 1) * 2 ** HASHLIMIT_BYTE_SHIFT;
}

function factorOf(ch: string | undefined): number {
  return ch === 'm' ? 1024 * 1024 : ch === 'k' ? 1024 : 1;
}

/** `parse_bytes`: a byte rate, as its cost (`avg`), or undefined if `text` is not one. */
export function parseByteRate(text: string): Parsed<number> | undefined {
  const at = text.indexOf('b/s');
  if (at <= 0) return undefined;
  const r = atoi(text);
  if (r <= 0) return undefined;
  const cost = bytesToCost(r * factorOf(text[at - 1]));
  if (cost === 0) return invalid('rate', text, 'rate too high');
  return ok(cost);
}

const BYTE_UNITS: readonly (readonly [string, number])[] = [
  ['m', 1024 * 1024],
  ['k', 1024],
  ['', 1],
];

/** `print_bytes` rate part: `Nmb/s`, `Nkb/s` or `Nb/s` for a byte-mode cost. */
export function formatByteRate(avg: number): string {
  const r = costToBytes(avg);
  let i = 0;
  for (; i < BYTE_UNITS.length - 1; i++) {
    const thresh = BYTE_UNITS[i]![1];
    if (r >= thresh && bytesToCost(r - (r % thresh)) === avg) break;
  }
  const [name, thresh] = BYTE_UNITS[i]!;
  return `${Math.floor(r / thresh)}${name}b/s`;
}

/** `print_bytes` burst part: the bucket in bytes, `Nmb`, `Nkb` or `Nb` (rounded down). */
export function formatByteBurst(avg: number, burst: number): string {
  const r = costToBytes(avg) * burst;
  let i = 0;
  for (; i < BYTE_UNITS.length - 1; i++) if (r >= BYTE_UNITS[i]![1]) break;
  const [name, thresh] = BYTE_UNITS[i]!;
  return `${Math.floor(r / thresh)}${name}b`;
}

/**
 * `parse_burst`: a number (base 0) 1..2^64-1, optionally followed by `k`/`m` (KiB/MiB, for byte
 * mode). Without a suffix it must be at most 1,000,000. Returns the value in packets or bytes.
 */
export function parseHashlimitBurst(text: string): Parsed<number> {
  const m = /^[ \t]*\+?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)(.*)$/.exec(text);
  if (!m) return invalid('burst', text, 'expected a number 1 to 1000000');
  const digits = m[1]!;
  const v = /^0[xX]/.test(digits) ? parseInt(digits, 16) : digits.length > 1 && digits.startsWith('0') ? parseInt(digits, 8) : Number(digits);
  const rest = m[2]!;
  if (v < 1 || (rest === '' && v > 1_000_000)) return invalid('burst', text, 'expected a number 1 to 1000000');
  return ok(v * factorOf(rest[0]));
}
