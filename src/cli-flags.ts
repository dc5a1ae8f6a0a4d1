/**
 * The node flags the rejectc command starts with: those of the `#!/usr/bin/env -S node ...`
 * line of the built cli.js next to this module (see src/cli.ts). The benchmark starts its cold
 * compiles with them, so that it times what the command does.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function cliNodeFlags(cli = fileURLToPath(new URL('./cli.js', import.meta.url))): string[] {
  const first = readFileSync(cli, 'utf8').split('\n', 1)[0]!;
  const m = /^#!\/usr\/bin\/env(?: -S)? node((?: --?[\w-]+(?:=\S+)?)*)\s*$/.exec(first);
  if (!m) throw new Error(`${cli}: unexpected first line ${JSON.stringify(first)}`);
  return m[1]!.split(' ').filter((f) => f !== '');
}
