/**
 * Executes iptables commands against an in-memory model of the kernel's tables, the way
 * iptables and iptables-restore change them, and produces the IR.
 *
 * Semantics follow iptables (checked against iptables 1.8.9, both back ends):
 * - every table starts with its built-in chains, policy ACCEPT;
 * - `-A` appends, `-I CHAIN [n]` inserts before rule n (default 1; n may be count+1),
 *   `-D CHAIN n|rule` deletes, `-R CHAIN n rule` replaces, `-F [CHAIN]` empties, `-N` creates,
 *   `-X [CHAIN]` deletes empty, unreferenced user chains, `-E` renames (jumps follow the chain),
 *   `-P` sets a built-in chain's policy;
 * - a command that fails changes nothing (as iptables, which rejects it whole); its diagnostics
 *   say why. In a script, a cleanup command that fails only because its chain is not there yet
 *   (`-F X`, `-X X` on a fresh system) is warning W104, as the script goes on.
 * - a `*table` block of an iptables-restore file flushes the table and deletes its user chains.
 */
import { diag, hasErrors, type Diagnostic } from '../diagnostics.js';
import type { MessageCode } from '../messages.js';
import {
  BUILTIN_CHAINS,
  type Backend,
  type Chain,
  type Counters,
  type Family,
  type FamilyRuleset,
  type Rule,
  type Ruleset,
  type Table,
  type TableName,
} from '../ir.js';
import type { Span } from '../span.js';
import { parseCommand, type Command } from './command.js';
import type { Invocation } from './invocation.js';
import { sameRuleSpec } from './same-rule.js';
import type { LoweredRuleOptions, RuleContext, Word } from './words.js';

/** The option level: words after `-A CHAIN` → base matches, matches, target. */
export type OptionLowerer = (words: Word[], ctx: RuleContext) => LoweredRuleOptions;

/** A chain while commands still change it (the IR node without its `kind`). */
type ChainState = Omit<Chain, 'kind'>;

interface TableState {
  name: TableName;
  span: Span;
  /** In order; change them through {@link setChains} / {@link addChain} so `byName` follows. */
  chains: ChainState[];
  byName: Map<string, ChainState>;
}

function setChains(t: TableState, chains: ChainState[]): void {
  t.chains = chains;
  t.byName = new Map(chains.map((c) => [c.name, c]));
}

function addChain(t: TableState, chain: ChainState): void {
  t.chains.push(chain);
  t.byName.set(chain.name, chain);
}

interface FamilyState {
  family: Family;
  tables: TableState[];
}

const TABLE_NAMES = new Set<string>(Object.keys(BUILTIN_CHAINS));

/**
 * Names of iptables target extensions. iptables refuses them as chain names (`chain name may not
 * clash with target name`), and `-j NAME` with such a name never means a user chain.
 */
export const IPTABLES_TARGET_NAMES: ReadonlySet<string> = new Set([
  'ACCEPT', 'DROP', 'RETURN', 'QUEUE', 'REJECT', 'LOG', 'NFLOG', 'ULOG', 'NFQUEUE', 'DNAT', 'SNAT', 'MASQUERADE',
  'REDIRECT', 'NETMAP', 'MARK', 'CONNMARK', 'TCPMSS', 'TOS', 'TTL', 'HL', 'DSCP', 'ECN', 'CT', 'NOTRACK',
  'CHECKSUM', 'CLASSIFY', 'SET', 'AUDIT', 'TPROXY', 'TRACE', 'TEE', 'CONNSECMARK', 'SECMARK', 'IDLETIMER',
  'LED', 'SYNPROXY', 'TCPOPTSTRIP', 'RATEEST', 'HMARK', 'CLUSTERIP', 'CONNLOG', 'MIRROR', 'SAME', 'BALANCE',
]);

/** XT_EXTENSION_MAXNAMELEN - 1. */
const CHAIN_NAME_MAX = 28;

/** True if `table` is one of the tables iptables knows. */
export function isTableName(table: string): table is TableName {
  return TABLE_NAMES.has(table);
}

/**
 * The kernel's tables as commands change them, per family. Feed it statements in source order
 * ({@link RulesetBuilder.execute}, and for save files resetTable/declareChain), then take
 * {@link RulesetBuilder.result}. Problems accumulate in `diagnostics`; nothing throws.
 */
export class RulesetBuilder {
  readonly diagnostics: Diagnostic[] = [];
  private readonly families: FamilyState[] = [];

  constructor(
    private readonly file: string,
    private readonly lowerOptions: OptionLowerer,
    public backend: Backend,
  ) {}

  // -------------------------------------------------------------------------------------------
  // Tables and chains

  /** The table, created with its built-in chains at `span` on first use. */
  table(family: Family, name: TableName, span: Span): TableState {
    const fam = this.family(family);
    let t = fam.tables.find((x) => x.name === name);
    if (!t) {
      t = { name, span, chains: [], byName: new Map() };
      setChains(t, BUILTIN_CHAINS[name].map((c) => ({ name: c, builtin: true, span, rules: [] })));
      fam.tables.push(t);
    }
    return t;
  }

  /** iptables-restore's `*table`: the table is flushed and its user chains deleted. */
  resetTable(family: Family, name: TableName, span: Span): TableState {
    const t = this.table(family, name, span);
    t.span = span;
    setChains(t, t.chains.filter((c) => c.builtin));
    for (const c of t.chains) c.rules = [];
    return t;
  }

  /**
   * iptables-restore's `:CHAIN POLICY [p:b]`: a built-in chain gets the policy (`-` leaves it);
   * any other name is created as a user chain, which cannot have a policy.
   */
  declareChain(t: TableState, name: Word, policy: Word | undefined, counters: Counters | undefined, span: Span): void {
    let chain = t.byName.get(name.text);
    if (!chain || !chain.builtin) {
      if (chain) return this.report('E301', name.span, { chain: name.text });
      if (!this.validNewName(name)) return;
      chain = { name: name.text, builtin: false, span, rules: [] };
      addChain(t, chain);
    } else {
      chain.span = span;
    }
    if (counters) chain.counters = counters;
    if (!policy) {
      this.report('E100', span, { detail: `chain "${name.text}" needs a policy (ACCEPT, DROP, or - for a user chain)` });
      return;
    }
    if (policy.text !== '-') this.setPolicy(chain, policy, counters);
  }

  // -------------------------------------------------------------------------------------------
  // Commands

  /**
   * Runs one iptables invocation. `restoreTable` is the current `*table` block for
   * iptables-restore lines (which must not name a table themselves).
   */
  execute(inv: Invocation, family: Family, restoreTable?: TableState): void {
    const parsed = parseCommand(inv.args, inv.head);
    this.diagnostics.push(...parsed.diagnostics);
    const cmd = parsed.command;
    if (!cmd) return;
    if (inv.backend !== 'unknown' && this.backend === 'unknown') this.backend = inv.backend;
    if (cmd.familyFlag && (cmd.familyFlag.text === '-6' || cmd.familyFlag.text === '--ipv6') !== (family === 'ipv6')) {
      // iptables-restore skips a line meant for the other family; iptables refuses it.
      if (!inv.restore) this.report('E106', cmd.familyFlag.span, { option: cmd.familyFlag.text, command: family === 'ipv4' ? 'iptables' : 'ip6tables' });
      return;
    }
    let t: TableState;
    if (inv.restore) {
      if (cmd.table) return this.report('E108', cmd.table.span, { option: '-t' });
      if (!restoreTable) return this.report('E103', inv.span);
      t = restoreTable;
    } else if (cmd.table) {
      if (!isTableName(cmd.table.text)) return this.report('E105', cmd.table.span, { table: cmd.table.text });
      t = this.table(family, cmd.table.text, cmd.table.span);
    } else {
      t = this.table(family, 'filter', inv.head);
    }
    this.run(cmd, inv, family, t);
  }

  private run(cmd: Command, inv: Invocation, family: Family, t: TableState): void {
    const takesRule = cmd.op === 'append' || cmd.op === 'insert' || cmd.op === 'replace' || cmd.op === 'check' || (cmd.op === 'delete' && !cmd.index);
    if (!takesRule && cmd.ruleWords.length > 0) {
      const w = cmd.ruleWords[0]!;
      return this.report(w.text.startsWith('-') ? 'E106' : 'E216', w.span, { option: w.text, value: w.text, command: cmd.opWord.text });
    }
    switch (cmd.op) {
      case 'list':
      case 'list-rules':
      case 'zero':
      case 'check':
      case 'help':
      case 'version':
        return this.report('W102', cmd.opWord.span, { command: cmd.opWord.text });
      case 'new':
        return this.newChain(t, cmd.chain!);
      case 'delete-chain':
        return cmd.chain ? this.deleteChain(t, cmd.chain, inv.restore) : this.deleteAllChains(t);
      case 'flush': {
        if (!cmd.chain) {
          for (const c of t.chains) c.rules = [];
          return;
        }
        const c = this.chainOrMissing(t, cmd.chain, inv.restore);
        if (c) c.rules = [];
        return;
      }
      case 'policy': {
        const c = this.chainOrMissing(t, cmd.chain!, true);
        if (c) this.setPolicy(c, cmd.second!, undefined);
        return;
      }
      case 'rename':
        return this.rename(t, cmd.chain!, cmd.second!);
      case 'append':
      case 'insert':
      case 'replace':
      case 'delete':
        return this.ruleCommand(cmd, inv, family, t);
    }
  }

  private ruleCommand(cmd: Command, inv: Invocation, family: Family, t: TableState): void {
    const chain = this.chainOrMissing(t, cmd.chain!, true);
    if (!chain) return;
    const count = chain.rules.length;
    const index = cmd.index?.value;
    if (cmd.op === 'delete' && index !== undefined) {
      if (index > count) return this.report('E310', cmd.index!.span, { index, chain: chain.name, count });
      chain.rules.splice(index - 1, 1);
      return;
    }
    if (cmd.op === 'replace' && index !== undefined && index > count) {
      return this.report('E310', cmd.index!.span, { index, chain: chain.name, count });
    }
    if (cmd.op === 'insert' && index !== undefined && index > count + 1) {
      return this.report('E310', cmd.index!.span, { index, chain: chain.name, count });
    }
    const rule = this.lowerRule(cmd, inv, family, t, chain);
    if (!rule) return;
    switch (cmd.op) {
      case 'append':
        chain.rules.push(rule);
        return;
      case 'insert':
        chain.rules.splice((index ?? 1) - 1, 0, rule);
        return;
      case 'replace':
        chain.rules[index! - 1] = rule;
        return;
      case 'delete': {
        const at = chain.rules.findIndex((r) => sameRuleSpec(r, rule));
        if (at < 0) return this.report('E313', inv.span, { chain: chain.name });
        chain.rules.splice(at, 1);
        return;
      }
    }
  }

  /** The option level's rule, or undefined (after diagnostics) if iptables would refuse it. */
  private lowerRule(cmd: Command, inv: Invocation, family: Family, t: TableState, chain: ChainState): Rule | undefined {
    const ctx: RuleContext = { family, table: t.name, chain: chain.name, backend: this.backend };
    const lowered = this.lowerOptions(cmd.ruleWords, ctx);
    this.diagnostics.push(...lowered.diagnostics);
    if (hasErrors(lowered.diagnostics)) return undefined;
    const target = lowered.target;
    if (target?.target === 'jump') {
      const to = t.byName.get(target.chain);
      if (!to) {
        if (IPTABLES_TARGET_NAMES.has(target.chain)) {
          // iptables would load the target extension of that name; rejectc does not know it.
          this.report('E202', target.span, { target: target.chain }, [`"${target.chain}" is an iptables target rejectc does not support yet, and no chain has that name`]);
        } else {
          const note = `"${target.chain}" is neither a chain of table "${t.name}" (create it with -N or ":${target.chain} - [0:0]" first) nor a target rejectc knows`;
          this.report('E300', target.span, { chain: target.chain }, [note]);
        }
        return undefined;
      }
      if (to.builtin) {
        this.report('E316', target.span, { chain: target.chain });
        return undefined;
      }
    }
    const rule: Rule = { kind: 'rule', span: inv.span, source: inv.source, base: lowered.base, matches: lowered.matches, target };
    const counters = inv.counters?.value ?? cmd.counters?.value ?? lowered.counters;
    if (counters) rule.counters = counters;
    return rule;
  }

  private newChain(t: TableState, name: Word): void {
    const existing = t.byName.get(name.text);
    if (existing?.builtin) return this.report('E309', name.span, { chain: name.text, table: t.name });
    if (existing) return this.report('E301', name.span, { chain: name.text });
    if (!this.validNewName(name)) return;
    addChain(t, { name: name.text, builtin: false, span: name.span, rules: [] });
  }

  /** iptables' checks on a new chain name (xshared.c / iptables.c `-N`, `-E`). */
  private validNewName(name: Word): boolean {
    const reason =
      name.text.length === 0
        ? 'a chain name cannot be empty'
        : name.text.length > CHAIN_NAME_MAX
          ? `at most ${CHAIN_NAME_MAX} characters`
          : name.text.startsWith('-') || name.text.startsWith('!')
            ? `a chain name cannot start with "${name.text[0]}"`
            : IPTABLES_TARGET_NAMES.has(name.text)
              ? 'a chain name cannot be the name of a target'
              : /\s/.test(name.text)
                ? 'a chain name cannot contain blanks'
                : undefined;
    if (reason) this.report('E312', name.span, { chain: name.text, reason });
    return reason === undefined;
  }

  private deleteChain(t: TableState, name: Word, restore: boolean): void {
    const chain = this.chainOrMissing(t, name, restore);
    if (!chain) return;
    if (chain.builtin) return this.report('E309', name.span, { chain: name.text, table: t.name });
    const problem = this.deletionProblem(t, chain);
    if (problem) return this.report('E311', name.span, { chain: name.text, reason: problem });
    setChains(t, t.chains.filter((c) => c !== chain));
  }

  /**
   * `-X` without a chain: every user chain goes, except those with rules or referenced by a rule
   * of a chain that stays (iptables fails on those: "Directory not empty" / "Too many links").
   */
  private deleteAllChains(t: TableState): void {
    const users = t.chains.filter((c) => !c.builtin);
    const stays = new Set(users.filter((c) => c.rules.length > 0));
    const remaining = t.chains.filter((c) => c.builtin || stays.has(c));
    for (const c of users) {
      const problem = this.deletionProblem({ ...t, chains: remaining }, c);
      if (problem) {
        stays.add(c);
        this.report('E311', c.span, { chain: c.name, reason: problem });
      }
    }
    setChains(t, t.chains.filter((c) => c.builtin || stays.has(c)));
  }

  private deletionProblem(t: TableState, chain: ChainState): string | undefined {
    const refs = this.references(t, chain.name);
    if (refs > 0) return `it is referenced by ${refs} rule(s)`;
    if (chain.rules.length > 0) return 'it is not empty (flush it first with -F)';
    return undefined;
  }

  private references(t: TableState, name: string): number {
    let n = 0;
    for (const c of t.chains) for (const r of c.rules) if (r.target?.target === 'jump' && r.target.chain === name) n++;
    return n;
  }

  private rename(t: TableState, from: Word, to: Word): void {
    const chain = this.chainOrMissing(t, from, true);
    if (!chain) return;
    if (chain.builtin) return this.report('E314', from.span, { chain: from.text, table: t.name });
    if (t.byName.has(to.text)) return this.report('E301', to.span, { chain: to.text });
    if (!this.validNewName(to)) return;
    for (const c of t.chains) for (const r of c.rules) if (r.target?.target === 'jump' && r.target.chain === from.text) r.target.chain = to.text;
    t.byName.delete(chain.name);
    chain.name = to.text;
    t.byName.set(chain.name, chain);
  }

  private setPolicy(chain: ChainState, policy: Word, counters: Counters | undefined): void {
    if (!chain.builtin) return this.report('E302', policy.span, { chain: chain.name });
    if (policy.text !== 'ACCEPT' && policy.text !== 'DROP') return this.report('E308', policy.span, { policy: policy.text });
    chain.policy = { verdict: policy.text, span: policy.span };
    if (counters) chain.counters = counters;
  }

  /**
   * The named chain, or a diagnostic: E300 when `strict`, else W104 (a script's cleanup command,
   * `-F X` / `-X X`, that fails harmlessly on a system without the chain).
   */
  private chainOrMissing(t: TableState, name: Word, strict: boolean): ChainState | undefined {
    const chain = t.byName.get(name.text);
    if (chain) return chain;
    if (strict) this.report('E300', name.span, { chain: name.text });
    else this.report('W104', name.span, { chain: name.text, table: t.name });
    return undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Result

  /** The IR of everything executed so far (families with at least one table, ipv4 first). */
  result(): Ruleset {
    const families: FamilyRuleset[] = this.families
      .filter((f) => f.tables.length > 0)
      .sort((a, b) => (a.family === b.family ? 0 : a.family === 'ipv4' ? -1 : 1))
      .map((f) => ({ kind: 'family', family: f.family, tables: f.tables.map(toTable) }));
    return { kind: 'ruleset', file: this.file, backend: this.backend, families };
  }

  private family(family: Family): FamilyState {
    let f = this.families.find((x) => x.family === family);
    if (!f) {
      f = { family, tables: [] };
      this.families.push(f);
    }
    return f;
  }

  private report(code: MessageCode, span: Span, params: Record<string, string | number> = {}, notes?: string[]): void {
    this.diagnostics.push(diag(code, span, params, notes));
  }
}

function toTable(t: TableState): Table {
  return { kind: 'table', name: t.name, span: t.span, chains: t.chains.map(toChain) };
}

function toChain(c: ChainState): Chain {
  return { kind: 'chain', ...c, rules: [...c.rules] };
}
