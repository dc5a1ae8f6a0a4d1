/**
 * The reference interpreter: iptables' filter table walked exactly as `ipt_do_table` /
 * `ip6t_do_table` walk it, one kernel entry at a time (a multi-address rule is several
 * entries, source outer), with a jump stack: `-j CHAIN` pushes, `-g CHAIN` does not, RETURN
 * (or the end of a user chain) pops, and an empty stack falls to the built-in chain's policy.
 * A rule whose matches pass is counted before its target runs; LOG and target-less rules
 * continue; a hotdrop ends evaluation with DROP and moves no counter.
 *
 * Precondition: the ruleset passed the front end's checks (chains exist, no loops).
 */
import type { Chain, FamilyRuleset, FilterHook, RejectWith, Rule, Ruleset, Table } from '../compiler/ir.js';
import type { ModelEnv } from './env.js';
import { hookView, type HookPacket, type StackDrop } from './hook-view.js';
import { expansions, matchRule, ModelUnsupportedError, type Expansion } from './matches.js';
import { decodeIp, type DecodedPacket } from './packet.js';
import { buildReply, type NoReplyReason } from './reply.js';

export type Verdict = 'accept' | 'drop' | 'reject';

/** A counter the packet moved: a rule entry's (packets +1, bytes + `bytes`), or a policy's. */
export type CounterTouch =
  | { kind: 'rule'; chain: string; index: number; expansion: number; rule: Rule; bytes: number }
  | { kind: 'policy'; chain: FilterHook; bytes: number };

/** How the verdict came about. */
export type Cause =
  /** A rule's target (ACCEPT, DROP, REJECT). */
  | { kind: 'rule' }
  /** The built-in chain's policy (end of chain, or RETURN with an empty stack). */
  | { kind: 'policy' }
  /** A match could not examine the packet; `rule` is the rule whose match gave up. */
  | { kind: 'hotdrop' }
  /** The packet never reached the filter table; the verdict is `accept` (passed on to the stack). */
  | { kind: 'stack'; drop: StackDrop };

export interface Decision {
  /**
   * `reject` only when a reply was built; a REJECT that sends nothing is `drop` (the kernel
   * returns NF_DROP either way). `accept` also for packets that never reach the filter table.
   */
  verdict: Verdict;
  /** The built-in chain evaluated. */
  chain: FilterHook;
  /** The rule that decided (its target, or its hotdropping match); null for a policy or stack drop. */
  rule: Rule | null;
  /** The chain `rule` belongs to (a user chain when it decided there). */
  ruleChain: string | null;
  /** Index of `rule` in `ruleChain`. */
  ruleIndex: number | null;
  /** Which of the rule's expanded copies decided (source outer, destination inner); 0 if single. */
  expansion: number;
  cause: Cause;
  /** The reply as an IP packet (no link-layer header), or null. */
  reply: Uint8Array | null;
  /** Why a REJECT sent nothing (null when not a REJECT or a reply was sent). */
  noReply: NoReplyReason | null;
  /** The REJECT type of the deciding rule, when it was a REJECT. */
  rejectWith: RejectWith | null;
  /** Counters moved, in the order the kernel moved them. */
  counters: CounterTouch[];
}

/** Bound on entries visited, far above anything a loop-free ruleset needs per packet. */
const MAX_STEPS = 1_000_000;

interface Frame {
  chain: Chain;
  /** Entry index within the chain's expanded entries. */
  entry: number;
}

interface Entry {
  rule: Rule;
  index: number;
  expansion: number;
  addresses: Expansion;
}

/** Evaluates one family's filter table. See {@link Decision}. Never returns for loops (throws). */
export function evaluate(ruleset: FamilyRuleset, packet: DecodedPacket, env: ModelEnv): Decision {
  const chain = env.chain;
  const empty = { rule: null, ruleChain: null, ruleIndex: null, expansion: 0, reply: null, noReply: null, rejectWith: null };
  const view = hookView(packet, env);
  if (!view.ok) return { ...empty, verdict: 'accept', chain, cause: { kind: 'stack', drop: view.drop }, counters: [] };
  if (view.packet.ip.family !== ruleset.family) {
    throw new ModelUnsupportedError(`a ${view.packet.ip.family} packet given to the ${ruleset.family} ruleset`);
  }
  const table = ruleset.tables.find((t) => t.name === 'filter');
  if (!table) return { ...empty, verdict: 'accept', chain, cause: { kind: 'policy' }, counters: [] };
  return walk(table, view.packet, env, ruleset);
}

/**
 * Evaluates a whole ruleset: picks the family of the packet. A family the ruleset does not
 * mention has an empty filter table (policy ACCEPT). Packets that are not IP are accepted.
 */
export function evaluateRuleset(ruleset: Ruleset, packet: DecodedPacket, env: ModelEnv): Decision {
  const family = packet.ip?.family ?? 'ipv4';
  const found = ruleset.families.find((f) => f.family === family) ?? { kind: 'family' as const, family, tables: [] };
  return evaluate(found, packet, env);
}

function chainByName(table: Table, name: string): Chain {
  const c = table.chains.find((ch) => ch.name === name);
  if (!c) throw new ModelUnsupportedError(`chain "${name}" does not exist`);
  return c;
}

const entryCache = new WeakMap<Chain, Entry[]>();

function entriesOf(chain: Chain): Entry[] {
  let entries = entryCache.get(chain);
  if (!entries) {
    entries = chain.rules.flatMap((rule, index) =>
      expansions(rule).map((addresses, expansion) => ({ rule, index, expansion, addresses })),
    );
    entryCache.set(chain, entries);
  }
  return entries;
}

function walk(table: Table, pkt: HookPacket, env: ModelEnv, ruleset: FamilyRuleset): Decision {
  const hook = env.chain;
  const builtin = table.chains.find((c) => c.name === hook);
  const counters: CounterTouch[] = [];
  const base = { chain: hook, reply: null, noReply: null, rejectWith: null, counters };
  const policy = (): Decision => {
    const verdict = builtin?.policy?.verdict === 'DROP' ? 'drop' : 'accept';
    counters.push({ kind: 'policy', chain: hook, bytes: pkt.length });
    return { ...base, verdict, rule: null, ruleChain: null, ruleIndex: null, expansion: 0, cause: { kind: 'policy' } };
  };
  if (!builtin) return policy();
  const stack: Frame[] = [];
  let frame: Frame = { chain: builtin, entry: 0 };
  for (let steps = 0; steps < MAX_STEPS; steps++) {
    const entries = entriesOf(frame.chain);
    const e = entries[frame.entry];
    if (!e) {
      // End of chain: the built-in chain's policy, or the user chain's implicit RETURN.
      const back = stack.pop();
      if (frame.chain === builtin || !back) return policy();
      frame = { chain: back.chain, entry: back.entry + 1 };
      continue;
    }
    const decided = { rule: e.rule, ruleChain: frame.chain.name, ruleIndex: e.index, expansion: e.expansion };
    const result = matchRule(e.rule, e.addresses, pkt, env);
    if (result === 'hotdrop') return { ...base, ...decided, verdict: 'drop', cause: { kind: 'hotdrop' } };
    if (result === 'nomatch') {
      frame = { ...frame, entry: frame.entry + 1 };
      continue;
    }
    counters.push({ kind: 'rule', chain: frame.chain.name, index: e.index, expansion: e.expansion, rule: e.rule, bytes: pkt.length });
    const t = e.rule.target;
    if (!t || t.target === 'LOG') {
      frame = { ...frame, entry: frame.entry + 1 };
      continue;
    }
    switch (t.target) {
      case 'ACCEPT':
        return { ...base, ...decided, verdict: 'accept', cause: { kind: 'rule' } };
      case 'DROP':
        return { ...base, ...decided, verdict: 'drop', cause: { kind: 'rule' } };
      case 'REJECT': {
        const r = rejectReply(pkt, t.with, env, ruleset);
        return {
          ...base,
          ...decided,
          verdict: r.reply ? 'reject' : 'drop',
          cause: { kind: 'rule' },
          reply: r.reply,
          noReply: r.reply ? null : r.reason,
          rejectWith: t.with,
        };
      }
      case 'RETURN': {
        const back = stack.pop();
        if (!back) return policy();
        frame = { chain: back.chain, entry: back.entry + 1 };
        continue;
      }
      case 'jump':
        if (!t.goto) stack.push(frame);
        frame = { chain: chainByName(table, t.chain), entry: 0 };
        continue;
      case 'other':
        throw new ModelUnsupportedError(`target "${t.name}" is not part of the compiled subset the model evaluates`);
    }
  }
  throw new ModelUnsupportedError('rule evaluation did not terminate (a chain loop?)');
}

type ReplyOutcome = { reply: Uint8Array; reason?: undefined } | { reply: null; reason: NoReplyReason };

/** REJECT's reply; with `filterRepliesThroughOutput`, the reply must also pass OUTPUT. */
function rejectReply(pkt: HookPacket, withType: RejectWith, env: ModelEnv, ruleset: FamilyRuleset): ReplyOutcome {
  const built = buildReply(pkt, withType, env);
  if (!built.reply || !env.filterRepliesThroughOutput) return built;
  const outEnv: ModelEnv = {
    ...env,
    chain: 'OUTPUT',
    outInterface: env.inInterface ?? '',
    mark: 0,
    filterRepliesThroughOutput: false,
  };
  const d = evaluate(ruleset, decodeIp(built.reply), outEnv);
  return d.verdict === 'accept' ? built : { reply: null, reason: 'output-filtered' };
}
