/**
 * The reference model: a linear interpreter of the IR on one packet, and the kernel's REJECT
 * reply bytes. The fast oracle the BPF program is compared with in property tests; the
 * semantics it implements are listed in docs/semantics.md.
 *
 * Typical use:
 *   const d = evaluate(ruleset.families[0], decodeFrame(frameBytes), { chain: 'INPUT', inInterface: 'eth0' });
 *   d.verdict, d.rule, d.reply
 */
export { evaluate, evaluateRuleset, type CounterTouch, type Decision, type Cause, type Verdict } from './evaluate.js';
export { DEFAULT_REPLY_CONFIG, INADDR_DUMMY, type LocalAddress, type ModelEnv, type MulticastGroup, type ReplyConfig } from './env.js';
export { hookView, reassembleIpv4, type HookPacket, type StackDrop } from './hook-view.js';
export { expansions, ModelUnsupportedError, type MatchResult } from './matches.js';
export {
  decodeFrame,
  decodeIp,
  fromHex,
  toHex,
  type DecodedPacket,
  type EthernetHeader,
  type IpPacket,
  type Ipv4Packet,
  type Ipv6Packet,
  type L2Class,
} from './packet.js';
export { buildReply, ICMP6_FLOW_LABEL, type NoReplyReason } from './reply.js';
