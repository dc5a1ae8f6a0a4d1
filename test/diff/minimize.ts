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
  // Stream elements: try each alone first (most divergences need one frame), then deletions.
  for (const el of best.stream) {
    if (Date.now() > deadline) return best;
    if (best.stream.length > 1 && (await fails({ ...best, stream: [el] }))) {
      best = { ...best, stream: [el] };
      break;
    }
  }
  for (let i = best.stream.length - 1; i >= 0 && best.stream.length > 1; i--) {
    if (Date.now() > deadline) return best;
    const stream = best.stream.filter((_, j) => j !== i);
    if (await fails({ ...best, stream })) best = { ...best, stream };
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
      const frames = best.stream[e]!.frames.filter((_, j) => j !== f);
      const stream = best.stream.map((s, j) => (j === e ? { ...s, frames } : s));
      if (await fails({ ...best, stream })) best = { ...best, stream };
    }
  }
  return best;
}
