/**
 * Reply-path behaviours the golden captures do not contain, each checked against the rule of
 * nf-reject.md (or bpf/KNOWN-DIFFERENCES.md) it implements, through test-run of the harness in
 * namespaces built like the golden hosts: route hoplimit metrics for IPv4 RSTs in FORWARD and
 * for IPv6 replies, a FORWARD chain forced on a host without forwarding, reject types of the
 * other family, VLAN-tagged frames in XDP, frames the stack drops before netfilter, and XDP's
 * recognition of a CHECKSUM_PARTIAL sender.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RejectWith } from '../src/compiler/ir.js';
import { CHAIN_IDS, CHAIN_NONE, NO_REPLY_REASONS, decodeStruct, encodeStruct, rejectCode, structLayout } from '../src/layout/index.js';
import { BpfObject, TC_ACT, XDP_ACTION, findIfindex, u32 } from '../src/runtime/libbpf.js';
import { readHostConfig } from '../src/runtime/host-config.js';
import { writeHostMaps } from '../src/runtime/host-maps.js';
import { ethernet, ipv4, ipv6, tcp, udp } from './support/packets.js';
import { REPLIER_MAC, SENDER_MAC, buildHarness, createGoldenHost, type GoldenHost } from './bpf/golden.js';

const harnessConfig = structLayout('rjc_harness_config');
const harnessResult = structLayout('rjc_harness_result');
const reasonName = (code: number) => NO_REPLY_REASONS.find((r) => r.code === code)?.name ?? (code === 255 ? 'replied' : `#${code}`);

type Flavor = 'tc' | 'xdp';

describe('reply path: behaviours beyond the golden captures', () => {
  const objects = {} as Record<Flavor, BpfObject>;
  const hosts: GoldenHost[] = [];

  beforeAll(() => {
    for (const flavor of ['tc', 'xdp'] as const) {
      objects[flavor] = BpfObject.open(buildHarness(flavor));
      objects[flavor].load();
    }
  });
  afterAll(() => {
    for (const h of hosts) h.cleanup();
    for (const o of Object.values(objects)) o?.close();
  });

  function host(kind: 'direct' | 'forward', setup: string[] = []): GoldenHost {
    const h = createGoldenHost(kind, setup);
    hosts.push(h);
    return h;
  }

  /** Test-runs `frame` at the host's device with the harness rejecting with `withType`. */
  function reject(h: GoldenHost, flavor: Flavor, frame: Uint8Array, withType: RejectWith, forced: number = CHAIN_NONE) {
    const obj = objects[flavor];
    return h.ns.run(() => {
      writeHostMaps(obj, readHostConfig());
      obj.map('rjc_harness').update(u32(0), encodeStruct(harnessConfig, { reject_with: rejectCode(withType), chain: forced }));
      const ifindex = findIfindex(h.ifname)!;
      const run = obj
        .program(flavor === 'tc' ? 'harness_ingress' : 'harness_xdp')
        .testRun({ data: frame, ctx: flavor === 'tc' ? { kind: 'skb', ifindex, ingressIfindex: ifindex } : { kind: 'xdp', ingressIfindex: ifindex } });
      const out = decodeStruct(harnessResult, obj.map('rjc_harness_out').lookup(u32(0))!) as Record<string, number>;
      return { retval: run.retval, data: run.data, parse: out.parse!, chain: out.chain!, reason: reasonName(out.reason!) };
    });
  }

  const syn4 = (src: string, dst: string, mac = REPLIER_MAC) =>
    ethernet(ipv4({ src, dst, ttl: 64 }, tcp({ sport: 40000, dport: 80, seq: 1000, flags: 'S' })), { dst: mac, src: SENDER_MAC });
  const syn6 = (src: string, dst: string) => ethernet(ipv6({ src, dst, hopLimit: 64 }, tcp({ sport: 40000, dport: 80, seq: 1000, flags: 'S' })), { dst: REPLIER_MAC, src: SENDER_MAC });
  const udp4 = (src: string, dst: string) => ethernet(ipv4({ src, dst, ttl: 64 }, udp({ sport: 40000, dport: 53, payload: [1, 2, 3, 4] })), { dst: REPLIER_MAC, src: SENDER_MAC });
  const udp6 = (src: string, dst: string) => ethernet(ipv6({ src, dst, hopLimit: 64 }, udp({ sport: 40000, dport: 53, payload: [1, 2, 3, 4] })), { dst: REPLIER_MAC, src: SENDER_MAC });

  it('IPv4 RST in FORWARD takes its TTL from the route toward the orig destination (nf-reject.md §4.2)', () => {
    const h = host('forward', ['ip route replace 198.51.100.128/25 dev rC proto kernel scope link src 198.51.100.129 hoplimit 33']);
    for (const flavor of ['tc', 'xdp'] as const) {
      const r = reject(h, flavor, syn4('198.51.100.1', '198.51.100.130'), 'tcp-reset');
      expect(r.chain).toBe(CHAIN_IDS.FORWARD);
      expect(r.reason).toBe('replied');
      expect(r.data[14 + 8], `${flavor}: RST TTL`).toBe(33);
      // The ICMP error's TTL comes from the route back (no metric): ip_default_ttl.
      const icmp = reject(h, flavor, udp4('198.51.100.1', '198.51.100.130'), 'icmp-port-unreachable');
      expect(icmp.data[14 + 8], `${flavor}: ICMP TTL`).toBe(64);
      expect([...icmp.data.subarray(14 + 12, 14 + 16)].join('.'), 'ICMP source: the router, by the route back').toBe('198.51.100.126');
    }
  });

  it('IPv6 replies take the hoplimit metric of the route back before the device hop_limit (§6.2, §7.2)', () => {
    const h = host('direct', ['ip -6 route replace 2001:db8::/64 dev vB metric 256 hoplimit 33', 'sysctl -qw net.ipv6.conf.vB.hop_limit=77']);
    for (const flavor of ['tc', 'xdp'] as const) {
      expect(reject(h, flavor, syn6('2001:db8::1', '2001:db8::2'), 'tcp-reset').data[14 + 7], `${flavor} RST`).toBe(33);
      expect(reject(h, flavor, udp6('2001:db8::1', '2001:db8::2'), 'icmp6-port-unreachable').data[14 + 7], `${flavor} ICMPv6`).toBe(33);
    }
    // Without the metric the device's hop_limit applies (golden v6-*-hoplimit-dev is 77 too).
    const plain = host('direct', ['sysctl -qw net.ipv6.conf.vB.hop_limit=77']);
    expect(reject(plain, 'tc', syn6('2001:db8::1', '2001:db8::2'), 'tcp-reset').data[14 + 7]).toBe(77);
  });

  it('a FORWARD chain forced on a host without forwarding: IPv4 ICMP from 192.0.0.8, no ICMPv6 (KNOWN-DIFFERENCES.md)', () => {
    const h = host('direct');
    const v4 = reject(h, 'tc', udp4('192.0.2.1', '203.0.113.9'), 'icmp-port-unreachable', CHAIN_IDS.FORWARD);
    expect(v4.chain).toBe(CHAIN_IDS.FORWARD);
    expect(v4.reason).toBe('replied');
    expect([...v4.data.subarray(14 + 12, 14 + 16)].join('.')).toBe('192.0.0.8');
    expect(v4.data[14 + 20 + 8 + 8], 'quoted TTL already decremented').toBe(63);
    const v6 = reject(h, 'tc', udp6('2001:db8::1', '2001:db8:9::9'), 'icmp6-port-unreachable', CHAIN_IDS.FORWARD);
    expect(v6.reason).toBe('no-route');
    expect(v6.retval).toBe(TC_ACT.SHOT);
  });

  it('a reject type of the other family sends nothing (wrong-family) and drops', () => {
    const h = host('direct');
    for (const [frame, withType] of [
      [udp4('192.0.2.1', '192.0.2.2'), 'icmp6-port-unreachable'],
      [udp6('2001:db8::1', '2001:db8::2'), 'icmp-port-unreachable'],
    ] as const) {
      const r = reject(h, 'tc', frame, withType);
      expect(r.reason).toBe('wrong-family');
      expect(r.retval).toBe(TC_ACT.SHOT);
    }
  });

  it('XDP answers a VLAN-tagged frame keeping the tag (TC sees tags out of band and leaves such frames alone)', () => {
    const h = host('direct');
    const tagged = ethernet(ipv4({ src: '192.0.2.1', dst: '192.0.2.2' }, tcp({ sport: 40000, dport: 80, seq: 7, flags: 'S' })), { dst: REPLIER_MAC, src: SENDER_MAC, vlans: [100] });
    const x = reject(h, 'xdp', tagged, 'tcp-reset');
    expect(x.retval).toBe(XDP_ACTION.TX);
    expect(x.data.length).toBe(18 + 40);
    expect(x.data.subarray(12, 18).toString('hex'), 'tag and EtherType kept').toBe('8100006408' + '00');
    expect(x.data.readUInt32BE(18 + 20 + 8), 'ack').toBe(8);
    const t = reject(h, 'tc', tagged, 'tcp-reset');
    expect(t.parse).toBe(1); // not IP for TC
    expect(t.retval).toBe(TC_ACT.OK);
  });

  it('frames the stack drops before netfilter are passed to it untouched (bad header checksum, martian source, source route)', () => {
    const h = host('direct');
    const badSum = ethernet(ipv4({ src: '192.0.2.1', dst: '192.0.2.2', headerChecksum: 'bad' }, tcp({ sport: 1, dport: 2, flags: 'S' })), { dst: REPLIER_MAC, src: SENDER_MAC });
    const martian = syn4('192.0.2.2', '192.0.2.2'); // our own address as source
    const lsrr = ethernet(ipv4({ src: '192.0.2.1', dst: '192.0.2.2', options: [131, 7, 4, 192, 0, 2, 9] }, tcp({ sport: 1, dport: 2, flags: 'S' })), { dst: REPLIER_MAC, src: SENDER_MAC });
    for (const flavor of ['tc', 'xdp'] as const) {
      const pass = flavor === 'tc' ? TC_ACT.OK : XDP_ACTION.PASS;
      const a = reject(h, flavor, badSum, 'tcp-reset');
      expect([a.parse, a.retval]).toEqual([2, pass]);
      const b = reject(h, flavor, martian, 'tcp-reset');
      expect([b.parse, b.chain, b.retval]).toEqual([0, CHAIN_NONE, pass]);
      const c = reject(h, flavor, lsrr, 'tcp-reset');
      expect([c.parse, c.chain, c.retval]).toEqual([0, CHAIN_NONE, pass]);
      expect(Buffer.from(a.data).equals(Buffer.from(badSum)), 'untouched').toBe(true);
    }
  });

  it('the reply carries mark 0 unless fwmark_reflect is configured (IP4_REPLY_MARK / IP6_REPLY_MARK)', () => {
    const h = host('direct');
    const obj = objects.tc;
    const run = (flags: number) =>
      h.ns.run(() => {
        writeHostMaps(obj, readHostConfig());
        obj.map('rjc_config').update(u32(0), encodeStruct(structLayout('rjc_config'), { ip_default_ttl: 64, flags }));
        obj.map('rjc_harness').update(u32(0), encodeStruct(harnessConfig, { reject_with: rejectCode('tcp-reset'), chain: CHAIN_NONE }));
        const ifindex = findIfindex(h.ifname)!;
        const r = obj.program('harness_ingress').testRun({ data: syn4('192.0.2.1', '192.0.2.2'), ctx: { kind: 'skb', ifindex, ingressIfindex: ifindex, mark: 0x42 } });
        expect(r.retval).toBe(TC_ACT.REDIRECT);
        return r.ctx?.kind === 'skb' ? r.ctx.mark : undefined;
      });
    expect(run(0)).toBe(0);
    expect(run(1 /* RJC_CFG_F_FWMARK_REFLECT4 */)).toBe(0x42);
  });

  it('XDP takes a TCP checksum field holding the pseudo-header seed for a CHECKSUM_PARTIAL sender; TC (CHECKSUM_NONE in test-run) does not', () => {
    const h = host('direct');
    // Pseudo-header sum of 192.0.2.1 -> 192.0.2.2, TCP, 20 bytes, folded, not complemented:
    // what a local stack leaves in the field of a CHECKSUM_PARTIAL segment.
    let sum = 0xc000 + 0x0201 + 0xc000 + 0x0202 + 6 + 20;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    const partial = ethernet(ipv4({ src: '192.0.2.1', dst: '192.0.2.2' }, tcp({ sport: 40000, dport: 80, seq: 1, flags: 'S', checksum: sum })), { dst: REPLIER_MAC, src: SENDER_MAC });
    expect(reject(h, 'xdp', partial, 'tcp-reset').reason).toBe('replied');
    expect(reject(h, 'tc', partial, 'tcp-reset').reason).toBe('bad-checksum');
    const wrong = ethernet(ipv4({ src: '192.0.2.1', dst: '192.0.2.2' }, tcp({ sport: 40000, dport: 80, seq: 1, flags: 'S', checksum: sum ^ 1 })), { dst: REPLIER_MAC, src: SENDER_MAC });
    expect(reject(h, 'xdp', wrong, 'tcp-reset').reason).toBe('bad-checksum');
  });
});
