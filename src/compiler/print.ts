/**
 * Canonical printing: the IR back in exactly the spelling `iptables-save` / `ip6tables-save`
 * prints for the same rules.
 *
 * Output layout of {@link printRuleset}: the IPv4 tables first, then the IPv6 tables. Each
 * family starts with one comment line naming the format (`# iptables-save format, printed by
 * rejectc from FILE` / `# ip6tables-save format, ...`), which also separates the two families;
 * there are no dates, so the output is deterministic. Each table is a block `*table`, the chain
 * lines (`:NAME POLICY [p:b]` for built-in chains, `:NAME - [p:b]` for user chains, counters
 * `[0:0]` when the input had none), the rules of every chain in chain order, and `COMMIT`.
 * Rules print without counters unless the input gave `[p:b]` for them (as `iptables-save -c`).
 */
import type { Chain, Cidr, Family, FamilyRuleset, Rule, Ruleset, Table } from './ir.js';
import { saveBase } from './print/base.js';
import { saveMatch } from './print/matches.js';
import { saveTarget } from './print/targets.js';

/**
 * The family a rule belongs to, from what it contains (used when the caller does not say):
 * IPv6 addresses or IPv6-only modules mean ipv6.
 */
export function familyOf(rule: Rule): Family {
  const addrs = [...(rule.base.src?.addresses ?? []), ...(rule.base.dst?.addresses ?? [])];
  if (addrs.some((a) => a.address.includes(':'))) return 'ipv6';
  if (rule.matches.some((m) => ['icmp6', 'hl', 'frag', 'ipv6header', 'rt'].includes(m.module))) return 'ipv6';
  if (rule.target?.target === 'REJECT' && rule.target.with.startsWith('icmp6')) return 'ipv6';
  return 'ipv4';
}

/**
 * The saved lines of one rule. iptables stores `-s a,b -d c,d` as one rule per address pair
 * (source outer, destination inner) and iptables-save prints each; so does this.
 */
export function printRule(rule: Rule, chain: string, family: Family = familyOf(rule)): string[] {
  const srcs: (Cidr | undefined)[] = rule.base.src ? rule.base.src.addresses : [undefined];
  const dsts: (Cidr | undefined)[] = rule.base.dst ? rule.base.dst.addresses : [undefined];
  const tail: string[] = [];
  for (const m of rule.matches) tail.push('-m', m.module, ...saveMatch(m, family));
  if (rule.target) tail.push(...saveTarget(rule.target));
  const prefix = rule.counters ? `[${rule.counters.packets}:${rule.counters.bytes}] ` : '';
  const lines: string[] = [];
  for (const s of srcs) {
    for (const d of dsts) {
      lines.push(prefix + ['-A', chain, ...saveBase(rule.base, s, d), ...tail].join(' '));
    }
  }
  return lines;
}

function chainLine(c: Chain): string {
  const policy = c.builtin ? (c.policy?.verdict ?? 'ACCEPT') : '-';
  const counters = c.counters ?? { packets: 0, bytes: 0 };
  return `:${c.name} ${policy} [${counters.packets}:${counters.bytes}]`;
}

/** One `*table ... COMMIT` block. */
export function printTable(table: Table, family: Family): string[] {
  const out = [`*${table.name}`];
  for (const c of table.chains) out.push(chainLine(c));
  for (const c of table.chains) for (const r of c.rules) out.push(...printRule(r, c.name, family));
  out.push('COMMIT');
  return out;
}

function familyHeader(f: FamilyRuleset, file: string): string {
  const tool = f.family === 'ipv4' ? 'iptables-save' : 'ip6tables-save';
  return `# ${tool} format, printed by rejectc from ${file}`;
}

/** The whole ruleset, IPv4 tables then IPv6 tables; ends with a newline. */
export function printRuleset(ruleset: Ruleset): string {
  const out: string[] = [];
  const families = [...ruleset.families].sort((a, b) => (a.family === b.family ? 0 : a.family === 'ipv4' ? -1 : 1));
  for (const f of families) {
    out.push(familyHeader(f, ruleset.file));
    for (const t of f.tables) out.push(...printTable(t, f.family));
  }
  return out.length > 0 ? `${out.join('\n')}\n` : '';
}
