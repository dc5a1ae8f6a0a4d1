/**
 * The BPF reply path live, between throwaway namespaces joined by veth: the test harness
 * (test/bpf/harness.bpf.c) attached at TC ingress of the replying host makes real sockets on
 * the peer fail exactly as the kernel's own REJECT does in an identical namespace pair:
 * connect() gets ECONNREFUSED from our RST, a UDP send gets the ICMP / ICMPv6 error of every
 * reject type through IP_RECVERR (errno, type, code, offender).
 *
 * It also proves the two kernel-interaction paths that test-run cannot exercise matter:
 * - CHECKSUM_PARTIAL: a SYN from a local TCP stack over veth is CHECKSUM_PARTIAL; with TX
 *   checksum offload off on the replying device the kernel completes the RST's checksum in
 *   software from the field's content. Our RST (pseudo-header seed in the field) refuses the
 *   connect; the same program writing a full checksum (RJC_TEST_NO_PARTIAL_SEED) lets it time out.
 * - non-linear skbs: a SYN sent through AF_PACKET with a 14-byte linear part (PACKET_VNET_HDR)
 *   has its IP and TCP headers in page fragments. The program pulls them and answers with the
 *   same RST test-run computes for that frame; without the pull (RJC_TEST_NO_PULL) the SYN
 *   reaches the stack and the listener behind it answers SYN-ACK.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHAIN_NONE, REJECT_TYPES, encodeStruct, rejectCode, structLayout } from '../src/layout/index.js';
import { BpfObject, attachTc, findIfindex, u32 } from '../src/runtime/libbpf.js';
import { readHostConfig } from '../src/runtime/host-config.js';
import { writeHostMaps } from '../src/runtime/host-maps.js';
import { probeTcp, probeUdp, startProbe } from '../src/runtime/probe.js';
import type { RejectWith } from '../src/compiler/ir.js';
import { createPair, stop, type Netns, type Pair } from './support/netns.js';
import { ethernet, ipv4, tcp } from './support/packets.js';
import { buildHarness } from './bpf/golden.js';

const root = resolve(import.meta.dirname, '..');
const LIVE_PROBE = join(root, 'test/bpf/live-probe.py');
const harnessConfig = structLayout('rjc_harness_config');
const PORT = 9;

interface Side {
  pair: Pair;
  macA: string;
  macB: string;
}

function liveProbe<T>(ns: string, args: readonly string[]): T {
  const res = spawnSync('ip', ['netns', 'exec', ns, 'python3', LIVE_PROBE, ...args], { encoding: 'utf8', timeout: 20_000 });
  if (res.status !== 0) throw new Error(`live-probe ${args[0]} failed: ${res.stderr}`);
  return JSON.parse(res.stdout.trim()) as T;
}

/** A pair with static neighbours both ways (the harness rejects IPv6 neighbour discovery too). */
function makeSide(tag: string): Side {
  const pair = createPair({ tag });
  const mac = (ns: Pair['a'], ifname: string) => ns.exec(['cat', `/sys/class/net/${ifname}/address`]).stdout.trim();
  const side = { pair, macA: mac(pair.a, pair.ifA), macB: mac(pair.b, pair.ifB) };
  for (const [ns, ifname, peer] of [
    [pair.a, pair.ifA, pair.endB],
    [pair.b, pair.ifB, pair.endA],
  ] as const) {
    const lladdr = ns === pair.a ? side.macB : side.macA;
    for (const addr of [peer.ipv4, peer.ipv6]) ns.exec(['ip', 'neigh', 'replace', addr, 'lladdr', lladdr, 'dev', ifname, 'nud', 'permanent']);
  }
  return side;
}

describe('BPF reply path live over veth, compared with the kernel REJECT', () => {
  let ours: Side;
  let kernel: Side;
  const objects: BpfObject[] = [];
  let harness: BpfObject;

  /** Loads a harness variant, fills its host maps from our replying namespace, attaches it. */
  function attach(defines: string[] = []): BpfObject {
    const obj = BpfObject.open(buildHarness('tc', defines));
    objects.push(obj);
    obj.load();
    ours.pair.b.run(() => {
      writeHostMaps(obj, readHostConfig());
      attachTc(obj.program('harness_ingress'), { ifindex: findIfindex(ours.pair.ifB)!, direction: 'ingress', handle: 1, priority: 1, replace: true });
    });
    return obj;
  }

  function setOurs(obj: BpfObject, withType: RejectWith): void {
    obj.map('rjc_harness').update(u32(0), encodeStruct(harnessConfig, { reject_with: rejectCode(withType), chain: CHAIN_NONE }));
  }

  function setKernel(family: 'ipv4' | 'ipv6', proto: 'tcp' | 'udp', withType: RejectWith): void {
    const tool = family === 'ipv4' ? 'iptables' : 'ip6tables';
    kernel.pair.b.exec([tool, '-F', 'INPUT']);
    kernel.pair.b.exec([tool, '-A', 'INPUT', '-p', proto, '-j', 'REJECT', '--reject-with', withType]);
  }

  beforeAll(() => {
    ours = makeSide('lo');
    kernel = makeSide('lk');
    // The kernel rate-limits ICMP errors; the captures and this comparison turn that off.
    kernel.pair.b.exec(['sysctl', '-qw', 'net.ipv4.icmp_ratemask=0', 'net.ipv6.icmp.ratemask=']);
    harness = attach();
  });

  afterAll(() => {
    ours?.pair.cleanup();
    kernel?.pair.cleanup();
    for (const obj of objects) obj.close();
  });

  it('connect() is refused by our RST as by the kernel (IPv4 and IPv6)', () => {
    setOurs(harness, 'tcp-reset');
    for (const [family, host] of [
      ['ipv4', '192.0.2.2'],
      ['ipv6', '2001:db8::2'],
    ] as const) {
      setKernel(family, 'tcp', 'tcp-reset');
      const theirs = probeTcp(kernel.pair.a.name, host, PORT);
      const mine = probeTcp(ours.pair.a.name, host, PORT);
      expect(theirs).toEqual({ result: 'refused', errno: 'ECONNREFUSED' });
      expect(mine, family).toEqual(theirs);
    }
  });

  it('a UDP send gets the same ICMP/ICMPv6 error as from the kernel, for every ICMP reject type', () => {
    const icmpTypes = REJECT_TYPES.filter((t) => t.icmp);
    expect(icmpTypes).toHaveLength(13);
    for (const t of icmpTypes) {
      const family = t.family === 'ipv6' ? 'ipv6' : 'ipv4';
      const host = family === 'ipv4' ? '192.0.2.2' : '2001:db8::2';
      setOurs(harness, t.name);
      setKernel(family, 'udp', t.name);
      const theirs = probeUdp(kernel.pair.a.name, host, PORT);
      const mine = probeUdp(ours.pair.a.name, host, PORT);
      expect(theirs.result, `kernel, ${t.name}`).toBe('error');
      expect(theirs.icmp).toEqual({ type: t.icmp!.type, code: t.icmp!.code, offender: host });
      expect(mine, t.name).toEqual(theirs);
    }
  });

  it('OUTPUT (TC egress): a local connect() is refused and a local UDP send gets the ICMP error, delivered to the sender through lo', () => {
    // The harness at egress of the client's own device: its locally generated packets are
    // OUTPUT, the reply is redirected into its own stack through lo (BPF_F_INGRESS), where the
    // kernel's own reply to a local packet comes in: both clients' INPUT accept only `-i lo`.
    const egress = BpfObject.open(buildHarness('tc'));
    objects.push(egress);
    egress.load();
    const a = ours.pair.a;
    a.run(() => {
      writeHostMaps(egress, readHostConfig());
      attachTc(egress.program('harness_egress'), { ifindex: findIfindex(ours.pair.ifA)!, direction: 'egress', handle: 1, priority: 1 });
    });
    setOurs(harness, 'tcp-reset'); // B's ingress never sees the packets: they are rejected at A's egress
    const onlyLo = (ns: Netns, tool: string) => {
      ns.exec([tool, '-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT']);
      ns.exec([tool, '-A', 'INPUT', '-j', 'DROP']);
    };
    try {
      kernel.pair.b.exec(['iptables', '-F', 'INPUT']);
      kernel.pair.b.exec(['ip6tables', '-F', 'INPUT']);
      for (const tool of ['iptables', 'ip6tables']) for (const ns of [a, kernel.pair.a]) onlyLo(ns, tool);
      for (const [family, host] of [
        ['ipv4', '192.0.2.2'],
        ['ipv6', '2001:db8::2'],
      ] as const) {
        const tool = family === 'ipv4' ? 'iptables' : 'ip6tables';
        // --dport: the kernel's RST (from port 9) traverses OUTPUT too and must not match.
        kernel.pair.a.exec([tool, '-A', 'OUTPUT', '-p', 'tcp', '--dport', String(PORT), '-j', 'REJECT', '--reject-with', 'tcp-reset']);
        setOurs(egress, 'tcp-reset');
        const theirs = probeTcp(kernel.pair.a.name, host, PORT);
        const mine = probeTcp(a.name, host, PORT);
        expect(theirs).toEqual({ result: 'refused', errno: 'ECONNREFUSED' });
        expect(mine, family).toEqual(theirs);
        kernel.pair.a.exec([tool, '-F', 'OUTPUT']);

        // UDP: the kernel's REJECT in OUTPUT makes send() fail with EPERM (NF_DROP in LOCAL_OUT)
        // and queues the ICMP error; from TC egress the send succeeds and the error arrives.
        // Its IPv4 source is the peer, not our own address, which the ingress path would drop
        // as a martian (bpf/KNOWN-DIFFERENCES.md); IPv6 keeps the kernel's local source.
        const withType = family === 'ipv4' ? 'icmp-admin-prohibited' : 'icmp6-adm-prohibited';
        setOurs(egress, withType);
        const udp = probeUdp(a.name, host, PORT);
        expect(udp, family).toEqual({
          result: 'error',
          errno: family === 'ipv4' ? 'EHOSTUNREACH' : 'EACCES',
          icmp: { type: family === 'ipv4' ? 3 : 1, code: family === 'ipv4' ? 13 : 1, offender: family === 'ipv4' ? '192.0.2.2' : '2001:db8::1' },
        });
      }

      // Strict rp_filter: an IPv4 reply from a remote address entering lo is a martian, so
      // the runtime has IPv4 replies enter through the device (RJC_CFG_F_OUTPUT_VIA_DEV4)...
      for (const tool of ['iptables', 'ip6tables']) a.exec([tool, '-F', 'INPUT']);
      a.exec(['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=1']);
      setOurs(egress, 'tcp-reset');
      const strict = a.run(() => readHostConfig());
      expect(strict.ipv4.loRpFilter).toBe(1);
      a.run(() => writeHostMaps(egress, strict));
      expect(probeTcp(a.name, '192.0.2.2', PORT), 'strict rp_filter, through the device').toEqual({ result: 'refused', errno: 'ECONNREFUSED' });
      expect(probeTcp(a.name, '2001:db8::2', PORT), 'IPv6 has no rp_filter: through lo').toEqual({ result: 'refused', errno: 'ECONNREFUSED' });
      // ...which it must: through lo the same RST is dropped.
      a.run(() => writeHostMaps(egress, { ...strict, ipv4: { ...strict.ipv4, loRpFilter: 0 } }));
      expect(probeTcp(a.name, '192.0.2.2', PORT, 1).result, 'strict rp_filter, through lo').toBe('timeout');
    } finally {
      a.exec(['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0']);
      for (const tool of ['iptables', 'ip6tables']) for (const ns of [a, kernel.pair.a]) ns.exec([tool, '-F', 'INPUT']);
      a.exec(['tc', 'qdisc', 'del', 'dev', ours.pair.ifA, 'clsact'], { allowFail: true });
    }
  });

  it('CHECKSUM_PARTIAL with IPv4 options / an IPv6 hop-by-hop header: connect() is refused by our RST as by the kernel\'s', () => {
    // A local SYN carrying options is CHECKSUM_PARTIAL with its TCP header behind them; the
    // RST, written where the orig's headers were, must keep the checksum field the skb points
    // at inside the packet (it was trimmed off before: no RST, "build-failed").
    setOurs(harness, 'tcp-reset');
    const rr = '070b040000000000000000' + '01'; // Record Route, 2 slots, then NOP to 12 bytes
    const hbh = '0000010400000000'; // hop-by-hop: PadN of 4
    // TX checksum offload on (the skb crosses the veth still PARTIAL) and off (the kernel
    // completes the checksum in software at csum_start: it must be the RST's own field).
    for (const txcsum of ['on', 'off']) {
      for (const side of [ours, kernel]) liveProbe(side.pair.b.name, ['txcsum', side.pair.ifB, txcsum]);
      for (const [family, host, opts] of [
        ['ipv4', '192.0.2.2', rr],
        ['ipv6', '2001:db8::2', hbh],
      ] as const) {
        setKernel(family, 'tcp', 'tcp-reset');
        const theirs = liveProbe<{ result: string }>(kernel.pair.a.name, ['connect', host, String(PORT), opts, '2']);
        const mine = liveProbe<{ result: string }>(ours.pair.a.name, ['connect', host, String(PORT), opts, '2']);
        expect(theirs, `kernel, ${family}, tx checksum offload ${txcsum}`).toEqual({ result: 'refused' });
        expect(mine, `${family}, tx checksum offload ${txcsum}`).toEqual(theirs);
      }
    }
    for (const side of [ours, kernel]) liveProbe(side.pair.b.name, ['txcsum', side.pair.ifB, 'on']);
  });

  it('CHECKSUM_PARTIAL: with TX checksum offload off, our RST refuses connect(); a full checksum in its field would not', () => {
    setOurs(harness, 'tcp-reset');
    setKernel('ipv4', 'tcp', 'tcp-reset');
    for (const side of [ours, kernel]) liveProbe(side.pair.b.name, ['txcsum', side.pair.ifB, 'off']);
    try {
      expect(probeTcp(kernel.pair.a.name, '192.0.2.2', PORT).result).toBe('refused');
      expect(probeTcp(ours.pair.a.name, '192.0.2.2', PORT).result).toBe('refused');
      expect(probeTcp(ours.pair.a.name, '2001:db8::2', PORT).result).toBe('refused');

      const control = attach(['RJC_TEST_NO_PARTIAL_SEED']);
      setOurs(control, 'tcp-reset');
      expect(probeTcp(ours.pair.a.name, '192.0.2.2', PORT, 1).result, 'full checksum in a PARTIAL skb').toBe('timeout');
    } finally {
      attach(); // back to the real harness
      harness = objects[objects.length - 1]!;
      for (const side of [ours, kernel]) liveProbe(side.pair.b.name, ['txcsum', side.pair.ifB, 'on']);
    }
  });

  it('non-linear skb: headers in page fragments are pulled and answered with the kernel REJECT\'s RST', async () => {
    setOurs(harness, 'tcp-reset');
    setKernel('ipv4', 'tcp', 'tcp-reset');
    // AF_PACKET allocates frames under a page linear whatever PACKET_VNET_HDR says
    // (packet_alloc_skb), and test-run takes no frame over a page: send a 4 KiB SYN (with
    // data) over a jumbo MTU to both pairs and compare the replies. TX checksum offload off on
    // the kernel's side, so its RST carries the final checksum on the wire.
    for (const side of [ours, kernel]) {
      side.pair.a.exec(['ip', 'link', 'set', side.pair.ifA, 'mtu', '9000']);
      side.pair.b.exec(['ip', 'link', 'set', side.pair.ifB, 'mtu', '9000']);
    }
    liveProbe(kernel.pair.b.name, ['txcsum', kernel.pair.ifB, 'off']);
    const listener = await startProbe(ours.pair.b.name, ['serve', '8080']);
    try {
      const payload = Buffer.alloc(4200, 0x61);
      const synTo = (side: Side) =>
        Buffer.from(
          ethernet(ipv4({ src: '192.0.2.1', dst: '192.0.2.2', id: 0x4242, df: true }, tcp({ sport: 40000, dport: 8080, seq: 1000, flags: 'S', payload })), {
            dst: side.macB,
            src: side.macA,
          }),
        ).toString('hex');
      const send = (side: Side) => liveProbe<{ reply: string | null }>(side.pair.a.name, ['raw', side.pair.ifA, synTo(side), '2000', '14']).reply;

      const theirs = send(kernel);
      const mine = send(ours);
      expect(theirs, 'kernel RST').not.toBeNull();
      expect(mine, 'our RST').not.toBeNull();
      const ip = (hex: string) => Buffer.from(hex, 'hex').subarray(14);
      expect(ip(theirs!)[20 + 13], 'RST|ACK').toBe(0x14);
      expect(ip(theirs!).readUInt32BE(20 + 8), 'ack = seq + SYN + payload').toBe(1000 + 1 + payload.length);
      expect(ip(mine!).toString('hex')).toBe(ip(theirs!).toString('hex'));

      const control = attach(['RJC_TEST_NO_PULL']);
      setOurs(control, 'tcp-reset');
      const passed = send(ours);
      expect(passed).not.toBeNull();
      expect(ip(passed!)[20 + 13], 'without the pull the SYN reaches the stack: SYN-ACK').toBe(0x12);
    } finally {
      await stop(listener.child);
      liveProbe(kernel.pair.b.name, ['txcsum', kernel.pair.ifB, 'on']);
      attach();
      harness = objects[objects.length - 1]!;
    }
  });
});
