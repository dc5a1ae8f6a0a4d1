/**
 * The option level: base options, option binding, negation, targets. Expected outputs were
 * checked against iptables 1.8.9 (`iptables -A ...; iptables-save`) in a throwaway namespace.
 */
import { describe, expect, it } from 'vitest';
import { canon, errors, lower, warnings } from './support/option-harness.js';
import { V4, V6 } from './support/words.js';

describe('base options', () => {
  it.each([
    ['-p tcp -j ACCEPT', '-p tcp -j ACCEPT'],
    ['! -p udp -j ACCEPT', '! -p udp -j ACCEPT'],
    ['-p TCP', '-p tcp'],
    ['-p 6', '-p tcp'],
    ['-p 0x6', '-p tcp'],
    ['-p 06', '-p tcp'],
    ['-p +6', '-p tcp'],
    ['-p 58', '-p ipv6-icmp'],
    ['-p icmpv6', '-p ipv6-icmp'],
    ['-p IPv6-ICMP', '-p ipv6-icmp'],
    ['-p 255', '-p 255'],
    ['-p all', ''],
    ['-p ALL', ''],
    ['-p 0', ''],
    ['-p ip', ''],
    ['-p mptcp', '-p tcp'],
    ['-p 132', '-p sctp'],
    ['-p gre', '-p gre'],
    ['-p 41', '-p ipv6'],
    ['-s 1.2.3.4', '-s 1.2.3.4/32'],
    ['-s 10.11.12.13/8', '-s 10.0.0.0/8'],
    ['-s 10.11.12.13/255.128.0.0', '-s 10.0.0.0/9'],
    ['-s 1.2.3', '-s 1.2.3.0/32'],
    ['-s 1', '-s 1.0.0.0/32'],
    ['-s 010.1.1.1', '-s 8.1.1.1/32'],
    ['-s 0x10.1.1.1', '-s 16.1.1.1/32'],
    ['-s 1.2.3.4/0x8', '-s 1.0.0.0/8'],
    ['-s 1.2.3.4/0', ''],
    ['-s 0/0', ''],
    ['-s foo/0', ''],
    ['-s 1.2.3.4/0.0.0.0', ''],
    ['! -s 0.0.0.0', '! -s 0.0.0.0/32'],
    ['-s 1.2.3.4,5.6.7.8 -d 9.9.9.9,8.8.8.8', '-s 1.2.3.4/32 -d 9.9.9.9/32 | -s 1.2.3.4/32 -d 8.8.8.8/32 | -s 5.6.7.8/32 -d 9.9.9.9/32 | -s 5.6.7.8/32 -d 8.8.8.8/32'],
    ['-s 1.2.3.4,1.2.3.4', '-s 1.2.3.4/32 | -s 1.2.3.4/32'],
    ['--src 1.2.3.4 --dst 5.6.7.8', '-s 1.2.3.4/32 -d 5.6.7.8/32'],
    ['--sour 1.2.3.4', '-s 1.2.3.4/32'],
    ['-i eth0+', '-i eth0+'],
    ['-i + -p tcp', '-p tcp'],
    ['! -i +', '! -i +'],
    ['-i abcdefghijklmno', '-i abcdefghijklmno'],
    ['-f', '-f'],
    ['! -f', '! -f'],
    ['--fragment', '-f'],
    ['-j DROP', '-j DROP'],
    ['-j RETURN', '-j RETURN'],
    ['-j MYCHAIN', '-j MYCHAIN'],
    ['-g MYCHAIN', '-g MYCHAIN'],
    ['--goto MYCHAIN', '-g MYCHAIN'],
    ['-c 2,3 -j ACCEPT', '-j ACCEPT'],
    ['-c 2 3 -j ACCEPT', '-j ACCEPT'],
    ['-p tcp -v -n -j ACCEPT', '-p tcp -j ACCEPT'],
  ])('%s', (input, expected) => {
    expect(canon(input)).toBe(expected);
  });

  it.each([
    ['--protocol=tcp --source=1.2.3.4 --destination=5.6.7.8/32 --in-interface=eth0 --out-interface=eth1 --jump=ACCEPT', '-s 1.2.3.4/32 -d 5.6.7.8/32 -i eth0 -o eth1 -p tcp -j ACCEPT'],
    ['-ptcp -s1.2.3.4 -d5.6.7.8/32 -ieth0 -oeth1 -jACCEPT', '-s 1.2.3.4/32 -d 5.6.7.8/32 -i eth0 -o eth1 -p tcp -j ACCEPT'],
  ])('in FORWARD: %s', (input, expected) => {
    expect(canon(input, { ...V4, chain: 'FORWARD' })).toBe(expected);
  });

  it.each([
    ['-s ::/128', '-s ::/128'],
    ['! -d ::', '! -d ::/128'],
    ['-s ::/64', '-s ::/64'],
    ['-d c0::fe', '-d c0::fe/128'],
    ['-s 2001:DB8::1/64', '-s 2001:db8::/64'],
    ['-s 2001:db8:0:0:1:0:0:1', '-s 2001:db8::1:0:0:1/128'],
    ['-s 2001:0db8:0000:0000:0000:0000:0000:0001', '-s 2001:db8::1/128'],
    ['-s ::ffff:1.2.3.4', '-s ::ffff:1.2.3.4/128'],
    ['-s ::1.2.3.4', '-s ::1.2.3.4/128'],
    ['-s 2001:db8::/ffff:ffff::', '-s 2001:db8::/32'],
    ['-s 2001:db8::1/0x40', '-s 2001:db8::/64'],
    ['-s ::/0', ''],
    ['-s 2001:db8::1,2001:db8::2', '-s 2001:db8::1/128 | -s 2001:db8::2/128'],
    ['-p icmpv6', '-p ipv6-icmp'],
  ])('ip6tables %s', (input, expected) => {
    expect(canon(input, V6)).toBe(expected);
  });

  it.each([
    ['-p 256', 'E204'],
    ['-p icmp6', 'E204'],
    ['-p foo', 'E204'],
    ['! -p 0', 'E217'],
    ['! -p all', 'E217'],
    ['-i abcdefghijklmnop', 'E204'],
    ['-i abcdefghijklmno+', 'E204'],
    ['-s 1.2.3.4/33', 'E204'],
    ['-s 1.2.3.4/-1', 'E204'],
    ['-s 1.2.3.4/08', 'E204'],
    ['-s 1.2.3.4/', 'E204'],
    ['-s 1.2.3.4,', 'E204'],
    ['-s 1.2.3.4,,2.2.2.2', 'E204'],
    ['-s 1.2.3.256', 'E204'],
    ['-s 1.2.3.4.5', 'E204'],
    ['-s 2001:db8::1', 'E204'],
    ['-s 10.11.12.13/255.0.255.0', 'E211'],
    ['-s localhost', 'E208'],
    ['-d www.example.com', 'E208'],
    ['-s 1.2.3.4 -s 2.3.4.5', 'E205'],
    ['-p tcp -p udp', 'E205'],
    ['-j ACCEPT -j DROP', 'E205'],
    ['-j ACCEPT -g X', 'E205'],
    ['! ! -s 1.2.3.4', 'E217'],
    ['! -j ACCEPT', 'E210'],
    ['! -m tcp', 'E217'],
    ['-s', 'E203'],
    ['-j', 'E203'],
    ['1.2.3.4', 'E216'],
    ['-s 1.2.3.4, 2.2.2.2', 'E216'],
    ['-j ACCEPT !', 'E216'],
    ['--s 1', 'E214'],
    ['-c "" -j ACCEPT', 'E203'],
    ['-c ,3', 'E203'],
    ['-c 3,', 'E204'],
    ['-c ,', 'E203'],
    ['-A INPUT', 'E217'],
    ['-t nat', 'E217'],
    ['-g ACCEPT', 'E217'],
    ['--bogus', 'E200'],
    ['-q', 'E200'],
    ['-m nosuchmodule', 'E201'],
    ['-m sctp --dport 1', 'E201'],
    ['-j TARPIT', 'E202'],
    ['-6', 'E212'],
  ])('refuses %s (%s)', (input, code) => {
    expect(errors(input)).toContain(code);
  });

  it.each([
    ['-s 1.2.3.4', 'E204'],
    ['-s fe80::1%eth0', 'E204'],
    ['-s [2001:db8::1]', 'E204'],
    ['-s 2001:db8::1/129', 'E204'],
    ['-s 2001:db8::/ffff:0:ffff::', 'E211'],
    ['-f', 'E212'],
    ['-4', 'E212'],
  ])('ip6tables refuses %s (%s)', (input, code) => {
    expect(errors(input, V6)).toContain(code);
  });

  it('stores addresses canonically with host bits cleared, keeping list order', () => {
    const r = lower('-s 10.1.2.3/8,192.0.2.1 -d 198.51.100.7/24');
    expect(r.base.src).toMatchObject({ negated: false, addresses: [{ address: '10.0.0.0', prefix: 8 }, { address: '192.0.2.1', prefix: 32 }] });
    expect(r.base.dst).toMatchObject({ negated: false, addresses: [{ address: '198.51.100.0', prefix: 24 }] });
    expect(lower('! -d 198.51.100.7/24').base.dst).toMatchObject({ negated: true, addresses: [{ address: '198.51.100.0', prefix: 24 }] });
  });

  // iptables 1.8.9: "! not allowed with multiple source or destination IP addresses".
  it.each(['! -s 192.0.2.1,192.0.2.2', '-s 192.0.2.1,192.0.2.2 ! -d 192.0.2.9', '! -s 192.0.2.1 -d 192.0.2.9,192.0.2.10'])(
    'refuses a negated address next to an address list: %s',
    (input) => {
      expect(errors(input)).toEqual(['E217']);
    },
  );

  it('keeps -c counters', () => {
    expect(lower('-c 10,2000 -j ACCEPT').counters).toEqual({ packets: 10, bytes: 2000 });
    expect(lower('--set-counters 7 99 -j ACCEPT').counters).toEqual({ packets: 7, bytes: 99 });
  });

  it('points diagnostics at the offending word', () => {
    const d = lower('-p tcp -s host.example.org -j ACCEPT').diagnostics[0]!;
    expect(d.code).toBe('E208');
    expect(d.span.start.column).toBe(11);
    expect(d.span.end.column).toBe(27);
    expect(d.notes?.[0]).toMatch(/use an IP address/);
  });

  it('accepts the old negation placement with a warning', () => {
    expect(canon('-s ! 1.2.3.4 -p tcp --dport ! 22')).toBe('! -s 1.2.3.4/32 -p tcp -m tcp ! --dport 22');
    expect(warnings('-s ! 1.2.3.4')).toEqual(['W103']);
    expect(errors('-j ! ACCEPT')).toContain('E210');
  });
});

describe('binding options to extensions', () => {
  it.each([
    ['-p tcp --dport 22', '-p tcp -m tcp --dport 22'],
    ['-p tcp --dpo 22', '-p tcp -m tcp --dport 22'],
    ['-p 6 --syn', '-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN'],
    ['-m tcp --dport 1 -p tcp', '-p tcp -m tcp --dport 1'],
    ['-m tcp --dport 1 -p 6', '-p tcp -m tcp --dport 1'],
    ['-m udp --dport 1 -p 17', '-p udp -m udp --dport 1'],
    ['-j REJECT --reject-with tcp -p tcp', '-p tcp -j REJECT --reject-with tcp-reset'],
    ['-p tcp -j REJECT --reject-with tcp-reset --dport 23', '-p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset'],
    ['-p tcp --sport 22 --tcp-option 3 --syn --dport 4', '-p tcp -m tcp --sport 22 --dport 4 --tcp-option 3 --tcp-flags FIN,SYN,RST,ACK SYN'],
    ['-p tcp -m tcp --syn -m tcp --dport 22', '-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m tcp --dport 22'],
    ['-p tcp --syn -m tcp --dport 22', '-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m tcp --dport 22'],
    ['-p tcp -m tcp --dport 22 -m tcp --sport 33', '-p tcp -m tcp --dport 22 -m tcp --sport 33'],
  ])('%s', (input, expected) => {
    expect(canon(input)).toBe(expected);
  });

  it.each([
    ['--dport 22 -p tcp', 'E200'],
    ['-p 0 --dport 1', 'E200'],
    ['-p gre --dport 1', 'E200'],
    ['-m tcp --dport 1', 'E207'],
    ['! -p tcp -m tcp --dport 1', 'E207'],
    ['-p udp -m tcp --dport 1', 'E207'],
    ['-p tcp --dport 22 --destination-port 23', 'E205'],
    ['-p tcp --syn --tcp-flags SYN SYN', 'E206'],
    ['--reject-with tcp-reset -j REJECT', 'E200'],
  ])('refuses %s (%s)', (input, code) => {
    expect(errors(input)).toContain(code);
  });

  it('explains where an unknown option belongs', () => {
    const d = lower('--dport 22').diagnostics[0]!;
    expect(d.code).toBe('E200');
    expect(d.notes?.join(' ')).toMatch(/-m tcp/);
  });

  it('reports one error for an unsupported module, not one per option', () => {
    expect(errors('-m sctp --dport 1 --chunk-types any INIT -j ACCEPT')).toEqual(['E201']);
    expect(errors('-p sctp --dport 1 -j ACCEPT')).toEqual(['E201']);
  });
});

describe('tcp and udp', () => {
  it.each([
    ['-p tcp -m tcp --sport 1024:', '-p tcp -m tcp --sport 1024:65535'],
    ['-p tcp -m tcp --sport :', '-p tcp -m tcp'],
    ['-p tcp -m tcp ! --sport :', '-p tcp -m tcp ! --sport 0:65535'],
    ['-p tcp -m tcp --sport :4', '-p tcp -m tcp --sport 0:4'],
    ['-p tcp -m tcp --sport 4:4', '-p tcp -m tcp --sport 4'],
    ['-p tcp --dport ssh:http', '-p tcp -m tcp --dport 22:80'],
    ['-p tcp --dport domain', '-p tcp -m tcp --dport 53'],
    ['-p tcp --dport 0x16', '-p tcp -m tcp --dport 22'],
    ['-p tcp --dport 026', '-p tcp -m tcp --dport 22'],
    ['-p udp --dport ssh', '-p udp -m udp --dport 22'],
    ['-p udp --dport bootps', '-p udp -m udp --dport 67'],
    ['-p udp --dport syslog', '-p udp -m udp --dport 514'],
    ['-p tcp --tcp-flags ALL NONE', '-p tcp -m tcp --tcp-flags FIN,SYN,RST,PSH,ACK,URG NONE'],
    ['-p tcp --tcp-flags syn,ack syn', '-p tcp -m tcp --tcp-flags SYN,ACK SYN'],
    ['-p tcp --tcp-flags SYN,SYN SYN', '-p tcp -m tcp --tcp-flags SYN SYN'],
    ['-p tcp --tcp-flags NONE NONE', '-p tcp -m tcp'],
    ['-p tcp ! --tcp-flags NONE NONE', '-p tcp -m tcp ! --tcp-flags NONE NONE'],
    ['-p tcp ! --syn', '-p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN'],
    ['-p tcp --tcp-option 1', '-p tcp -m tcp --tcp-option 1'],
    ['-p tcp ! --tcp-option 5', '-p tcp -m tcp ! --tcp-option 5'],
  ])('%s', (input, expected) => {
    expect(canon(input)).toBe(expected);
  });

  it.each([
    ['-p tcp --sport 65536', 'E204'],
    ['-p tcp --sport -1', 'E204'],
    ['-p udp --sport 65536', 'E204'],
    ['-p tcp --dport 4:3', 'E204'],
    ['-p tcp --dport ""', 'E204'],
    ['-p tcp --dport bootps', 'E204'],
    ['-p tcp --dport nosuchservice', 'E204'],
    ['-p tcp --dport 08', 'E204'],
    ['-p tcp --tcp-flags ALL ECE', 'E204'],
    ['-p tcp --tcp-flags SYN,FOO SYN', 'E204'],
    ['-p tcp --tcp-flags SYN', 'E203'],
    ['-p tcp --tcp-flags SYN -SYN', 'E203'],
    ['-p tcp --tcp-option 0', 'E204'],
    ['-p tcp --tcp-option 256', 'E204'],
    ['-p tcp --syn=1', 'E217'],
  ])('refuses %s (%s)', (input, code) => {
    expect(errors(input)).toContain(code);
  });

  it('stores ports as ranges and --syn as FIN,SYN,RST,ACK/SYN', () => {
    const r = lower('-p tcp ! --dport ssh --syn');
    expect(r.matches[0]).toMatchObject({ module: 'tcp', dport: { negated: true, value: { from: 22, to: 22 } }, flags: { negated: false, value: { mask: 0x17, comp: 0x02 } } });
  });
});

describe('targets', () => {
  it.each([
    ['-j REJECT', '-j REJECT --reject-with icmp-port-unreachable'],
    ['-j REJECT --reject-with icmp-net-unreachable', '-j REJECT --reject-with icmp-net-unreachable'],
    ['-j REJECT --reject-with icmp', '-j REJECT --reject-with icmp-net-unreachable'],
    ['-j REJECT --reject-with ""', '-j REJECT --reject-with icmp-net-unreachable'],
    ['-j REJECT --reject-with host', '-j REJECT --reject-with icmp-host-unreachable'],
    ['-j REJECT --reject-with admin', '-j REJECT --reject-with icmp-admin-prohibited'],
    ['-j REJECT --reject-with net-prohib', '-j REJECT --reject-with icmp-net-prohibited'],
    ['-j REJECT --reject-with ICMP-HOST-PROHIBITED', '-j REJECT --reject-with icmp-host-prohibited'],
    ['-j REJECT --reject-with port-unreach', '-j REJECT --reject-with icmp-port-unreachable'],
    ['-j REJECT --reject-with proto-unreach', '-j REJECT --reject-with icmp-proto-unreachable'],
    ['-p tcp -j REJECT --reject-with TCP-RST', '-p tcp -j REJECT --reject-with tcp-reset'],
    ['-p tcp -j REJECT --reject-with tcp', '-p tcp -j REJECT --reject-with tcp-reset'],
    ['-p 6 -j REJECT --reject-with tcp-reset', '-p tcp -j REJECT --reject-with tcp-reset'],
    ['-j LOG', '-j LOG'],
    ['-j LOG --log-prefix "test: "', '-j LOG --log-prefix "test: "'],
    ['-j LOG --log-prefix "test: " --log-level alert', '-j LOG --log-prefix "test: " --log-level 1'],
    ['-j LOG --log-level 4', '-j LOG'],
    ['-j LOG --log-level 07', '-j LOG --log-level 7'],
    ['-j LOG --log-level panic', '-j LOG --log-level 0'],
    ['-j LOG --log-level error', '-j LOG --log-level 3'],
    ["-j LOG --log-prefix 'a\"b'", '-j LOG --log-prefix "a\\"b"'],
    ['-j LOG --log-prefix "it\'s"', '-j LOG --log-prefix "it\\\'s"'],
    ['-j LOG --log-prefix a_b-c', '-j LOG --log-prefix a_b-c'],
    ['-j LOG --log-prefix 123456789012345678901234567890', '-j LOG --log-prefix 12345678901234567890123456789'],
    ['-j LOG --log-uid --log-macdecode --log-ip-options --log-tcp-options --log-tcp-sequence --log-level 7 --log-prefix x', '-j LOG --log-prefix x --log-level 7 --log-tcp-sequence --log-tcp-options --log-ip-options --log-uid --log-macdecode'],
    ['-j QUEUE', '-j QUEUE'],
  ])('%s', (input, expected) => {
    expect(canon(input)).toBe(expected);
  });

  it.each([
    ['-j REJECT', '-j REJECT --reject-with icmp6-port-unreachable'],
    ['-j REJECT --reject-with icmp6', '-j REJECT --reject-with icmp6-no-route'],
    ['-j REJECT --reject-with ICMP6', '-j REJECT --reject-with icmp6-no-route'],
    ['-j REJECT --reject-with adm-prohibited', '-j REJECT --reject-with icmp6-adm-prohibited'],
    ['-j REJECT --reject-with addr-unreach', '-j REJECT --reject-with icmp6-addr-unreachable'],
    ['-j REJECT --reject-with policy', '-j REJECT --reject-with icmp6-policy-fail'],
    ['-j REJECT --reject-with reject', '-j REJECT --reject-with icmp6-reject-route'],
    ['-p tcp -j REJECT --reject-with tcp-reset', '-p tcp -j REJECT --reject-with tcp-reset'],
  ])('ip6tables %s', (input, expected) => {
    expect(canon(input, V6)).toBe(expected);
  });

  it.each([
    ['-j REJECT --reject-with tcp-reset', 'E306'],
    ['! -p tcp -j REJECT --reject-with tcp-reset', 'E306'],
    ['-p udp -j REJECT --reject-with tcp-reset', 'E306'],
    ['-j REJECT --reject-with echo-reply', 'E209'],
    ['-j REJECT --reject-with bogus', 'E209'],
    ['-j REJECT --reject-with icmp6-port-unreachable', 'E307'],
    ['-j REJECT --reject-with icmp-port-unreachable --reject-with icmp-host-unreachable', 'E205'],
    ['-j LOG --log-level warn', 'E204'],
    ['-j LOG --log-level err', 'E204'],
    ['-j LOG --log-level ERROR', 'E204'],
    ['-j LOG --log-level 8', 'E204'],
    ['-j LOG --log-prefix', 'E203'],
    ['-j LOG --log-prefix ""', 'E204'],
    ['-j LOG --log-prefix x --log-prefix y', 'E205'],
    ['-j LOG --log-level bad', 'E204'],
  ])('refuses %s (%s)', (input, code) => {
    expect(errors(input)).toContain(code);
  });

  it.each([
    ['-p tcp -j REJECT --reject-with tcp-rst', 'E307'],
    ['-j REJECT --reject-with icmp6-not-neighbour', 'E209'],
    ['-j REJECT --reject-with icmp-port-unreachable', 'E307'],
    ['-j REJECT --reject-with tcp-reset', 'E306'],
    ['-j REJECT --reject-with echoreply', 'E209'],
  ])('ip6tables refuses %s (%s)', (input, code) => {
    expect(errors(input, V6)).toContain(code);
  });

  it('builds typed targets', () => {
    expect(lower('-p tcp -j REJECT --reject-with tcp').target).toMatchObject({ kind: 'target', target: 'REJECT', with: 'tcp-reset' });
    expect(lower('-g OTHER').target).toMatchObject({ target: 'jump', chain: 'OTHER', goto: true });
    expect(lower('-j LOG --log-level 4 --log-uid').target).toEqual(expect.objectContaining({ target: 'LOG', uid: true }));
    expect(lower('-j LOG --log-level 4').target).not.toHaveProperty('level');
    expect(lower('-s 1.2.3.4').target).toBeNull();
  });
});

describe('refused extensions', () => {
  it('does not mistake an unknown module option for an abbreviated base option', () => {
    expect(errors('-m policy --dir in --pol ipsec -j ACCEPT')).toEqual(['E201']);
  });

  it('reports a refused module once even when -p implies it again', () => {
    expect(errors('-p sctp -m sctp --sport 38412 -j ACCEPT')).toEqual(['E201']);
  });

  it('names the module and its position', () => {
    const d = lower('-p tcp -m time --timestart 08:00 -j DROP').diagnostics[0]!;
    expect(d.message).toBe('unsupported match module "time"');
    expect(d.span.start.column).toBe(11);
  });
});

describe('interfaces and chains', () => {
  const chain = (c: string) => ({ ...V4, chain: c });
  it.each([
    ['INPUT', '-o eth0', 'E213'],
    ['INPUT', '-o +', 'E213'],
    ['PREROUTING', '! -o eth0', 'E213'],
    ['OUTPUT', '-i eth0', 'E213'],
    ['POSTROUTING', '-i eth+', 'E213'],
    ['INPUT', '-i ""', 'E204'],
  ])('in %s: %s (%s)', (c, input, code) => {
    expect(errors(input, chain(c))).toContain(code);
  });

  it.each([
    ['INPUT', '-i eth0'],
    ['FORWARD', '-i eth0 -o eth1'],
    ['OUTPUT', '-o eth0'],
    ['mychain', '-i eth0 -o eth1'],
  ])('in %s: %s is fine', (c, input) => {
    expect(errors(input, chain(c))).toEqual([]);
  });

  it('keeps interface names as written', () => {
    expect(canon('-i "a b"', { ...V4, chain: 'FORWARD' })).toBe('-i a b');
    expect(canon('-i eth/0 -o eth+0', { ...V4, chain: 'FORWARD' })).toBe('-i eth/0 -o eth+0');
  });
});
