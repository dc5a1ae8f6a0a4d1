/**
 * Reads `ipset save` output: `create NAME TYPE [options]` and `add NAME ENTRY [options]` lines
 * (blank lines and `#` comments ignored). Pure; problems are diagnostics at the offending word,
 * never exceptions. Types other than hash:ip, hash:net, hash:ip,port, bitmap:port and list:set
 * are refused by name (E271).
 */
import { diag, type Diagnostic } from '../diagnostics.js';
import type { Family } from '../ir.js';
import type { MessageCode } from '../messages.js';
import { LineMap, type Span } from '../span.js';
import { canonicalAddress, maskAddress, parseCidr } from '../values/addresses.js';
import { parseIcmpType } from '../values/icmp-types.js';
import { parseUint } from '../values/numbers.js';
import type { IpsetDef, IpsetEntry, IpsetFile, IpsetType } from './types.js';

const TYPES: readonly IpsetType[] = ['hash:ip', 'hash:net', 'hash:ip,port', 'bitmap:port', 'list:set'];

/** Protocol names ipset accepts in hash:ip,port entries (getprotobyname subset). */
const PROTOS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132, udplite: 136, icmp: 1, icmpv6: 58, 'ipv6-icmp': 58 };

interface Word {
  text: string;
  start: number;
}

/** Splits a line into words; a double-quoted word (comment "...") keeps its spaces. */
function words(line: string, base: number): Word[] {
  const out: Word[] = [];
  const re = /"(?:[^"\\]|\\.)*"|\S+/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push({ text: m[0], start: base + m.index });
  return out;
}

export interface IpsetParseResult {
  ipsets: IpsetFile;
  diagnostics: Diagnostic[];
}

/** Parses `ipset save` text. `file` is the name diagnostics carry. */
export function parseIpsetSave(text: string, file: string): IpsetParseResult {
  const lines = new LineMap(file, text);
  const span = (w: Word): Span => ({ file, start: lines.position(w.start), end: lines.position(w.start + w.text.length) });
  const diagnostics: Diagnostic[] = [];
  const err = (code: MessageCode, w: Word, params: Record<string, string | number>) => diagnostics.push(diag(code, span(w), params));
  const sets = new Map<string, IpsetDef>();
  let offset = 0;
  for (const raw of text.split('\n')) {
    const base = offset;
    offset += raw.length + 1;
    const ws = words(raw.replace(/\r$/, ''), base);
    if (ws.length === 0 || ws[0]!.text.startsWith('#')) continue;
    const [cmd, name] = ws;
    if (cmd!.text !== 'create' && cmd!.text !== 'add') {
      err('E270', cmd!, { detail: `unknown command "${cmd!.text}": expected create or add (ipset save output)` });
      continue;
    }
    if (!name) {
      err('E270', cmd!, { detail: `${cmd!.text} without a set name` });
      continue;
    }
    if (cmd!.text === 'create') {
      const def = createSet(name, ws.slice(2), span(name), (w, detail) => err('E270', w, { detail }), (w) => err('E271', w, { name: name.text, type: w.text }));
      if (def) {
        if (sets.has(name.text)) err('E270', name, { detail: `set "${name.text}" is created twice` });
        else sets.set(name.text, def);
      }
      continue;
    }
    const set = sets.get(name.text);
    if (!set) {
      err('E270', name, { detail: `add to set "${name.text}" before its create line` });
      continue;
    }
    const entry = ws[2];
    if (!entry) {
      err('E270', name, { detail: `add to set "${name.text}" without an entry` });
      continue;
    }
    const opts = ws.slice(3).map((w) => w.text);
    if (opts.includes('timeout')) set.timeouts = true;
    const parsed = parseEntry(set, entry.text, opts.includes('nomatch'));
    if (typeof parsed === 'string') err('E272', entry, { value: entry.text, name: set.name, reason: parsed });
    else set.entries.push(...parsed);
  }
  // list:set members must exist (the kernel refuses the add otherwise).
  for (const s of sets.values()) {
    if (s.type !== 'list:set') continue;
    for (const e of s.entries) {
      if (e.kind === 'member' && !sets.has(e.name)) diagnostics.push(diag('E272', s.span, { value: e.name, name: s.name, reason: 'no set of that name was created before' }));
    }
  }
  return { ipsets: { kind: 'ipsets', file, sets: [...sets.values()] }, diagnostics };
}

function createSet(
  name: Word,
  rest: Word[],
  at: Span,
  bad: (w: Word, detail: string) => void,
  badType: (w: Word) => void,
): IpsetDef | undefined {
  const typeWord = rest[0];
  if (!typeWord) {
    bad(name, `create "${name.text}" without a set type`);
    return undefined;
  }
  if (!TYPES.includes(typeWord.text as IpsetType)) {
    badType(typeWord);
    return undefined;
  }
  const type = typeWord.text as IpsetType;
  const def: IpsetDef = { kind: 'ipset', name: name.text, type, family: type.startsWith('hash:') ? 'ipv4' : 'any', entries: [], timeouts: false, span: at };
  for (let i = 1; i < rest.length; i++) {
    const w = rest[i]!;
    const arg = rest[i + 1];
    switch (w.text) {
      case 'family':
        if (arg?.text === 'inet' || arg?.text === 'inet6') def.family = arg.text === 'inet' ? 'ipv4' : 'ipv6';
        else bad(arg ?? w, 'family must be inet or inet6');
        i++;
        break;
      case 'netmask': {
        const n = arg ? parseUint(arg.text, 1, 128) : undefined;
        if (n === undefined) bad(arg ?? w, 'netmask must be a prefix length');
        else def.netmask = n;
        i++;
        break;
      }
      case 'range': {
        const m = arg ? /^(\d+)-(\d+)$/.exec(arg.text) : null;
        const from = m ? parseUint(m[1]!, 0, 65535) : undefined;
        const to = m ? parseUint(m[2]!, 0, 65535) : undefined;
        if (from === undefined || to === undefined || from > to) bad(arg ?? w, 'range must be FROM-TO ports');
        else def.range = { from, to };
        i++;
        break;
      }
      case 'hashsize':
      case 'maxelem':
      case 'timeout':
      case 'size':
      case 'bucketsize':
      case 'initval':
      case 'markmask':
        i++;
        break;
      case 'counters':
      case 'comment':
      case 'skbinfo':
      case 'forceadd':
        break;
      default:
        bad(w, `unknown create option "${w.text}" for ${type}`);
    }
  }
  if (def.netmask !== undefined && def.netmask > (def.family === 'ipv4' ? 32 : 128)) bad(name, `netmask ${def.netmask} is too long for the set's family`);
  return def;
}

/** Address part: an address, a CIDR, or (IPv4) a range FROM-TO, as prefixes. */
function addressPrefixes(text: string, family: Family): { address: string; prefix: number }[] | string {
  const dash = text.indexOf('-');
  if (dash > 0 && family === 'ipv4') {
    const from = canonicalAddress(text.slice(0, dash), family);
    const to = canonicalAddress(text.slice(dash + 1), family);
    if (!from || !to) return 'expected an IPv4 address range FROM-TO';
    const a = ipv4Number(from);
    const b = ipv4Number(to);
    if (a > b) return 'the range ends before it starts';
    return rangePrefixes(a, b).map(([v, p]) => ({ address: ipv4Text(v), prefix: p }));
  }
  const c = parseCidr(text, family);
  if (!c.ok) return `expected an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} address or network`;
  return [c.value];
}

function ipv4Number(a: string): number {
  return a.split('.').reduce((n, x) => n * 256 + Number(x), 0);
}

function ipv4Text(v: number): string {
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
}

/** The CIDR blocks covering [a, b]. */
function rangePrefixes(a: number, b: number): [number, number][] {
  const out: [number, number][] = [];
  let x = a;
  while (x <= b) {
    let size = 1;
    let prefix = 32;
    while (prefix > 0 && x % (size * 2) === 0 && x + size * 2 - 1 <= b) {
      size *= 2;
      prefix--;
    }
    out.push([x, prefix]);
    x += size;
  }
  return out;
}

function parsePortSpec(text: string, family: Family): { proto: number; from: number; to: number } | string {
  const colon = text.indexOf(':');
  const protoName = colon < 0 ? 'tcp' : text.slice(0, colon).toLowerCase();
  const value = colon < 0 ? text : text.slice(colon + 1);
  const proto = PROTOS[protoName] ?? parseUint(protoName, 0, 255);
  if (proto === undefined) return `unknown protocol "${protoName}"`;
  if (proto === 1 || proto === 58) {
    const t = parseIcmpType(value, proto === 1 ? 'ipv4' : 'ipv6');
    if (!t.ok || t.value.codeMin !== t.value.codeMax) return `expected an ICMP type/code, not "${value}"`;
    const v = (t.value.type << 8) | t.value.codeMin;
    return { proto, from: v, to: v };
  }
  if (![6, 17, 132, 136].includes(proto)) return colon < 0 ? 'expected a port' : `protocol ${protoName} has no ports: only the port 0 entry "${protoName}:0" is possible`;
  const m = /^(\d+)(?:-(\d+))?$/.exec(value);
  const from = m ? parseUint(m[1]!, 0, 65535) : undefined;
  const to = m ? (m[2] !== undefined ? parseUint(m[2], 0, 65535) : from) : undefined;
  if (from === undefined || to === undefined || from > to) return `expected a port or a port range, not "${value}"`;
  return { proto, from, to };
}

/** The entries an `add` line stands for, or the reason it is invalid. */
function parseEntry(set: IpsetDef, text: string, nomatch: boolean): IpsetEntry[] | string {
  const family: Family = set.family === 'ipv6' ? 'ipv6' : 'ipv4';
  switch (set.type) {
    case 'hash:ip':
    case 'hash:net': {
      const nets = addressPrefixes(text, family);
      if (typeof nets === 'string') return nets;
      const cap = set.type === 'hash:ip' ? (set.netmask ?? (family === 'ipv4' ? 32 : 128)) : 128;
      if (nomatch && set.type !== 'hash:net') return 'nomatch is for hash:net entries';
      return nets.map((n) => {
        const prefix = Math.min(n.prefix, cap);
        return { kind: 'addr', address: maskAddress(n.address, prefix, family), prefix, nomatch };
      });
    }
    case 'hash:ip,port': {
      const comma = text.indexOf(',');
      if (comma < 0) return 'expected ADDRESS,[PROTO:]PORT';
      const nets = addressPrefixes(text.slice(0, comma), family);
      if (typeof nets === 'string') return nets;
      const p = parsePortSpec(text.slice(comma + 1), family);
      if (typeof p === 'string') return p;
      if (p.to - p.from > 65535) return 'port range too large';
      const out: IpsetEntry[] = [];
      for (const n of nets) for (let port = p.from; port <= p.to; port++) out.push({ kind: 'addr-port', address: n.address, prefix: n.prefix, proto: p.proto, port });
      return out;
    }
    case 'bitmap:port': {
      const m = /^(?:(?:tcp|udp):)?(\d+)(?:-(\d+))?$/.exec(text);
      const from = m ? parseUint(m[1]!, 0, 65535) : undefined;
      const to = m ? (m[2] !== undefined ? parseUint(m[2], 0, 65535) : from) : undefined;
      if (from === undefined || to === undefined || from > to) return 'expected a port or a port range';
      const r = set.range ?? { from: 0, to: 65535 };
      if (from < r.from || to > r.to) return `outside the set's range ${r.from}-${r.to}`;
      const out: IpsetEntry[] = [];
      for (let port = from; port <= to; port++) out.push({ kind: 'port', port });
      return out;
    }
    case 'list:set':
      return [{ kind: 'member', name: text }];
  }
}
