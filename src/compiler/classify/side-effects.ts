/**
 * Which post-checks change state when they run: the matches the kernel evaluates for their
 * effect as much as for their result. Such a check must run exactly once, when the kernel
 * reaches the match (every earlier match of the rule matched, whatever the later ones
 * decide), and never again for the same packet: ./slots.ts splits rules at them (gate slots),
 * sends the walk past a rule that stopped matching, and leaves jump rules' checks out of the
 * rules of the chains they inline.
 *
 * - `-m limit` / `-m hashlimit` (./rate-limits.ts): a token is spent (or a flow created).
 * - `-m recent` (./stateful.ts): `--set` and `--remove` always change the table, `--update`
 *   when it matches, `--reap` (with `--rcheck`/`--update`) may drop the table's oldest entry
 *   (recent_mt in net/netfilter/xt_recent.c). A plain `--rcheck` only reads.
 */
import type { PostCheck } from './steps.js';
import { RECENT_CMD, RECENT_FLAG } from './stateful.js';

/** True for a check whose evaluation changes state (see the module comment). */
export function hasSideEffects(check: PostCheck): boolean {
  if (check.kind === 'rate') return true;
  if (check.kind === 'recent') return (check.flags & RECENT_FLAG.cmdMask) !== RECENT_CMD.rcheck || (check.flags & RECENT_FLAG.reap) !== 0;
  return false;
}
