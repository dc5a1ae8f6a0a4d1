/**
 * Known differences between the kernel and rejectc that a BPF hook cannot remove, masked
 * by name (docs/differential.md lists them with the reasons). Each one is a narrow test of
 * one frame's observations: it explains a divergence only when the divergence has exactly
 * the documented form; any other difference stays a failure.
 */
import { parseRuleset } from '../../src/compiler/frontend.js';
import type { FamilyRuleset } from '../../src/compiler/ir.js';
import { decodeIp, evaluate, type LocalAddress, type ModelEnv } from '../../src/model/index.js';
import type { RulesPair } from './install.js';
import { addressText, maskVolatile } from './compare.js';
import { SERVER_LINK_LOCAL, tracksConnections } from './gen-stream.js';
import { addressBytes, inPrefix } from '../../src/model/address.js';
import { setIpv4HeaderChecksum } from '../../src/model/checksum.js';
import { FAR_V4, FAR_V6, SERVER_V4, SERVER_V6, type ServerInterfaces, type SideKind } from './topology.js';
import type { Observation, Passed } from './wire.js';

/** The case's rules as the model reads them (for differences that need the rules). */
export interface ParsedRules {
  ipv4?: FamilyRuleset;
  ipv6?: FamilyRuleset;
}

/** Parses both files as rejectc's front end does; `errors` are its refusals (code and line). */
export function parseForModel(rules: RulesPair): { parsed: ParsedRules; errors: string[] } {
  const parsed: ParsedRules = {};
  const errors: string[] = [];
  for (const family of ['ipv4', 'ipv6'] as const) {
    const result = parseRuleset(rules[family], `${family}.rules`, { family });
    parsed[family] = result.ruleset.families.find((f) => f.family === family);
    for (const d of result.diagnostics) if (d.severity === 'error') errors.push(`${d.span.file}:${d.span.start.line}: ${d.code} ${d.message}`);
  }
  return { parsed, errors };
}

export interface KnownContext {
  rules: ParsedRules;
  /** The frame sent. */
  frame: Uint8Array;
  /** The IP packets of its stream element (for masking, see compare.ts). */
  origs: readonly Uint8Array[];
  kernel: Observation;
  rejectc: Observation;
  side: SideKind;
  interfaces: ServerInterfaces;
}

export interface KnownDifference {
  name: string;
  /** Why the kernel's behaviour cannot be reproduced from a BPF hook. */
  reason: string;
  explains(ctx: KnownContext): boolean;
}

/** The server's addresses, as the model's environment wants them. */
function localAddresses(ifs: ServerInterfaces): LocalAddress[] {
  return [
    { address: SERVER_V4[0], prefix: 24, interface: ifs.in },
    { address: SERVER_V6[0], prefix: 64, interface: ifs.in },
    { address: SERVER_V4[1], prefix: 30, interface: ifs.out },
    { address: SERVER_V6[1], prefix: 64, interface: ifs.out },
  ];
}

/** Is `ip` addressed to one of the server's own addresses? */
function toServer(ip: Uint8Array): boolean {
  const d = decodeIp(ip).ip;
  if (!d) return false;
  const text = addressText(d.header.dst);
  return ([...SERVER_V4, ...SERVER_V6, SERVER_LINK_LOCAL] as string[]).includes(text);
}

/** Does the server route `ip` out toward the far namespace (FAR_V4/FAR_V6 prefixes and links)? */
function toFar(ip: Uint8Array): boolean {
  const d = decodeIp(ip).ip;
  if (!d) return false;
  const dst = d.header.dst;
  const prefixes = d.family === 'ipv4' ? [FAR_V4.prefix, FAR_V4.link] : [FAR_V6.prefix, FAR_V6.link];
  return prefixes.some((p) => {
    const [net, len] = p.split('/');
    return inPrefix(dst, addressBytes(net!), Number(len));
  });
}

/**
 * Would the kernel's filter OUTPUT chain let `ip` pass? `ip` is a packet the server sends:
 * over lo when it is addressed to the server itself, else out of the interface its route
 * takes (the far side's, or the client side's).
 */
function outputAccepts(rules: ParsedRules, ip: Uint8Array, ifs: ServerInterfaces): boolean {
  const outInterface = toServer(ip) ? 'lo' : toFar(ip) ? ifs.out : ifs.in;
  return chainsAccept(rules, ip, ifs, [{ chain: 'OUTPUT', outInterface }]);
}

/** Does the kernel's filter table accept `ip` in each of `hooks` in turn (the model's verdict)? */
function chainsAccept(rules: ParsedRules, ip: Uint8Array, ifs: ServerInterfaces, hooks: readonly Omit<ModelEnv, 'localAddresses'>[]): boolean {
  const decoded = decodeIp(ip);
  const family = decoded.ip?.family;
  const ruleset = family ? rules[family] : undefined;
  if (!ruleset) return true;
  return hooks.every((hook) => evaluate(ruleset, decoded, { ...hook, localAddresses: localAddresses(ifs) }).verdict === 'accept');
}

const ipOf = (frame: Uint8Array): Uint8Array => frame.subarray(14);
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));
/** Equal after masking the volatile fields (compare.ts). */
const sameMasked = (origs: readonly Uint8Array[]) => (a: Uint8Array, b: Uint8Array): boolean => same(maskVolatile(a, origs), maskVolatile(b, origs));

/** Equality of captured frames and of passed packets, volatile fields masked. */
function comparers(origs: readonly Uint8Array[]) {
  const eq = sameMasked(origs);
  return {
    sameFrame: (a: Uint8Array, b: Uint8Array) => same(a.subarray(0, 14), b.subarray(0, 14)) && eq(ipOf(a), ipOf(b)),
    samePassed: (a: Passed, b: Passed) => a.hook === b.hook && a.indev === b.indev && a.outdev === b.outdev && eq(a.packet, b.packet),
  };
}

function equalLists<T>(a: readonly T[], b: readonly T[], eq: (x: T, y: T) => boolean): boolean {
  return a.length === b.length && a.every((x, i) => eq(x, b[i]!));
}

/** A REJECT reply: an ICMP/ICMPv6 error or a TCP segment with RST. */
function isReply(ip: Uint8Array): boolean {
  if (isIcmpError(ip)) return true;
  const d = decodeIp(ip).ip;
  if (!d) return false;
  const off = d.family === 'ipv4' ? d.header.headerLength : 40;
  const proto = d.family === 'ipv4' ? d.header.protocol : d.header.nextHeader;
  return proto === 6 && ((ip[off + 13] ?? 0) & 0x04) !== 0;
}

/**
 * The kernel's REJECT reply is a locally generated packet: it traverses the OUTPUT chain
 * (nf-reject.md §4.3, §5.4), which may drop it, or REJECT it in turn (an ICMP error the
 * server sends itself, seen at INPUT on lo). A reply rejectc builds at its TC/XDP hook leaves
 * without traversing any netfilter hook (bpf/KNOWN-DIFFERENCES.md) — also a reply to a
 * packet the server itself sent (OUTPUT), which rejectc delivers to the server's INPUT.
 * Explains exactly this: rejectc's side has REJECT replies (to the client, to the far side,
 * or delivered to the server) that the kernel's side lacks, the model says the kernel's OUTPUT chain refuses
 * each of them, the kernel's side may have ICMP errors it sent itself over lo, and
 * everything else is identical. An IPv4 ICMP error rejectc's TC side delivered to the server
 * is judged as the kernel builds it, from the quoted packet's source (output-icmp4-source):
 * that is the packet the kernel's OUTPUT chain sees.
 */
const REPLY_THROUGH_OUTPUT: KnownDifference = {
  name: 'reply-filtered-by-output',
  reason: "the kernel's REJECT reply traverses the OUTPUT chain; a reply built at a TC/XDP hook leaves without traversing any netfilter hook",
  explains(ctx) {
    const { kernel, rejectc } = ctx;
    const refused = (ip: Uint8Array) => isReply(ip) && !outputAccepts(ctx.rules, ip, ctx.interfaces);
    const clientR = rejectc.client.filter((f) => !refused(ipOf(f)));
    const farR = rejectc.far.filter((f) => !refused(ipOf(f)));
    const passedR = rejectc.passed.filter((p) => !(p.hook === 'INPUT' && toServer(p.packet) && refused(ctx.side === 'tc' ? asKernelBuildsIt(p) : p.packet)));
    const passedK = kernel.passed.filter((p) => !(p.hook === 'INPUT' && p.indev === 1 && isIcmpError(p.packet)));
    if (clientR.length === rejectc.client.length && farR.length === rejectc.far.length && passedR.length === rejectc.passed.length) return false;
    const { sameFrame, samePassed } = comparers(ctx.origs);
    return equalLists(kernel.client, clientR, sameFrame) && equalLists(passedK, passedR, samePassed) && equalLists(kernel.far, farR, sameFrame);
  },
};

function isIcmpError(ip: Uint8Array): boolean {
  if (ip[0]! >> 4 === 4) return ip[9] === 1 && [3, 11, 12].includes(ip[(ip[0]! & 0x0f) * 4] ?? -1);
  return ip[6] === 58 && (ip[40] ?? 255) < 128;
}

/** An ICMP error as conntrack takes it (icmp_is_err: also source quench and redirect; ICMPv6 below 128). */
function conntrackIcmpError(ip: Uint8Array): boolean {
  if (ip[0]! >> 4 === 4) return ip[9] === 1 && [3, 4, 5, 11, 12].includes(ip[(ip[0]! & 0x0f) * 4] ?? -1);
  return isIcmpError(ip);
}

/**
 * With a ruleset that uses connection tracking (`-m state`, `-m conntrack`) the kernel
 * reassembles IPv4 and IPv6 fragments before PREROUTING (nf_defrag_ipv4/6, nf-reject.md
 * §3.3): INPUT and FORWARD see whole datagrams. A TC/XDP hook sees each fragment as it
 * arrives. Explains any difference for a fragment frame, only while the ruleset tracks
 * connections.
 */
const CONNTRACK_DEFRAG: KnownDifference = {
  name: 'conntrack-defrag',
  reason: 'with connection tracking on, the kernel reassembles fragments before the filter hooks; a TC/XDP hook sees every fragment',
  explains(ctx) {
    const ip = decodeIp(ipOf(ctx.frame)).ip;
    if (!ip) return false;
    // IPv6: any fragment header, also an "atomic" one (offset 0, no more fragments), which
    // reassembly removes as well.
    const fragment = ip.family === 'ipv4' ? ip.header.mf || ip.header.fragOffset !== 0 : hasFragmentHeader(ip.bytes);
    const ruleset = ctx.rules[ip.family];
    return fragment && ruleset !== undefined && tracksConnections([ruleset]);
  },
};

/**
 * XDP has no egress hook, so rejectc cannot note the connections the kernel tracks for ICMP
 * queries and protocols other than TCP and UDP (the kfuncs look up TCP and UDP only): their
 * state is not known there (rejectc's own warning W270). Explains a difference on the XDP
 * side only, for such a frame — or an ICMP(v6) error quoting such a packet, RELATED to such
 * a connection — while the ruleset tracks connections.
 */
const XDP_CONNECTION_STATE: KnownDifference = {
  name: 'xdp-connection-state',
  reason: 'an XDP program cannot see the connections of ICMP queries and protocols other than TCP/UDP (no egress hook, no kfunc lookup)',
  explains(ctx) {
    if (ctx.side !== 'xdp') return false;
    const ip = decodeIp(ipOf(ctx.frame)).ip;
    const ruleset = ip ? ctx.rules[ip.family] : undefined;
    if (!ip || !ruleset || !tracksConnections([ruleset])) return false;
    const proto = ip.family === 'ipv4' ? ip.header.protocol : ip.findHdr.ok ? ip.findHdr.protocol : -1;
    const off = ip.family === 'ipv4' ? ip.header.headerLength : ip.findHdr.ok ? ip.findHdr.offset : -1;
    if (proto === 6 || proto === 17) return false;
    const type = off >= 0 ? ip.bytes[off] : undefined;
    if (type !== undefined && conntrackIcmpError(ip.bytes)) return untrackableAtXdp(ip.bytes.subarray(off + 8));
    return untrackedAtXdp(proto, type);
  },
};

/** A packet of protocol `proto` (not TCP/UDP), ICMP type `type`: an ICMP query, or another protocol than ICMP. */
function untrackedAtXdp(proto: number | undefined, type: number | undefined): boolean {
  if (proto === 1) return type !== undefined && [0, 8, 13, 14, 15, 16, 17, 18].includes(type);
  if (proto === 58) return type !== undefined && type >= 128;
  return true;
}

/**
 * Is the packet an ICMP(v6) error quotes (`quoted`, its IP header first) one whose connection
 * XDP cannot know: an ICMP query or another protocol than TCP/UDP (IPv6: the header's own next
 * header, extension headers counted as such)?
 */
function untrackableAtXdp(quoted: Uint8Array): boolean {
  const v4 = quoted[0]! >> 4 === 4;
  const proto = v4 ? quoted[9] : quoted[6];
  const off = v4 ? (quoted[0]! & 0x0f) * 4 : 40;
  if (proto === undefined || proto === 6 || proto === 17) return false;
  return untrackedAtXdp(proto, quoted[off]);
}

/**
 * A packet claiming one of the server's own IPv6 addresses as its source: the kernel's
 * REJECT reply goes to the server itself, over lo; rejectc at TC does the same (7fb2694), an
 * XDP program cannot deliver into lo (no route, no reply). Explains, on the XDP side only,
 * replies the kernel delivered to itself on lo that rejectc's XDP side lacks.
 */
const XDP_REPLY_TO_SELF: KnownDifference = {
  name: 'xdp-reply-to-self',
  reason: 'an XDP program cannot deliver a reply to the local host over lo',
  explains(ctx) {
    const ip = ctx.side === 'xdp' ? decodeIp(ipOf(ctx.frame)).ip : null;
    if (!ip || ip.family !== 'ipv6' || !(SERVER_V6 as readonly string[]).includes(addressText(ip.header.src))) return false;
    const { sameFrame, samePassed } = comparers(ctx.origs);
    const passedK = ctx.kernel.passed.filter((p) => !(p.hook === 'INPUT' && p.indev === 1 && isReply(p.packet)));
    return passedK.length < ctx.kernel.passed.length && equalLists(passedK, ctx.rejectc.passed, samePassed) && equalLists(ctx.kernel.client, ctx.rejectc.client, sameFrame) && equalLists(ctx.kernel.far, ctx.rejectc.far, sameFrame);
  },
};

/**
 * REJECT in OUTPUT of a packet the server sent itself: the kernel delivers its IPv4 ICMP error
 * to the server over lo from the server's own address (the orig's source), keeping the output
 * route; rejectc's reply enters lo from the hook without that route, where input routing
 * drops a packet from a local address as a martian, so it comes from the orig's destination
 * (bpf/KNOWN-DIFFERENCES.md, "OUTPUT (TC egress)"). Explains, on the TC side only, IPv4 ICMP
 * errors seen at INPUT on lo on both sides that differ in exactly that source address (the
 * kernel's from the quoted packet's source, rejectc's from its destination), everything else
 * identical.
 */
const OUTPUT_ICMP4_SOURCE: KnownDifference = {
  name: 'output-icmp4-source',
  reason: "a reply delivered into lo from a TC hook has no output route, so input routing would drop the kernel's source (a local address) as a martian",
  explains(ctx) {
    if (ctx.side !== 'tc' || ctx.kernel.passed.length !== ctx.rejectc.passed.length) return false;
    const { sameFrame, samePassed } = comparers(ctx.origs);
    let explained = 0;
    for (const [i, k] of ctx.kernel.passed.entries()) {
      const r = ctx.rejectc.passed[i]!;
      if (samePassed(k, r)) continue;
      const quote = quotedAddresses4(k.packet);
      if (!quote || !icmp4OnLo(k) || !icmp4OnLo(r) || !same(k.packet.subarray(12, 16), quote.src) || !same(r.packet.subarray(12, 16), quote.dst)) return false;
      if (!samePassed(k, { ...r, packet: asKernelBuildsIt(r) })) return false;
      explained += 1;
    }
    return explained > 0 && equalLists(ctx.kernel.client, ctx.rejectc.client, sameFrame) && equalLists(ctx.kernel.far, ctx.rejectc.far, sameFrame);
  },
};

/** lo's interface index in every namespace. */
const LOOPBACK_IFINDEX = 1;

/** An IPv4 ICMP error (header without options) seen at INPUT on lo. */
function icmp4OnLo(p: Passed): boolean {
  return p.hook === 'INPUT' && p.indev === LOOPBACK_IFINDEX && p.packet[0] === 0x45 && isIcmpError(p.packet);
}

/**
 * A packet rejectc's TC side delivered to the server, as the kernel would have built it: an
 * IPv4 ICMP error on lo from the quoted packet's source instead of its destination (header
 * checksum recomputed; output-icmp4-source); anything else as it is.
 */
function asKernelBuildsIt(p: Passed): Uint8Array {
  const quote = icmp4OnLo(p) ? quotedAddresses4(p.packet) : undefined;
  if (!quote) return p.packet;
  const moved = Uint8Array.from(p.packet);
  moved.set(quote.src, 12);
  setIpv4HeaderChecksum(moved);
  return moved;
}

/** Source and destination of the IPv4 packet an ICMP error (IPv4 header without options) quotes. */
function quotedAddresses4(ip: Uint8Array): { src: Uint8Array; dst: Uint8Array } | undefined {
  if (ip.length < 20 + 8 + 20) return undefined;
  return { src: ip.subarray(40, 44), dst: ip.subarray(44, 48) };
}

/** Does an IPv6 packet carry a fragment header (walking hop-by-hop, routing, dest-opts, AH)? */
function hasFragmentHeader(b: Uint8Array): boolean {
  let next = b[6] ?? 59;
  let at = 40;
  for (let i = 0; i < 16 && at + 2 <= b.length; i++) {
    if (next === 44) return true;
    if (next !== 0 && next !== 43 && next !== 60 && next !== 51) return false;
    const len = next === 51 ? (b[at + 1]! + 2) * 4 : (b[at + 1]! + 1) * 8;
    next = b[at]!;
    at += len;
  }
  return false;
}

/** A packet the server sends itself: OUTPUT out lo, then INPUT in lo. */
const LOOPBACK_HOOKS = [
  { chain: 'OUTPUT', outInterface: 'lo' },
  { chain: 'INPUT', inInterface: 'lo' },
] as const;

/**
 * rejectc filters the devices it is applied to; the kernel's filter chains also see what the
 * server sends itself over lo (OUTPUT with `-o lo`, then INPUT with `-i lo`): the stack's own
 * ICMP errors to a packet claiming one of the server's addresses as its source (a UDP datagram
 * to a closed port from 2001:db8::2 to 2001:db8::2), and REJECT replies the server delivers to
 * itself. The harness applies rejectc to the server's links only, as `rejectc apply --dev` does
 * for a user, so nothing filters lo on rejectc's sides. Explains exactly this: rejectc's side
 * has packets at INPUT on lo that the kernel's side lacks, the model says the kernel's OUTPUT
 * (out lo) or INPUT (in lo) chain refuses each of them (an IPv4 ICMP error of rejectc's TC side
 * judged as the kernel builds it, output-icmp4-source), and everything else is identical.
 */
const LOOPBACK_NOT_FILTERED: KnownDifference = {
  name: 'loopback-not-filtered',
  reason: 'rejectc filters the devices it is applied to (the server links here); the kernel chains also filter what the server sends itself over lo',
  explains(ctx) {
    const { kernel, rejectc } = ctx;
    const refusedOnLo = (p: Passed) => p.hook === 'INPUT' && p.indev === LOOPBACK_IFINDEX && toServer(p.packet) && !chainsAccept(ctx.rules, ctx.side === 'tc' ? asKernelBuildsIt(p) : p.packet, ctx.interfaces, LOOPBACK_HOOKS);
    const passedR = rejectc.passed.filter((p) => !refusedOnLo(p));
    if (passedR.length === rejectc.passed.length) return false;
    const { sameFrame, samePassed } = comparers(ctx.origs);
    return equalLists(kernel.passed, passedR, samePassed) && equalLists(kernel.client, rejectc.client, sameFrame) && equalLists(kernel.far, rejectc.far, sameFrame);
  },
};

/** The list, in the order they are tried. */
export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [REPLY_THROUGH_OUTPUT, CONNTRACK_DEFRAG, XDP_CONNECTION_STATE, XDP_REPLY_TO_SELF, OUTPUT_ICMP4_SOURCE, LOOPBACK_NOT_FILTERED];

/** The name of the known difference that explains a divergence, or undefined. */
export function classifyKnown(ctx: KnownContext): string | undefined {
  return KNOWN_DIFFERENCES.find((k) => k.explains(ctx))?.name;
}
