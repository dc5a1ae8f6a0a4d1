/**
 * The sets of an `ipset save` file (given with --ipset FILE), as plain data: what `-m set`
 * rules test packets against. Addresses are canonical text with host bits cleared (as in the
 * rules' IR); ports and ICMP type/code are host numbers.
 */
import type { Family } from '../ir.js';
import type { Span } from '../span.js';

export type IpsetType = 'hash:ip' | 'hash:net' | 'hash:ip,port' | 'bitmap:port' | 'list:set';

/** An address entry (hash:ip, hash:net): a network; hash:ip entries are /32 (/128) or /netmask. */
export interface AddrEntry {
  kind: 'addr';
  address: string;
  prefix: number;
  /** hash:net `nomatch`: an exception inside a larger entry. */
  nomatch: boolean;
}

/** A hash:ip,port entry: address, protocol, and port (ICMP: type << 8 | code). */
export interface AddrPortEntry {
  kind: 'addr-port';
  address: string;
  prefix: number;
  proto: number;
  port: number;
}

/** A bitmap:port entry: one port. */
export interface PortEntry {
  kind: 'port';
  port: number;
}

/** A list:set member. */
export interface MemberEntry {
  kind: 'member';
  name: string;
}

export type IpsetEntry = AddrEntry | AddrPortEntry | PortEntry | MemberEntry;

export interface IpsetDef {
  kind: 'ipset';
  name: string;
  type: IpsetType;
  /** inet / inet6 for the hash types; bitmap:port and list:set match either family. */
  family: Family | 'any';
  /** hash:ip `netmask`: addresses are stored (and tested) with this prefix. */
  netmask?: number;
  /** bitmap:port `range`. */
  range?: { from: number; to: number };
  entries: IpsetEntry[];
  /** Entries had a `timeout` (the kernel expires them; rejectc loads them without expiry). */
  timeouts: boolean;
  span: Span;
}

export interface IpsetFile {
  kind: 'ipsets';
  file: string;
  sets: IpsetDef[];
}
