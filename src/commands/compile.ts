/**
 * `rejectc compile <rules|-> [-o dir] [--hook tc|xdp] [--json] [--family ipv4|ipv6]`: parse,
 * check and compile a ruleset; write `rejectc.bpf.c`, `rejectc.bpf.o` (clang) and `maps.json`
 * (validated against its schema before it is written) into the output directory.
 *
 * Exit 0 (warnings printed to stderr), 1 with diagnostics (nothing written), 2 when clang is
 * missing. `--json` prints one object on stdout: the files written, rule and slot counts, the
 * shape, and per map its capacity and bytes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, type CompileArtifacts, type CompileResult } from '../compiler/compile.js';
import { hasErrors, type Diagnostic } from '../compiler/diagnostics.js';
import { parseRuleset } from '../compiler/frontend.js';
import type { Family, Ruleset } from '../compiler/ir.js';
import { renderDiagnostics } from '../compiler/render.js';
import { validateMapsJson } from '../compiler/schema/validate.js';
import { EXIT } from '../errors.js';
import { readSource } from '../input.js';
import { buildObject } from '../runtime/clang.js';
import type { MapJson, MapsJson } from '../compiler/emit/manifest.js';
import type { IpsetFile } from '../compiler/ipset/types.js';
import { readIpsetOption } from './ipset-input.js';

export interface CompileCommandOptions {
  out?: string;
  hook?: 'tc' | 'xdp';
  json?: boolean;
  family?: Family;
  /** `--ipset FILE`: the sets -m set rules use. */
  ipset?: string;
}

/** Parses and compiles rules text. Pure. Front-end diagnostics come first. */
export function compileText(text: string, file: string, options: { hook: 'tc' | 'xdp'; family?: Family; ipsets?: IpsetFile }): CompileResult & { ruleset: Ruleset } {
  const parsed = parseRuleset(text, file, options.family ? { family: options.family } : {});
  if (hasErrors(parsed.diagnostics)) return { diagnostics: parsed.diagnostics, ruleset: parsed.ruleset };
  const result = compile(parsed.ruleset, { hook: options.hook, ...(options.ipsets ? { ipsets: options.ipsets } : {}) });
  return { ...result, diagnostics: [...parsed.diagnostics, ...result.diagnostics], ruleset: parsed.ruleset };
}

/** Bytes the kernel allocates for a map's keys and values (per-CPU values once per CPU). */
export function mapBytes(m: Pick<MapJson, 'type' | 'keySize' | 'valueSize' | 'maxEntries'>, cpus = 1): number {
  const value = Math.ceil(m.valueSize / 8) * 8;
  switch (m.type) {
    case 'ARRAY':
      return m.maxEntries * value;
    case 'PERCPU_ARRAY':
      return m.maxEntries * value * cpus;
    default:
      return m.maxEntries * (m.keySize + value);
  }
}

/** Writes the artifacts into `dir`: maps.json (validated), the C, and the object (clang). */
export function writeArtifacts(dir: string, artifacts: CompileArtifacts): { c: string; object: string; maps: string } {
  // What is validated is the text written (one stringify: a 50,000-rule maps.json is 33 MB).
  const text = JSON.stringify(artifacts.maps);
  const check = validateMapsJson(JSON.parse(text));
  if (!check.ok) throw new Error(`internal error: maps.json does not match its schema: ${check.errors.join('; ')}`);
  mkdirSync(dir, { recursive: true });
  const files = { c: join(dir, 'rejectc.bpf.c'), object: join(dir, 'rejectc.bpf.o'), maps: join(dir, 'maps.json') };
  writeFileSync(files.c, artifacts.c);
  writeFileSync(files.maps, `${text}\n`);
  buildObject(files.c, files.object);
  return files;
}

function summary(maps: MapsJson, files: { c: string; object: string; maps: string }, diagnostics: Diagnostic[]) {
  const rules = maps.rules.length;
  return {
    file: maps.source,
    hook: maps.hook,
    files,
    rules: { source: maps.counters.length, flat: rules, slots: maps.chains.reduce((n, c) => n + (c.endSlot - c.firstSlot), 0) },
    chains: maps.chains.map((c) => ({ family: c.family, chain: c.chain, policy: c.policy, rules: c.rules.length, slots: c.endSlot - c.firstSlot })),
    shape: maps.shape,
    maps: maps.maps.map((m) => ({ name: m.name, type: m.type, role: m.role, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, entries: m.entries?.count ?? 0, bytes: mapBytes(m) })),
    bytes: maps.maps.reduce((n, m) => n + mapBytes(m), 0),
    warnings: diagnostics.filter((d) => d.severity === 'warning').map((d) => ({ code: d.code, message: d.message, file: d.span.file, line: d.span.start.line, column: d.span.start.column })),
  };
}

export default function compileCommand(rules: string, options: CompileCommandOptions = {}): number {
  const source = readSource(rules);
  const hook = options.hook ?? 'tc';
  const ipsets = readIpsetOption(options.ipset);
  if (ipsets === undefined) return EXIT.user;
  const result = compileText(source.text, source.file, { hook, ...(options.family ? { family: options.family } : {}), ...(ipsets ? { ipsets } : {}) });
  if (result.diagnostics.length > 0) process.stderr.write(`${renderDiagnostics(result.diagnostics, source.text, source.file)}\n`);
  if (!result.artifacts) return EXIT.user;
  const files = writeArtifacts(options.out ?? 'out', result.artifacts);
  const s = summary(result.artifacts.maps, files, result.diagnostics);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(s)}\n`);
  } else {
    process.stdout.write(
      `rejectc: compiled ${source.file} for ${hook}: ${s.rules.source} rules, ${s.rules.flat} after inlining and expansion, ` +
        `${s.rules.slots} slots; fields ${maps(s.shape.fields.map((f) => f.id))}\n` +
        `  ${files.c}\n  ${files.object}\n  ${files.maps}\n`,
    );
  }
  return EXIT.ok;
}

function maps(ids: string[]): string {
  return ids.length > 0 ? ids.join(', ') : '(none)';
}
