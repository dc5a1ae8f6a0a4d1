/**
 * Ruleset structure checks, with the reasons iptables and the kernel give (see
 * ../shared/spec/nf-reject.md §1):
 *
 * - E304: REJECT is registered for the filter table only (`ipt_REJECT`/`ip6t_REJECT` `.table`).
 * - E305: REJECT runs only in LOCAL_IN, FORWARD and LOCAL_OUT, i.e. chains INPUT, FORWARD,
 *   OUTPUT and user chains reached only from them. (In the filter table every built-in chain is
 *   one of those, so after E304 this fires only for IR built by hand.)
 * - E300 / E316: a jump or goto to a chain that does not exist, or to a built-in chain.
 * - E303: a chain loop reachable from a built-in chain. The kernel refuses those (ELOOP /
 *   "Too many links"); a loop among chains no built-in chain reaches is accepted by both
 *   iptables back ends (verified with iptables 1.8.9), so it is not reported.
 *
 * Pure and deterministic: the same IR gives the same diagnostics in the same order.
 */
import { diag, type Diagnostic } from '../diagnostics.js';
import { FILTER_HOOKS, type Chain, type JumpTarget, type Ruleset, type Table } from '../ir.js';

/** Runs all structure checks on every table of every family. */
export function checkStructure(ruleset: Ruleset): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const fam of ruleset.families) for (const table of fam.tables) checkTable(table, out);
  return out;
}

function jumpsOf(chain: Chain): JumpTarget[] {
  const out: JumpTarget[] = [];
  for (const r of chain.rules) if (r.target?.target === 'jump') out.push(r.target);
  return out;
}

function checkTable(table: Table, out: Diagnostic[]): void {
  const byName = new Map(table.chains.map((c) => [c.name, c]));

  for (const chain of table.chains) {
    for (const rule of chain.rules) {
      const t = rule.target;
      if (!t) continue;
      if (t.target === 'REJECT' && table.name !== 'filter') out.push(diag('E304', t.span, { table: table.name }));
      if (t.target === 'jump') {
        const to = byName.get(t.chain);
        if (!to) out.push(diag('E300', t.span, { chain: t.chain }));
        else if (to.builtin) out.push(diag('E316', t.span, { chain: t.chain }));
      }
    }
  }

  const builtins = table.chains.filter((c) => c.builtin);
  if (table.name === 'filter') {
    const allowed = new Set<string>(FILTER_HOOKS);
    for (const hook of builtins) {
      if (allowed.has(hook.name)) continue;
      for (const chain of reachable(hook, byName)) {
        for (const rule of chain.rules) {
          if (rule.target?.target === 'REJECT') out.push(diag('E305', rule.target.span, { chain: chain.name, hook: hook.name }));
        }
      }
    }
  }

  findLoops(builtins, byName, out);
}

/** Chains reachable from `start` (itself included) through jumps and gotos, in visit order. */
function reachable(start: Chain, byName: Map<string, Chain>): Chain[] {
  const seen = new Set<Chain>([start]);
  const order: Chain[] = [start];
  for (let i = 0; i < order.length; i++) {
    for (const j of jumpsOf(order[i]!)) {
      const next = byName.get(j.chain);
      if (next && !next.builtin && !seen.has(next)) {
        seen.add(next);
        order.push(next);
      }
    }
  }
  return order;
}

/**
 * Depth-first search from each built-in chain; a jump to a chain on the current path closes a
 * loop, reported once at that jump with the path from the built-in chain (`INPUT -> a -> b -> a`).
 */
function findLoops(builtins: Chain[], byName: Map<string, Chain>, out: Diagnostic[]): void {
  const done = new Set<Chain>();
  const reported = new Set<JumpTarget>();
  for (const root of builtins) {
    const path: Chain[] = [];
    const onPath = new Set<Chain>();
    // Iterative DFS: frames of (chain, index of the next jump to follow).
    const stack: { chain: Chain; jumps: JumpTarget[]; next: number }[] = [];
    const enter = (c: Chain) => {
      path.push(c);
      onPath.add(c);
      stack.push({ chain: c, jumps: jumpsOf(c), next: 0 });
    };
    enter(root);
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      if (frame.next >= frame.jumps.length) {
        stack.pop();
        path.pop();
        onPath.delete(frame.chain);
        done.add(frame.chain);
        continue;
      }
      const jump = frame.jumps[frame.next++]!;
      const to = byName.get(jump.chain);
      if (!to || to.builtin) continue;
      if (onPath.has(to)) {
        if (!reported.has(jump)) {
          reported.add(jump);
          const names = [...path, to].map((c) => c.name);
          out.push(diag('E303', jump.span, { path: names.join(' -> ') }));
        }
        continue;
      }
      if (!done.has(to)) enter(to);
    }
  }
}
