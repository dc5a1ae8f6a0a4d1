/**
 * chevrotain, for the grammar. The package's entry point (`lib/src/api.js`) is a tree of some
 * 300 ES modules, lodash-es included, which Node takes about 200 ms to resolve and load: more
 * than parsing a 10,000-rule file. The same package ships the same code as one file,
 * `lib/chevrotain.mjs` (same version, built from the same sources), which loads in about 15 ms;
 * `rejectc` starts from it. Should a future layout lack that file, the entry point is used.
 *
 * Import chevrotain's values from here; its types from 'chevrotain' as usual.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Chevrotain from 'chevrotain';

async function load(): Promise<typeof Chevrotain> {
  try {
    // The "require" condition of chevrotain's exports resolves to lib/src/api.js.
    const entry = createRequire(import.meta.url).resolve('chevrotain');
    return (await import(pathToFileURL(join(dirname(entry), '..', 'chevrotain.mjs')).href)) as typeof Chevrotain;
  } catch {
    return await import('chevrotain');
  }
}

const chevrotain = await load();

export const { CstParser, Lexer, createToken, createTokenInstance, generateCstDts } = chevrotain;
