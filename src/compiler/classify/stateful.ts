/**
 * Post-checks of the stateful matches (`-m state`, `-m conntrack`): conditions on the packet's
 * connection, which bpf/rjc_ct.h computes once per packet and rjc_ct_check() tests for each
 * candidate rule. Each option of a conntrack match becomes one check, in the kernel's order
 * (conntrack_mt); semantics in src/model/state/conntrack.ts.
 *
 * Encoding in rjc_check (src/compiler/emit/map-specs.ts CHECK_STRUCT): `kind` is a CT_CHECK
 * code, `pad[0]` the argument (which tuple field), `pad[1]` 1 when the check passes for a
 * packet without a connection (the match has --ctstate: conntrack_mt returns its state
 * result then), `value`/`mask` as documented per code.
 */
import { addressBytes } from '../../model/address.js';
import type { Cidr, ConntrackMatch, Family, Neg, OwnerMatch, Range, RecentMatch, Ruleset, SetMatch, StateMatch } from '../ir.js';
import { diag, type Diagnostic } from '../diagnostics.js';
import { recentMaskPrefix } from '../../model/state/recent.js';
import { ownerBits, type SocketOwner } from '../../model/state/owner.js';
import { setId } from '../ipset/encode.js';
import { matchSet, type SetPacket } from '../ipset/match.js';
import type { IpsetFile } from '../ipset/types.js';
import { CT_STATE_BIT, CT_STATUS_BIT, stateBits, stateMask, type ConnView } from '../../model/state/conntrack.js';

/** rjc_check.kind codes of the conntrack checks (1 is -m mark). Mirrored in bpf/rjc_ct.h. */
export const CT_CHECK = {
  /** (state bits incl. SNAT/DNAT & mask) != 0 — xt_conntrack --ctstate */
  ctstate: 2,
  /** (state bit & mask) != 0 — xt_state --state */
  state: 3,
  /** l4proto == value */
  proto: 4,
  /** value <= port[arg] <= mask; arg 0 orig src, 1 orig dst, 2 reply src, 3 reply dst */
  port: 5,
  /** (IPv4 address[arg] & mask) == value, both as the address bytes read little-endian */
  addr4: 6,
  /** (status & mask) != 0 */
  status: 7,
  /** direction == value (0 ORIGINAL, 1 REPLY) */
  dir: 8,
} as const;

export interface CtCheck {
  kind: 'ct';
  code: (typeof CT_CHECK)[keyof typeof CT_CHECK];
  arg: number;
  value: number;
  mask: number;
  negated: boolean;
  /** Pass when the packet has no connection (INVALID/UNTRACKED). */
  noConn: boolean;
}

/** Options a conntrack match cannot have compiled, with the reason; undefined when all can. */
export function conntrackProblem(m: ConntrackMatch): string | undefined {
  if (m.ctexpire) return '--ctexpire reads the kernel timer of the connection, which a TC/XDP hook cannot see exactly';
  if ([m.ctorigsrc, m.ctorigdst, m.ctreplsrc, m.ctrepldst].some((n) => n?.value.address.includes(':'))) {
    return 'IPv6 conntrack address options (--ctorigsrc/--ctorigdst/--ctreplsrc/--ctrepldst) are not compiled yet';
  }
  return undefined;
}

function le32(bytes: Uint8Array): number {
  return (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
}

function maskBytes(prefix: number): Uint8Array {
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(8, prefix - 8 * i));
    out[i] = bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return out;
}

/** The checks of `-m state`. */
export function stateChecks(m: StateMatch): CtCheck[] {
  return [{ kind: 'ct', code: CT_CHECK.state, arg: 0, value: 0, mask: stateMask(m.states), negated: m.negated, noConn: false }];
}

/** The checks of `-m conntrack`, in conntrack_mt's order. Precondition: no {@link conntrackProblem}. */
export function conntrackChecks(m: ConntrackMatch): CtCheck[] {
  const out: CtCheck[] = [];
  const noConn = m.ctstate !== undefined;
  const add = (code: CtCheck['code'], arg: number, value: number, mask: number, negated: boolean) =>
    out.push({ kind: 'ct', code, arg, value: value >>> 0, mask: mask >>> 0, negated, noConn });
  if (m.ctstate) out.push({ kind: 'ct', code: CT_CHECK.ctstate, arg: 0, value: 0, mask: stateMask(m.ctstate.value), negated: m.ctstate.negated, noConn: false });
  if (m.ctdir) add(CT_CHECK.dir, 0, m.ctdir.value === 'REPLY' ? 1 : 0, 0, false);
  const addrs: [Neg<Cidr> | undefined, number][] = [
    [m.ctorigsrc, 0],
    [m.ctorigdst, 1],
    [m.ctreplsrc, 2],
    [m.ctrepldst, 3],
  ];
  for (const [n, arg] of addrs) {
    if (!n) continue;
    const mask = maskBytes(n.value.prefix);
    const addr = addressBytes(n.value.address).map((b, i) => b & mask[i]!);
    add(CT_CHECK.addr4, arg, le32(addr), le32(mask), n.negated);
  }
  if (m.ctproto) add(CT_CHECK.proto, 0, m.ctproto.value, 0, m.ctproto.negated);
  const ports: [Neg<Range> | undefined, number][] = [
    [m.ctorigsrcport, 0],
    [m.ctorigdstport, 1],
    [m.ctreplsrcport, 2],
    [m.ctrepldstport, 3],
  ];
  for (const [n, arg] of ports) if (n) add(CT_CHECK.port, arg, n.value.from, n.value.to, n.negated);
  if (m.ctstatus) add(CT_CHECK.status, 0, 0, m.ctstatus.value.reduce((x, s) => x | CT_STATUS_BIT[s], 0), m.ctstatus.negated);
  return out;
}

function portOf(view: NonNullable<ConnView['conn']>, arg: number): number {
  return [view.orig.sport, view.orig.dport, view.reply.sport, view.reply.dport][arg]!;
}

function addressOf(view: NonNullable<ConnView['conn']>, arg: number): string {
  return [view.orig.src, view.orig.dst, view.reply.src, view.reply.dst][arg]!;
}

/**
 * What rjc_ct_check() in bpf/rjc_ct.h decides for one check: the TS mirror of the datapath,
 * for the classifier simulator and for tests that hold it against the model's matches.
 */
export function ctCheckPasses(c: CtCheck, view: ConnView): boolean {
  if (c.code === CT_CHECK.state) return ((CT_STATE_BIT[view.state] & c.mask) !== 0) !== c.negated;
  if (c.code === CT_CHECK.ctstate) return ((stateBits(view) & c.mask) !== 0) !== c.negated;
  const conn = view.conn;
  if (!conn) return c.noConn;
  let hit: boolean;
  switch (c.code) {
    case CT_CHECK.dir:
      return (conn.direction === 'REPLY' ? 1 : 0) === c.value;
    case CT_CHECK.proto:
      hit = conn.l4proto === c.value;
      break;
    case CT_CHECK.port: {
      const p = portOf(conn, c.arg);
      hit = p >= c.value && p <= c.mask;
      break;
    }
    case CT_CHECK.addr4: {
      const a = addressBytes(addressOf(conn, c.arg));
      hit = a.length === 4 && ((le32(a) & c.mask) >>> 0) === c.value;
      break;
    }
    default:
      hit = (conn.status & c.mask) !== 0;
  }
  return hit !== c.negated;
}

/** rjc_check.kind of a set check (RJC_CHK_SET in bpf/rjc_set.h). */
export const SET_CHECK_KIND = 9;

/**
 * `-m set`: one check. Encoding in rjc_check: `value` the set id (FNV-1a of the name),
 * `pad[0]` bit i set when direction i is src, `pad[1]` the number of directions | 0x80 for
 * --return-nomatch.
 */
export interface SetCheck {
  kind: 'set';
  name: string;
  id: number;
  srcBits: number;
  dirs: number;
  returnNomatch: boolean;
  negated: boolean;
  /** Unused (the shared check layout). */
  value: number;
  mask: number;
}

/** Options of a set match that are not compiled, with the reason; undefined when all are. */
export function setProblem(m: SetMatch): string | undefined {
  const counters = m.options.find((o) => /--(packets|bytes)-/.test(o));
  if (counters) return `the set element counter test "${counters.replace(/^! /, '')}" needs the kernel's per-element counters`;
  return undefined;
}

/** The check of a set match. */
export function setChecks(m: SetMatch): SetCheck[] {
  const id = setId(m.name);
  const srcBits = m.flags.reduce((b, d, i) => (d === 'src' ? b | (1 << i) : b), 0);
  return [{ kind: 'set', name: m.name, id, srcBits, dirs: m.flags.length, returnNomatch: m.options.includes('--return-nomatch'), negated: m.negated, value: id, mask: 0 }];
}

/** What rjc_set_check() decides for a set check, given the sets and the packet. */
export function setCheckPasses(c: SetCheck, file: IpsetFile, p: SetPacket): boolean {
  const flags = Array.from({ length: c.dirs }, (_, i) => ((c.srcBits >> i) & 1 ? 'src' : 'dst') as 'src' | 'dst');
  const span = { file: '', start: { line: 0, column: 0, offset: 0 }, end: { line: 0, column: 0, offset: 0 } };
  return matchSet(file, { kind: 'match', module: 'set', span, negated: c.negated, name: c.name, flags, options: c.returnNomatch ? ['--return-nomatch'] : [] }, p);
}

/** xt_recent's largest ip_pkt_list_tot: the most time stamps per address, and --hitcount's bound. */
export const MAX_RECENT_STAMPS = 255;

/** RJC_RECENT_STAMPS for a program: 20 (the kernel's default), or the rules' largest hitcount. */
export function recentStamps(checks: readonly { kind: string; hitcount?: number }[]): number {
  return checks.reduce((n, c) => (c.kind === 'recent' ? Math.max(n, c.hitcount ?? 0) : n), 20);
}

/** rjc_check.kind of a recent check (RJC_CHK_RECENT in bpf/rjc_recent.h). */
export const RECENT_CHECK_KIND = 10;
/** The command in the low bits of a recent check's flag byte (RJC_RECENT_* in bpf/rjc_recent.h). */
export const RECENT_CMD = { set: 0, rcheck: 1, update: 2, remove: 3 } as const;
/** The other bits of the flag byte. */
export const RECENT_FLAG = { cmdMask: 0x03, rttl: 0x04, reap: 0x08, rdest: 0x10 } as const;

/**
 * `-m recent`: one check. Encoding in rjc_check: `value` the table id (FNV-1a of the name),
 * `mask` --seconds | prefix << 24 (the --mask prefix), `pad[0]` command | 0x04 --rttl |
 * 0x08 --reap | 0x10 --rdest, `pad[1]` --hitcount.
 */
export interface RecentCheck {
  kind: 'recent';
  name: string;
  value: number;
  mask: number;
  flags: number;
  hitcount: number;
  negated: boolean;
}

/**
 * Why a rule's recent match cannot be compiled exactly, if it cannot. (A recent match that
 * changes its table runs exactly when the kernel reaches it, whatever the matches around it:
 * see ./side-effects.ts.)
 */
export function recentProblem(m: RecentMatch): string | undefined {
  if (recentMaskPrefix(m.mask, m.mask?.includes(':') ? 'ipv6' : 'ipv4') === undefined) return `--mask ${m.mask} is not a prefix mask`;
  if ((m.seconds ?? 0) >= 2 ** 24) return `--seconds ${m.seconds} is longer than rejectc's 194-day limit`;
  if ((m.hitcount ?? 0) > MAX_RECENT_STAMPS) return `--hitcount ${m.hitcount} is more than xt_recent can ever count (ip_pkt_list_tot is at most ${MAX_RECENT_STAMPS})`;
  return undefined;
}

/** The check of a recent match. Precondition: no {@link recentProblem}. */
export function recentChecks(m: RecentMatch, family: Family): RecentCheck[] {
  const prefix = recentMaskPrefix(m.mask, family)!;
  const flags = RECENT_CMD[m.command.value] | (m.rttl ? RECENT_FLAG.rttl : 0) | (m.reap ? RECENT_FLAG.reap : 0) | (m.side === 'rdest' ? RECENT_FLAG.rdest : 0);
  return [{ kind: 'recent', name: m.name, value: setId(m.name), mask: ((m.seconds ?? 0) | (prefix << 24)) >>> 0, flags, hitcount: m.hitcount ?? 0, negated: m.command.negated }];
}

/** rjc_check.kind codes of the owner checks (bpf/rjc_owner.h). */
export const OWNER_CHECK = { socket: 11, uid: 12, gid: 13 } as const;

/**
 * `-m owner`: one check per tested id (a socket-only check when the match tests neither).
 * Each repeats owner_mt's early returns, so their conjunction is the match. Encoding in
 * rjc_check: `value`/`mask` the id range, `pad[0]` the XT_OWNER_* bits the match tests,
 * `pad[1]` those it inverts.
 */
export interface OwnerCheck {
  kind: 'owner';
  code: (typeof OWNER_CHECK)[keyof typeof OWNER_CHECK];
  value: number;
  mask: number;
  match: number;
  invert: number;
  negated: boolean;
}

/** The checks of an owner match. */
export function ownerChecks(m: OwnerMatch): OwnerCheck[] {
  const { match, invert } = ownerBits(m);
  const check = (code: OwnerCheck['code'], r?: Range): OwnerCheck => ({ kind: 'owner', code, value: r?.from ?? 0, mask: r?.to ?? 0, match, invert, negated: false });
  const out: OwnerCheck[] = [];
  if (m.uid) out.push(check(OWNER_CHECK.uid, m.uid.value));
  if (m.gid) out.push(check(OWNER_CHECK.gid, m.gid.value));
  if (out.length === 0) out.push(check(OWNER_CHECK.socket));
  return out;
}

/** What rjc_owner_check() decides for one owner check (`socket` undefined: none). */
export function ownerCheckPasses(c: OwnerCheck, socket: SocketOwner | undefined): boolean {
  if (!socket) return (c.match ^ c.invert) === 0;
  if (c.match & c.invert & 4) return false;
  const f = socket.file;
  if (!f) return ((c.match ^ c.invert) & 3) === 0;
  if (c.code === OWNER_CHECK.uid) return (f.uid >= c.value && f.uid <= c.mask) === !(c.invert & 1);
  if (c.code === OWNER_CHECK.gid) {
    let hit = f.gid >= c.value && f.gid <= c.mask;
    if (!hit && c.match & 8) hit = f.groups.some((g) => g >= c.value && g <= c.mask);
    return hit === !(c.invert & 2);
  }
  return true;
}

/**
 * W270 at the first state/conntrack match of the filter tables when compiling for XDP: only
 * TCP and UDP connections can be looked up there (no egress program keeps the others).
 */
export function xdpConntrackWarnings(ruleset: Ruleset): Diagnostic[] {
  for (const f of ruleset.families) {
    for (const t of f.tables) {
      if (t.name !== 'filter') continue;
      for (const c of t.chains) for (const r of c.rules) for (const m of r.matches) if (m.module === 'state' || m.module === 'conntrack') return [diag('W270', m.span)];
    }
  }
  return [];
}
