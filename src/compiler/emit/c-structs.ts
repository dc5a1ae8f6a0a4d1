/**
 * C declarations of the classifier's map structs, from the same layouts the entries are
 * encoded with (src/layout/struct.ts), each followed by static asserts of its size and
 * offsets so that clang checks the two sides agree.
 */
import { cTypeOf, type StructLayout } from '../../layout/struct.js';

function commentSafe(text: string): string {
  return text.replace(/\*\//g, '* /');
}

/** `struct name { ... };` with one commented line per field, and its static asserts. */
export function structLayoutC(l: StructLayout): string {
  const lines = [`/* ${commentSafe(l.def.doc)} */`, `struct ${l.def.name} {`];
  for (const f of l.fields) {
    const decl = `${cTypeOf(f.type)} ${f.name}${f.count !== undefined ? `[${f.count}]` : ''};`;
    lines.push(`\t${decl.padEnd(28)} /* @${f.offset}: ${commentSafe(f.doc)} */`);
  }
  lines.push('};');
  lines.push(`_Static_assert(sizeof(struct ${l.def.name}) == ${l.size}, "layout of ${l.def.name}");`);
  return lines.join('\n');
}
