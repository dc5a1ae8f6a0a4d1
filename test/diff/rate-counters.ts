/**
 * Packet counters of the rules with a rate limit (`-m limit`, `-m hashlimit`), kernel vs a
 * rejectc side, after a differential run. Such rules mostly log (`-m limit -j LOG`), so what
 * they let through shows in no frame's fate; their counters show it: within the window where
 * no token is earned (test/diff/corpus.ts, rateWindowMs) each one counts exactly the packets
 * its bucket let through, on every side.
 *
 * Rules are paired by family, chain and order among the chain's rate-limited rules (the
 * kernel's `iptables-legacy-save -c` lists a chain's rules in order, as `rejectc stats` does;
 * copies of a multi-address rule are summed on both sides). The kernel's counters of other
 * rules (e.g. those testing sets) serve as coverage counts.
 */
import { readInterfaceStats } from '../../src/runtime/stats.js';
import type { Netns } from '../support/netns.js';

/** `family chain #n` → packets, for the rate-limited rules of a side. */
export type RateRuleCounts = Map<string, number>;

const RATE_MATCH = /(^|\s)-m (limit|hashlimit)(\s|$)/;

/** Rules testing sets (`-m set --match-set`). */
export const SET_MATCH = /(^|\s)--match-set\s/;

function add(counts: RateRuleCounts, key: string, packets: number): void {
  counts.set(key, (counts.get(key) ?? 0) + packets);
}

/** The kernel side's counters (iptables-legacy-save -c of the filter tables, both families). */
export function kernelRateCounts(server: Netns): RateRuleCounts {
  return kernelCounts(server, RATE_MATCH);
}

/** Counters of the kernel side's filter rules whose text matches `pattern`, keyed as above. */
export function kernelCounts(server: Netns, pattern: RegExp): RateRuleCounts {
  const counts: RateRuleCounts = new Map();
  for (const family of ['ipv4', 'ipv6'] as const) {
    const tool = family === 'ipv4' ? 'iptables-legacy-save' : 'ip6tables-legacy-save';
    const seen = new Map<string, number>();
    let previous = '';
    for (const line of server.exec([tool, '-c', '-t', 'filter']).stdout.split('\n')) {
      const m = /^\[(\d+):\d+\] -A (\S+) (.*)$/.exec(line);
      if (!m || !pattern.test(m[3]!)) continue;
      // Copies of one rule (several addresses) are consecutive and differ only in addresses.
      const shape = `${m[2]} ${m[3]!.replace(/(^|\s)(-[sd]|--source|--destination) \S+/g, '')}`;
      const chain = m[2]!;
      if (shape !== previous) seen.set(chain, (seen.get(chain) ?? 0) + 1);
      previous = shape;
      add(counts, `${family} ${chain} #${seen.get(chain)}`, Number(m[1]));
    }
  }
  return counts;
}

/**
 * A rejectc side's counters: `rejectc stats` of every interface it was applied to, summed
 * (each interface's program counts what crosses it). Run inside the side's namespace.
 */
export function rejectcRateCounts(ifnames: readonly string[]): RateRuleCounts {
  const counts: RateRuleCounts = new Map();
  for (const ifname of ifnames) {
    for (const chain of readInterfaceStats(ifname).chains) {
      let n = 0;
      let previous: string | undefined;
      for (const rule of chain.rules) {
        if (!RATE_MATCH.test(rule.text)) continue;
        const id = `${rule.file}:${rule.line}`;
        if (id !== previous) n += 1;
        previous = id;
        add(counts, `${chain.family} ${chain.chain} #${n}`, rule.packets);
      }
    }
  }
  return counts;
}

/** Lines `key: kernel K, rejectc R` for every rule whose counts differ (empty when equal). */
export function rateCountDifferences(kernel: RateRuleCounts, rejectc: RateRuleCounts): string[] {
  const keys = [...new Set([...kernel.keys(), ...rejectc.keys()])].sort();
  return keys.filter((k) => kernel.get(k) !== rejectc.get(k)).map((k) => `${k}: kernel ${kernel.get(k) ?? 'no such rule'}, rejectc ${rejectc.get(k) ?? 'no such rule'}`);
}
