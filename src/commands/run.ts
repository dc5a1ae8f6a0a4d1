/**
 * `rejectc run <rules|dir> (--packet HEX | --frame HEX) [--chain INPUT|FORWARD|OUTPUT]
 *  [--hook tc|xdp] [--dev IF] [--json] [--family ipv4|ipv6]`: one packet through the compiled
 * program with BPF_PROG_TEST_RUN.
 *
 * Given rules, they are compiled first; given a directory written by `compile`, its
 * maps.json (validated) and rejectc.bpf.c are used. Either way the C is built with RJC_TRACE
 * (cached per shape, src/runtime/clang.ts): that build honours a forced chain and records
 * which slot decided, at no cost to the production object. The maps are filled with the
 * ruleset (generation 0) and with the host's configuration as the runtime reads it (TTLs,
 * routes, local addresses, interface names), so replies and -i/-o are the host's.
 *
 * `--packet` is an IP packet: an Ethernet header (unicast, 02:00:00:00:00:01 → :02) is put in
 * front. `--frame` is a whole frame. `--dev` is the interface the packet arrives on (INPUT,
 * FORWARD) or leaves by (OUTPUT); default loopback.
 *
 * Output: the verdict (accept | drop | reject: a reply was sent), the chain, the deciding rule
 * (file:line and text; null when the policy decided) and the reply as an IP packet in hex.
 * `--json` prints exactly {"verdict","chain","rule":{"file","line","text"}|null,"reply"}.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { hasErrors } from '../compiler/diagnostics.js';
import type { MapsJson } from '../compiler/emit/manifest.js';
import { ruleOfSlot } from '../compiler/emit/manifest.js';
import { forGeneration } from '../compiler/emit/map-entries.js';
import { OUTCOME, TRACE_STRUCT } from '../compiler/emit/map-specs.js';
import { layoutStruct } from '../layout/struct.js';
import type { Family, FilterHook } from '../compiler/ir.js';
import { renderDiagnostics } from '../compiler/render.js';
import { validateMapsJson } from '../compiler/schema/validate.js';
import { CHAIN_IDS, CHAIN_NONE } from '../layout/codes.js';
import { EXIT, UserError } from '../errors.js';
import { readSource } from '../input.js';
import { buildCached } from '../runtime/clang.js';
import { readHostConfig, type HostConfig } from '../runtime/host-config.js';
import { writeHostMaps } from '../runtime/host-maps.js';
import { BpfObject, findIfindex, requireBpfPrivileges, TC_ACT, u32, XDP_ACTION, type BpfMap } from '../runtime/libbpf.js';
import { compileText } from './compile.js';
import type { IpsetFile } from '../compiler/ipset/types.js';
import { ipsetConfig } from '../runtime/ipsets.js';
import { recentConfig } from '../runtime/recent.js';
import { hostRamBytes, rateObjectParams, rateRunConfig } from '../runtime/rate-limits.js';
import { readIpsetOption } from './ipset-input.js';

export interface RunOptions {
  packet?: string;
  frame?: string;
  chain?: FilterHook;
  hook?: 'tc' | 'xdp';
  json?: boolean;
  family?: Family;
  dev?: string;
  /** `--ipset FILE`: the sets -m set rules use (`ipset save` output). */
  ipset?: string;
}

/** What `--json` prints. */
export interface RunReport {
  verdict: 'accept' | 'drop' | 'reject';
  /** The chain evaluated; null when no filter chain saw the packet (run with detection). */
  chain: FilterHook | null;
  rule: { file: string; line: number; text: string } | null;
  reply: string | null;
}

/** A run's report plus what decided, for tests and tools. */
export interface RunDetail extends RunReport {
  /** The program's return code. */
  retval: number;
  /** How the program decided (OUTCOME of map-specs.ts): rule, policy, hotdrop, unfiltered; none if it did not reach the filter. */
  outcome: keyof typeof OUTCOME;
  /** Index into maps.rules of the deciding flat rule, or -1. */
  flatRule: number;
  /** RJC_NOREPLY_* code after a REJECT (255: a reply left). */
  noreply: number;
  /** The whole output frame. */
  frame: Buffer;
  /** ifindex -i and -o were matched against (0: none). */
  iif: number;
  oif: number;
}

/** Compiled artifacts as `run` needs them. */
export interface Artifacts {
  maps: MapsJson;
  c: string;
}

/** Reads and validates a directory written by `rejectc compile`. */
export function readArtifactsDir(dir: string): Artifacts {
  const mapsPath = join(dir, 'maps.json');
  const cPath = join(dir, 'rejectc.bpf.c');
  if (!existsSync(mapsPath) || !existsSync(cPath)) throw new UserError(`${dir} is not a directory written by "rejectc compile" (maps.json and rejectc.bpf.c are missing)`);
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(mapsPath, 'utf8'));
  } catch (err) {
    throw new UserError(`${mapsPath}: not JSON: ${(err as Error).message}`);
  }
  const check = validateMapsJson(data);
  if (!check.ok) throw new UserError(`${mapsPath} does not match the maps.json schema: ${check.errors.slice(0, 5).join('; ')}`);
  return { maps: check.value, c: readFileSync(cPath, 'utf8') };
}

/** Offsets of struct rjc_trace fields. */
const TRACE = Object.fromEntries(layoutStruct(TRACE_STRUCT).fields.map((f) => [f.name, f.offset])) as Record<'slot' | 'gen' | 'outcome' | 'chain' | 'family' | 'noreply' | 'seq' | 'iif' | 'oif', number>;

function entryViews(buf: Buffer, count: number, size: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => buf.subarray(i * size, (i + 1) * size));
}

/** Writes every ruleset/control map's entries for generation `gen` into a loaded object. */
export function fillRulesetMaps(obj: BpfObject, maps: MapsJson, gen: 0 | 1 = 0): void {
  for (const m of maps.maps) {
    if (!m.entries || m.entries.count === 0) continue;
    const map = obj.maps.get(m.name);
    if (!map) throw new Error(`internal error: the object has no map "${m.name}" that maps.json lists`);
    const encoded = { count: m.entries.count, keys: Buffer.from(m.entries.keys, 'hex'), values: Buffer.from(m.entries.values, 'hex') };
    const g = m.role === 'control' ? encoded : forGeneration(encoded, m.generation, m.keySize, gen);
    map.updateBatch(entryViews(g.keys, g.count, m.keySize), entryViews(g.values, g.count, m.valueSize));
  }
}

/** Writes ifindex → name for -i/-o into rjc_ifname. */
export function fillInterfaceNames(map: BpfMap, cfg: HostConfig): void {
  for (const i of cfg.interfaces) {
    const name = Buffer.alloc(16);
    Buffer.from(i.name, 'latin1').copy(name, 0, 0, 15);
    map.update(u32(i.ifindex), name);
  }
}

/**
 * A compiled ruleset loaded for test runs: the RJC_TRACE build of its C, maps filled. Create
 * with {@link LoadedRuleset.load}; close it (or use `using`).
 */
export class LoadedRuleset {
  private constructor(
    readonly obj: BpfObject,
    public maps: MapsJson,
  ) {}

  /**
   * Builds (cached), loads and fills. `host` (default: read from the calling thread's network
   * namespace) configures the reply path and interface names.
   */
  static load(artifacts: Artifacts, host: HostConfig = readHostConfig(), options: { trace?: boolean } = {}): LoadedRuleset {
    requireBpfPrivileges('rejectc run');
    // The trace build by default; the production build (trace: false) for timing, where run()
    // cannot force a chain or tell the deciding rule.
    const object = buildCached(artifacts.c, { trace: options.trace ?? true });
    const obj = BpfObject.open(object);
    try {
      obj.load();
      fillRulesetMaps(obj, artifacts.maps);
      writeHostMaps(obj, host);
      const names = obj.maps.get('rjc_ifname');
      if (names) fillInterfaceNames(names, host);
      return new LoadedRuleset(obj, artifacts.maps);
    } catch (err) {
      obj.close();
      throw err;
    }
  }

  /**
   * Runs one Ethernet frame. `chain` forces the chain; `'detect'` lets the program decide as
   * it would attached (INPUT or FORWARD at ingress; OUTPUT at TC egress with `egress`).
   * `ifindex` is the device the packet arrives on or leaves by.
   */
  run(frame: Uint8Array, chain: FilterHook | 'detect', options: { ifindex?: number; mark?: number; egress?: boolean } = {}): RunDetail {
    const xdp = this.maps.hook === 'xdp';
    const egress = chain === 'OUTPUT' || (chain === 'detect' && options.egress === true);
    if (xdp && egress) throw new UserError('--hook xdp has no OUTPUT chain (XDP runs at ingress only); use --hook tc');
    const programName = xdp ? 'rjc_xdp' : egress ? 'rjc_tc_egress' : 'rjc_tc_ingress';
    const force = this.obj.maps.get('rjc_force')!;
    force.update(u32(0), Buffer.concat([u32(chain === 'detect' ? CHAIN_NONE : CHAIN_IDS[chain]), u32(0)]));
    const trace = this.obj.maps.get('rjc_trace')!;
    const before = trace.lookupPerCpu(u32(0)) ?? [];
    const ifindex = options.ifindex;
    const ctx = xdp
      ? { kind: 'xdp' as const, ...(ifindex ? { ingressIfindex: ifindex } : {}) }
      : {
          kind: 'skb' as const,
          ...(ifindex ? { ifindex } : {}),
          ...(!egress && ifindex ? { ingressIfindex: ifindex } : {}),
          ...(options.mark ? { mark: options.mark } : {}),
        };
    const result = this.obj.program(programName).testRun({ data: frame, ctx });
    const after = trace.lookupPerCpu(u32(0)) ?? [];
    // The CPU that ran the packet is the one whose sequence number moved.
    const seq = (b: Buffer) => b.readUInt32LE(TRACE.seq);
    const cpu = after.findIndex((v, i) => !before[i] || seq(v) !== seq(before[i]!));
    const t = cpu >= 0 ? after[cpu]! : undefined;
    const outcomeCode = t ? t.readUInt8(TRACE.outcome) : OUTCOME.none;
    const outcome = (Object.keys(OUTCOME) as (keyof typeof OUTCOME)[]).find((k) => OUTCOME[k] === outcomeCode) ?? 'none';
    const slot = t ? t.readUInt32LE(TRACE.slot) : 0;
    const flatRule = outcome === 'rule' || outcome === 'hotdrop' ? ruleOfSlot(this.maps, slot) : -1;
    const replied = xdp ? result.retval === XDP_ACTION.TX : result.retval === TC_ACT.REDIRECT;
    const accepted = xdp ? result.retval === XDP_ACTION.PASS : result.retval === TC_ACT.OK;
    const src = flatRule >= 0 ? this.maps.rules[flatRule]!.source : undefined;
    const tracedChain = t ? t.readUInt8(TRACE.chain) : CHAIN_NONE;
    const chainName = (Object.keys(CHAIN_IDS) as FilterHook[]).find((k) => CHAIN_IDS[k] === tracedChain) ?? (chain === 'detect' ? null : chain);
    return {
      verdict: replied ? 'reject' : accepted ? 'accept' : 'drop',
      chain: chainName,
      rule: src ? { file: src.file, line: src.line, text: src.text } : null,
      reply: replied ? ipPacketHex(result.data) : null,
      retval: result.retval,
      outcome,
      flatRule,
      noreply: t ? t.readUInt8(TRACE.noreply) : 255,
      frame: result.data,
      iif: t ? t.readUInt32LE(TRACE.iif) : 0,
      oif: t ? t.readUInt32LE(TRACE.oif) : 0,
    };
  }

  /** The generation packets use now. */
  generation(): 0 | 1 {
    const v = this.obj.maps.get('rjc_gen')!.lookup(u32(0));
    return v && v.readUInt32LE(0) & 1 ? 1 : 0;
  }

  /**
   * Replaces the ruleset without loading a program: writes `maps` (a compilation of the same
   * shape) into the inactive generation, after deleting that generation's hash and LPM
   * entries, then flips rjc_gen. Packets see the old or the new ruleset, never a mix.
   */
  replace(maps: MapsJson): void {
    if (maps.shape.id !== this.maps.shape.id) throw new Error(`replace: shape ${maps.shape.id} differs from the loaded ${this.maps.shape.id}`);
    const gen = this.generation() === 0 ? 1 : 0;
    for (const m of maps.maps) {
      if (m.role !== 'ruleset' || m.generation.kind !== 'key') continue;
      const map = this.obj.maps.get(m.name)!;
      const offset = m.generation.offset;
      for (const key of [...map.keys()]) if (key.readUInt32LE(offset) === gen) map.delete(key);
    }
    fillRulesetMaps(this.obj, maps, gen);
    this.obj.maps.get('rjc_gen')!.update(u32(0), Buffer.concat([u32(gen), u32(0)]));
    this.maps = maps;
  }

  /** Packets and bytes of counter `id` (maps.json counters, then policy counters) of the active generation, summed over CPUs. */
  counter(id: number): { packets: bigint; bytes: bigint } {
    const values = this.obj.maps.get('rjc_cnt')!.lookupPerCpu(u32(this.generation() * this.maps.shape.counters + id)) ?? [];
    let packets = 0n;
    let bytes = 0n;
    for (const v of values) {
      packets += v.readBigUInt64LE(0);
      bytes += v.readBigUInt64LE(8);
    }
    return { packets, bytes };
  }

  close(): void {
    this.obj.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The IP packet of an Ethernet frame (after any 802.1Q/802.1ad tags), cut to its IP length, in hex. */
export function ipPacketHex(frame: Buffer): string {
  let off = 12;
  while (off + 2 <= frame.length && (frame.readUInt16BE(off) === 0x8100 || frame.readUInt16BE(off) === 0x88a8)) off += 4;
  const ip = frame.subarray(off + 2);
  if (ip.length >= 20 && ip[0]! >> 4 === 4) return ip.subarray(0, Math.min(ip.length, ip.readUInt16BE(2))).toString('hex');
  if (ip.length >= 40 && ip[0]! >> 4 === 6) return ip.subarray(0, Math.min(ip.length, 40 + ip.readUInt16BE(4))).toString('hex');
  return ip.toString('hex');
}

/** Hex text (spaces and colons allowed) to bytes; UserError on anything else. */
export function parseHex(text: string, what: string): Buffer {
  const clean = text.replace(/[\s:]/g, '');
  if (clean.length === 0 || clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new UserError(`${what}: expected hex bytes, got "${text.slice(0, 40)}"`);
  return Buffer.from(clean, 'hex');
}

/** An IP packet in a unicast Ethernet frame (02:00:00:00:00:01 → 02:00:00:00:00:02). */
export function frameOf(packet: Buffer): Buffer {
  const version = packet[0]! >> 4;
  if (version !== 4 && version !== 6) throw new UserError(`--packet: not an IPv4 or IPv6 packet (version ${version}); use --frame for other frames`);
  const eth = Buffer.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, version === 4 ? 0x08 : 0x86, version === 4 ? 0x00 : 0xdd]);
  return Buffer.concat([eth, packet]);
}

/** Compiles `rules` (or reads a compile directory). UserError with diagnostics on errors. */
export function artifactsFor(rules: string, options: { hook: 'tc' | 'xdp'; family?: Family; ipsets?: IpsetFile }): Artifacts {
  if (rules !== '-' && existsSync(rules) && statSync(rules).isDirectory()) {
    const a = readArtifactsDir(rules);
    if (a.maps.hook !== options.hook) throw new UserError(`${rules} was compiled for --hook ${a.maps.hook}, not ${options.hook}`);
    return a;
  }
  const source = readSource(rules);
  const result = compileText(source.text, source.file, options);
  if (result.diagnostics.length > 0) process.stderr.write(`${renderDiagnostics(result.diagnostics, source.text, source.file)}\n`);
  if (!result.artifacts || hasErrors(result.diagnostics)) throw new UserError(`${source.file}: the ruleset does not compile`);
  return { maps: result.artifacts.maps, c: result.artifacts.c };
}

export default function runCommand(rules: string, options: RunOptions = {}): number {
  if ((options.packet === undefined) === (options.frame === undefined)) throw new UserError('give exactly one of --packet HEX or --frame HEX');
  const frame = options.frame !== undefined ? parseHex(options.frame, '--frame') : frameOf(parseHex(options.packet!, '--packet'));
  if (frame.length < 14) throw new UserError('--frame: shorter than an Ethernet header');
  const hook = options.hook ?? 'tc';
  const chain = options.chain ?? 'INPUT';
  let ifindex: number | undefined;
  if (options.dev) {
    ifindex = findIfindex(options.dev);
    if (ifindex === undefined) throw new UserError(`--dev: no interface "${options.dev}"`);
  }
  const ipsets = readIpsetOption(options.ipset);
  if (ipsets === undefined) return EXIT.user;
  const artifacts = artifactsFor(rules, { hook, ...(options.family ? { family: options.family } : {}), ...(ipsets ? { ipsets } : {}) });
  const host = readHostConfig();
  const loaded = LoadedRuleset.load(artifacts, host);
  try {
    // The stateful matches' run-time maps: the sets (--ipset), -m recent's HZ, and the rate
    // limits' parameters for this host (fresh buckets).
    const rates = rateRunConfig(rateObjectParams(artifacts.maps, host.hz, hostRamBytes()));
    for (const { name, entries } of [...(ipsets ? ipsetConfig(ipsets) : []), ...recentConfig(host.hz), ...rates]) {
      const map = loaded.obj.maps.get(name);
      if (map) for (const e of entries) map.update(e.key, e.value);
    }
    const d = loaded.run(frame, chain, ifindex ? { ifindex } : {});
    const report: RunReport = { verdict: d.verdict, chain: d.chain, rule: d.rule, reply: d.reply };
    if (options.json) {
      process.stdout.write(`${JSON.stringify(report)}\n`);
    } else {
      const why = d.outcome === 'hotdrop' ? ' (a match could not read the packet: hotdrop)' : d.outcome === 'policy' ? ' (chain policy)' : '';
      process.stdout.write(
        `verdict: ${d.verdict}${why}\nchain: ${d.chain}\nrule: ${d.rule ? `${d.rule.file}:${d.rule.line}: ${d.rule.text}` : 'policy'}\nreply: ${d.reply ?? '(none)'}\n`,
      );
    }
  } finally {
    loaded.close();
  }
  return EXIT.ok;
}
