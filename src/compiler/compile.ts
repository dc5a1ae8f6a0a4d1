/**
 * The back end's pure entry point: a checked ruleset in, the generated C and maps.json out.
 * No I/O, no clock, no kernel: the same ruleset and options always give the same artifacts.
 *
 *   filter tables only (other tables: W101) → refusals (E400 matches, E401 targets,
 *   E402 OUTPUT under XDP) → flatten (E403) → classify (E403) → map entries → C + manifest
 */
import { diag, hasErrors, type Diagnostic } from './diagnostics.js';
import type { Ruleset } from './ir.js';
import { classify, unsupportedParts, type Classified } from './classify/index.js';
import type { MinimumShape } from './classify/shape.js';
import { flattenRuleset } from './flatten/index.js';
import { emitProgram } from './emit/c-program.js';
import { buildManifest, type MapsJson } from './emit/manifest.js';
import { encodeEntries } from './emit/map-entries.js';
import { mapSpecs } from './emit/map-specs.js';
import { programSpecs } from './emit/programs.js';
import { checkSetReferences } from './ipset/check.js';
import { xdpConntrackWarnings } from './classify/stateful.js';
import { hasRateMatches, NO_RATES, planRates, rateDiagnostics } from './classify/rate-limits.js';
import type { IpsetFile } from './ipset/types.js';

export interface CompileOptions {
  hook: 'tc' | 'xdp';
  /**
   * Tests and benchmarks: a lower bound for the shape (every field indexed, capacities at
   * least these), so that many rulesets run on one program by replacing map contents.
   */
  minimumShape?: MinimumShape;
  /** The sets `-m set` rules use (`--ipset FILE`); when given, every set they name must be in it (E404). */
  ipsets?: IpsetFile;
  /**
   * The HZ of the kernel the rules will run on, when known: -m limit / -m hashlimit settings
   * that kernel refuses are then reported here (E261). Without it, only what every HZ
   * refuses is; the runtime checks the rest when it loads the rules.
   */
  hz?: number;
}

export interface CompileArtifacts {
  /** rejectc.bpf.c */
  c: string;
  /** maps.json */
  maps: MapsJson;
}

export interface CompileResult {
  diagnostics: Diagnostic[];
  /** Present when there are no errors. */
  artifacts?: CompileArtifacts;
  /** The classifier's internals (for tests, tools and the bench). */
  classified?: Classified;
}

/** Refusals that do not depend on flattening: other tables, unsupported matches/targets, XDP OUTPUT. */
function refusals(ruleset: Ruleset, hook: 'tc' | 'xdp'): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const family of ruleset.families) {
    for (const table of family.tables) {
      if (table.name !== 'filter') {
        out.push(diag('W101', table.span, { table: table.name }));
        continue;
      }
      for (const chain of table.chains) for (const rule of chain.rules) out.push(...unsupportedParts(rule));
      if (hook === 'xdp') {
        const output = table.chains.find((ch) => ch.name === 'OUTPUT');
        const at = output?.rules[0]?.span ?? (output?.policy?.verdict === 'DROP' ? output.policy.span : undefined);
        if (at) out.push(diag('E402', at));
      }
    }
  }
  return out;
}

/** Compiles a checked ruleset (the front end's checks passed) for a hook. */
export function compile(ruleset: Ruleset, options: CompileOptions): CompileResult {
  const diagnostics = refusals(ruleset, options.hook);
  if (options.ipsets) diagnostics.push(...checkSetReferences(ruleset, options.ipsets));
  if (options.hook === 'xdp') diagnostics.push(...xdpConntrackWarnings(ruleset));
  // One walk over the rules answers both rate-limit questions for the many rulesets without any.
  const rated = hasRateMatches(ruleset);
  if (rated) diagnostics.push(...rateDiagnostics(ruleset, options.hz));
  if (hasErrors(diagnostics)) return { diagnostics };
  const flat = flattenRuleset(ruleset.families);
  diagnostics.push(...flat.diagnostics);
  if (hasErrors(diagnostics)) return { diagnostics };
  const { classified, diagnostics: classDiags } = classify(flat.flat, options.hook, options.minimumShape, rated ? planRates(ruleset) : NO_RATES);
  diagnostics.push(...classDiags);
  if (!classified || hasErrors(diagnostics)) return { diagnostics };
  const specs = mapSpecs(classified.shape);
  const entries = encodeEntries(classified, specs);
  const outputFiltered = flat.flat.chains.some((ch) => ch.chain === 'OUTPUT' && (ch.rules.length > 0 || ch.policy === 'DROP'));
  // Conntrack checks need the egress program too: it keeps rjc_ct_shadow (bpf/rjc_ct.h).
  const usesCt = classified.shape.conntrack === true;
  const programs = programSpecs(options.hook, outputFiltered || (usesCt && options.hook === 'tc'));
  const maps = buildManifest(classified, specs, entries, programs, ruleset.file);
  const c = emitProgram({ classified, specs, programs, source: ruleset.file });
  return { diagnostics, artifacts: { c, maps }, classified };
}
