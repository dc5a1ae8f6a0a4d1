/**
 * The host-configuration reader: the parsers on iproute2's JSON and the sysctl formats, then
 * a real namespace whose TTL/hop-limit sysctls, route hoplimit metrics, addresses and ICMP
 * rate-limit settings are changed and read back (in-process, main thread in the namespace).
 */
import { describe, expect, it } from 'vitest';
import { parseInterfaces, parseRoutes, ratemaskFromBits, ratemaskFromList, readHostConfig } from '../src/runtime/host-config.js';
import { canUseKernel, withPair } from './support/netns.js';

describe('runtime: host configuration parsers', () => {
  it('turns the IPv4 ratemask bits into type ranges (default 6168 = types 3, 4, 11, 12)', () => {
    expect(ratemaskFromBits(6168)).toEqual([[3, 4], [11, 12]]);
    expect(ratemaskFromBits(0)).toEqual([]);
    expect(ratemaskFromBits(0xffffffff)).toEqual([[0, 31]]);
  });

  it('parses the IPv6 ratemask list (default 0-1,3-127; empty = nothing limited)', () => {
    expect(ratemaskFromList('0-1,3-127')).toEqual([[0, 1], [3, 127]]);
    expect(ratemaskFromList('')).toEqual([]);
    expect(ratemaskFromList('1, 3 ,200-255')).toEqual([[1, 1], [3, 3], [200, 255]]);
    expect(ratemaskFromList('9-2,300,x')).toEqual([]);
  });

  it('parses ip -j addr and ip -j route rows', () => {
    const ifs = parseInterfaces([
      {
        ifindex: 3,
        ifname: 'v0',
        flags: ['BROADCAST', 'UP'],
        mtu: 1500,
        link_type: 'ether',
        address: 'b6:42:a1:cf:64:ed',
        addr_info: [
          { family: 'inet', local: '192.0.2.1', prefixlen: 24, scope: 'global', broadcast: '192.0.2.255' },
          { family: 'inet6', local: '2001:db8::1', prefixlen: 64, scope: 'global' },
        ],
      },
      { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK'], mtu: 65536, link_type: 'loopback', address: '00:00:00:00:00:00', addr_info: [] },
    ]);
    expect(ifs[0]).toEqual({
      name: 'v0',
      ifindex: 3,
      mac: 'b6:42:a1:cf:64:ed',
      mtu: 1500,
      up: true,
      addresses: [
        { family: 'ipv4', address: '192.0.2.1', prefixLen: 24, scope: 'global', broadcast: '192.0.2.255' },
        { family: 'ipv6', address: '2001:db8::1', prefixLen: 64, scope: 'global' },
      ],
    });
    expect(ifs[1]).toMatchObject({ name: 'lo', mac: '', up: false, addresses: [] });

    const routes = parseRoutes('ipv4', [
      { dst: 'default', gateway: '192.0.2.254', dev: 'v0', flags: [] },
      { dst: '198.51.100.0/24', gateway: '192.0.2.2', dev: 'v0', flags: [], metrics: [{ hoplimit: 33 }] },
      { type: 'local', dst: '192.0.2.1', dev: 'v0', table: 'local', prefsrc: '192.0.2.1' },
    ]);
    expect(routes).toEqual([
      { family: 'ipv4', dst: '0.0.0.0', prefixLen: 0, type: 'unicast', table: 'main', dev: 'v0', gateway: '192.0.2.254' },
      { family: 'ipv4', dst: '198.51.100.0', prefixLen: 24, type: 'unicast', table: 'main', dev: 'v0', gateway: '192.0.2.2', hoplimit: 33 },
      { family: 'ipv4', dst: '192.0.2.1', prefixLen: 32, type: 'local', table: 'local', dev: 'v0', prefsrc: '192.0.2.1' },
    ]);
    expect(parseRoutes('ipv6', [{ dst: '2001:db8:1::/64', metrics: [{ hoplimit: 44 }] }])[0]).toMatchObject({ dst: '2001:db8:1::', prefixLen: 64, hoplimit: 44 });
  });
});

describe.skipIf(!canUseKernel())('runtime: host configuration of a namespace (needs root)', () => {
  it('reads TTL/hop-limit sysctls, route metrics, addresses and ICMP rate limits', async () => {
    await withPair(
      (pair) => {
        pair.a.exec([
          'sysctl',
          '-qw',
          'net.ipv4.ip_default_ttl=99',
          'net.ipv6.conf.all.hop_limit=77',
          `net.ipv6.conf.${pair.ifA}.hop_limit=55`,
          'net.ipv4.icmp_ratemask=0',
          'net.ipv4.icmp_ratelimit=500',
          'net.ipv6.icmp.ratelimit=0',
        ]);
        pair.a.exec(['sh', '-c', 'echo > /proc/sys/net/ipv6/icmp/ratemask']);
        pair.a.exec(['ip', 'route', 'add', '198.51.100.0/24', 'via', pair.endB.ipv4, 'hoplimit', '33']);
        pair.a.exec(['ip', '-6', 'route', 'add', '2001:db8:9::/64', 'via', pair.endB.ipv6, 'hoplimit', '44']);

        const cfg = pair.a.run(() => readHostConfig([pair.ifA]));
        expect(cfg.ipv4.defaultTtl).toBe(99);
        expect(cfg.ipv4.icmp).toEqual({ ratelimitMs: 500, ratemask: [] });
        expect(cfg.ipv6.allHopLimit).toBe(77);
        expect(cfg.ipv6.devHopLimit).toEqual({ [pair.ifA]: 55 });
        expect(cfg.ipv6.icmp).toEqual({ ratelimitMs: 0, ratemask: [] });
        expect(cfg.icmpGlobal.msgsPerSec).toBeGreaterThan(0);
        expect(cfg.fwmarkReflect).toEqual({ ipv4: false, ipv6: false });
        expect([100, 250, 300, 1000]).toContain(cfg.hz);
        expect(cfg.interfaces.map((i) => i.name)).toEqual([pair.ifA]);
        const [veth] = cfg.interfaces;
        expect(veth!.ifindex).toBe(pair.a.ifindex(pair.ifA));
        expect(veth!.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
        expect(veth!.addresses).toEqual(
          expect.arrayContaining([
            expect.objectContaining({ family: 'ipv4', address: '192.0.2.1', prefixLen: 24 }),
            expect.objectContaining({ family: 'ipv6', address: '2001:db8::1', prefixLen: 64 }),
          ]),
        );
        expect(cfg.routes).toEqual(
          expect.arrayContaining([
            expect.objectContaining({ family: 'ipv4', dst: '198.51.100.0', prefixLen: 24, hoplimit: 33, dev: pair.ifA }),
            expect.objectContaining({ family: 'ipv6', dst: '2001:db8:9::', prefixLen: 64, hoplimit: 44 }),
            expect.objectContaining({ family: 'ipv4', type: 'local', dst: '192.0.2.1', table: 'local' }),
          ]),
        );
        // The root namespace keeps its own values: nothing leaked out of the namespace.
        expect(readHostConfig([]).ipv4.defaultTtl).not.toBe(99);
      },
      { tag: 'hc' },
    );
  });
});
