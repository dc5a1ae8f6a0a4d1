/**
 * Turning the rjc_reply_stats map into named counters (for `rejectc stats` and tests).
 */
import { NO_REPLY_REASONS, REPLY_KINDS, REPLY_STATS_ENTRIES, replyStatsIndex } from './codes.js';

export interface ReplyStats {
  /** Replies sent, by reply kind name (e.g. `tcp-reset-ipv4`). */
  sent: Record<string, number>;
  /** REJECTs that sent nothing, by reason name (e.g. `bad-checksum`). */
  suppressed: Record<string, number>;
}

/**
 * Name the counters of rjc_reply_stats.
 * @param perIndex one total per map index (already summed over CPUs), REPLY_STATS_ENTRIES long;
 *   missing trailing entries count as 0.
 */
export function summarizeReplyStats(perIndex: readonly (number | bigint)[]): ReplyStats {
  if (perIndex.length > REPLY_STATS_ENTRIES) throw new Error(`rjc_reply_stats has ${REPLY_STATS_ENTRIES} entries, got ${perIndex.length}`);
  const at = (i: number): number => Number(perIndex[i] ?? 0);
  const sent: Record<string, number> = {};
  for (const k of REPLY_KINDS) sent[k.name] = at(replyStatsIndex({ kind: 'sent', code: k.code }));
  const suppressed: Record<string, number> = {};
  for (const r of NO_REPLY_REASONS) suppressed[r.name] = at(replyStatsIndex({ kind: 'suppressed', code: r.code }));
  return { sent, suppressed };
}
