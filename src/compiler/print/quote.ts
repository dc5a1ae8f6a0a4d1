/**
 * `xtables_save_string()`: how iptables-save writes free text (comments, log prefixes). A value
 * made only of `[A-Za-z0-9_-]` is written as is; anything else (including the empty string) is
 * double-quoted with `"`, `\` and `'` escaped by a backslash.
 */
const PLAIN = /^[A-Za-z0-9_-]+$/;

export function saveString(value: string): string {
  if (PLAIN.test(value)) return value;
  return `"${value.replace(/["\\']/g, (c) => `\\${c}`)}"`;
}
