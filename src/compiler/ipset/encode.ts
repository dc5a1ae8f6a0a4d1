/**
 * Sets as BPF map entries (bpf/rjc_set.h), for the runtime to write, and the set ids the
 * rules' checks carry. Pure. A set's id is the 32-bit FNV-1a hash of its name: the program
 * and the rules' checks do not depend on the set contents, so sets can be refilled while the
 * program runs. Two names of one file with the same id are refused (never seen in practice).
 */
import { addressBytes } from '../../model/address.js';
import type { IpsetDef, IpsetFile } from './types.js';

/** rjc_set_desc.type codes (RJC_SET_* in bpf/rjc_set.h). */
export const SET_TYPE: Record<IpsetDef['type'], number> = { 'hash:ip': 1, 'hash:net': 2, 'hash:ip,port': 3, 'bitmap:port': 4, 'list:set': 5 };
const DIM: Record<IpsetDef['type'], number> = { 'hash:ip': 1, 'hash:net': 1, 'hash:ip,port': 2, 'bitmap:port': 1, 'list:set': 1 };
/** RJC_SET_MEMBERS: list:set members the datapath follows. */
export const SET_MEMBERS = 8;
/** The most addresses one hash:ip,port entry may cover (the datapath keys single addresses). */
const IPPORT_EXPANSION = 65536;

/** FNV-1a over the name's bytes. */
export function setId(name: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(name, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export interface MapEntry {
  key: Buffer;
  value: Buffer;
}

/** Entries per rjc_set_* map name. */
export type SetMapEntries = Record<'rjc_set_desc' | 'rjc_set_lpm4' | 'rjc_set_lpm6' | 'rjc_set_ipport' | 'rjc_set_port', MapEntry[]>;

/** Problems that keep a file from being loaded (id collisions, too many list members, ...). */
export function encodeProblems(file: IpsetFile): string[] {
  const out: string[] = [];
  const ids = new Map<number, string>();
  for (const s of file.sets) {
    const id = setId(s.name);
    const other = ids.get(id);
    if (other !== undefined) out.push(`sets "${other}" and "${s.name}" have the same id ${id}; rename one`);
    ids.set(id, s.name);
    if (s.type === 'list:set' && s.entries.length > SET_MEMBERS) out.push(`list:set "${s.name}" has ${s.entries.length} members; rejectc follows at most ${SET_MEMBERS}`);
    if (s.type === 'hash:ip,port') {
      for (const e of s.entries) {
        if (e.kind !== 'addr-port') continue;
        const bits = (s.family === 'ipv6' ? 128 : 32) - e.prefix;
        if (bits > 16) out.push(`hash:ip,port "${s.name}" entry ${e.address}/${e.prefix} covers more than ${IPPORT_EXPANSION} addresses`);
      }
    }
  }
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

/** Adds `i` to a network-order address (for expanding a prefix into addresses). */
function plus(addr: Uint8Array, i: number): Uint8Array {
  const out = Uint8Array.from(addr);
  let carry = i;
  for (let k = out.length - 1; k >= 0 && carry > 0; k--) {
    const v = out[k]! + (carry & 0xff);
    out[k] = v & 0xff;
    carry = (carry >>> 8) + (v >> 8);
  }
  return out;
}

/** All map entries of a file. Precondition: no {@link encodeProblems}. */
export function encodeIpsets(file: IpsetFile): SetMapEntries {
  const out: SetMapEntries = { rjc_set_desc: [], rjc_set_lpm4: [], rjc_set_lpm6: [], rjc_set_ipport: [], rjc_set_port: [] };
  for (const s of file.sets) {
    const id = setId(s.name);
    const desc = Buffer.alloc(4 + 4 * SET_MEMBERS);
    desc.writeUInt8(SET_TYPE[s.type], 0);
    desc.writeUInt8(s.family === 'any' ? 0 : s.family === 'ipv4' ? 4 : 6, 1);
    desc.writeUInt8(DIM[s.type], 3);
    if (s.type === 'list:set') {
      const members = s.entries.flatMap((e) => (e.kind === 'member' ? [e.name] : []));
      desc.writeUInt8(members.length, 2);
      members.forEach((m, i) => desc.writeUInt32LE(setId(m), 4 + 4 * i));
    }
    out.rjc_set_desc.push({ key: u32(id), value: desc });
    for (const e of s.entries) {
      if (e.kind === 'addr') {
        const a = addressBytes(e.address);
        const v6 = a.length === 16;
        const key = Buffer.alloc(v6 ? 24 : 12);
        key.writeUInt32LE(32 + e.prefix, 0);
        key.writeUInt32LE(id, 4);
        Buffer.from(a).copy(key, 8);
        (v6 ? out.rjc_set_lpm6 : out.rjc_set_lpm4).push({ key, value: Buffer.from([e.nomatch ? 1 : 0]) });
      } else if (e.kind === 'addr-port') {
        const a = addressBytes(e.address);
        const count = 2 ** ((a.length === 16 ? 128 : 32) - e.prefix);
        for (let i = 0; i < count; i++) {
          const key = Buffer.alloc(24);
          key.writeUInt32LE(id, 0);
          key.writeUInt8(e.proto, 4);
          key.writeUInt16LE(e.port, 6);
          Buffer.from(plus(a, i)).copy(key, 8);
          out.rjc_set_ipport.push({ key, value: Buffer.from([1]) });
        }
      } else if (e.kind === 'port') {
        const key = Buffer.alloc(8);
        key.writeUInt32LE(id, 0);
        key.writeUInt32LE(e.port, 4);
        out.rjc_set_port.push({ key, value: Buffer.from([1]) });
      }
    }
  }
  return out;
}
