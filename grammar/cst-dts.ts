/**
 * The CST type declarations of the grammar, generated with chevrotain's `generateCstDts` (the
 * copy in the same chevrotain build as the parser, whose production classes it recognises) from
 * the parser's productions. grammar/cst.d.ts is this function's output, checked in; a test keeps
 * the two equal. Regenerate after a grammar change with
 * `npx tsc -p tsconfig.json && node dist/grammar/generate-cst-dts.js`.
 */
import { generateCstDts } from './chevrotain.js';
import { parser } from './parser.js';

const BANNER = '// Generated from grammar/parser.ts by grammar/generate-cst-dts.ts; do not edit.\n';

/** The text grammar/cst.d.ts must contain. */
export function cstDtsText(): string {
  return BANNER + generateCstDts(parser.getGAstProductions());
}
