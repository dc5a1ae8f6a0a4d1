/**
 * `-m owner` (net/netfilter/xt_owner.c, owner_mt) over the sending socket's owner, for OUTPUT:
 * what bpf/rjc_owner.h reads from skb->sk at TC egress. The model takes the socket from the
 * environment.
 */
import type { OwnerMatch } from '../../compiler/ir.js';

/** The socket an OUTPUT packet was sent from, as owner_mt finds it. */
export interface SocketOwner {
  /** File credentials (fsuid/fsgid) and supplementary groups; absent: a socket without a file. */
  file?: { uid: number; gid: number; groups: number[] };
}

/** XT_OWNER_* bits. */
export const OWNER_BITS = { uid: 1, gid: 2, socket: 4, suppl: 8 } as const;

/** The match/invert bit sets of a match. */
export function ownerBits(m: OwnerMatch): { match: number; invert: number } {
  let match = 0;
  let invert = 0;
  if (m.uid) {
    match |= OWNER_BITS.uid;
    if (m.uid.negated) invert |= OWNER_BITS.uid;
  }
  if (m.gid) {
    match |= OWNER_BITS.gid;
    if (m.gid.negated) invert |= OWNER_BITS.gid;
  }
  if (m.socketExists) {
    match |= OWNER_BITS.socket;
    if (m.socketExists.negated) invert |= OWNER_BITS.socket;
  }
  if (m.suppGroups) match |= OWNER_BITS.suppl;
  return { match, invert };
}

/** owner_mt. `socket` undefined: the packet has no (full) socket. */
export function matchOwner(m: OwnerMatch, socket: SocketOwner | undefined): boolean {
  const { match, invert } = ownerBits(m);
  if (!socket) return (match ^ invert) === 0;
  if (match & invert & OWNER_BITS.socket) return false;
  const f = socket.file;
  if (!f) return ((match ^ invert) & (OWNER_BITS.uid | OWNER_BITS.gid)) === 0;
  if (m.uid) {
    const inRange = f.uid >= m.uid.value.from && f.uid <= m.uid.value.to;
    if (inRange !== !m.uid.negated) return false;
  }
  if (m.gid) {
    const r = m.gid.value;
    let hit = f.gid >= r.from && f.gid <= r.to;
    if (!hit && m.suppGroups) hit = f.groups.some((g) => g >= r.from && g <= r.to);
    if (hit !== !m.gid.negated) return false;
  }
  return true;
}
