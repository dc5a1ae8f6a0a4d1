/**
 * Writes grammar/cst.d.ts from the grammar (see cst-dts.ts). Run from the repository root
 * after building: `node dist/grammar/generate-cst-dts.js`.
 */
import { writeFileSync } from 'node:fs';
import { cstDtsText } from './cst-dts.js';

writeFileSync('grammar/cst.d.ts', cstDtsText());
