/**
 * The corpus differential (issue 6): every file of ../shared/corpus/real/ whose filter table
 * rejectc compiles fully is installed on the kernel (iptables-legacy) and on rejectc (TC,
 * and XDP when it has no OUTPUT rules) with its natural shape, as `rejectc apply` does for a
 * user; a few hundred frames aimed at its rules (its ports, protocols, ICMP types and
 * addresses; server interfaces named after the ones it uses) must have the same effect on
 * every side. Prints per file: rules, frames, divergences, masked known differences, kernel
 * rules hit. Files with -m limit / -m hashlimit take part when their rates are slow enough
 * that no token is earned while the frames go out (MIN_RATE_WINDOW_MS in test/diff/corpus.ts):
 * each match then passes exactly its first `burst` packets on every side; the test checks the
 * frames did go out within that window. Files with -m set get sets made up from the stream's
 * addresses (every other one: frames both match and miss them; test/diff/corpus.ts setsFor),
 * the same on both sides (ipset restore / rejectc apply --ipset). RJC_SEED replays; RJC_CORPUS_FRAMES changes the frames
 * per file (default 200). Needs root.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canUseKernel } from './support/netns.js';
import { corpusDir, loadCorpus } from './diff/corpus.js';
import { corpusLine, runCorpusEntry, type CorpusFileReport } from './diff/corpus-run.js';

const SEED = Number(process.env.RJC_SEED ?? Date.now() % 1_000_000_000);
const FRAMES = Number(process.env.RJC_CORPUS_FRAMES ?? 200);
/** The corpus is third-party data next to the repository, read when it is there (as the other corpus tests do). */
const present = existsSync(corpusDir());
const { entries, skipped } = present ? loadCorpus() : { entries: [], skipped: [] };
const reports: CorpusFileReport[] = [];

describe.runIf(canUseKernel() && present)('differential: real rulesets (../shared/corpus/real)', () => {
  it('some corpus files compile fully', () => {
    console.log(`corpus: ${entries.length} files compile fully, ${skipped.length} do not (seed ${SEED}, ${FRAMES} frames each)`);
    for (const s of skipped) console.log(`  skipped ${s.name}: ${s.reason}`);
    expect(entries.length).toBeGreaterThan(5);
  });

  for (const entry of entries) {
    it(`${entry.name}: the same effect of every frame on every side`, async () => {
      const r = await runCorpusEntry(entry, { frames: FRAMES, seed: SEED });
      reports.push(r);
      console.log(corpusLine(r));
      expect(r.refused, r.refused).toBeUndefined();
      expect(r.failure ?? '', `RJC_SEED=${SEED}: ${entry.name} diverges:\n${r.failure}`).toBe('');
      expect(r.frames).toBeGreaterThanOrEqual(FRAMES);
      // Rate limits: the comparison holds only if no token was earned during the run.
      if (entry.rateWindowMs !== undefined) {
        expect(r.sendMs, `${entry.name}: the frames took longer than its rate limits' window`).toBeLessThan(entry.rateWindowMs);
        expect(r.rateCounts?.differences, `RJC_SEED=${SEED}: ${entry.name}: rate-limited rules counted differently`).toEqual([]);
      }
    }, 240_000);
  }

  it('the frames reached the rules', () => {
    if (reports.length === 0) return;
    const withRules = reports.filter((r) => r.rules > 0);
    console.log(`corpus: ${reports.reduce((n, r) => n + r.frames, 0)} frames over ${reports.length} files; rules hit ${reports.reduce((n, r) => n + r.rulesHit, 0)}, REJECT rules hit ${reports.reduce((n, r) => n + r.rejectRulesHit, 0)}`);
    expect(withRules.filter((r) => r.rulesHit > 0).length).toBeGreaterThanOrEqual(withRules.length / 2);
    const withSets = reports.filter((r) => r.setRules);
    if (withSets.length > 0) expect(withSets.reduce((n, r) => n + r.setRules!.hit, 0), 'no rule testing a set counted a packet').toBeGreaterThan(0);
  });
});
