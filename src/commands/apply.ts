/**
 * `rejectc apply <rules…|dir|-> --dev IF[,IF…] [--hook tc|xdp] [--reply-limit SPEC]
 *  [--xdp-mode native|generic] [--family ipv4|ipv6]`
 *
 * Compiles the rules — one file, or an IPv4 and an IPv6 file together (one interface carries
 * one rejectc ruleset with both families) — or reads a directory written by
 * `rejectc compile`, loads the program
 * and attaches it: TC ingress (INPUT and FORWARD) and, when the ruleset filters OUTPUT, TC
 * egress; or XDP ingress. Where rejectc already runs, the ruleset is replaced atomically (a
 * same-shape ruleset by a generation flip, another by a program swap; src/runtime/apply.ts).
 * The host's TTL/hop-limit defaults, routes, addresses and interface names, and the reply
 * budget (host ICMP sysctls, `# rejectc: reply-limit` directives, `--reply-limit`), are
 * written into the program's maps. A failed apply leaves every interface as it was.
 *
 * Exit codes: 0 applied; 1 bad rules or arguments (diagnostics on stderr); 2 environment
 * (no privileges, no clang, interface missing, kernel refused: the verifier log is saved).
 */
import type { Command } from 'commander';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../compiler/compile.js';
import { type Diagnostic, hasErrors } from '../compiler/diagnostics.js';
import { parseRuleset } from '../compiler/frontend.js';
import type { Family, Ruleset } from '../compiler/ir.js';
import {
  applyReplyLimitOps,
  defaultReplyLimitSettings,
  describeReplyBudget,
  findReplyLimitDirectives,
  icmpSysctlsOf,
  parseReplyLimitArgument,
  resolveReplyBudget,
} from '../compiler/reply-limit.js';
import { renderDiagnostics } from '../compiler/render.js';
import { EXIT, UserError } from '../errors.js';
import { type SourceText, readSource } from '../input.js';
import type { IcmpSysctls } from '../model/limits/reply-budget.js';
import { encodeBudget, LIMIT_MAPS } from '../model/limits/bpf-layout.js';
import type { ReplyBudgetParams } from '../model/limits/reply-budget.js';
import { type ApplyOutcome, applyArtifact } from '../runtime/apply.js';
import { buildCached } from '../runtime/clang.js';
import { readHostConfig } from '../runtime/host-config.js';
import { requireBpfPrivileges } from '../runtime/environment.js';
import type { RuntimeConfig } from '../runtime/load-artifact.js';
import { COMPILED_FILES, type MapsJson, artifactFromManifest, readManifest } from '../runtime/manifest.js';
import { u32 } from '../runtime/map.js';
import { checkIfname } from '../runtime/netns.js';
import type { XdpMode } from '../runtime/xdp.js';
import type { IpsetFile } from '../compiler/ipset/types.js';
import { ipsetConfig } from '../runtime/ipsets.js';
import { recentConfig } from '../runtime/recent.js';
import { readIpsetOption } from './ipset-input.js';

export interface ApplyCommandOptions {
  dev: string;
  hook?: 'tc' | 'xdp';
  replyLimit?: string;
  xdpMode?: XdpMode;
  family?: Family;
  /** `--ipset FILE`: the sets -m set rules use (`ipset save` output). */
  ipset?: string;
}

/** The interface names of `--dev a,b`; {@link UserError} on an empty or invalid name. */
export function parseDevices(dev: string): string[] {
  const names = dev.split(',').map((s) => s.trim());
  for (const n of names) {
    try {
      checkIfname(n);
    } catch {
      throw new UserError(`--dev: "${n}" is not an interface name`);
    }
  }
  return [...new Set(names)];
}

/** A compiled ruleset ready to apply: its manifest, object file, and the rules texts (for directives). */
interface Compiled {
  maps: MapsJson;
  object: string;
  sources: SourceText[];
  /** The program tests -m set (bpf/rjc_set.h): it needs --ipset. */
  usesSets: boolean;
}

/** Prints diagnostics of several source files, each with its own code frames. */
function printDiagnostics(diagnostics: readonly Diagnostic[], sources: readonly SourceText[]): void {
  for (const src of sources) {
    const own = diagnostics.filter((d) => d.span.file === src.file);
    if (own.length) process.stderr.write(`${renderDiagnostics(own, src.text, src.file)}\n`);
  }
}

/**
 * Parses one or more rules files (typically the IPv4 and the IPv6 ruleset) into one ruleset;
 * a family may come from one file only. Diagnostics are returned, not printed.
 */
export function parseRulesFiles(sources: readonly SourceText[], family?: Family): { ruleset: Ruleset; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const families: Ruleset['families'] = [];
  const from = new Map<string, string>();
  let backend: Ruleset['backend'] = 'unknown';
  for (const src of sources) {
    const parsed = parseRuleset(src.text, src.file, family ? { family } : {});
    diagnostics.push(...parsed.diagnostics);
    if (parsed.ruleset.backend !== 'unknown') backend = parsed.ruleset.backend;
    for (const f of parsed.ruleset.families) {
      const other = from.get(f.family);
      if (other) throw new UserError(`${src.file} and ${other} both have ${f.family} rules: give one file per family`);
      from.set(f.family, src.file);
      families.push(f);
    }
  }
  families.sort((a, b) => (a.family === b.family ? 0 : a.family === 'ipv4' ? -1 : 1));
  return { ruleset: { kind: 'ruleset', file: sources.map((s) => s.file).join(' + '), backend, families }, diagnostics };
}

/**
 * Compiles rules files, or reads a compile directory; prints diagnostics; undefined on errors.
 * `hookGiven`: the user named a hook (else a directory's own hook is used).
 */
function compiledInput(inputs: readonly string[], options: ApplyCommandOptions, hookGiven: boolean, ipsets: IpsetFile | null, hz: number): Compiled | undefined {
  const [first] = inputs;
  if (inputs.length === 1 && first !== '-' && existsSync(first!) && statSync(first!).isDirectory()) {
    const dir = first!;
    const maps = readManifest(dir);
    if (hookGiven && options.hook && options.hook !== maps.hook) {
      throw new UserError(`${dir} was compiled for ${maps.hook}, not ${options.hook}: compile it again with --hook ${options.hook}`);
    }
    const object = join(dir, COMPILED_FILES.object);
    const c = join(dir, COMPILED_FILES.c);
    const built = existsSync(object) ? object : existsSync(c) ? buildCached(readFileSync(c, 'utf8')) : undefined;
    if (!built) throw new UserError(`${dir} has neither ${COMPILED_FILES.object} nor ${COMPILED_FILES.c}`);
    const sources = maps.source.split(' + ').filter((f) => existsSync(f)).map((f) => readSource(f));
    const usesSets = existsSync(c) && readFileSync(c, 'utf8').includes('#include "rjc_set.h"');
    return { maps, object: built, sources, usesSets };
  }
  if (inputs.some((i) => existsSync(i) && statSync(i).isDirectory())) throw new UserError('a directory written by "rejectc compile" must be the only argument');
  const sources = inputs.map((i) => readSource(i));
  const parsed = parseRulesFiles(sources, options.family);
  if (hasErrors(parsed.diagnostics)) {
    printDiagnostics(parsed.diagnostics, sources);
    return undefined;
  }
  // The host's HZ: rate limits this kernel refuses are reported here, with their code frame (E261).
  const result = compile(parsed.ruleset, { hook: options.hook ?? 'tc', hz, ...(ipsets ? { ipsets } : {}) });
  printDiagnostics([...parsed.diagnostics, ...result.diagnostics], sources);
  if (!result.artifacts || hasErrors(result.diagnostics)) return undefined;
  const usesSets = result.classified?.checks.some((ch) => ch.kind === 'set') ?? false;
  return { maps: result.artifacts.maps, object: buildCached(result.artifacts.c), sources, usesSets };
}

/**
 * The reply budget: the host's defaults, then `# rejectc: reply-limit` directives of every
 * rules file in order, then `--reply-limit`. Prints diagnostics; undefined on errors.
 */
function replyBudget(sources: readonly SourceText[], argument: string | undefined, host: IcmpSysctls): ReplyBudgetParams | undefined {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      throw new UserError(`--reply-limit: cannot read ${path}`);
    }
  };
  const parts = sources.map((s) => findReplyLimitDirectives(s.text, s.file));
  const diagnostics = parts.flatMap((p) => p.diagnostics);
  const fromArg = argument === undefined ? { ops: [], diagnostics: [] } : parseReplyLimitArgument(argument, read);
  printDiagnostics(diagnostics, sources);
  if (fromArg.diagnostics.length) process.stderr.write(`${renderDiagnostics(fromArg.diagnostics, argument ?? '', '--reply-limit')}\n`);
  if (hasErrors([...diagnostics, ...fromArg.diagnostics])) return undefined;
  const ops = [...parts.flatMap((p) => p.ops), ...fromArg.ops];
  return resolveReplyBudget(applyReplyLimitOps(defaultReplyLimitSettings(), ops), host);
}

/** The reply budget as run-time configuration maps (rjc_budget_cfg entries, peer table size). */
function budgetConfig(params: ReplyBudgetParams): RuntimeConfig {
  return {
    sizes: [{ name: LIMIT_MAPS.budgetPeers, maxEntries: params.peerTableSize }],
    entries: [{ name: LIMIT_MAPS.budgetCfg, entries: encodeBudget(params).map((e) => ({ key: u32(e.index), value: e.value })) }],
  };
}

/** The run-time configuration plus the set maps' contents, when there are sets. */
function withSets(config: RuntimeConfig, ipsets: IpsetFile | null): RuntimeConfig {
  return ipsets ? { ...config, entries: [...config.entries, ...ipsetConfig(ipsets)] } : config;
}

/** The -m recent configuration (HZ, ip_pkt_list_tot); programs without recent rules skip it. */
function withRecent(config: RuntimeConfig, hz: number): RuntimeConfig {
  return { ...config, entries: [...config.entries, ...recentConfig(hz)] };
}

function describe(o: ApplyOutcome): string {
  const where = o.hook === 'tc' ? `tc ingress${o.progIds.egress ? ' + egress' : ''}` : `xdp (${o.xdpMode})`;
  const how =
    o.action === 'attached'
      ? 'attached'
      : o.action === 'flipped'
        ? `replaced atomically (same program, rules generation ${o.gen})`
        : 'replaced atomically (new program swapped in)';
  return `${o.ifname}: ${how} at ${where}; program id ${o.progIds.ingress}${o.progIds.egress ? `/${o.progIds.egress}` : ''}; pins in ${o.pinDir}`;
}

/**
 * `rejectc apply`: see the module comment. `rules` are one or more rules files (e.g. the IPv4
 * and the IPv6 ruleset), `-`, or one directory written by `rejectc compile`. `command` (from
 * commander) tells whether `--hook` was given or is the default.
 */
export default async function applyCommand(rules: string | string[], options: ApplyCommandOptions, command?: Command): Promise<number> {
  const inputs = Array.isArray(rules) ? rules : [rules];
  const ifnames = parseDevices(options.dev);
  requireBpfPrivileges('rejectc apply');
  const ipsets = readIpsetOption(options.ipset);
  if (ipsets === undefined) return EXIT.user;
  const host = readHostConfig();
  const compiled = compiledInput(inputs, options, command?.getOptionValueSource('hook') !== 'default', ipsets, host.hz);
  if (!compiled) return EXIT.user;
  if (compiled.usesSets && !ipsets) throw new UserError('the rules use -m set: give the sets with --ipset FILE (the output of "ipset save")');
  const budget = replyBudget(compiled.sources, options.replyLimit, icmpSysctlsOf(host, host.hz));
  if (!budget) return EXIT.user;
  const artifact = artifactFromManifest(compiled.maps, compiled.object);
  const outcomes = await applyArtifact(artifact, {
    ifnames,
    hostConfig: host,
    config: withRecent(withSets(budgetConfig(budget), ipsets), host.hz),
    ...(options.xdpMode ? { xdpMode: options.xdpMode } : {}),
  });
  const rulesCount = compiled.maps.counters.length;
  process.stdout.write(`rejectc: applied ${compiled.maps.source} (${rulesCount} rule${rulesCount === 1 ? '' : 's'})\n`);
  for (const o of outcomes) process.stdout.write(`  ${describe(o)}\n`);
  process.stdout.write(`  reply budget: ${describeReplyBudget(budget).join('; ')}\n`);
  return EXIT.ok;
}
