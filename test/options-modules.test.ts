/**
 * Match modules and kept targets: accepted spellings with their canonical iptables-save text,
 * and refused ones with their code. Expected texts were produced by iptables 1.8.9
 * (`iptables -A ...; iptables-save`) in a throwaway namespace.
 */
import { describe, expect, it } from 'vitest';
import type { RuleContext } from '../src/compiler/lower/words.js';
import { canon, errors, lower } from './support/option-harness.js';
import { V4, V6 } from './support/words.js';

const inChain = (chain: string, base: RuleContext = V4): RuleContext => ({ ...base, chain });
const legacy: RuleContext = { ...V4, backend: 'legacy' };

describe('accepted spellings', () => {
  it.each([
    // state / conntrack
    ['-m state --state new,established', '-m state --state NEW,ESTABLISHED'],
    ['-m state --state ESTABLISHED,NEW,RELATED,INVALID,UNTRACKED', '-m state --state INVALID,NEW,RELATED,ESTABLISHED,UNTRACKED'],
    ['-m state ! --state NEW', '-m state ! --state NEW'],
    ['-m conntrack --ctstate NEW,ESTABLISHED --ctproto tcp --ctorigsrc 1.2.3.4/24 --ctorigdst 5.6.7.8 --ctreplsrc 9.9.9.9 --ctrepldst 8.8.8.8 --ctorigsrcport 1 --ctorigdstport 2 --ctreplsrcport 3 --ctrepldstport 4 --ctstatus ASSURED,CONFIRMED --ctexpire 5:10 --ctdir REPLY', '-m conntrack --ctstate NEW,ESTABLISHED --ctproto 6 --ctorigsrc 1.2.3.4/24 --ctorigdst 5.6.7.8 --ctreplsrc 9.9.9.9 --ctrepldst 8.8.8.8 --ctorigsrcport 1 --ctorigdstport 2 --ctreplsrcport 3 --ctrepldstport 4 --ctstatus ASSURED,CONFIRMED --ctexpire 5:10 --ctdir REPLY'],
    ['-m conntrack --ctstate NEW --ctstatus NONE --ctdir ORIGINAL --ctexpire 1 --ctrepldstport 9 --ctorigsrcport 8 --ctrepldst 1.1.1.1 --ctorigsrc 2.2.2.2 --ctproto 17', '-m conntrack --ctstate NEW --ctproto 17 --ctorigsrc 2.2.2.2 --ctrepldst 1.1.1.1 --ctorigsrcport 8 --ctrepldstport 9 --ctstatus NONE --ctexpire 1 --ctdir ORIGINAL'],
    ['-m conntrack ! --ctstate NEW ! --ctproto 6 ! --ctorigsrc 1.2.3.4 ! --ctstatus NONE ! --ctexpire 3 ! --ctorigsrcport 5', '-m conntrack ! --ctstate NEW ! --ctproto 6 ! --ctorigsrc 1.2.3.4 ! --ctorigsrcport 5 ! --ctstatus NONE ! --ctexpire 3'],
    ['-m conntrack --ctstatus assured,expected,seen_reply', '-m conntrack --ctstatus EXPECTED,SEEN_REPLY,ASSURED'],
    ['-m conntrack --ctdir reply', '-m conntrack --ctdir REPLY'],
    ['-m conntrack --ctorigsrcport 010', '-m conntrack --ctorigsrcport 10'],
    ['-m conntrack --ctorigsrcport ssh', '-m conntrack --ctorigsrcport 22'],
    ['-m conntrack --ctexpire 010', '-m conntrack --ctexpire 8'],
    ['-m conntrack --ctexpire :5', '-m conntrack --ctexpire 0:5'],
    // limit / hashlimit
    ['-m limit', '-m limit --limit 3/hour'],
    ['-m limit --limit 5/m', '-m limit --limit 5/min'],
    ['-m limit --limit 86400/day', '-m limit --limit 1/sec'],
    ['-m limit --limit 1/h --limit-burst 0', '-m limit --limit 1/hour --limit-burst 0'],
    ['-m limit --limit-burst 10000', '-m limit --limit 3/hour --limit-burst 10000'],
    ['-m limit --limit 100/s --limit-burst 0x10', '-m limit --limit 100/sec --limit-burst 16'],
    ['-m hashlimit --hashlimit 5 --hashlimit-name a', '-m hashlimit --hashlimit-upto 5/sec --hashlimit-burst 5 --hashlimit-name a'],
    ['-m hashlimit --hashlimit-above 5/min --hashlimit-burst 10 --hashlimit-mode srcip,dstport --hashlimit-srcmask 24 --hashlimit-dstmask 16 --hashlimit-name a --hashlimit-htable-size 100 --hashlimit-htable-max 200 --hashlimit-htable-expire 3000 --hashlimit-htable-gcinterval 500', '-m hashlimit --hashlimit-above 5/min --hashlimit-burst 10 --hashlimit-mode srcip,dstport --hashlimit-name a --hashlimit-htable-size 100 --hashlimit-htable-max 200 --hashlimit-htable-gcinterval 500 --hashlimit-htable-expire 3000 --hashlimit-srcmask 24 --hashlimit-dstmask 16'],
    ['-m hashlimit ! --hashlimit-upto 5/s --hashlimit-name a', '-m hashlimit --hashlimit-above 5/sec --hashlimit-burst 5 --hashlimit-name a'],
    ['-m hashlimit ! --hashlimit-above 5/s --hashlimit-name a', '-m hashlimit --hashlimit-upto 5/sec --hashlimit-burst 5 --hashlimit-name a'],
    ['-m hashlimit --hashlimit-upto 5/s --hashlimit-name a --hashlimit-mode dstport,srcip', '-m hashlimit --hashlimit-upto 5/sec --hashlimit-burst 5 --hashlimit-mode srcip,dstport --hashlimit-name a'],
    ['-m hashlimit --hashlimit-upto 5/s --hashlimit-name a --hashlimit-mode srcip|dstip', '-m hashlimit --hashlimit-upto 5/sec --hashlimit-burst 5 --hashlimit-mode srcip,dstip --hashlimit-name a'],
    ['-m hashlimit --hashlimit-upto 5/min --hashlimit-name a --hashlimit-htable-expire 60000', '-m hashlimit --hashlimit-upto 5/min --hashlimit-burst 5 --hashlimit-name a'],
    ['-m hashlimit --hashlimit-upto 1024b/s --hashlimit-name a', '-m hashlimit --hashlimit-upto 1kb/s --hashlimit-name a'],
    ['-m hashlimit --hashlimit-upto 512kb/s --hashlimit-burst 2mb --hashlimit-name a', '-m hashlimit --hashlimit-upto 512kb/s --hashlimit-burst 2mb --hashlimit-name a'],
    ['-m hashlimit --hashlimit-upto 40/sec --hashlimit-name r --hashlimit-rate-match --hashlimit-rate-interval 1', '-m hashlimit --hashlimit-upto 40/sec --hashlimit-burst 5 --hashlimit-name r --hashlimit-rate-match'],
    ['-m hashlimit --hashlimit-upto 40/min --hashlimit-name r --hashlimit-rate-match', '-m hashlimit --hashlimit-upto 40/sec --hashlimit-burst 5 --hashlimit-name r --hashlimit-htable-expire 60000 --hashlimit-rate-match --hashlimit-rate-interval 60'],
    // addrtype, recent, owner
    ['-m addrtype --src-type LOCAL,unicast ! --dst-type BROADCAST', '-m addrtype --src-type UNICAST,LOCAL ! --dst-type BROADCAST'],
    ['-m addrtype ! --src-type LOCAL --limit-iface-in', '-m addrtype ! --src-type LOCAL --limit-iface-in'],
    ['-m recent --set', '-m recent --set --name DEFAULT --mask 255.255.255.255 --rsource'],
    ['-m recent --name foo --rcheck --seconds 60 --hitcount 3 --rttl --rdest --reap', '-m recent --rcheck --seconds 60 --reap --hitcount 3 --rttl --name foo --mask 255.255.255.255 --rdest'],
    ['-m recent ! --update --name x', '-m recent ! --update --name x --mask 255.255.255.255 --rsource'],
    ['-m recent --remove --mask 255.255.0.0', '-m recent --remove --name DEFAULT --mask 255.255.0.0 --rsource'],
    ['-m recent --set --mask 24', '-m recent --set --name DEFAULT --mask 0.0.0.24 --rsource'],
    ['-m recent --rcheck --hitcount 0', '-m recent --rcheck --name DEFAULT --mask 255.255.255.255 --rsource'],
    ['-m recent --update --rsource --rdest', '-m recent --update --name DEFAULT --mask 255.255.255.255 --rdest'],
    // mac, comment, pkttype, length, mark
    ['-m mac --mac-source 4:1:2:3:4:5', '-m mac --mac-source 04:01:02:03:04:05'],
    ['-m mac ! --mac-source AA:BB:CC:DD:EE:FF', '-m mac ! --mac-source aa:bb:cc:dd:ee:ff'],
    ["-m comment --comment 'hello world'", '-m comment --comment "hello world"'],
    ["-m comment --comment ''", '-m comment --comment ""'],
    ['-p tcp -m comment --comment x --dport 22', '-p tcp -m comment --comment x -m tcp --dport 22'],
    ['-m pkttype --pkt-type BROADCAST', '-m pkttype --pkt-type broadcast'],
    ['-m pkttype ! --pkt-type host', '-m pkttype ! --pkt-type unicast'],
    ['-m length ! --length 10:20', '-m length ! --length 10:20'],
    ['-m length --length :', '-m length --length 0:65535'],
    ['-m mark --mark 16/0xff', '-m mark --mark 0x10/0xff'],
    ['-m mark --mark 0xffffffff/0xffffffff', '-m mark --mark 0xffffffff'],
    // connlimit, statistic, physdev
    ['-m connlimit --connlimit-above 3', '-m connlimit --connlimit-above 3 --connlimit-mask 32 --connlimit-saddr'],
    ['-m connlimit ! --connlimit-above 3', '-m connlimit --connlimit-upto 3 --connlimit-mask 32 --connlimit-saddr'],
    ['-m connlimit --connlimit-upto 3 --connlimit-mask 24 --connlimit-daddr', '-m connlimit --connlimit-upto 3 --connlimit-mask 24 --connlimit-daddr'],
    ['-m statistic --mode random --probability 0.3', '-m statistic --mode random --probability 0.29999999981'],
    ['-m statistic --mode random --probability 0.03', '-m statistic --mode random --probability 0.02999999980'],
    ['-m statistic --mode random --probability 1', '-m statistic --mode random --probability 1.00000000000'],
    ['-m statistic --mode nth ! --every 3 --packet 1', '-m statistic --mode nth ! --every 3 --packet 1'],
    ['-m physdev --physdev-in eth0 --physdev-out eth1+ --physdev-is-in --physdev-is-out --physdev-is-bridged', '-m physdev --physdev-is-in --physdev-in eth0 --physdev-is-out --physdev-out eth1+ --physdev-is-bridged'],
    // tos, dscp, ecn, ttl
    ['-m tos --tos minimize-delay', '-m tos --tos 0x10/0x3f'],
    ['-m tos --tos 16', '-m tos --tos 0x10/0xff'],
    ['-m dscp --dscp 10', '-m dscp --dscp 0x0a'],
    ['-m dscp ! --dscp-class af11', '-m dscp ! --dscp 0x0a'],
    ['-m ecn --ecn-ip-ect 1', '-m ecn --ecn-ip-ect 1'],
    ['-p tcp -m ecn ! --ecn-tcp-ece ! --ecn-tcp-cwr ! --ecn-ip-ect 2', '-p tcp -m ecn ! --ecn-tcp-ece ! --ecn-tcp-cwr ! --ecn-ip-ect 2'],
    ['-m ttl ! --ttl-eq 5', '-m ttl ! --ttl-eq 5'],
    ['-m ttl --ttl-lt 5', '-m ttl --ttl-lt 5'],
    // iprange, set, multiport, icmp
    ['-m iprange --src-range 1.1.1.10-1.1.1.1', '-m iprange --src-range 1.1.1.10-1.1.1.1'],
    ['-m iprange --src-range 1.1.1.1', '-m iprange --src-range 1.1.1.1-1.1.1.1'],
    ['-m iprange ! --dst-range 010.1.1.1-10.1.1.2', '-m iprange ! --dst-range 8.1.1.1-10.1.1.2'],
    ['-m set ! --match-set foo src,dst --return-nomatch ! --update-counters ! --update-subcounters --packets-gt 5 ! --bytes-eq 10', '-m set ! --match-set foo src,dst --return-nomatch ! --update-counters ! --update-subcounters --packets-gt 5 ! --bytes-eq 10'],
    ['-m set --set foo src', '-m set --match-set foo src'],
    ['-p tcp -m multiport ! --dports ssh,http', '-p tcp -m multiport ! --dports 22,80'],
    ['-p tcp -m multiport --source-ports 22', '-p tcp -m multiport --sports 22'],
    ['-p udp -m multiport --dports domain', '-p udp -m multiport --dports 53'],
    ['-p tcp -m multiport --dports 0x16', '-p tcp -m multiport --dports 22'],
    ['-p icmp --icmp-type ping', '-p icmp -m icmp --icmp-type 8'],
    ['-p icmp ! --icmp-type 3/4', '-p icmp -m icmp ! --icmp-type 3/4'],
  ])('%s', (input, expected) => {
    expect(canon(input)).toBe(expected);
  });

  it.each([
    ['-p icmpv6 --icmpv6-type echo-request', '-p ipv6-icmp -m icmp6 --icmpv6-type 128'],
    ['-p icmpv6 -m icmpv6 --icmpv6-type 2', '-p ipv6-icmp -m icmp6 --icmpv6-type 2'],
    ['-p icmpv6 -m ipv6-icmp --icmpv6-type no-route', '-p ipv6-icmp -m icmp6 --icmpv6-type 1/0'],
    ['-m hl ! --hl-eq 64', '-m hl ! --hl-eq 64'],
    ['-m recent --set --mask ffff:ffff::', '-m recent --set --name DEFAULT --mask ffff:ffff:: --rsource'],
    ['-m connlimit --connlimit-above 2 --connlimit-mask 64', '-m connlimit --connlimit-above 2 --connlimit-mask 64 --connlimit-saddr'],
    ['-m iprange --src-range 2001:db8::1-2001:db8::a', '-m iprange --src-range 2001:db8::1-2001:db8::a'],
    ['-m conntrack --ctorigsrc 2001:db8::1/64', '-m conntrack --ctorigsrc 2001:db8::1/64'],
    ['-m frag --fragid 5 --fraglen 8 --fragres --fragfirst --fragmore', '-m frag --fragid 5 --fraglen 8 --fragres --fragfirst --fragmore'],
    ['-m frag ! --fragid 1:2 ! --fraglen 3 --fraglast', '-m frag ! --fragid 1:2 ! --fraglen 3 --fraglast'],
    ['-m frag --fragid 0x10', '-m frag --fragid 16'],
    ['-m ipv6header --header hop,dst,route,frag,auth,esp,none,prot', '-m ipv6header --header hop-by-hop,ipv6-opts,ipv6-route,ipv6-frag,ah,esp,ipv6-nonxt,protocol'],
    ['-m ipv6header ! --header 0,43', '-m ipv6header ! --header hop-by-hop,ipv6-route'],
    ['-m ipv6header --soft --header ah', '-m ipv6header --header ah --soft'],
    ['-m rt --rt-type 0 --rt-segsleft 2 --rt-len 8 --rt-0-res --rt-0-addrs 2001:db8::1,2001:db8::2 --rt-0-not-strict', '-m rt --rt-type 0 --rt-segsleft 2 --rt-len 8 --rt-0-res --rt-0-addrs 2001:db8::1,2001:db8::2 --rt-0-not-strict'],
  ])('ip6tables %s', (input, expected) => {
    expect(canon(input, V6)).toBe(expected);
  });

  it.each([
    ['-m owner --uid-owner root', '-m owner --uid-owner 0'],
    ['-m owner --uid-owner daemon', '-m owner --uid-owner 1'],
    ['-m owner --uid-owner nobody', '-m owner --uid-owner 65534'],
    ['-m owner --gid-owner adm', '-m owner --gid-owner 4'],
    ['-m owner --uid-owner 0x10', '-m owner --uid-owner 16'],
    ['-m owner ! --uid-owner 1000-2000 ! --gid-owner 5 ! --socket-exists', '-m owner ! --socket-exists ! --uid-owner 1000-2000 ! --gid-owner 5'],
    ['-m owner --gid-owner 0-10 --suppl-groups', '-m owner --gid-owner 0-10 --suppl-groups'],
    ['-m addrtype --src-type LOCAL --limit-iface-out', '-m addrtype --src-type LOCAL --limit-iface-out'],
  ])('in OUTPUT: %s', (input, expected) => {
    expect(canon(input, inChain('OUTPUT'))).toBe(expected);
  });
});

describe('refused spellings', () => {
  it.each([
    ['-m state --state SNAT', 'E204'],
    ['-m state --state NEW,,RELATED', 'E204'],
    ["-m state --state ''", 'E204'],
    ['-m state --state NEW --state INVALID', 'E205'],
    ['-m state', 'E207'],
    ['-m conntrack', 'E207'],
    ['-m conntrack --ctstate wrong', 'E204'],
    ['-m conntrack --ctproto 0', 'E204'],
    ['-m conntrack --ctorigsrc localhost', 'E208'],
    ['-m conntrack --ctorigsrc 1.2.3.4,5.6.7.8', 'E204'],
    ['-m conntrack --ctorigsrcport 0x10', 'E204'],
    ['-m conntrack --ctorigsrcport 65536', 'E204'],
    ['-m conntrack --ctexpire 4294967296', 'E204'],
    ['-m conntrack --ctexpire 4:3', 'E204'],
    ['-m conntrack ! --ctdir REPLY', 'E210'],
    ['-m conntrack --cts NEW', 'E214'],
    ['-m limit --limit 0', 'E204'],
    ['-m limit --limit 10001/s', 'E204'],
    ['-m limit --limit 5/x', 'E204'],
    ['-m limit --limit-burst 10001', 'E204'],
    ['-m limit ! --limit 5', 'E210'],
    ['-m hashlimit --hashlimit-name a', 'E207'],
    ['-m hashlimit --hashlimit-upto 1/sec', 'E207'],
    ['-m hashlimit --hashlimit-upto 1000001/s --hashlimit-name a', 'E204'],
    ['-m hashlimit --hashlimit-upto 4kb/s --hashlimit-burst 5 --hashlimit-name a', 'E217'],
    ['-m hashlimit --hashlimit-upto 10/s --hashlimit-burst 1000001 --hashlimit-name a', 'E204'],
    ['-m hashlimit --hashlimit-upto 10/s --hashlimit-burst 0 --hashlimit-name a', 'E204'],
    ['-m hashlimit --hashlimit-upto 1/day --hashlimit-name a', 'E217'],
    ['-m hashlimit --hashlimit-upto 1/s --hashlimit-above 1/s --hashlimit-name a', 'E206'],
    ['-m hashlimit --hashlimit-upto 1/s --hashlimit-mode srcip,none --hashlimit-name a', 'E204'],
    ['-m addrtype', 'E207'],
    ['-m addrtype --src-type wrong', 'E204'],
    ['-m addrtype --src-type LOCAL --limit-iface-in --limit-iface-out', 'E206'],
    ['-m recent --rcheck --reap', 'E207'],
    ['-m recent --set --rcheck', 'E206'],
    ['-m recent --set --rttl', 'E206'],
    ['-m recent --set --seconds 5', 'E217'],
    ['-m recent --rcheck --seconds 0', 'E204'],
    ['-m recent --rcheck --hitcount 65536', 'E204'],
    ['-m recent --name x', 'E207'],
    ['-m mac --mac-source 42:01:02:03:04', 'E204'],
    ['-m mac --mac-source XX:XX:XX:XX:XX:XX', 'E204'],
    ['-m mac --mac-source aa-bb-cc-dd-ee-ff', 'E204'],
    ['-m mac --mac-source 123:01:02:03:04:05', 'E204'],
    [`-m comment --comment ${'x'.repeat(256)}`, 'E204'],
    ['-m comment --comment', 'E203'],
    ['-m pkttype --pkt-type wrong', 'E204'],
    ['-m length --length 0:65536', 'E204'],
    ['-m length --length 4:3', 'E204'],
    ['-m mark --mark 4294967296', 'E204'],
    ['-m mark --mark -1', 'E204'],
    ['-m connlimit --connlimit-upto 1 --connlimit-above 1', 'E206'],
    ['-m connlimit --connlimit-above 10 --connlimit-saddr --connlimit-daddr', 'E206'],
    ['-m connlimit --connlimit-upto 4294967296', 'E204'],
    ['-m statistic', 'E217'],
    ['-m statistic --mode random ! --probability 1.1', 'E204'],
    ['-m statistic --probability 1', 'E217'],
    ['-m statistic --mode nth ! --every 5', 'E217'],
    ['-m statistic --mode nth ! --every 5 --packet 5', 'E217'],
    ['-m statistic ! --mode random --probability 0.5', 'E210'],
    ['-m physdev', 'E207'],
    ['-m tos --tos 0x100', 'E204'],
    ['-m tos --tos wrong', 'E204'],
    ['-m dscp --dscp 64', 'E204'],
    ['-m dscp --dscp 0x3f --dscp-class CS0', 'E206'],
    ['-m ecn --ecn-tcp-cwr', 'E207'],
    ['-p tcp -m ecn --ecn-ip-ect 4', 'E204'],
    ['-m ttl --ttl-eq 256', 'E204'],
    ['-m ttl ! --ttl-lt 5', 'E210'],
    ['-m ttl --ttl-eq 5 --ttl-gt 3', 'E206'],
    ['-m ttl', 'E207'],
    ['-m hl --hl-eq 1', 'E212'],
    ['-m iprange', 'E207'],
    ['-m iprange --src-range 1.1.1.1/24-1.1.1.5', 'E204'],
    ['-m set --match-set foo', 'E203'],
    ['-m set --match-set foo src,bar', 'E204'],
    ['-m set --match-set foo src --packets-lt 3 --packets-gt 9', 'E206'],
    ['-m multiport --dports 22', 'E207'],
    ['-p icmp -m multiport --dports 22', 'E207'],
    ['! -p tcp -m multiport --dports 22', 'E207'],
    ['-p tcp -m multiport --dports 22 --sports 23', 'E206'],
    ['-p tcp -m multiport --dports 22:22', 'E204'],
    ['-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16', 'E204'],
    ['-p udp -m multiport --dports ssh', 'E204'],
    ['-p tcp --multiport', 'E200'],
    ['-p icmp -m icmp', 'E207'],
    ['-m icmp --icmp-type 8', 'E207'],
    ['-p icmp --icmp-type 8 --icmp-type 9', 'E205'],
    ['-p icmp --icmp-type echo-re', 'E214'],
    ['-m icmp6 --icmpv6-type 1', 'E212'],
  ])('%s (%s)', (input, code) => {
    expect(errors(input)).toContain(code);
  });

  it.each([
    ['-m addrtype --src-type BROADCAST', 'E212'],
    ['-p icmpv6 --icmpv6-type any', 'E204'],
    ['-p icmpv6 -m icmp6', 'E207'],
    ['-m icmp6 --icmpv6-type 1', 'E207'],
    ['-p icmp -m icmp --icmp-type 8', 'E212'],
    ['-m frag --fraglast --fragmore', 'E206'],
    ['-m frag --fragid 4:3', 'E204'],
    ['-m frag --fraglen 4294967296', 'E204'],
    ['-m ipv6header', 'E207'],
    ['-m ipv6header --header tcp', 'E204'],
    ['-m rt --rt-0-addrs 2001:db8::1', 'E207'],
    ['-m ttl --ttl-eq 1', 'E212'],
  ])('ip6tables %s (%s)', (input, code) => {
    expect(errors(input, V6)).toContain(code);
  });

  it.each([
    ['INPUT', '-m owner --uid-owner root', 'E213'],
    ['INPUT', '-m owner --uid-owner alice', 'E215'],
    ['OUTPUT', '-m owner --uid-owner 10-5', 'E204'],
    ['OUTPUT', '-m owner --uid-owner 4294967295', 'E204'],
    ['OUTPUT', '-m owner --uid-owner 5-', 'E204'],
    ['OUTPUT', '-m owner --suppl-groups --gid-owner 0-10', 'E207'],
    ['OUTPUT', '-m owner --gid-owner 0-10 ! --suppl-groups', 'E210'],
    ['OUTPUT', '-m owner', 'E207'],
    ['OUTPUT', '-m addrtype --src-type LOCAL --limit-iface-in', 'E213'],
    ['INPUT', '-m addrtype --src-type LOCAL --limit-iface-out', 'E213'],
    ['OUTPUT', '-m mac --mac-source 42:01:02:03:04:05', 'E213'],
    ['OUTPUT', '-m physdev --physdev-out eth0', 'E213'],
  ])('in %s: %s (%s)', (chain, input, code) => {
    expect(errors(input, inChain(chain))).toContain(code);
  });

  it('applies the legacy kernel limits only for the legacy back-end', () => {
    expect(errors('-m limit --limit 1/h --limit-burst 0', legacy)).toContain('E217');
    expect(errors('-m limit --limit 1/day', legacy)).toContain('E217');
    expect(errors('-m limit --limit 1/day --limit-burst 1', legacy)).toEqual([]);
    expect(errors('-m limit --limit 1/day')).toEqual([]);
  });
});

describe('stored values', () => {
  it('stores limit and hashlimit as the kernel gets them', () => {
    expect(lower('-m limit --limit 2/s --limit-burst 3').matches[0]).toMatchObject({ module: 'limit', avg: 5000, burst: 3 });
    expect(lower('-m hashlimit --hashlimit-above 1/s --hashlimit-burst 2 --hashlimit-mode srcip --hashlimit-name h').matches[0]).toMatchObject({
      module: 'hashlimit', direction: 'above', avg: 1_000_000, burst: 2, mode: ['srcip'], srcmask: 32, dstmask: 32, name: 'h', htableExpire: 1000, htableGcinterval: 1000, rateMatch: false,
    });
    expect(lower('-m hashlimit --hashlimit-upto 4kb/s --hashlimit-burst 400kb --hashlimit-name b').matches[0]).toMatchObject({ bytes: { perSecond: 4096 }, burst: 100, htableExpire: 60_000 });
  });

  it('stores negations where iptables keeps them', () => {
    expect(lower('-m connlimit ! --connlimit-upto 4').matches[0]).toMatchObject({ direction: 'above', limit: 4 });
    expect(lower('-m ttl ! --ttl-eq 5').matches[0]).toMatchObject({ module: 'ttl', op: 'ne', value: 5 });
    expect(lower('-m statistic --mode nth ! --every 3 --packet 1').matches[0]).toMatchObject({ negated: true, every: 3, packet: 1 });
  });
});

describe('kept targets', () => {
  const nat = (chain: string): RuleContext => ({ ...V4, table: 'nat', chain });
  const mangle = (chain: string): RuleContext => ({ ...V4, table: 'mangle', chain });
  it.each([
    [nat('PREROUTING'), '-p tcp -j DNAT --to 1.1.1.1:80', '-p tcp -j DNAT --to-destination 1.1.1.1:80'],
    [nat('PREROUTING'), '-p tcp -j DNAT --to-destination 1.1.1.1:80-90 --random --persistent', '-p tcp -j DNAT --to-destination 1.1.1.1:80-90 --random --persistent'],
    [nat('PREROUTING'), '-p tcp -j DNAT --to-destination :80', '-p tcp -j DNAT --to-destination :80'],
    [nat('PREROUTING'), '-p tcp -j DNAT --to-destination 1.1.1.1:10-20/ftp', '-p tcp -j DNAT --to-destination 1.1.1.1:10-20/21'],
    [nat('PREROUTING'), '-p tcp -j REDIRECT --to-port 8080', '-p tcp -j REDIRECT --to-ports 8080'],
    [nat('PREROUTING'), '-p udp -j REDIRECT --to-ports 512-512', '-p udp -j REDIRECT --to-ports 512'],
    [nat('POSTROUTING'), '-j SNAT --to-source 1.2.3.4 --random-fully --persistent --random', '-j SNAT --to-source 1.2.3.4 --random --random-fully --persistent'],
    [nat('POSTROUTING'), '-p tcp -j MASQUERADE --to-ports 1024-65535', '-p tcp -j MASQUERADE --to-ports 1024-65535'],
    [mangle('PREROUTING'), '-j MARK --set-mark 5', '-j MARK --set-xmark 0x5/0xffffffff'],
    [mangle('PREROUTING'), '-j MARK --set-mark 0x100/0xff', '-j MARK --set-xmark 0x100/0x1ff'],
    [mangle('PREROUTING'), '-j MARK --and-mark 0xf0', '-j MARK --set-xmark 0x0/0xffffff0f'],
    [mangle('PREROUTING'), '-j MARK --or-mark 3', '-j MARK --set-xmark 0x3/0x3'],
    [mangle('PREROUTING'), '-j MARK --xor-mark 3', '-j MARK --set-xmark 0x3/0x0'],
    [mangle('PREROUTING'), '-j CONNMARK --and-mark 3', '-j CONNMARK --set-xmark 0x0/0xfffffffc'],
    [mangle('PREROUTING'), '-j CONNMARK --save-mark --mask 0xff', '-j CONNMARK --save-mark --nfmask 0xff --ctmask 0xff'],
    [mangle('PREROUTING'), '-j CONNMARK --restore-mark', '-j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff'],
    [mangle('PREROUTING'), '-j TOS --set-tos 0x10', '-j TOS --set-tos 0x10/0xff'],
    [mangle('PREROUTING'), '-j DSCP --set-dscp-class af41', '-j DSCP --set-dscp 0x22'],
    [mangle('POSTROUTING'), '-j CLASSIFY --set-class 0x1:0X10', '-j CLASSIFY --set-class 0001:0010'],
    [mangle('PREROUTING'), '-p udp -j TPROXY --on-port 1', '-p udp -j TPROXY --on-port 1 --on-ip 0.0.0.0 --tproxy-mark 0x0/0x0'],
    [mangle('PREROUTING'), '-p udp -j TPROXY --on-port 1 --tproxy-mark 1', '-p udp -j TPROXY --on-port 1 --on-ip 0.0.0.0 --tproxy-mark 0x1/0xffffffff'],
    [mangle('PREROUTING'), '-j RATEEST --rateest-name x --rateest-interval 1s --rateest-ewmalog 2s', '-j RATEEST --rateest-name x --rateest-interval 1.0s --rateest-ewmalog 2.0s'],
    [{ ...V4, table: 'raw', chain: 'PREROUTING' }, '-j CT --ctevents related,new', '-j CT --ctevents new,related'],
    [{ ...V4, table: 'raw', chain: 'PREROUTING' }, '-j CT --zone 0', '-j CT'],
    [V4, "-j NFLOG --nflog-group 5 --nflog-prefix 'a b' --nflog-threshold 5 --nflog-size 10", '-j NFLOG --nflog-prefix "a b" --nflog-group 5 --nflog-size 10 --nflog-threshold 5'],
    [V4, '-j NFQUEUE', '-j NFQUEUE --queue-num 0'],
    [V4, '-j AUDIT --type Drop', '-j AUDIT --type drop'],
  ])('%#: %s', (ctx, input, expected) => {
    expect(canon(input, ctx)).toBe(expected);
  });

  it.each([
    [nat('PREROUTING'), '-j DNAT --to-destination 1.1.1.1:80', 'E207'],
    [nat('PREROUTING'), '-p tcp -j DNAT --to-destination 010.1.1.1', 'E204'],
    [nat('PREROUTING'), '-j DNAT', 'E207'],
    [nat('PREROUTING'), '-p tcp -j REDIRECT --to-ports 10-ssh', 'E204'],
    [mangle('PREROUTING'), '-j MARK --set-xmark 1 --set-mark 2', 'E206'],
    [mangle('PREROUTING'), '-j CLASSIFY --set-class 10', 'E204'],
    [mangle('PREROUTING'), '-j ECN --ecn-tcp-remove', 'E207'],
    [mangle('PREROUTING'), '-p tcp --syn -j TCPMSS --clamp-mss-to-pmtu', 'E213'],
    [mangle('PREROUTING'), '-j RATEEST --rateest-name x --rateest-interval 250ms --rateest-ewmalog 4', 'E217'],
    [V4, '-j TEE', 'E207'],
    [V4, '-j NFQUEUE --queue-balance 3:1', 'E204'],
    [V4, '-j NFQUEUE --queue-cpu-fanout', 'E207'],
    [V4, '-j ULOG', 'E202'],
    [V4, '-j SYNPROXY --sack-perm', 'E207'],
  ])('%#: refuses %s (%s)', (ctx, input, code) => {
    expect(errors(input, ctx)).toContain(code);
  });

  it('keeps other targets as canonical text', () => {
    expect(lower('-p tcp -j DNAT --to-destination 192.0.2.1:80', { ...V4, table: 'nat', chain: 'PREROUTING' }).target).toMatchObject({ target: 'other', name: 'DNAT', options: ['--to-destination', '192.0.2.1:80'] });
    expect(lower('-p tcp -j DNAT --to-destination [2001:db8::1]:80', { ...V6, table: 'nat', chain: 'PREROUTING' }).target).toMatchObject({ options: ['--to-destination', '[2001:db8::1]:80'] });
  });

  it('checks TCPMSS against the legacy kernel only there', () => {
    const fwd = { ...V4, table: 'mangle' as const, chain: 'FORWARD' };
    expect(errors('-p tcp -j TCPMSS --set-mss 42', fwd)).toEqual([]);
    expect(errors('-p tcp -j TCPMSS --set-mss 42', { ...fwd, backend: 'legacy' })).toContain('E217');
    expect(errors('-p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 42', { ...fwd, backend: 'legacy' })).toEqual([]);
  });
});
