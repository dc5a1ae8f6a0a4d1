/**
 * The statement level of shell scripts of iptables commands: which lines run iptables, the
 * command semantics (-A -I -D -R -N -X -E -P -F, long forms), and the shell constructs
 * rejectc cannot run (variables), each at its exact line:column.
 */
import { describe, expect, it } from 'vitest';
import { parseRuleset } from '../src/compiler/frontend.js';
import type { Family, Table } from '../src/compiler/ir.js';
import { positions, tableOf } from './support/frontend.js';

function parse(text: string, family?: Family) {
  return parseRuleset(text, 'fw.sh', family ? { family, form: 'script' } : { form: 'script' });
}

function where(text: string): string[] {
  return positions(parse(text).diagnostics);
}

const table = tableOf;

/** Chain name -> each rule's target in short form (`ACCEPT`, `jump:x`, `goto:x`). */
function targets(t: Table): Record<string, string[]> {
  const short = (r: Table['chains'][number]['rules'][number]) =>
    r.target === null ? '-' : r.target.target === 'jump' ? `${r.target.goto ? 'goto' : 'jump'}:${r.target.chain}` : r.target.target;
  return Object.fromEntries(t.chains.map((c) => [c.name, c.rules.map(short)]));
}

describe('scripts: which lines run iptables', () => {
  it.each<[string, Family, string]>([
    ['iptables -A INPUT -j DROP', 'ipv4', 'unknown'],
    ['ip6tables -A INPUT -j DROP', 'ipv6', 'unknown'],
    ['iptables-legacy -A INPUT -j DROP', 'ipv4', 'legacy'],
    ['iptables-nft -A INPUT -j DROP', 'ipv4', 'nft'],
    ['ip6tables-legacy -A INPUT -j DROP', 'ipv6', 'legacy'],
    ['ip6tables-nft -A INPUT -j DROP', 'ipv6', 'nft'],
    ['/sbin/iptables -A INPUT -j DROP', 'ipv4', 'unknown'],
    ['/usr/sbin/ip6tables -A INPUT -j DROP', 'ipv6', 'unknown'],
    ['sudo iptables -A INPUT -j DROP', 'ipv4', 'unknown'],
    ['sudo -E -u root ip6tables -A INPUT -j DROP', 'ipv6', 'unknown'],
    ['root@gw:~# iptables -A INPUT -j DROP', 'ipv4', 'unknown'],
    ['IPT=/sbin/iptables\n$IPT -A INPUT -j DROP', 'ipv4', 'unknown'],
    ['export IPT6="/sbin/ip6tables"\n${IPT6} -A INPUT -j DROP', 'ipv6', 'unknown'],
    ['IPT=$(which iptables)\n"$IPT" -A INPUT -j DROP', 'ipv4', 'unknown'],
    ['IPT=`which ip6tables-nft`\n$IPT -A INPUT -j DROP', 'ipv6', 'nft'],
    ['$IPTABLES -A INPUT -j DROP', 'ipv4', 'unknown'],
    ['$IP6TABLES -A INPUT -j DROP', 'ipv6', 'unknown'],
  ])('%j', (text, family, backend) => {
    const r = parse(`${text}\n`);
    expect(r.diagnostics.filter((d) => d.code !== 'W100')).toEqual([]);
    expect(r.ruleset.backend).toBe(backend);
    expect(targets(table(r.ruleset, 'filter', family)).INPUT).toEqual(['DROP']);
  });

  it('skips other shell lines with W100 at their first word', () => {
    const text = [
      '#!/bin/sh',
      'set -e',
      'echo "Starting firewall"',
      'if [ -f /etc/x ]; then',
      '  modprobe ip_conntrack',
      'fi',
      'SYSCTL=/sbin/sysctl',
      '$SYSCTL net.ipv4.ip_forward=1',
      'iptables -A INPUT -j ACCEPT # the only rule',
      'for x in a b; do echo $x; done',
      '',
    ].join('\n');
    expect(where(text)).toEqual(['2:1 W100', '3:1 W100', '4:1 W100', '4:19 W100', '5:3 W100', '6:1 W100', '7:1 W100', '8:1 W100', '10:1 W100', '10:15 W100', '10:27 W100']);
  });

  it('commands that do not change the ruleset are W102', () => {
    expect(where('iptables -L -n -v\niptables -S\niptables -Z INPUT\niptables --list-rules\niptables -C INPUT -j DROP\n')).toEqual([
      '1:10 W102',
      '2:10 W102',
      '3:10 W102',
      '4:10 W102',
      '5:10 W102',
    ]);
  });

  it('a variable in the options is E102 naming it (with its value when the script set one); the command is not run', () => {
    const text = 'LAN=192.0.2.0/24\niptables -A INPUT -s $LAN -j ACCEPT\niptables -A INPUT -i "${IF}" -j DROP\n';
    const r = parse(text);
    expect(r.diagnostics.map((d) => `${d.span.start.line}:${d.span.start.column} ${d.code} ${d.message}`)).toEqual([
      '1:1 W100 not an iptables command; line skipped',
      '2:22 E102 shell variable "LAN" in rule options cannot be resolved',
      '3:23 E102 shell variable "IF" in rule options cannot be resolved',
    ]);
    expect(r.diagnostics[1]!.notes).toContain('"LAN" is set to "192.0.2.0/24" on line 1; rejectc does not expand shell variables');
    expect(r.ruleset.families).toEqual([]);
  });

  it('a command substitution in the options is E102 too', () => {
    expect(where('iptables -A INPUT -s $(cat /etc/ip) -j DROP\n')).toEqual(['1:22 E102']);
  });

  it('an unterminated quote is E101', () => {
    expect(where('iptables -A INPUT -m comment --comment "oops -j DROP\n')).toEqual(['1:40 E101']);
  });
});

describe('scripts: command semantics', () => {
  it('-I, -D (number and rule), -R, -F, -P, -N, -E, -X like iptables', () => {
    const text = [
      'iptables -P INPUT DROP',
      'iptables -N web',
      'iptables -A INPUT -j ACCEPT',
      'iptables -A INPUT -p tcp -j web',
      'iptables -I INPUT -j DROP',
      'iptables -I INPUT 2 -j RETURN',
      'iptables -D INPUT 1',
      'iptables -D INPUT -j ACCEPT',
      'iptables -A web -j DROP',
      'iptables -R web 1 -j ACCEPT',
      'iptables -E web www',
      'iptables -N gone',
      'iptables -X gone',
      'iptables -N emptied',
      'iptables -A emptied -j DROP',
      'iptables -F emptied',
      '',
    ].join('\n');
    const r = parse(text);
    expect(r.diagnostics).toEqual([]);
    const t = table(r.ruleset, 'filter');
    expect(t.chains.map((c) => c.name)).toEqual(['INPUT', 'FORWARD', 'OUTPUT', 'www', 'emptied']);
    expect(t.chains[0]!.policy?.verdict).toBe('DROP');
    expect(targets(t)).toEqual({ INPUT: ['RETURN', 'jump:www'], FORWARD: [], OUTPUT: [], www: ['ACCEPT'], emptied: [] });
  });

  it('long option forms, --table=VALUE, and command options after the rule options', () => {
    const text = [
      'iptables --table nat --new-chain pre',
      'iptables --append PREROUTING --jump pre --table nat',
      'iptables -A POSTROUTING -o eth0 -t nat -j ACCEPT',
      'iptables --table=nat --insert pre --jump RETURN',
      'iptables --policy FORWARD DROP',
      'iptables --new x',
      'iptables --flush x',
      'iptables --delete-chain x',
      'iptables --zero',
      '',
    ].join('\n');
    const r = parse(text);
    expect(r.diagnostics.map((d) => d.code)).toEqual(['W102']);
    const nat = table(r.ruleset, 'nat');
    expect(targets(nat)).toMatchObject({ PREROUTING: ['jump:pre'], POSTROUTING: ['ACCEPT'], pre: ['RETURN'] });
    expect(table(r.ruleset, 'filter').chains[1]!.policy?.verdict).toBe('DROP');
  });

  it('-F and -X without a chain flush the table and delete its user chains', () => {
    const r = parse('iptables -N a\niptables -A a -j DROP\niptables -A INPUT -j a\niptables -F\niptables -X\n');
    expect(r.diagnostics).toEqual([]);
    expect(table(r.ruleset, 'filter').chains.map((c) => c.name)).toEqual(['INPUT', 'FORWARD', 'OUTPUT']);
  });

  it('IPv4 and IPv6 commands build separate rulesets, IPv4 first', () => {
    const r = parse('ip6tables -A INPUT -j DROP\niptables -A OUTPUT -j ACCEPT\n');
    expect(r.ruleset.families.map((f) => f.family)).toEqual(['ipv4', 'ipv6']);
    expect(targets(table(r.ruleset, 'filter', 'ipv6')).INPUT).toEqual(['DROP']);
    expect(targets(table(r.ruleset, 'filter', 'ipv4')).OUTPUT).toEqual(['ACCEPT']);
  });

  it('a continued command is one rule whose span and source cover all its lines', () => {
    const text = 'iptables -A INPUT \\\n    -p tcp \\\n    -j DROP   # drop tcp\n';
    const r = parse(text);
    expect(r.diagnostics).toEqual([]);
    const rule = table(r.ruleset, 'filter').chains[0]!.rules[0]!;
    expect(rule.source).toBe('iptables -A INPUT -p tcp -j DROP');
    expect(rule.span).toMatchObject({ start: { line: 1, column: 1 }, end: { line: 3, column: 12 } });
    expect(rule.base.protocol?.protocol).toBe(6);
  });

  it('several commands on a line run in order', () => {
    const r = parse('iptables -N x; iptables -A x -j DROP && iptables -A INPUT -j x\n');
    expect(r.diagnostics).toEqual([]);
    expect(targets(table(r.ruleset, 'filter'))).toMatchObject({ INPUT: ['jump:x'], x: ['DROP'] });
  });

  it('ignores redirections and output flags', () => {
    const r = parse('iptables -w -N x > /dev/null 2>&1\niptables -v -A x -j DROP\n');
    expect(r.diagnostics).toEqual([]);
  });
});

describe('scripts: refused commands, at the right place', () => {
  it.each<[string, string, string[]]>([
    ['rule in a missing chain', 'iptables -A nope -j DROP\n', ['1:13 E300']],
    ['jump to a missing chain (iptables checks when the rule is added)', 'iptables -A INPUT -j later\niptables -N later\n', ['1:19 E300']],
    ['duplicate chain', 'iptables -N a\niptables -N a\n', ['2:13 E301']],
    ['policy on a user chain', 'iptables -N a\niptables -P a DROP\n', ['2:15 E302']],
    ['bad policy', 'iptables -P INPUT REJECT\n', ['1:19 E308']],
    ['policy without a value', 'iptables -P INPUT\n', ['1:13 E203']],
    ['unknown table', 'iptables -t filtre -A INPUT -j DROP\n', ['1:13 E105']],
    ['built-in chain deleted', 'iptables -X INPUT\n', ['1:13 E309']],
    ['built-in chain renamed', 'iptables -E INPUT x\n', ['1:13 E314']],
    ['rename onto an existing chain', 'iptables -N a\niptables -N b\niptables -E a b\n', ['3:15 E301']],
    ['delete a referenced chain', 'iptables -N a\niptables -A INPUT -j a\niptables -X a\n', ['3:13 E311']],
    ['delete a non-empty chain', 'iptables -N a\niptables -A a -j DROP\niptables -X a\n', ['3:13 E311']],
    ['delete rule number out of range', 'iptables -D INPUT 1\n', ['1:19 E310']],
    ['replace without a number', 'iptables -R INPUT -j DROP\n', ['1:13 E203']],
    ['chain name starting with "-"', 'iptables -N -x\n', ['1:13 E312']],
    ['options with a command that takes none', 'iptables -N a -p tcp\n', ['1:15 E106']],
    ['no command', 'iptables -p tcp -j DROP\n', ['1:10 E107']],
    ['-A without a chain', 'iptables -A\n', ['1:10 E203']],
    ['-6 given to iptables', 'iptables -6 -A INPUT -j DROP\n', ['1:10 E106']],
  ])('%s', (_name, text, expected) => {
    expect(where(text)).toEqual(expected);
  });

  it('a cleanup of a chain that is not there yet is only W104, as the script goes on', () => {
    expect(where('iptables -F DUMP\niptables -X DUMP\niptables -N DUMP\n')).toEqual(['1:13 W104', '2:13 W104']);
  });

  it('-X without a chain reports the chains it cannot delete', () => {
    expect(where('iptables -N a\niptables -A a -j DROP\niptables -N b\niptables -A INPUT -j b\niptables -X\n')).toEqual([
      '1:13 E311',
      '3:13 E311',
    ]);
  });

  it('--family decides for a $VAR the script never sets', () => {
    expect(parse('$FW -A INPUT -j DROP\n', 'ipv6').ruleset.families.map((f) => f.family)).toEqual(['ipv6']);
  });

  it('a $VAR set to another program is not iptables', () => {
    expect(where('IPT=/sbin/sysctl\n$IPT -A x\n')).toEqual(['1:1 W100', '2:1 W100']);
  });
});
