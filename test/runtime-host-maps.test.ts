/**
 * Host configuration → the reply path's config maps (src/layout): entries computed from a
 * namespace whose sysctls, routes and addresses are set by the test, written into a loaded
 * program's maps, and read back through the kernel (LPM lookups give the kernel's longest
 * match). Needs root; skips otherwise.
 */
import { describe, expect, it } from 'vitest';
import { ADDR6_ANY_DEVICE, decodeStruct, structLayout } from '../src/layout/index.js';
import { readHostConfig } from '../src/runtime/host-config.js';
import { hostMapEntries, writeHostMaps } from '../src/runtime/host-maps.js';
import { BpfObject, u32 } from '../src/runtime/libbpf.js';
import { buildFixture } from './fixtures/runtime/build.js';
import { canUseKernel, withPair } from './support/netns.js';

const route4Key = (prefixlen: number, addr: string) => {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(prefixlen, 0);
  addr.split('.').forEach((o, i) => b.writeUInt8(Number(o), 4 + i));
  return b;
};

describe.skipIf(!canUseKernel())('runtime: host configuration maps (needs root)', () => {
  it('fills rjc_config, rjc_dev, rjc_route4/6 and rjc_addr4/6 from a namespace', async () => {
    await withPair(
      (pair) => {
        pair.a.exec(['sysctl', '-qw', 'net.ipv4.ip_default_ttl=99', 'net.ipv6.conf.all.hop_limit=77', `net.ipv6.conf.${pair.ifA}.hop_limit=55`, 'net.ipv6.fwmark_reflect=1']);
        pair.a.exec(['ip', 'route', 'add', '198.51.100.0/24', 'via', pair.endB.ipv4, 'hoplimit', '33']);
        pair.a.exec(['ip', '-6', 'route', 'add', '2001:db8:9::/64', 'via', pair.endB.ipv6, 'hoplimit', '44']);
        pair.a.exec(['ip', '-6', 'addr', 'add', 'fe80::99/64', 'dev', pair.ifA, 'nodad']);
        const cfg = pair.a.run(() => readHostConfig());
        const entries = hostMapEntries(cfg);
        expect(entries.rjc_config).toHaveLength(1);
        expect(entries.rjc_addr4.length).toBeGreaterThanOrEqual(3); // 127.0.0.1, 192.0.2.1, 192.0.2.255 (+ 127 broadcast)

        const obj = BpfObject.open(buildFixture('host-maps'));
        try {
          obj.load();
          const written = writeHostMaps(obj, cfg);
          expect(written.sort()).toEqual(['rjc_addr4', 'rjc_addr6', 'rjc_config', 'rjc_dev', 'rjc_route4', 'rjc_route6']);
          const config = decodeStruct(structLayout('rjc_config'), obj.map('rjc_config').lookup(u32(0))!);
          expect(config).toMatchObject({ ip_default_ttl: 99, ipv6_all_hop_limit: 77, flags: 2 }); // RJC_CFG_F_FWMARK_REFLECT6
          const ifindex = pair.a.ifindex(pair.ifA);
          expect(decodeStruct(structLayout('rjc_dev_config'), obj.map('rjc_dev').lookup(u32(ifindex))!)).toMatchObject({ ipv6_hop_limit: 55 });

          // LPM: an address inside 198.51.100.0/24 finds the hoplimit-33 route; one on the link finds 0.
          const info = (k: Buffer) => decodeStruct(structLayout('rjc_route_info'), obj.map('rjc_route4').lookup(k)!);
          expect(info(route4Key(32, '198.51.100.7'))).toMatchObject({ hoplimit: 33 });
          expect(info(route4Key(32, '192.0.2.9'))).toMatchObject({ hoplimit: 0 });
          expect(obj.map('rjc_route4').lookup(route4Key(32, '203.0.113.1'))).toBeUndefined(); // no default route

          const addrInfo = (a: string) => {
            const v = obj.map('rjc_addr4').lookup(route4Key(0, a).subarray(4));
            return v && decodeStruct(structLayout('rjc_addr_info'), v);
          };
          expect(addrInfo('192.0.2.1')).toMatchObject({ type: 1, ifindex });
          expect(addrInfo('192.0.2.255')).toMatchObject({ type: 2, ifindex });
          expect(addrInfo('192.0.2.2')).toBeUndefined();
          const v6 = [...obj.map('rjc_addr6').keys()].map((k) => decodeStruct(structLayout('rjc_addr6_key'), k));
          expect(v6).toEqual(expect.arrayContaining([{ ifindex: 0, addr: '2001:db8::1' }]));
          // Link-local addresses are keyed with their device.
          const linkLocal = v6.filter((k) => String(k['addr']).startsWith('fe80'));
          expect(linkLocal.every((k) => k['ifindex'] !== 0)).toBe(true);
          // ... and once more without a device, for -m addrtype (match_lookup_rt6 with dev NULL).
          const onDevice = linkLocal.filter((k) => k['ifindex'] !== ADDR6_ANY_DEVICE);
          expect(onDevice).toContainEqual({ ifindex, addr: 'fe80::99' });
          for (const k of onDevice) expect(linkLocal).toContainEqual({ ifindex: ADDR6_ANY_DEVICE, addr: k['addr'] });

          // Writing again after a change removes stale entries.
          pair.a.exec(['ip', 'route', 'del', '198.51.100.0/24']);
          writeHostMaps(obj, pair.a.run(() => readHostConfig()));
          expect(obj.map('rjc_route4').lookup(route4Key(32, '198.51.100.7'))).toBeUndefined();
        } finally {
          obj.close();
        }
      },
      { tag: 'hm' },
    );
  });
});
