/**
 * Conformance with netfilter's own extension tests (the `*.t` files of iptables' extensions/
 * directory, in ../shared/corpus/real/netfilter-extension-tests/, read at test time). For every
 * module and target rejectc parses, each OK line must print exactly the expected canonical text
 * and each FAIL line must be refused by the option level; lines of extensions rejectc does not
 * parse must be refused by name. Every line is tried in each chain and, for libxt_* files, in
 * both families, as netfilter's runner does.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MATCHES, TARGETS } from '../src/compiler/lower/options/index.js';
import { familiesOf, moduleOf, readTestFile, runLine, type TestLine } from './support/conformance.js';

const DIR = join(import.meta.dirname, '..', '..', 'shared', 'corpus', 'real', 'netfilter-extension-tests');

/** Modules and targets rejectc parses into IR (plus the base options' own test files). */
const PARSED = new Set(['standard', ...MATCHES.map((m) => m.name), ...TARGETS.map((t) => t.name)]);

/**
 * Lines where rejectc deliberately differs from the file, with the reason. Each is still
 * checked: `behaviour` says what rejectc does instead.
 */
const DEVIATIONS: Record<string, { behaviour: 'refused' | 'accepted' | string; reason: string }> = {
  'libipt_icmp.t:13': {
    behaviour: '-p icmp -m icmp --icmp-type any',
    reason: 'ICMP type 255 matches every type in the kernel whatever the code; iptables 1.8.9 (the running version) prints it as "any" too, the file is from 1.8.11',
  },
  'libipt_standard.t:16': { behaviour: 'refused', reason: 'non-contiguous netmasks are refused (E211): the IR stores prefixes' },
  'libipt_standard.t:17': { behaviour: 'refused', reason: 'non-contiguous netmasks are refused (E211): the IR stores prefixes' },
  'libxt_set.t:4': { behaviour: 'accepted', reason: 'the file fails because set "foo" does not exist in the kernel; set existence is only known at load time' },
  'libxt_SET.t:3': { behaviour: 'accepted', reason: 'the file fails because set "foo" does not exist in the kernel; set existence is only known at load time' },
};

/** Pass-rate floors (percent of line × chain × family runs) per parsed extension. */
const FLOOR_DEFAULT = 100;

interface Tally {
  module: string;
  file: string;
  runs: number;
  passed: number;
  deviations: number;
}

function runsOf(t: TestLine, file: string): { family: 'ipv4' | 'ipv6'; chain: string }[] {
  return familiesOf(file).flatMap((family) => t.chains.map((chain) => ({ family, chain })));
}

describe.runIf(existsSync(DIR))('netfilter extension tests', () => {
  const files = existsSync(DIR) ? readdirSync(DIR).filter((f) => f.endsWith('.t')).sort() : [];
  const tallies: Tally[] = [];

  describe('parsed extensions print the canonical text and refuse FAIL lines', () => {
    for (const file of files.filter((f) => PARSED.has(moduleOf(f)))) {
      it(file, () => {
        const tally: Tally = { module: moduleOf(file), file, runs: 0, passed: 0, deviations: 0 };
        const failures: string[] = [];
        for (const t of readTestFile(join(DIR, file))) {
          const deviation = DEVIATIONS[`${file}:${t.line}`];
          for (const { family, chain } of runsOf(t, file)) {
            tally.runs++;
            const o = runLine(t, family, chain);
            if (deviation) {
              tally.deviations++;
              const refused = o.errorCodes.length > 0;
              if (deviation.behaviour === 'refused') expect(refused, `${file}:${t.line} ${deviation.reason}`).toBe(true);
              else if (deviation.behaviour === 'accepted') expect(refused, `${file}:${t.line} ${deviation.reason}`).toBe(false);
              else expect(o.detail, `${file}:${t.line} ${deviation.reason}`).toContain(`printed "${deviation.behaviour}"`);
              continue;
            }
            if (o.passed) tally.passed++;
            else failures.push(`${file}:${t.line} ${family} ${chain} [${t.ok ? 'OK' : 'FAIL'}] ${t.rule} -> ${o.detail}`);
          }
        }
        tallies.push(tally);
        const rate = tally.runs === tally.deviations ? 100 : (100 * tally.passed) / (tally.runs - tally.deviations);
        expect(failures, failures.slice(0, 10).join('\n')).toEqual([]);
        expect(rate).toBeGreaterThanOrEqual(FLOOR_DEFAULT);
      });
    }
  });

  describe('extensions rejectc does not parse are refused by name', () => {
    for (const file of files.filter((f) => !PARSED.has(moduleOf(f)))) {
      const name = moduleOf(file);
      it(file, () => {
        const uses = new RegExp(`(^|\\s)(-m|-j)\\s+${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s|$)`);
        let checked = 0;
        for (const t of readTestFile(join(DIR, file))) {
          if (!uses.test(t.rule)) continue;
          for (const { family, chain } of runsOf(t, file)) {
            const o = runLine(t, family, chain);
            checked++;
            const byName = o.errorMessages.some((m) => /^E20[12] /.test(m) && m.includes(`"${name}"`)) || o.errorMessages.some((m) => m.startsWith('E212') && m.includes(`"${name}"`));
            expect(byName, `${file}:${t.line} ${family} ${chain}: ${t.rule} -> ${o.detail}`).toBe(true);
          }
        }
        expect(checked).toBeGreaterThan(0);
      });
    }
  });

  it('reports the pass rate per extension', () => {
    const rows = tallies.map((t) => ({ module: t.module, file: t.file, runs: t.runs, passed: t.passed, deviations: t.deviations, rate: t.runs === t.deviations ? '-' : `${((100 * t.passed) / (t.runs - t.deviations)).toFixed(1)}%` }));
    console.table(rows);
    const covered = new Set(tallies.map((t) => t.module));
    // Every module of issue 2's list that has a test file is covered.
    for (const m of ['tcp', 'udp', 'icmp', 'icmp6', 'multiport', 'state', 'conntrack', 'limit', 'hashlimit', 'addrtype', 'recent', 'owner', 'mac', 'comment', 'hl', 'ttl', 'iprange', 'set', 'pkttype', 'length', 'mark', 'connlimit', 'statistic', 'physdev', 'tos', 'dscp', 'ecn', 'frag', 'ipv6header', 'rt', 'REJECT', 'LOG']) {
      expect(covered.has(m), m).toBe(true);
    }
  });
});
