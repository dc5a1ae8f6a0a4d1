/**
 * The run-time side of `-m limit` and `-m hashlimit` (bpf/rjc_limit.h): the kernel's
 * parameters of a compiled ruleset's rate-limit objects (maps.json `rateLimits`) for the host's
 * HZ and memory, the identity that lets an object's state outlive a ruleset replace, and the
 * map entries of a program run alone (`rejectc run`, tests: object i in state slot i).
 *
 * Costs and credits depend on HZ (xt_limit, hashlimit) and the default hashlimit table size
 * on the host's memory, so they are computed here, when the rules are loaded, not by the
 * compiler; a setting this kernel refuses fails the load (E261) as it fails iptables-restore.
 */
import { readFileSync } from 'node:fs';
import { diag, formatDiagnostic } from '../compiler/diagnostics.js';
import type { HashlimitJson, LimitJson, MapsJson, RateLimitJson } from '../compiler/emit/manifest.js';
import type { Span } from '../compiler/span.js';
import { UserError } from '../errors.js';
import { LIMIT_MAPS, encodeHashlimitTable, encodeLimit } from '../model/limits/bpf-layout.js';
import { hashlimitTableParams } from '../model/limits/hashlimit-config.js';
import { limitParams } from '../model/limits/limit-match.js';
import type { RuntimeConfig } from './load-artifact.js';
import { u32 } from './map.js';

/** One rate-limit object with its kernel parameters on this host. */
export interface RateObjectParams {
  source: RateLimitJson;
  /**
   * Stable across rulesets: the same rule (family, chain, text, occurrence, copy, settings)
   * or the same table (family, name, settings) has the same identity.
   */
  identity: string;
  /**
   * Whether the state stays when a replacing ruleset keeps the object: nft limits (iptables-nft
   * keeps the rules a change does not touch) and hashlimit tables (found by name); xt_limit
   * restarts every bucket on any change of the legacy table.
   */
  keep: boolean;
  /** The fresh rjc_limits (limit) or rjc_hl_tables (hashlimit) value. */
  value: Buffer;
  /** hashlimit: flows the table holds at most (htable-max after the kernel's defaults). */
  maxFlows: number;
}

/** The host's memory in bytes (MemTotal), which sizes hashlimit's default table; 2 GiB if unknown. */
export function hostRamBytes(): number {
  try {
    const m = /^MemTotal:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return 2 ** 31;
}

function spanOf(o: RateLimitJson): Span {
  const at = { line: o.line, column: o.column, offset: 0 };
  return { file: o.file, start: at, end: at };
}

function limitIdentity(o: LimitJson, occurrence: number): string {
  return `limit|${o.family}|${o.chain}|${o.text}|#${occurrence}|m${o.ordinal}|copy${o.expansion}/${o.expansions}|${o.backend}|${o.avg}/${o.burst}`;
}

function tableIdentity(o: HashlimitJson): string {
  return `hashlimit|${o.family}|${o.name}|${JSON.stringify(o.cfg)}`;
}

/**
 * The rate-limit objects of `maps` with their parameters for a kernel with `hz` and
 * `ramBytes` of memory. Throws {@link UserError} listing every setting that kernel refuses.
 */
export function rateObjectParams(maps: MapsJson, hz: number, ramBytes: number): RateObjectParams[] {
  const out: RateObjectParams[] = [];
  const refused: string[] = [];
  // A rule repeated verbatim in a chain: its n-th copy is occurrence n.
  const occurrences = new Map<string, number[]>();
  for (const o of maps.rateLimits ?? []) {
    if (o.kind === 'limit') {
      const r = limitParams({ avg: o.avg, burst: o.burst }, o.backend, hz);
      if (!r.ok) {
        refused.push(formatDiagnostic(diag('E261', spanOf(o), { what: `this -m limit (${o.backend === 'legacy' ? 'iptables-legacy' : 'iptables-nft'})`, reason: r.reason }), undefined));
        continue;
      }
      const key = `${o.family}|${o.chain}|${o.text}`;
      const seen = occurrences.get(key) ?? [];
      if (!seen.includes(o.ruleNumber)) seen.push(o.ruleNumber);
      occurrences.set(key, seen);
      out.push({ source: o, identity: limitIdentity(o, seen.indexOf(o.ruleNumber) + 1), keep: o.backend === 'nft', value: encodeLimit(r.params), maxFlows: 0 });
      continue;
    }
    const c = o.cfg;
    const r = hashlimitTableParams({ ...c, avg: BigInt(c.avg), burst: BigInt(c.burst) }, o.family, o.name, hz, ramBytes);
    if (!r.ok) {
      refused.push(formatDiagnostic(diag('E261', spanOf(o), { what: 'this -m hashlimit', reason: `${r.reason} (${r.errno})` }), undefined));
      continue;
    }
    out.push({ source: o, identity: tableIdentity(o), keep: true, value: encodeHashlimitTable(r.params), maxFlows: r.params.max });
  }
  if (refused.length > 0) throw new UserError(`${refused.join('\n')}\n(the kernel here counts ${hz} jiffies per second)`);
  return out;
}

/**
 * The state maps' entries for a program run on its own, object i in slot i (what maps.json's
 * rjc_rl_slot says): fresh buckets and empty tables.
 */
export function rateRunConfig(params: readonly RateObjectParams[]): RuntimeConfig['entries'] {
  const of = (kind: RateLimitJson['kind']) => params.filter((p) => p.source.kind === kind).map((p) => ({ key: u32(p.source.index), value: p.value }));
  return [
    { name: LIMIT_MAPS.limits, entries: of('limit') },
    { name: LIMIT_MAPS.hashlimitTables, entries: of('hashlimit') },
  ];
}
