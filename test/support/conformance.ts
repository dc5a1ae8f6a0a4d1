/**
 * Reader and runner for netfilter's extension test files (`*.t` from iptables' extensions/
 * directory). Format: `:CHAIN[,CHAIN...]` sets the chains the following rules are tried in,
 * `*table` switches table, `#` starts a comment, `@`/`%` lines are setup commands of the
 * original runner (ignored), and every other line is `rule;expected;OK|FAIL[;LEGACY...]` where
 * `expected` is `=` (printed back as written) or the canonical text. Fields after the third
 * describe the legacy back-end and are ignored (we compare with the nf_tables back-end).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Family, TableName } from '../../src/compiler/ir.js';
import { lowerRuleOptions } from '../../src/compiler/lower/options/index.js';
import type { RuleContext } from '../../src/compiler/lower/words.js';
import { printRule } from '../../src/compiler/print.js';
import { ruleOf } from './option-harness.js';
import { splitWords } from './words.js';

export interface TestLine {
  file: string;
  line: number;
  rule: string;
  expected: string;
  ok: boolean;
  chains: string[];
  table: TableName;
}

export function readTestFile(path: string): TestLine[] {
  const file = basename(path);
  const out: TestLine[] = [];
  let chains: string[] = [];
  let table: TableName = 'filter';
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const text = raw.replace(/\r$/, '');
      if (text === '' || text.startsWith('#') || text.startsWith('@') || text.startsWith('%')) return;
      if (text.startsWith(':')) {
        chains = text.slice(1).split(',').map((c) => c.trim());
        return;
      }
      if (text.startsWith('*')) {
        table = text.slice(1).trim() as TableName;
        return;
      }
      const fields = text.split(';');
      if (fields.length < 3) return;
      const [rule, expected, result] = fields as [string, string, string];
      // `rule;=;FAIL;LEGACY`: only the legacy back-end refuses it; nf_tables accepts it as written.
      const legacyOnlyFailure = fields.length === 4 && fields[3] === 'LEGACY' && result === 'FAIL';
      const ok = result === 'OK' || legacyOnlyFailure;
      out.push({ file, line: i + 1, rule, expected: expected === '=' || expected === '' ? rule : expected, ok, chains, table });
    });
  return out;
}

/** The families a test file is for: libipt_* and iptables.t IPv4, libip6t_* IPv6, libxt_* both. */
export function familiesOf(file: string): Family[] {
  if (file.startsWith('libip6t_')) return ['ipv6'];
  if (file.startsWith('libxt_')) return ['ipv4', 'ipv6'];
  return ['ipv4'];
}

/** The extension a file tests: `libxt_tcp.t` is `tcp`; the standard files are `standard`. */
export function moduleOf(file: string): string {
  if (file === 'iptables.t') return 'standard';
  return file.replace(/^lib(xt|ipt|ip6t)_/, '').replace(/\.t$/, '');
}

export interface Outcome {
  passed: boolean;
  /** What happened, for failure messages. */
  detail: string;
  errorCodes: string[];
  errorMessages: string[];
}

/** Runs one test line in one family and chain. */
export function runLine(t: TestLine, family: Family, chain: string): Outcome {
  const ctx: RuleContext = { family, table: t.table, chain, backend: 'nft' };
  const r = lowerRuleOptions(splitWords(t.rule), ctx);
  const errors = r.diagnostics.filter((d) => d.severity === 'error');
  const errorCodes = errors.map((d) => d.code);
  const errorMessages = errors.map((d) => `${d.code} ${d.message}`);
  if (!t.ok) {
    return { passed: errors.length > 0, detail: errors.length > 0 ? `refused: ${errorMessages.join('; ')}` : `accepted: ${printRule(ruleOf(r), chain, family).join(' | ')}`, errorCodes, errorMessages };
  }
  if (errors.length > 0) return { passed: false, detail: `refused: ${errorMessages.join('; ')}`, errorCodes, errorMessages };
  const printed = printRule(ruleOf(r), chain, family)
    .map((l) => l.slice(`-A ${chain}`.length).trim())
    .join(' | ');
  return { passed: printed === t.expected.trim(), detail: `printed "${printed}", expected "${t.expected}"`, errorCodes, errorMessages };
}
