/**
 * Stream elements for stateful rules: short connections through the server (FORWARD),
 * between a host on the client's side and a far host, with the far host's packets injected
 * at the far namespace — a TCP handshake with data and a close, a UDP exchange, an ICMP echo
 * and its reply, and an ICMP error from the far host about a client packet (RELATED: a UDP
 * datagram, an ICMP echo request or a TCP SYN, quoted by an unreachable, a time exceeded or
 * a redirect / packet too big). Steps
 * can be left out (a reply without its request, data without a handshake), which gives
 * NEW / ESTABLISHED / RELATED / INVALID transitions in every order.
 */
import fc from 'fast-check';
import type { Family } from '../../src/compiler/ir.js';
import { setIpv4HeaderChecksum } from '../../src/model/checksum.js';
import { ethernet, icmp, ipv4, ipv6, tcp, udp, type L4Spec } from '../support/packets.js';
import { MAC, ONLINK_SOURCES_V4, ONLINK_SOURCES_V6 } from './topology.js';
import type { Via } from './wire.js';

export interface FlowSpec {
  kind: 'flow';
  family: Family;
  proto: 'tcp' | 'udp' | 'icmp' | 'related';
  /** The host on the client's side, and the far host. */
  near: string;
  far: string;
  nearPort: number;
  farPort: number;
  /** Initial sequence numbers (TCP) / echo identifier. */
  a: number;
  b: number;
  payload: Uint8Array;
  /** Which of the flow's steps are sent (indexes into its step list). */
  keep: boolean[];
  /** How a TCP flow ends. */
  end: 'none' | 'fin-near' | 'fin-far' | 'rst-far' | 'rst-near';
}

const NEAR: Record<Family, string[]> = {
  ipv4: [ONLINK_SOURCES_V4[0], '203.0.113.7', '198.51.100.130'],
  ipv6: [ONLINK_SOURCES_V6[0], '2001:db8:3::7'],
};
const FAR: Record<Family, string[]> = { ipv4: ['198.51.100.9', '198.51.100.70'], ipv6: ['2001:db8:2::9', '2001:db8:2::1:5'] };

/** Flows of `family`, ports drawn from `ports` (the rules' own) half of the time. */
export function arbFlow(family: Family, ports: readonly number[]): fc.Arbitrary<FlowSpec> {
  const port = ports.length > 0 ? fc.oneof(fc.constantFrom(...ports), fc.integer({ min: 1, max: 65535 })) : fc.integer({ min: 1, max: 65535 });
  return fc.record({
    kind: fc.constant('flow' as const),
    family: fc.constant(family),
    proto: fc.oneof({ weight: 4, arbitrary: fc.constant('tcp' as const) }, { weight: 2, arbitrary: fc.constant('udp' as const) }, { weight: 1, arbitrary: fc.constant('icmp' as const) }, { weight: 1, arbitrary: fc.constant('related' as const) }),
    near: fc.constantFrom(...NEAR[family]),
    far: fc.constantFrom(...FAR[family]),
    nearPort: fc.integer({ min: 1024, max: 65535 }),
    farPort: port,
    a: fc.nat({ max: 0xffffffff }),
    b: fc.nat({ max: 0xffffffff }),
    payload: fc.uint8Array({ minLength: 1, maxLength: 40 }),
    // Every step kept most of the time; a dropped step makes the flow odd on purpose.
    keep: fc.array(fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), { minLength: 6, maxLength: 6 }),
    end: fc.constantFrom('none' as const, 'fin-near' as const, 'fin-far' as const, 'rst-far' as const, 'rst-near' as const),
  });
}

interface Step {
  from: Via;
  l4: L4Spec;
  /** An ICMP error whose quote is the last packet the near host sent. */
  quote?: 'last-near';
}

function steps(f: FlowSpec): Step[] {
  const n = f.payload.length;
  const seq = (x: number) => x >>> 0;
  switch (f.proto) {
    case 'tcp': {
      const near = (flags: string, s: number, ack: number, payload?: Uint8Array): Step => ({ from: 'client', l4: tcp({ sport: f.nearPort, dport: f.farPort, flags, seq: seq(s), ack: seq(ack), ...(payload ? { payload } : {}) }) });
      const far = (flags: string, s: number, ack: number, payload?: Uint8Array): Step => ({ from: 'far', l4: tcp({ sport: f.farPort, dport: f.nearPort, flags, seq: seq(s), ack: seq(ack), ...(payload ? { payload } : {}) }) });
      const out = [near('S', f.a, 0), far('SA', f.b, f.a + 1), near('A', f.a + 1, f.b + 1), near('PA', f.a + 1, f.b + 1, f.payload), far('PA', f.b + 1, f.a + 1 + n, f.payload), near('A', f.a + 1 + n, f.b + 1 + n)];
      const ends: Record<FlowSpec['end'], Step[]> = {
        none: [],
        'fin-near': [near('FA', f.a + 1 + n, f.b + 1 + n), far('FA', f.b + 1 + n, f.a + 2 + n), near('A', f.a + 2 + n, f.b + 2 + n)],
        'fin-far': [far('FA', f.b + 1 + n, f.a + 1 + n), near('FA', f.a + 1 + n, f.b + 2 + n), far('A', f.b + 2 + n, f.a + 2 + n)],
        'rst-far': [far('R', f.b + 1 + n, 0)],
        'rst-near': [near('R', f.a + 1 + n, 0)],
      };
      return [...out.filter((_, i) => f.keep[i]), ...ends[f.end]];
    }
    case 'udp': {
      const near: Step = { from: 'client', l4: udp({ sport: f.nearPort, dport: f.farPort, payload: f.payload }) };
      const far: Step = { from: 'far', l4: udp({ sport: f.farPort, dport: f.nearPort, payload: f.payload }) };
      return [near, far, near, far].filter((_, i) => f.keep[i]);
    }
    case 'icmp': {
      const id = f.a & 0xffff;
      const rest = [id >> 8, id & 0xff, 0, 1];
      const request: Step = { from: 'client', l4: icmp({ type: f.family === 'ipv4' ? 8 : 128, rest, payload: f.payload }) };
      const reply: Step = { from: 'far', l4: icmp({ type: f.family === 'ipv4' ? 0 : 129, rest, payload: f.payload }) };
      return [request, reply, request, reply].filter((_, i) => f.keep[i]);
    }
    case 'related': {
      const id = f.a & 0xffff;
      const quoted: L4Spec[] = [
        udp({ sport: f.nearPort, dport: f.farPort, payload: f.payload }),
        icmp({ type: f.family === 'ipv4' ? 8 : 128, rest: [id >> 8, id & 0xff, 0, 1], payload: f.payload }),
        tcp({ sport: f.nearPort, dport: f.farPort, flags: 'S', seq: f.a >>> 0 }),
      ];
      // [type, code]: unreachable, time exceeded, redirect (IPv4) / packet too big (IPv6).
      const errors = f.family === 'ipv4' ? [[3, 3], [11, 0], [5, 1]] : [[1, 4], [3, 0], [2, 0]];
      const [type, code] = errors[f.b % errors.length]!;
      const near: Step = { from: 'client', l4: quoted[f.a % quoted.length]! };
      const error: Step = { from: 'far', l4: icmp({ type, code, ...(type === 2 || type === 5 ? { rest: type === 2 ? [0, 0, 5, 0] : [198, 51, 100, 1] } : {}) }), quote: 'last-near' };
      return [near, error].filter((_, i) => f.keep[i]);
    }
  }
}

/** The frames of a flow, and for each the end it is injected at. */
export function buildFlow(f: FlowSpec): { frames: Uint8Array[]; from: Via[] } {
  const frames: Uint8Array[] = [];
  const from: Via[] = [];
  let lastNear: Uint8Array | undefined;
  for (const step of steps(f)) {
    const [src, dst] = step.from === 'client' ? [f.near, f.far] : [f.far, f.near];
    let l4 = step.l4;
    if (step.quote && lastNear && l4.kind === 'icmp') {
      // The far host quotes the packet as it received it: one hop later.
      const quoted = Uint8Array.from(lastNear);
      if (f.family === 'ipv4') {
        quoted[8] = quoted[8]! - 1;
        setIpv4HeaderChecksum(quoted);
      } else quoted[7] = quoted[7]! - 1;
      l4 = { ...l4, payload: quoted };
    }
    const ip = f.family === 'ipv4' ? ipv4({ src, dst }, l4) : ipv6({ src, dst }, l4);
    if (step.from === 'client') lastNear = ip;
    frames.push(ethernet(ip, step.from === 'client' ? { dst: MAC.serverIn, src: MAC.client } : { dst: MAC.serverOut, src: MAC.far }));
    from.push(step.from);
  }
  return { frames, from };
}

export function describeFlow(f: FlowSpec): string {
  const end = f.proto === 'tcp' && f.end !== 'none' ? ` ${f.end}` : '';
  const missing = f.keep.some((k) => !k) ? ' (steps left out)' : '';
  return `${f.family} ${f.proto} flow ${f.near}:${f.nearPort} <> ${f.far}:${f.farPort}${end}${missing}`;
}
