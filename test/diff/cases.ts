/**
 * Generated differential cases: a ruleset ({@link arbRuleset}) and a stream aimed at it
 * ({@link arbStream} over {@link poolFromRules}), and their conversion to a runnable
 * {@link DiffCase}.
 */
import fc from 'fast-check';
import { arbRuleset, printSpec, type RulesetSpec } from './gen-rules.js';
import { arbStream, buildStream, poolFromRules, type StreamSpec } from './gen-stream.js';
import type { DiffCase } from './runner.js';

export interface GeneratedCase {
  spec: RulesetSpec;
  stream: StreamSpec[];
}

/** Rulesets with streams aimed at their rules; shrinks rules and frames. */
export function arbCase(): fc.Arbitrary<GeneratedCase> {
  return arbRuleset().chain((spec) => arbStream(poolFromRules(printSpec(spec))).map((stream) => ({ spec, stream })));
}

/** The generated case as the runner takes it: both rules files printed, the stream built. */
export function toDiffCase(g: GeneratedCase): DiffCase {
  return { rules: printSpec(g.spec), stream: buildStream(g.stream) };
}
