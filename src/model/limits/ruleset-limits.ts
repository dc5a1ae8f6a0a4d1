/**
 * The rate-limit state of a whole ruleset, as the kernel sets it up when the rules are loaded:
 * - every `-m limit` of every kernel rule entry (each expansion of `-s a,b`) has its own bucket;
 * - hashlimit tables are per family and `--hashlimit-name`; the first rule (in file order, the
 *   order iptables-nft adds them) that names a table creates it, and its settings (rate, burst,
 *   mode, masks, size, expiry) serve every later rule using the name, whose own settings only
 *   pick INVERT / BYTES for their decision. A rule whose rate-match flag differs from the
 *   table's is refused (EINVAL, verified on 6.18).
 * {@link planRateLimits} is the compile-time part (pure; also used to fill the BPF maps), and
 * {@link RateLimitState} the run-time part the model's rule walk calls.
 */
import { diag, type Diagnostic } from '../../compiler/diagnostics.js';
import type { Cidr, Family, HashlimitMatch, LimitMatch, Ruleset } from '../../compiler/ir.js';
import { HL_MODE, hashlimitCfg3, hashlimitModeBits, hashlimitTableParams, type HashlimitTableParams } from './hashlimit-config.js';
import { hashlimitPacketFromIp } from './hashlimit-key.js';
import { HashlimitTable, type HashlimitResult } from './hashlimit-table.js';
import { LimitMatcher, limitParams, type LimitClock, type LimitParams } from './limit-match.js';

/** A hashlimit table of the ruleset, with the id rejectc's maps use. */
export interface PlannedTable {
  /** Index in rjc_hl_tables: tables in order of creation. */
  id: number;
  family: Family;
  name: string;
  params: HashlimitTableParams;
  /** The match that created it. */
  creator: HashlimitMatch;
}

export interface RateLimitPlan {
  tables: PlannedTable[];
  /** The table each hashlimit match uses (absent when its rule is refused). */
  tableOf: Map<HashlimitMatch, PlannedTable>;
  /** Kernel parameters of each -m limit match (absent when refused). */
  limitOf: Map<LimitMatch, LimitParams>;
  /** E261 for settings the kernel refuses at rule load; W260 for shared names with other settings. */
  diagnostics: Diagnostic[];
}

interface Found<M> {
  match: M;
  family: Family;
  offset: number;
}

function collect(ruleset: Ruleset): { limits: Found<LimitMatch>[]; hashlimits: Found<HashlimitMatch>[] } {
  const limits: Found<LimitMatch>[] = [];
  const hashlimits: Found<HashlimitMatch>[] = [];
  for (const fam of ruleset.families) {
    for (const table of fam.tables) {
      if (table.name !== 'filter') continue;
      for (const chain of table.chains) {
        for (const rule of chain.rules) {
          for (const m of rule.matches) {
            if (m.module === 'limit') limits.push({ match: m, family: fam.family, offset: rule.span.start.offset });
            else if (m.module === 'hashlimit') hashlimits.push({ match: m, family: fam.family, offset: rule.span.start.offset });
          }
        }
      }
    }
  }
  // File order: what iptables-nft-restore adds first comes first.
  hashlimits.sort((a, b) => a.offset - b.offset);
  return { limits, hashlimits };
}

/** The settings of a hashlimit match that a sharing rule silently does not get. */
function tableSettings(m: HashlimitMatch): string {
  return JSON.stringify([m.avg, m.burst, m.bytes, [...m.mode].sort(), m.srcmask, m.dstmask, m.htableSize, m.htableMax, m.htableExpire, m.htableGcinterval, m.rateInterval]);
}

/**
 * Plans the limits of the filter table: kernel parameters for HZ `hz` (and `ramBytes` of memory
 * for the default hashlimit table size), table ids, and what the kernel would refuse.
 */
export function planRateLimits(ruleset: Ruleset, hz: number, options: { ramBytes?: number } = {}): RateLimitPlan {
  const plan: RateLimitPlan = { tables: [], tableOf: new Map(), limitOf: new Map(), diagnostics: [] };
  const { limits, hashlimits } = collect(ruleset);
  for (const { match } of limits) {
    const r = limitParams(match, ruleset.backend, hz);
    if (r.ok) plan.limitOf.set(match, r.params);
    else plan.diagnostics.push(diag('E261', match.span, { what: `this -m limit (${r.backend === 'legacy' ? 'iptables-legacy' : 'iptables-nft'})`, reason: r.reason }));
  }
  const byName = new Map<string, PlannedTable>();
  for (const { match, family } of hashlimits) {
    const key = `${family}/${match.name}`;
    const existing = byName.get(key);
    if (existing) {
      const tableRate = (existing.params.mode & HL_MODE.RATE_MATCH) !== 0;
      if (tableRate !== (match.rateMatch === true)) {
        plan.diagnostics.push(
          diag('E261', match.span, { what: `this -m hashlimit`, reason: `table "${match.name}" was created ${tableRate ? 'with' : 'without'} --hashlimit-rate-match (Invalid argument)` }),
        );
        continue;
      }
      if (tableSettings(match) !== tableSettings(existing.creator)) {
        const at = existing.creator.span.start;
        plan.diagnostics.push(diag('W260', match.span, { name: match.name, line: at.line }));
      }
      plan.tableOf.set(match, existing);
      continue;
    }
    const r = hashlimitTableParams(hashlimitCfg3(match, family), family, match.name, hz, options.ramBytes);
    if (!r.ok) {
      plan.diagnostics.push(diag('E261', match.span, { what: 'this -m hashlimit', reason: `${r.reason} (${r.errno})` }));
      continue;
    }
    const t: PlannedTable = { id: plan.tables.length, family, name: match.name, params: r.params, creator: match };
    plan.tables.push(t);
    byName.set(key, t);
    plan.tableOf.set(match, t);
  }
  return plan;
}

/** The clock of the model: monotonic nanoseconds and jiffies. */
export type RateClock = LimitClock;

function expansionKey(src: Cidr | null, dst: Cidr | null): string {
  const c = (x: Cidr | null) => (x ? `${x.address}/${x.prefix}` : '*');
  return `${c(src)}|${c(dst)}`;
}

/**
 * Mutable rate-limit state for the model's rule walk. Call the match functions only when the
 * rule walk reaches the match (earlier matches of the rule all matched): reaching it is what
 * spends tokens, whatever the later matches decide.
 */
export class RateLimitState {
  private readonly limits = new Map<LimitMatch, Map<string, LimitMatcher>>();
  private readonly tables = new Map<PlannedTable, HashlimitTable>();

  constructor(readonly plan: RateLimitPlan) {}

  /**
   * `-m limit` for the kernel entry of one expansion (`src`/`dst` of `-s a,b -d c,d`; null
   * when the rule has no such list). True while under the limit.
   */
  limit(match: LimitMatch, src: Cidr | null, dst: Cidr | null, now: RateClock): boolean {
    const params = this.plan.limitOf.get(match);
    if (!params) throw new Error('limit match not in the plan (refused by the kernel?)');
    let perEntry = this.limits.get(match);
    if (!perEntry) this.limits.set(match, (perEntry = new Map()));
    const key = expansionKey(src, dst);
    let m = perEntry.get(key);
    if (!m) perEntry.set(key, (m = new LimitMatcher(params)));
    return m.match(now);
  }

  /** `-m hashlimit` on an IP packet (as the hook sees it, no link layer). */
  hashlimit(match: HashlimitMatch, ipPacket: Uint8Array, now: RateClock): HashlimitResult {
    const table = this.table(match);
    const pkt = hashlimitPacketFromIp(ipPacket);
    if (!pkt) return 'hotdrop';
    return table.match(pkt, hashlimitModeBits(match), now.jiffies);
  }

  /** One garbage collection of every table at `now` (the kernel runs one per gcinterval). */
  gc(now: RateClock): void {
    for (const t of this.plan.tables) this.tables.get(t)?.gc(now.jiffies);
  }

  /** The model table behind a match (created on first use). */
  table(match: HashlimitMatch): HashlimitTable {
    const planned = this.plan.tableOf.get(match);
    if (!planned) throw new Error(`hashlimit "${match.name}" not in the plan (refused by the kernel?)`);
    let t = this.tables.get(planned);
    if (!t) this.tables.set(planned, (t = new HashlimitTable(planned.params)));
    return t;
  }
}
