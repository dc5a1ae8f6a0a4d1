/**
 * Minimising a failing case given as text (a saved regression, a corpus file, or the
 * counterexample fast-check shrank as far as its time budget allowed): greedy deletion of
 * stream elements, then of rule lines, then of other frames of a fragment train, keeping each
 * deletion only while the case still fails the same way.
 */
import type { CaseResult, DiffCase, Differential } from './runner.js';

/** The signature of a failure, to tell "still fails the same way" from "fails differently". */
export function failureKey(r: CaseResult): string {
  if (r.refused) return `refused by ${r.refused.by}`;
  return [...new Set(r.divergences.map((d) => `${d.side} ${d.details.map((x) => x.split(':')[0]).join('+')}`))].sort().join(', ');
}

function withoutLine(text: string, index: number): string {
  const lines = text.split('\n');
  lines.splice(index, 1);
  return lines.join('\n');
}

/** Indexes of the `-A` lines of a rules text. */
function ruleLines(text: string): number[] {
  return text.split('\n').flatMap((l, i) => (l.startsWith('-A ') ? [i] : []));
}

/**
 * Deletes what it can from `c` while `diff.run` still fails with the same key; stops after
 * `budgetMs`. Returns the smallest failing case found (at worst `c` itself).
 */
export async function minimize(diff: Differential, c: DiffCase, budgetMs: number): Promise<DiffCase> {
  const deadline = Date.now() + budgetMs;
  const first = await diff.run(c);
  const key = failureKey(first);
  if (!key) return c;
  const fails = async (candidate: DiffCase): Promise<boolean> => failureKey(await diff.run(candidate)) === key;
  let best = c;
  // Stream elements: the last one alone first (most divergences need one frame), then
  // chunks of halving size (a frame's fate can depend on earlier ones: connection tracking).
  const last = best.stream[best.stream.length - 1];
  if (last && best.stream.length > 1 && (await fails({ ...best, stream: [last] }))) best = { ...best, stream: [last] };
  for (let size = Math.floor(best.stream.length / 2); size >= 1; size = Math.floor(size / 2)) {
    for (let at = best.stream.length - 1 - size; at >= 0 && best.stream.length > 1; at -= size) {
      if (Date.now() > deadline) return best;
      const from = Math.max(0, at);
      const stream = [...best.stream.slice(0, from), ...best.stream.slice(from + size)];
      if (stream.length > 0 && (await fails({ ...best, stream }))) best = { ...best, stream };
    }
  }
  for (const family of ['ipv4', 'ipv6'] as const) {
    for (const index of ruleLines(best.rules[family]).reverse()) {
      if (Date.now() > deadline) return best;
      const rules = { ...best.rules, [family]: withoutLine(best.rules[family], index) };
      if (await fails({ ...best, rules })) best = { ...best, rules };
    }
  }
  for (const [e, el] of best.stream.entries()) {
    for (let f = el.frames.length - 1; f >= 0 && el.frames.length > 1; f--) {
      if (Date.now() > deadline) return best;
      const current = best.stream[e]!;
      const frames = current.frames.filter((_, j) => j !== f);
      const from = current.from?.filter((_, j) => j !== f);
      const stream = best.stream.map((s, j) => (j === e ? { ...s, frames, ...(from ? { from } : {}) } : s));
      if (await fails({ ...best, stream })) best = { ...best, stream };
    }
  }
  return best;
}
