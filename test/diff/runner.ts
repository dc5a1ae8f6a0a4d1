/**
 * The differential run: a topology with one side per firewall, the wire helper, and a work
 * directory; {@link Differential.run} installs one ruleset everywhere, sends its stream
 * into every side and compares each rejectc side with the kernel, frame by frame.
 *
 *   const diff = await Differential.start({ kinds: ['kernel', 'tc', 'xdp'] });
 *   try { const result = await diff.run(someCase); ... } finally { diff.close(); }
 */
import { toHex } from '../../src/model/index.js';
import { describeIp, differences, normalize, type NormalizedObservation } from './compare.js';
import { installKernel, installRejectcSides, Workdir, type RulesPair, type ShapeMode, type Skip } from './install.js';
import { classifyKnown, parseForModel, type KnownContext, type ParsedRules } from './known.js';
import { createTopology, DEFAULT_SERVER_INTERFACES, type DiffTopology, type ServerInterfaces, type Side, type SideKind } from './topology.js';
import type { Netns } from '../support/netns.js';
import { Wire, type Observations, type Via } from './wire.js';

/**
 * One element of a stream: one or more frames sent one after the other (a fragment train, or
 * the packets of a connection), each from the client unless `from` says otherwise.
 */
export interface StreamElement {
  label: string;
  frames: Uint8Array[];
  /** Per frame, the end it is injected at (default: all from the client). */
  from?: Via[];
}

/** A case: a ruleset (both families) and a stream. */
export interface DiffCase {
  rules: RulesPair;
  stream: StreamElement[];
}

/** A difference between the kernel and one rejectc side for one frame. */
export interface Divergence {
  side: SideKind;
  element: number;
  frame: number;
  label: string;
  /** The frame sent, hex. */
  frameHex: string;
  /** Human-readable differences (client / passed / far). */
  details: string[];
  kernel: NormalizedObservation;
  rejectc: NormalizedObservation;
}

/** A difference explained by a documented known difference (masked by name). */
export interface Masked {
  name: string;
  side: SideKind;
  element: number;
  frame: number;
}

export interface CaseResult {
  /** Sides that did not run this case, and why. */
  skipped: Skip[];
  /**
   * Set when a firewall refused the ruleset: `kernel` (iptables-legacy-restore failed while
   * rejectc's front end accepted it), `rejectc` (the reverse, or apply failed), `both`.
   */
  refused?: { by: 'kernel' | 'rejectc' | 'both'; message: string };
  divergences: Divergence[];
  masked: Masked[];
  /** Frames compared (per rejectc side). */
  frames: number;
  /** What the kernel did with each frame (for coverage counts). */
  outcomes: string[];
  /** Kernel rule counters after the stream: rules that matched at least once, and REJECT ones. */
  rulesHit: number;
  rejectRulesHit: number;
}

export interface DifferentialOptions {
  kinds?: readonly SideKind[];
  interfaces?: ServerInterfaces;
  shape?: ShapeMode;
}

/** A short label of what the kernel did with a frame: reply / passed / forwarded / nothing. */
function outcomeOf(o: NormalizedObservation): string {
  const parts: string[] = [];
  if (o.client.length) parts.push('answered');
  if (o.passed.some((p) => p.startsWith('INPUT'))) parts.push('input');
  if (o.passed.some((p) => p.startsWith('FORWARD'))) parts.push('forward');
  return parts.length ? parts.join('+') : 'dropped';
}

export class Differential {
  /** The rules of the last install, as the model reads them (for known differences). */
  private parsed: ParsedRules = {};

  private constructor(
    readonly topology: DiffTopology,
    private readonly wire: Wire,
    readonly work: Workdir,
    private readonly options: Required<DifferentialOptions>,
  ) {}

  /** Builds the topology and starts the wire helper. */
  static async start(options: DifferentialOptions = {}): Promise<Differential> {
    const full: Required<DifferentialOptions> = { kinds: options.kinds ?? ['kernel', 'tc', 'xdp'], interfaces: options.interfaces ?? DEFAULT_SERVER_INTERFACES, shape: options.shape ?? 'fixed' };
    if (full.kinds[0] !== 'kernel') throw new Error('the kernel side comes first');
    const topology = createTopology(full.kinds, full.interfaces);
    const work = new Workdir();
    try {
      const wire = await Wire.open(topology);
      return new Differential(topology, wire, work, full);
    } catch (err) {
      topology.cleanup();
      work.remove();
      throw err;
    }
  }

  /** Installs the case's ruleset everywhere, sends its stream, compares. */
  /** Installs the case's ruleset everywhere, sends its stream, compares. */
  async run(c: DiffCase): Promise<CaseResult> {
    const result = await this.install(c.rules);
    if (result.refused) return result;
    await this.send(c.stream, result);
    return result;
  }

  /**
   * Installs a ruleset on every side. The result has `refused` set when a firewall refused
   * it (then nothing is installed on the rejectc sides), else the sides left out.
   */
  async install(rules: RulesPair): Promise<CaseResult> {
    const result: CaseResult = { skipped: [], divergences: [], masked: [], frames: 0, outcomes: [], rulesHit: 0, rejectRulesHit: 0 };
    const { parsed, errors } = parseForModel(rules);
    this.parsed = parsed;
    // Connections tracked for an earlier case must not decide this one's state matches.
    await this.wire.flushConntrack();
    let kernelError: string | undefined;
    try {
      installKernel(this.kernelSide().server, rules);
    } catch (err) {
      kernelError = (err as Error).message;
    }
    if (kernelError !== undefined || errors.length > 0) {
      const by = kernelError === undefined ? 'rejectc' : errors.length > 0 ? 'both' : 'kernel';
      result.refused = { by, message: [kernelError ?? '', ...errors].filter(Boolean).join('\n') };
      return result;
    }
    try {
      result.skipped = await installRejectcSides(this.topology, this.work, rules, [this.options.interfaces.in, this.options.interfaces.out], this.options.shape);
    } catch (err) {
      result.refused = { by: 'rejectc', message: (err as Error).message };
    }
    return result;
  }

  /**
   * Sends a stream into every side (with the ruleset of the last {@link install}) and adds
   * what it found to `result`: divergences, masked known differences, outcomes, and the
   * kernel's rule counters after the stream.
   */
  async send(stream: readonly StreamElement[], result: CaseResult): Promise<void> {
    const compared = this.options.kinds.filter((k) => k !== 'kernel' && !result.skipped.some((s) => s.side === k));
    for (const [e, element] of stream.entries()) {
      const origs = element.frames.map((f) => f.subarray(14));
      for (const [f, frame] of element.frames.entries()) {
        const seen: Observations = await this.wire.send(frame, element.from?.[f] ?? 'client');
        const kernel = normalize(seen.kernel!, origs);
        result.outcomes.push(outcomeOf(kernel));
        result.frames += 1;
        for (const side of compared) {
          const mine = normalize(seen[side]!, origs);
          const details = differences(kernel, mine);
          if (details.length === 0) continue;
          const ctx: KnownContext = { rules: this.parsed, frame, origs, kernel: seen.kernel!, rejectc: seen[side]!, side, interfaces: this.options.interfaces };
          const known = classifyKnown(ctx);
          if (known) result.masked.push({ name: known, side, element: e, frame: f });
          else result.divergences.push({ side, element: e, frame: f, label: element.label, frameHex: toHex(frame), details, kernel, rejectc: mine });
        }
      }
    }
    const hits = kernelRuleHits(this.kernelSide().server);
    result.rulesHit = hits.rules;
    result.rejectRulesHit = hits.rejects;
  }

  private kernelSide(): Side {
    return this.topology.sides.find((s) => s.kind === 'kernel')!;
  }

  /** Stops the helper and deletes the namespaces and files (idempotent). */
  close(): void {
    this.wire.close();
    this.topology.cleanup();
    this.work.remove();
  }
}

/** Rules of the kernel's filter tables that counted a packet (`iptables-legacy-save -c`). */
function kernelRuleHits(server: Netns): { rules: number; rejects: number } {
  let rules = 0;
  let rejects = 0;
  for (const line of server.sh('iptables-legacy-save -c -t filter; ip6tables-legacy-save -c -t filter').stdout.split('\n')) {
    const m = /^\[(\d+):\d+\] -A /.exec(line);
    if (!m || m[1] === '0') continue;
    rules += 1;
    if (/ -j REJECT\b/.test(line)) rejects += 1;
  }
  return { rules, rejects };
}

/**
 * A failing case as a reader wants it: both rules files, then each frame in hex with what
 * the kernel and rejectc did.
 */
export function formatFailure(c: DiffCase, r: CaseResult): string {
  const lines: string[] = [];
  lines.push('--- ipv4 rules (iptables-legacy-restore) ---', c.rules.ipv4.trimEnd(), '--- ipv6 rules (ip6tables-legacy-restore) ---', c.rules.ipv6.trimEnd(), '--- stream ---');
  for (const [e, el] of c.stream.entries()) {
    for (const [f, frame] of el.frames.entries()) {
      lines.push(`#${e}.${f} ${el.label}${el.from?.[f] === 'far' ? ' [from far]' : ''}: ${toHex(frame)}`);
      lines.push(`     ${describeIp(frame.subarray(14))}`);
      for (const d of r.divergences.filter((x) => x.element === e && x.frame === f)) {
        lines.push(`  ${d.side} differs from the kernel:`);
        for (const line of d.details) lines.push(`    ${line}`);
        lines.push(`    kernel hex:  ${JSON.stringify(d.kernel)}`, `    rejectc hex: ${JSON.stringify(d.rejectc)}`);
      }
    }
  }
  if (r.refused) lines.push(`--- refused by ${r.refused.by} ---`, r.refused.message);
  return lines.join('\n');
}
