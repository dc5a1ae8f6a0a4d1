/**
 * The reply budget the user asks for, and what it resolves to on a host.
 *
 * Every reply rejectc sends passes a budget of its kind (RST, ICMP, ICMPv6): a global token
 * bucket and a per-source one, with the kernel's ICMP limiter arithmetic (src/model/limits/
 * reply-budget.ts, bpf/rjc_limit.h). Defaults: ICMP and ICMPv6 mirror the host's
 * `net.ipv4.icmp_*` / `net.ipv6.icmp.*` sysctls, so rejectc answers no more often than the kernel
 * would; RST, which the kernel never limits, gets {@link RST_DEFAULT}.
 *
 * Two places to override, applied in this order (later wins):
 * 1. a directive line in the rules file: `# rejectc: reply-limit SPEC` ({@link findReplyLimitDirectives});
 * 2. `rejectc apply --reply-limit SPEC` ({@link parseReplyLimitSpec}), or
 *    `--reply-limit @FILE`: a JSON configuration file with a `replyLimit` section, validated
 *    with ajv against schema/reply-limit.schema.json ({@link parseReplyLimitConfig}).
 *
 * SPEC is a comma-separated list of items:
 *   off | kernel | default            every kind: never limited / as the kernel / rejectc default
 *   sources=N                         per-source buckets kept (LRU, all kinds together)
 *   KIND=off|kernel|default           one kind (rst, icmp, icmp6); `kernel` for rst is `off`
 *   KIND.rate=N[/s]                   global refill per second (icmp_msgs_per_sec)
 *   KIND.burst=N                      global bucket size (icmp_msgs_burst)
 *   KIND.per-source=DURATION|off      what one reply costs a source: 100ms, 1s, 10/s (icmp_ratelimit)
 *   KIND.per-source-burst=N           replies a source's bucket holds (XRLIM_BURST_FACTOR, 6)
 *
 * Pure: no I/O. The caller reads files and the host's sysctls.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { diag, type Diagnostic } from './diagnostics.js';
import { LineMap, type Position, type Span } from './span.js';
import schema from './schema/reply-limit.schema.json' with { type: 'json' };
import { XRLIM_BURST_FACTOR } from '../model/limits/token-buckets.js';
import { msecsToJiffies } from '../model/limits/kernel-constants.js';
import {
  REPLY_KINDS,
  REPLY_KIND_INDEX,
  kernelRejectBudget,
  type IcmpSysctls,
  type ReplyBudgetParams,
  type ReplyKind,
  type ReplyKindBudget,
} from '../model/limits/reply-budget.js';

/**
 * rejectc's default RST budget (the kernel has none): 1000 RSTs per second overall with a burst
 * of 50, the numbers of the kernel's global ICMP budget; per source one per 100 ms with a burst
 * of 6, the kernel's ICMPv6 per-peer numbers. Enough for any client retrying a closed port;
 * a flood of spoofed SYNs gets at most burst + rate × time RSTs.
 */
export const RST_DEFAULT = { rate: 1000, burst: 50, perSourceMs: 100, perSourceBurst: XRLIM_BURST_FACTOR } as const;

/** Per-source buckets kept by default (entries of the LRU map, all kinds together). */
export const DEFAULT_SOURCES = 65_536;

/** A kind's starting point: rejectc's default (for ICMP the kernel's), or never limited. */
export type KindBase = 'default' | 'off';

export interface KindSettings {
  base: KindBase;
  rate?: number;
  burst?: number;
  perSourceMs?: number;
  perSourceBurst?: number;
}

/** What the user asked for, host-independent. Start from {@link defaultReplyLimitSettings}. */
export interface ReplyLimitSettings {
  sources?: number;
  kinds: Record<ReplyKind, KindSettings>;
}

export function defaultReplyLimitSettings(): ReplyLimitSettings {
  return { kinds: { rst: { base: 'default' }, icmp: { base: 'default' }, icmp6: { base: 'default' } } };
}

type Mode = 'off' | 'kernel' | 'default';
type Field = 'rate' | 'burst' | 'perSourceMs' | 'perSourceBurst';

/** One override, in the order given. */
export type ReplyLimitOp =
  | { op: 'all'; mode: Mode }
  | { op: 'sources'; value: number }
  | { op: 'kind'; reply: ReplyKind; mode: Mode }
  | { op: 'field'; reply: ReplyKind; field: Field; value: number };

function baseOf(reply: ReplyKind, mode: Mode): KindBase {
  if (mode === 'off') return 'off';
  // The kernel sends every RST; for ICMP the kernel's limits are rejectc's default.
  if (mode === 'kernel' && reply === 'rst') return 'off';
  return 'default';
}

/** Applies overrides in order to a copy of `settings`. */
export function applyReplyLimitOps(settings: ReplyLimitSettings, ops: readonly ReplyLimitOp[]): ReplyLimitSettings {
  const out: ReplyLimitSettings = {
    ...(settings.sources !== undefined ? { sources: settings.sources } : {}),
    kinds: { rst: { ...settings.kinds.rst }, icmp: { ...settings.kinds.icmp }, icmp6: { ...settings.kinds.icmp6 } },
  };
  for (const o of ops) {
    if (o.op === 'all') for (const k of REPLY_KINDS) out.kinds[k] = { base: baseOf(k, o.mode) };
    else if (o.op === 'sources') out.sources = o.value;
    else if (o.op === 'kind') out.kinds[o.reply] = { base: baseOf(o.reply, o.mode) };
    else {
      const k = out.kinds[o.reply];
      k.base = 'default';
      k[o.field] = o.value;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Values shared by SPEC items and the JSON file

type Parsed = { ok: true; value: number } | { ok: false; reason: string };

const INT_MAX = 2_147_483_647;

function parseRate(text: string): Parsed {
  const m = /^(\d+)(?:\/(?:s|sec|second))?$/.exec(text);
  if (!m) return { ok: false, reason: 'expected replies per second: N or N/s' };
  const n = Number(m[1]);
  return n <= INT_MAX ? { ok: true, value: n } : { ok: false, reason: `at most ${INT_MAX}/s` };
}

function parseCount(text: string, min: number, max: number): Parsed {
  if (!/^\d+$/.test(text)) return { ok: false, reason: `expected a whole number from ${min} to ${max}` };
  const n = Number(text);
  return n >= min && n <= max ? { ok: true, value: n } : { ok: false, reason: `expected a whole number from ${min} to ${max}` };
}

const MAX_PER_SOURCE_MS = 3_600_000;

/** A per-source interval: `off`/`0`, `Nms`, `Ns`, or `N/s` (1000/N ms, rounded up). */
function parsePerSource(text: string): Parsed {
  if (text === 'off' || text === '0') return { ok: true, value: 0 };
  let m = /^(\d+)(ms|s)$/.exec(text);
  let ms: number | undefined;
  if (m) ms = Number(m[1]) * (m[2] === 's' ? 1000 : 1);
  m = /^(\d+)\/s$/.exec(text);
  if (m) {
    const n = Number(m[1]);
    if (n === 0) return { ok: false, reason: 'a rate of 0/s never refills; use "off" to lift the per-source limit' };
    ms = Math.ceil(1000 / n);
  }
  if (ms === undefined) return { ok: false, reason: 'expected a duration (100ms, 1s), a rate (10/s) or "off"' };
  return ms <= MAX_PER_SOURCE_MS ? { ok: true, value: ms } : { ok: false, reason: 'at most 3600s' };
}

const FIELD_PARSERS: Record<string, { field: Field; parse: (t: string) => Parsed }> = {
  rate: { field: 'rate', parse: parseRate },
  burst: { field: 'burst', parse: (t) => parseCount(t, 0, INT_MAX) },
  'per-source': { field: 'perSourceMs', parse: parsePerSource },
  'per-source-burst': { field: 'perSourceBurst', parse: (t) => parseCount(t, 1, 1000) },
};

const MODES: readonly string[] = ['off', 'kernel', 'default'];

function isKind(s: string): s is ReplyKind {
  return (REPLY_KINDS as readonly string[]).includes(s);
}

// ---------------------------------------------------------------------------------------------
// SPEC text

function shift(p: Position, by: number): Position {
  return { line: p.line, column: p.column + by, offset: p.offset + by };
}

/** The span of `[from, to)` within a one-line SPEC that starts at `span.start`. */
function subSpan(span: Span, from: number, to: number): Span {
  return { file: span.file, start: shift(span.start, from), end: shift(span.start, to) };
}

/** A span covering a `--reply-limit` argument, for diagnostics about it. */
export function cliSpan(text: string, name = '--reply-limit'): Span {
  return { file: name, start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: text.length + 1, offset: text.length } };
}

/**
 * Parses a SPEC (see the module comment). `span` locates `text` (one line) for diagnostics.
 * Returns the overrides in order and the problems found; any error leaves `ops` unusable.
 */
export function parseReplyLimitSpec(text: string, span: Span = cliSpan(text)): { ops: ReplyLimitOp[]; diagnostics: Diagnostic[] } {
  const ops: ReplyLimitOp[] = [];
  const diagnostics: Diagnostic[] = [];
  let at = 0;
  for (const raw of text.split(',')) {
    const lead = raw.length - raw.trimStart().length;
    const item = raw.trim();
    const itemSpan = subSpan(span, at + lead, at + lead + Math.max(1, item.length));
    at += raw.length + 1;
    const bad = (reason: string) => diagnostics.push(diag('E260', itemSpan, { value: item, reason }));
    if (item === '') {
      bad('empty item');
      continue;
    }
    if (MODES.includes(item)) {
      ops.push({ op: 'all', mode: item as Mode });
      continue;
    }
    const eq = item.indexOf('=');
    if (eq < 0) {
      bad('expected off, kernel, default, sources=N, KIND=MODE or KIND.SETTING=VALUE');
      continue;
    }
    const name = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (name === 'sources') {
      const n = parseCount(value, 1, 16_777_216);
      if (n.ok) ops.push({ op: 'sources', value: n.value });
      else bad(n.reason);
      continue;
    }
    const dot = name.indexOf('.');
    const kind = dot < 0 ? name : name.slice(0, dot);
    if (!isKind(kind)) {
      bad(`unknown reply kind "${kind}": expected rst, icmp or icmp6`);
      continue;
    }
    if (dot < 0) {
      if (MODES.includes(value)) ops.push({ op: 'kind', reply: kind, mode: value as Mode });
      else bad(`expected ${kind}=off, ${kind}=kernel or ${kind}=default`);
      continue;
    }
    const setting = name.slice(dot + 1);
    const f = FIELD_PARSERS[setting];
    if (!f) {
      bad(`unknown setting "${setting}": expected rate, burst, per-source or per-source-burst`);
      continue;
    }
    const v = f.parse(value);
    if (v.ok) ops.push({ op: 'field', reply: kind, field: f.field, value: v.value });
    else bad(`${setting}: ${v.reason}`);
  }
  return { ops, diagnostics };
}

const DIRECTIVE = /^([ \t]*#[ \t]*rejectc:[ \t]*reply-limit[ \t]+)(\S(?:.*\S)?)[ \t]*$/;

/**
 * The `# rejectc: reply-limit SPEC` lines of a rules file, in order (iptables itself ignores
 * them as comments). Diagnostics point into the file.
 */
export function findReplyLimitDirectives(rulesText: string, file: string): { ops: ReplyLimitOp[]; diagnostics: Diagnostic[] } {
  const lines = new LineMap(file, rulesText);
  const ops: ReplyLimitOp[] = [];
  const diagnostics: Diagnostic[] = [];
  let offset = 0;
  for (const line of rulesText.split('\n')) {
    const m = DIRECTIVE.exec(line.replace(/\r$/, ''));
    if (m) {
      const start = offset + m[1]!.length;
      const r = parseReplyLimitSpec(m[2]!, lines.span(start, start + m[2]!.length));
      ops.push(...r.ops);
      diagnostics.push(...r.diagnostics);
    }
    offset += line.length + 1;
  }
  return { ops, diagnostics };
}

// ---------------------------------------------------------------------------------------------
// JSON configuration file

let validate: ReturnType<Ajv['compile']> | undefined;

function validator(): ReturnType<Ajv['compile']> {
  validate ??= new Ajv({ allErrors: true }).compile(schema);
  return validate;
}

/** A span for a JSON location: the first occurrence of its last key, else the file start. */
function jsonSpan(lines: LineMap, path: string): Span {
  const key = path.split('/').filter(Boolean).pop();
  const at = key ? lines.text.indexOf(`"${key}"`) : -1;
  return at >= 0 ? lines.span(at, at + key!.length + 2) : lines.span(0, 0);
}

function schemaMessage(e: ErrorObject): string {
  if (e.keyword === 'additionalProperties') return `unknown property "${String(e.params.additionalProperty)}"`;
  if (e.keyword === 'enum') return `${e.message}: ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  return e.message ?? e.keyword;
}

/**
 * Parses a configuration file (JSON, schema/reply-limit.schema.json) into overrides.
 * Errors name the JSON path and point at it in the file.
 */
export function parseReplyLimitConfig(jsonText: string, file: string): { ops: ReplyLimitOp[]; diagnostics: Diagnostic[] } {
  const lines = new LineMap(file, jsonText);
  let doc: unknown;
  try {
    doc = JSON.parse(jsonText);
  } catch (err) {
    const m = /position (\d+)/.exec((err as Error).message);
    const at = m ? Math.min(Number(m[1]), jsonText.length) : 0;
    return { ops: [], diagnostics: [diag('E262', lines.span(at, at), { where: 'file', reason: `not valid JSON (${(err as Error).message})` })] };
  }
  const v = validator();
  if (!v(doc)) {
    // oneOf reports every branch; keep the most specific message per location.
    const seen = new Set<string>();
    const diagnostics: Diagnostic[] = [];
    for (const e of v.errors ?? []) {
      if (e.keyword === 'oneOf' || seen.has(e.instancePath)) continue;
      seen.add(e.instancePath);
      diagnostics.push(diag('E262', jsonSpan(lines, e.instancePath), { where: e.instancePath || '/', reason: schemaMessage(e) }));
    }
    return { ops: [], diagnostics };
  }
  const section = (doc as { replyLimit?: Record<string, unknown> }).replyLimit ?? {};
  const ops: ReplyLimitOp[] = [];
  const diagnostics: Diagnostic[] = [];
  if (typeof section.sources === 'number') ops.push({ op: 'sources', value: section.sources });
  for (const kind of REPLY_KINDS) {
    const k = section[kind];
    if (k === undefined) continue;
    if (typeof k === 'string') {
      ops.push({ op: 'kind', reply: kind, mode: k as Mode });
      continue;
    }
    const obj = k as Record<string, number | string>;
    const fields: [string, Field, (t: string) => Parsed][] = [
      ['rate', 'rate', parseRate],
      ['burst', 'burst', (t) => parseCount(t, 0, INT_MAX)],
      ['perSource', 'perSourceMs', (t) => (/^\d+$/.test(t) ? parseCount(t, 0, MAX_PER_SOURCE_MS) : parsePerSource(t))],
      ['perSourceBurst', 'perSourceBurst', (t) => parseCount(t, 1, 1000)],
    ];
    for (const [prop, field, parse] of fields) {
      if (obj[prop] === undefined) continue;
      const r = parse(String(obj[prop]));
      if (r.ok) ops.push({ op: 'field', reply: kind, field, value: r.value });
      else diagnostics.push(diag('E262', jsonSpan(lines, `/replyLimit/${kind}/${prop}`), { where: `/replyLimit/${kind}/${prop}`, reason: r.reason }));
    }
  }
  return { ops, diagnostics };
}

/**
 * The `--reply-limit` argument: a SPEC, or `@FILE` naming a JSON configuration file, whose text
 * `read` returns (the caller does the I/O and turns a failure into its own error).
 */
export function parseReplyLimitArgument(arg: string, read: (path: string) => string): { ops: ReplyLimitOp[]; diagnostics: Diagnostic[] } {
  if (arg.startsWith('@')) return parseReplyLimitConfig(read(arg.slice(1)), arg.slice(1));
  return parseReplyLimitSpec(arg, cliSpan(arg));
}

// ---------------------------------------------------------------------------------------------
// Resolution on a host

/** The host's ICMP limits as src/runtime/host-config.ts reads them (type ranges per family). */
export interface HostIcmpLimits {
  ipv4: { icmp: { ratelimitMs: number; ratemask: ReadonlyArray<readonly [number, number]> } };
  ipv6: { icmp: { ratelimitMs: number; ratemask: ReadonlyArray<readonly [number, number]> } };
  icmpGlobal: { msgsPerSec: number; msgsBurst: number };
}

/** The sysctls of a {@link HostIcmpLimits}, with the kernel's HZ. */
export function icmpSysctlsOf(host: HostIcmpLimits, hz: number): IcmpSysctls {
  let mask4 = 0;
  for (const [from, to] of host.ipv4.icmp.ratemask) for (let t = from; t <= to && t < 32; t++) mask4 |= 1 << t;
  const mask6 = new Set<number>();
  for (const [from, to] of host.ipv6.icmp.ratemask) for (let t = from; t <= to; t++) mask6.add(t);
  return {
    hz,
    icmpRatelimitMs: host.ipv4.icmp.ratelimitMs,
    icmpRatemask: mask4 >>> 0,
    icmpMsgsPerSec: host.icmpGlobal.msgsPerSec,
    icmpMsgsBurst: host.icmpGlobal.msgsBurst,
    icmp6RatelimitMs: host.ipv6.icmp.ratelimitMs,
    icmp6Ratemask: mask6,
  };
}

/**
 * The budget the BPF program gets: defaults from the host's sysctls (and {@link RST_DEFAULT}),
 * with the user's settings on top. ICMPv6 shares ICMP's global bucket (as the kernel's IPv6
 * shares `icmp_global`) unless the settings give icmp6 its own rate or burst.
 */
export function resolveReplyBudget(settings: ReplyLimitSettings, host: IcmpSysctls): ReplyBudgetParams {
  const kernel = kernelRejectBudget(host, settings.sources ?? DEFAULT_SOURCES);
  const rstDefault: ReplyKindBudget = {
    limited: true,
    globalSlot: REPLY_KIND_INDEX.rst,
    msgsPerSec: RST_DEFAULT.rate,
    msgsBurst: RST_DEFAULT.burst,
    peerTimeout: Number(msecsToJiffies(RST_DEFAULT.perSourceMs, host.hz)),
    peerBurst: RST_DEFAULT.perSourceBurst,
    consume: 'one',
  };
  const kinds = {} as Record<ReplyKind, ReplyKindBudget>;
  for (const kind of REPLY_KINDS) {
    const s = settings.kinds[kind];
    const b: ReplyKindBudget = { ...(kind === 'rst' ? rstDefault : kernel.kinds[kind]) };
    if (s.base === 'off') b.limited = false;
    const custom = s.rate !== undefined || s.burst !== undefined || s.perSourceMs !== undefined || s.perSourceBurst !== undefined;
    if (custom) b.limited = true;
    if (s.rate !== undefined) b.msgsPerSec = s.rate;
    if (s.burst !== undefined) b.msgsBurst = s.burst;
    if (s.perSourceMs !== undefined) b.peerTimeout = Number(msecsToJiffies(s.perSourceMs, host.hz));
    if (s.perSourceBurst !== undefined) b.peerBurst = s.perSourceBurst;
    kinds[kind] = b;
  }
  const own6 = settings.kinds.icmp6.rate !== undefined || settings.kinds.icmp6.burst !== undefined;
  if (own6) kinds.icmp6.globalSlot = REPLY_KIND_INDEX.icmp6;
  else Object.assign(kinds.icmp6, { globalSlot: kinds.icmp.globalSlot, msgsPerSec: kinds.icmp.msgsPerSec, msgsBurst: kinds.icmp.msgsBurst });
  return { hz: host.hz, peerTableSize: settings.sources ?? DEFAULT_SOURCES, kinds };
}

/** One line per kind, for `apply` and `stats` output. */
export function describeReplyBudget(p: ReplyBudgetParams): string[] {
  const label: Record<ReplyKind, string> = { rst: 'RST', icmp: 'ICMP', icmp6: 'ICMPv6' };
  return REPLY_KINDS.map((kind) => {
    const k = p.kinds[kind];
    if (!k.limited) return `${label[kind]}: not limited`;
    const shared = REPLY_KINDS.filter((o) => o !== kind && p.kinds[o].limited && p.kinds[o].globalSlot === k.globalSlot).map((o) => label[o]);
    const global = `${k.msgsPerSec}/s, burst ${k.msgsBurst}${shared.length ? ` (shared with ${shared.join(', ')})` : ''}`;
    const perSource = k.peerTimeout === 0 ? 'no per-source limit' : `per source one per ${(k.peerTimeout * 1000) / p.hz} ms, burst ${k.peerBurst}`;
    return `${label[kind]}: ${global}; ${perSource}`;
  });
}

/**
 * Everything `rejectc apply` needs: the budget for `host` from the rules file's directives and
 * the `--reply-limit` argument (if any), in that order. `read` reads `@FILE` arguments.
 * With errors in `diagnostics`, `params` is the default budget and must not be used.
 */
export function buildReplyBudget(input: {
  rulesText: string;
  rulesFile: string;
  argument?: string;
  host: IcmpSysctls;
  read: (path: string) => string;
}): { params: ReplyBudgetParams; diagnostics: Diagnostic[] } {
  const fromRules = findReplyLimitDirectives(input.rulesText, input.rulesFile);
  const fromArg = input.argument === undefined ? { ops: [], diagnostics: [] } : parseReplyLimitArgument(input.argument, input.read);
  const diagnostics = [...fromRules.diagnostics, ...fromArg.diagnostics];
  const ops = diagnostics.length ? [] : [...fromRules.ops, ...fromArg.ops];
  return { params: resolveReplyBudget(applyReplyLimitOps(defaultReplyLimitSettings(), ops), input.host), diagnostics };
}
