/**
 * The connection tracking view a filter rule reads (`-m state`, `-m conntrack`), and the two
 * matches over it, as net/netfilter/xt_state.c and xt_conntrack.c (revision 3) decide them.
 * The view is what bpf/rjc_ct.h computes at the hook (struct rjc_ct); the model takes it from
 * the environment, since the state of a packet depends on the traffic before it.
 */
import type { Cidr, ConntrackMatch, CtState, CtStatus, Neg, Range, StateMatch } from '../../compiler/ir.js';
import { addressBytes } from '../address.js';

/** Bits of {@link ConnView.state}, as RJC_CT_* in bpf/rjc_ct.h (xt_conntrack's state bits). */
export const CT_STATE_BIT: Record<CtState, number> = {
  INVALID: 0x01,
  ESTABLISHED: 0x02,
  RELATED: 0x04,
  NEW: 0x08,
  UNTRACKED: 0x10,
  SNAT: 0x20,
  DNAT: 0x40,
};

/** nf_conn.status bits for `--ctstatus` (enum ip_conntrack_status); NONE is no bit. */
export const CT_STATUS_BIT: Record<CtStatus, number> = {
  NONE: 0,
  EXPECTED: 0x01,
  SEEN_REPLY: 0x02,
  ASSURED: 0x04,
  CONFIRMED: 0x08,
};

/** One direction of a connection: addresses (canonical text) and ports / ICMP ids. */
export interface ConnTuple {
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

/** The packet's connection as a filter chain sees it (struct rjc_ct). */
export interface ConnView {
  /** The packet's state: INVALID, NEW, ESTABLISHED, RELATED or UNTRACKED. */
  state: 'INVALID' | 'NEW' | 'ESTABLISHED' | 'RELATED' | 'UNTRACKED';
  /** The connection, absent for INVALID and UNTRACKED (no nf_conn). */
  conn?: {
    direction: 'ORIGINAL' | 'REPLY';
    /** IPS_* bits (see {@link CT_STATUS_BIT}; SRC_NAT 0x10, DST_NAT 0x20). */
    status: number;
    l4proto: number;
    orig: ConnTuple;
    reply: ConnTuple;
  };
}

/** No connection: what a rule sees for a packet conntrack did not classify. */
export const INVALID_VIEW: ConnView = { state: 'INVALID' };

const IPS_SRC_NAT = 0x10;
const IPS_DST_NAT = 0x20;

/** The state bits xt_conntrack tests: the state, plus SNAT/DNAT from the connection's status. */
export function stateBits(view: ConnView): number {
  let bits = CT_STATE_BIT[view.state];
  if (view.conn) {
    if (view.conn.status & IPS_SRC_NAT) bits |= CT_STATE_BIT.SNAT;
    if (view.conn.status & IPS_DST_NAT) bits |= CT_STATE_BIT.DNAT;
  }
  return bits;
}

/** The mask of a state list. */
export function stateMask(states: readonly CtState[]): number {
  return states.reduce((m, s) => m | CT_STATE_BIT[s], 0);
}

/** `-m state`: xt_state has no SNAT/DNAT bits; `!` inverts. */
export function matchState(m: StateMatch, view: ConnView): boolean {
  return ((CT_STATE_BIT[view.state] & stateMask(m.states)) !== 0) !== m.negated;
}

/** conntrack_addrcmp: (kernel address ^ rule address) & mask == 0. */
export function addressMatches(address: string, cidr: Cidr): boolean {
  const a = addressBytes(address);
  const r = addressBytes(cidr.address);
  if (a.length !== r.length) return false;
  let left = cidr.prefix;
  for (let i = 0; i < a.length; i++) {
    const bits = Math.max(0, Math.min(8, left));
    left -= 8;
    const mask = bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
    if (((a[i]! ^ r[i]!) & mask) !== 0) return false;
  }
  return true;
}

function negOk<T>(n: Neg<T> | undefined, test: (v: T) => boolean): boolean {
  return !n || test(n.value) !== n.negated;
}

function inRange(r: Range, v: number): boolean {
  return v >= r.from && v <= r.to;
}

/** `-m conntrack` revision 3 (conntrack_mt): the option checks in the kernel's order. */
export function matchConntrack(m: ConntrackMatch, view: ConnView): boolean {
  if (m.ctstate && !negOk(m.ctstate, (s) => (stateBits(view) & stateMask(s)) !== 0)) return false;
  const c = view.conn;
  if (!c) return m.ctstate !== undefined;
  if (m.ctdir && (c.direction === 'ORIGINAL') !== (m.ctdir.value === 'ORIGINAL')) return false;
  if (!negOk(m.ctorigsrc, (v) => addressMatches(c.orig.src, v))) return false;
  if (!negOk(m.ctorigdst, (v) => addressMatches(c.orig.dst, v))) return false;
  if (!negOk(m.ctreplsrc, (v) => addressMatches(c.reply.src, v))) return false;
  if (!negOk(m.ctrepldst, (v) => addressMatches(c.reply.dst, v))) return false;
  if (!negOk(m.ctproto, (p) => c.l4proto === p)) return false;
  if (!negOk(m.ctorigsrcport, (r) => inRange(r, c.orig.sport))) return false;
  if (!negOk(m.ctorigdstport, (r) => inRange(r, c.orig.dport))) return false;
  if (!negOk(m.ctreplsrcport, (r) => inRange(r, c.reply.sport))) return false;
  if (!negOk(m.ctrepldstport, (r) => inRange(r, c.reply.dport))) return false;
  if (!negOk(m.ctstatus, (s) => (c.status & s.reduce((x, n) => x | CT_STATUS_BIT[n], 0)) !== 0)) return false;
  if (m.ctexpire) throw new RangeError('--ctexpire depends on the kernel timer of the connection; the model does not evaluate it');
  return true;
}
