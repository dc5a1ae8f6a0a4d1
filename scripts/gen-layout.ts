/**
 * Writes bpf/rjc_layout.h from src/layout/ (the single definition of shared codes and map
 * layouts). Run after changing anything in src/layout/:
 *   npx tsc -p tsconfig.json && node dist/scripts/gen-layout.js
 * test/layout.test.ts fails while the committed header differs from what this writes.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateLayoutHeader, LAYOUT_HEADER_PATH } from '../src/layout/index.js';

/** Repository root: this file is scripts/gen-layout.ts, or dist/scripts/gen-layout.js when built. */
function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.split('/').includes('dist') ? resolve(here, '../..') : resolve(here, '..');
}

const target = join(repoRoot(), LAYOUT_HEADER_PATH);
writeFileSync(target, generateLayoutHeader());
console.log(`wrote ${target}`);
