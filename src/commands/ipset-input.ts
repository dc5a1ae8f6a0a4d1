/**
 * `--ipset FILE` of compile, run and apply: reads and parses the `ipset save` output the
 * rules' `-m set` matches test against; prints its diagnostics (code frames) on stderr.
 */
import { hasErrors } from '../compiler/diagnostics.js';
import { parseIpsetSave } from '../compiler/ipset/parse.js';
import type { IpsetFile } from '../compiler/ipset/types.js';
import { renderDiagnostics } from '../compiler/render.js';
import { readSource } from '../input.js';

/**
 * The sets of `path` (`-` for stdin), `null` when the option was not given, or undefined
 * when the file has errors (already printed).
 */
export function readIpsetOption(path: string | undefined): IpsetFile | null | undefined {
  if (path === undefined) return null;
  const src = readSource(path);
  const parsed = parseIpsetSave(src.text, src.file);
  if (parsed.diagnostics.length > 0) process.stderr.write(`${renderDiagnostics(parsed.diagnostics, src.text, src.file)}\n`);
  return hasErrors(parsed.diagnostics) ? undefined : parsed.ipsets;
}
