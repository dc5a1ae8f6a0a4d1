/**
 * A small template helper for generated C (after langium's `expandToString`): a tagged
 * template that
 * - removes the common indentation of the template's lines and its first and last line when
 *   they are blank, so templates can be indented like the TypeScript around them;
 * - indents every line of a multi-line substitution to the column the substitution starts at;
 * - joins arrays with newlines and drops `undefined`, `null` and `false` (and the line they
 *   stand alone on).
 * Pure; tabs in the template are kept as written.
 */

export type Fragment = string | number | undefined | null | false | readonly Fragment[];

function flatten(value: Fragment): string | undefined {
  if (value === undefined || value === null || value === false) return undefined;
  if (Array.isArray(value)) {
    const parts = (value as readonly Fragment[]).map(flatten).filter((v): v is string => v !== undefined);
    return parts.join('\n');
  }
  return String(value);
}

const OMIT = '\u0000omit\u0000';

export function c(strings: TemplateStringsArray, ...values: Fragment[]): string {
  let text = '';
  strings.forEach((s, i) => {
    text += s;
    if (i >= values.length) return;
    const v = flatten(values[i]!);
    if (v === undefined) {
      text += OMIT;
      return;
    }
    const lineStart = text.lastIndexOf('\n') + 1;
    const indent = text.slice(lineStart).match(/^[ \t]*/)![0];
    text += v.split('\n').join(`\n${indent}`);
  });
  let lines = text.split('\n');
  if (lines.length > 0 && lines[0]!.trim() === '') lines = lines.slice(1);
  if (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines = lines.slice(0, -1);
  lines = lines.filter((l) => l.replace(OMIT, '').trim() !== '' || !l.includes(OMIT)).map((l) => l.split(OMIT).join(''));
  const indents = lines.filter((l) => l.trim() !== '').map((l) => l.match(/^[ ]*/)![0].length);
  const common = indents.length > 0 ? Math.min(...indents) : 0;
  return lines.map((l) => (l.trim() === '' ? '' : l.slice(common))).join('\n');
}
