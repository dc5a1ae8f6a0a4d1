/**
 * Number parsing exactly as iptables does it: `xtables_strtoui()` is C's `strtoul(s, &end, 0)`
 * plus a range check and "the whole string must be consumed". Base 0 means `0x` is
 * hexadecimal and a leading `0` is octal, so `010` is 8 and `08` is invalid — iptables users
 * get that behaviour, so we give it too.
 */

/** Result of {@link strtoul}: the value and how many characters were consumed (0 = none). */
export interface StrtoulResult {
  value: number;
  /** Index just after the last consumed character; 0 when no digits were found. */
  end: number;
}

/** C `isspace` in the C locale: space, \t, \n, \v, \f, \r. */
function isSpace(ch: string): boolean {
  const c = ch.charCodeAt(0);
  return c === 32 || (c >= 9 && c <= 13);
}

function digitValue(ch: string): number {
  const c = ch.charCodeAt(0);
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 122) return c - 87;
  if (c >= 65 && c <= 90) return c - 55;
  return 99;
}

/**
 * C `strtoul(text, &end, base)` semantics for base 0, 8, 10 or 16: leading white space and a
 * sign are skipped, `-n` wraps around (so it is far above any range iptables checks, except
 * `-0` which is 0). Values above 2^64-1 saturate. Results above 2^53 lose precision, which
 * never matters because every caller's range ends at or below 2^64-1 and such values fail it.
 */
export function strtoul(text: string, base: 0 | 8 | 10 | 16 = 0, from = 0): StrtoulResult {
  let i = from;
  while (i < text.length && isSpace(text[i]!)) i++;
  let negative = false;
  if (text[i] === '+' || text[i] === '-') {
    negative = text[i] === '-';
    i++;
  }
  let b: number = base;
  if ((b === 0 || b === 16) && text[i] === '0' && (text[i + 1] === 'x' || text[i + 1] === 'X') && digitValue(text[i + 2] ?? '') < 16) {
    i += 2;
    b = 16;
  } else if (b === 0) {
    b = text[i] === '0' ? 8 : 10;
  }
  const start = i;
  let value = 0;
  while (i < text.length && digitValue(text[i]!) < b) {
    value = value * b + digitValue(text[i]!);
    i++;
  }
  if (i === start) return { value: 0, end: from };
  if (value > 2 ** 64 - 1) value = 2 ** 64 - 1;
  if (negative && value !== 0) value = 2 ** 64 - value;
  return { value, end: i };
}

/**
 * The value of a text of 1 to 15 decimal digits without a leading zero (what {@link strtoul}
 * reads the same way in base 0 and 10), or -1 for any other text. The common case, read
 * without the general reader.
 */
function plainDecimal(text: string): number {
  const n = text.length;
  if (n === 0 || n > 15 || (n > 1 && text.charCodeAt(0) === 48)) return -1;
  let value = 0;
  for (let i = 0; i < n; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

/**
 * `xtables_strtoui(text, NULL, &v, min, max)`: the whole text must be a number (base 0) within
 * [min, max]. Returns undefined otherwise.
 */
export function parseUint(text: string, min: number, max: number): number | undefined {
  const plain = plainDecimal(text);
  if (plain >= 0) return plain >= min && plain <= max ? plain : undefined;
  const r = strtoul(text);
  if (r.end === 0 || r.end !== text.length) return undefined;
  return r.value >= min && r.value <= max ? r.value : undefined;
}

/** Like {@link parseUint} but in base 10 only (iptables options that use `%u` or base 10). */
export function parseDecimal(text: string, min: number, max: number): number | undefined {
  const plain = plainDecimal(text);
  if (plain >= 0) return plain >= min && plain <= max ? plain : undefined;
  const r = strtoul(text, 10);
  if (r.end === 0 || r.end !== text.length) return undefined;
  return r.value >= min && r.value <= max ? r.value : undefined;
}

export const UINT8_MAX = 0xff;
export const UINT16_MAX = 0xffff;
export const UINT32_MAX = 0xffffffff;

/** `0x%x` formatting as iptables prints marks and masks. */
export function hex(value: number): string {
  return `0x${value.toString(16)}`;
}
