/**
 * `rejectc check` on the real-world corpus in ../shared/corpus/real/ (third-party files, read
 * at test time, never copied into this repository; the netfilter extension tests are the
 * option level's conformance suite and are left out here).
 *
 * 1. Every file: check never throws, exits 0 or 1, and every refusal names something that is
 *    on the line it points at (the module, target, host name, variable or chain it names).
 * 2. The statement level, isolated from the option level by a stand-in that reads only the
 *    target (`-j`/`-g`): the exact statement-level diagnostics of each file, hand-checked
 *    against the file (what each one is is noted next to it).
 * 3. A hand-checked sample of option-level refusals with the real option level.
 * 4. A few files through the built CLI.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import checkCommand, { checkText } from '../src/commands/check.js';
import type { Diagnostic } from '../src/compiler/diagnostics.js';
import { parseRuleset } from '../src/compiler/frontend.js';
import { defaultRejectWith, type Family, type Target } from '../src/compiler/ir.js';
import { IPTABLES_TARGET_NAMES } from '../src/compiler/lower/ruleset-builder.js';
import type { LoweredRuleOptions, RuleContext, Word } from '../src/compiler/lower/words.js';
import { joinSpans } from '../src/compiler/span.js';

const CORPUS = join(import.meta.dirname, '..', '..', 'shared', 'corpus', 'real');
const present = existsSync(CORPUS);
const files = present ? readdirSync(CORPUS).filter((f) => f.endsWith('.rules') || f.endsWith('.sh')).sort() : [];
const read = (f: string) => readFileSync(join(CORPUS, f), 'utf8');

/** Codes of the statement level (this test's subject in part 2). */
const STATEMENT = /^(E1\d\d|E30[0-5]|E30[89]|E31\d|W10[02456])$/;

/**
 * Stand-in for the option level: only the target matters to the statement level (jumps link
 * chains, REJECT is placed). Everything else is accepted as written.
 */
function targetOnly(words: Word[], ctx: RuleContext): LoweredRuleOptions {
  let target: Target | null = null;
  for (let i = 0; i + 1 < words.length; i++) {
    const opt = words[i]!;
    const name = words[i + 1]!.text;
    if (opt.quoted || !['-j', '--jump', '-g', '--goto'].includes(opt.text)) continue;
    const span = joinSpans(opt.span, words[i + 1]!.span);
    const goto = opt.text === '-g' || opt.text === '--goto';
    if (!goto && (name === 'ACCEPT' || name === 'DROP' || name === 'RETURN')) target = { kind: 'target', target: name, span };
    else if (!goto && name === 'REJECT') target = { kind: 'target', target: 'REJECT', with: defaultRejectWith(ctx.family), span };
    else if (!goto && IPTABLES_TARGET_NAMES.has(name)) target = { kind: 'target', target: 'other', name, options: [], span };
    else target = { kind: 'target', target: 'jump', chain: name, goto, span };
  }
  return { base: {}, matches: [], target, diagnostics: [] };
}

interface Expected {
  form: 'save' | 'script';
  families: Family[];
  /** W100: lines skipped as not iptables (shell code, prose, pasted output). */
  skipped: number;
  /** E102: shell expansions in iptables arguments. */
  variables?: number;
  /** Every other statement-level diagnostic, as `line CODE`, in order. */
  statement?: string[];
}

const SAVE4: Expected = { form: 'save', families: ['ipv4'], skipped: 0 };
const SAVE6: Expected = { form: 'save', families: ['ipv6'], skipped: 0 };

/** Hand-checked against each file. */
const EXPECTED: Record<string, Expected> = {
  'afw-generated-server.rules': SAVE4,
  // 8 shell lines (assignments, ipset, echo); $DEV, $INPUT (expanding to "-A INPUT"), $PORT_SCAN_MAX.
  'anti-portscan-ipset-install.sh': { form: 'script', families: ['ipv4'], skipped: 8, variables: 6 },
  'anti-portscan-ipset.rules': SAVE4,
  // Bash history: prompts, `iptables -L` listings and iptables-save output pasted in (108 lines);
  // seven `iptables -L` commands.
  'classroom-bash-history-iptables.sh': {
    form: 'script',
    families: ['ipv4'],
    skipped: 108,
    statement: ['17 W102', '31 W102', '102 W102', '117 W102', '127 W102', '142 W102', '150 W102'],
  },
  // sysctl/echo/for lines; $SPAMLIST as chain name, ${PUB_IF}, $ipblock from a loop.
  'cyberciti-sample-firewall.sh': { form: 'script', families: ['ipv4'], skipped: 34, variables: 34 },
  'docker-topology-iprange.rules': SAVE4,
  'dsl-router-2003.rules': SAVE4,
  'eduroam-laptop.rules': SAVE4,
  'fedora27-firewalld.ip6tables.rules': SAVE6,
  'fedora27-firewalld.iptables.rules': SAVE4,
  'ferm-dmz-router.rules': SAVE4,
  'firewalld-completed-dump.rules': SAVE4,
  'free5gc-docker-tailscale.rules': SAVE4,
  'freifunk-gateway.ip6tables.rules': SAVE6,
  'freifunk-gateway.rules': SAVE4,
  'home-user-desktop.rules': SAVE4,
  'incrediblepbx-voip-server.rules': SAVE4,
  'ipv6-nat64-router.ip6tables.rules': SAVE6,
  // Line 46 holds a single blank, which iptables-restore refuses ("line 46 failed").
  'ipv6-webserver.ip6tables.rules': { ...SAVE6, statement: ['46 W106'] },
  // Configuration variables, modprobe and echo lines; $LAN_IP, $PC2ALLOW, $USER... in rules.
  'kornwall-rc.firewall-2006.sh': { form: 'script', families: ['ipv4'], skipped: 37, variables: 30 },
  'l2tp-ipsec-vpn-server.rules': SAVE4,
  'medium-company-mainfw-2016-01-31.rules': SAVE4,
  // IPT=..., echo, and the `for i in {1..254}` accounting loop (`$i` twice).
  'medium-company-mainfw-2016-01-31.sh': { form: 'script', families: ['ipv4'], skipped: 5, variables: 2 },
  'office-fw-ipsec-nflog.rules': SAVE4,
  'openlab-hackerspace-router.rules': SAVE4,
  'openvpn-access-server.rules': SAVE4,
  // Line 1 is the shell prompt the dump was pasted with; CR LF line ends; line wrapping broke
  // "-j ACCEPT" on line 86 into "-j ACC" + "EPT" (no chain ACC).
  'openwrt-fw3-router.rules': { ...SAVE4, skipped: 1, statement: ['1 W106', '86 E300'] },
  'openwrt-fw3-vpn-router.rules': SAVE4,
  'openwrt-nat-reflection-fwbuilder.rules': SAVE4,
  // Three lines of prose before the dump, `ip addr` output after it.
  'qubesos-firewallvm.rules': { ...SAVE4, skipped: 15 },
  // Loops over prefix lists: $inner_prefix, $pingable_host.
  'rfc4890-icmpv6-filter.ip6tables.sh': { form: 'script', families: ['ipv6'], skipped: 94, variables: 27 },
  'rimuhosting-howto-2003.rules': SAVE4,
  // IPT=`which iptables`; `-X DUMP` / `-X STATEFUL` before the chains exist (cleanup on a fresh system).
  'ringofsaturn-server-firewall.sh': { form: 'script', families: ['ipv4'], skipped: 1, statement: ['10 W104', '11 W104'] },
  'serverfault-hashlimit-flood.rules': SAVE4,
  'serverfault-ipset-whitelist.rules': SAVE4,
  'shadowsocks-gfw-bypass-redir.rules': SAVE4,
  'shorewall-generated-2014.rules': SAVE4,
  // $LAN_IF, $EXT_IF, $LOCALNET in rules.
  'slackware-rc.firewall-gateway.sh': { form: 'script', families: ['ipv4'], skipped: 28, variables: 19 },
  'synology-nas-2016.ip6tables.rules': SAVE6,
  // Whole option groups in variables ($CONNLIMIT, $HASHLOG, $DROPTARGET...).
  'tablewall-server-firewall.sh': { form: 'script', families: ['ipv4'], skipped: 65, variables: 48 },
  'tablewall-server-firewall6.ip6tables.sh': { form: 'script', families: ['ipv6'], skipped: 52, variables: 40 },
  'tails-1.5-tor-owner.rules': SAVE4,
  'tum-chair-router-2016-06-27.ip6tables.rules': SAVE6,
  'tum-chair-router-2016-06-27.iptables.rules': SAVE4,
  // A fragment of ufw: ufw-skip-to-policy-input is declared in another ufw file.
  'ufw-after.rules': { ...SAVE4, statement: ['19 E300', '20 E300', '21 E300', '22 E300', '23 E300', '24 E300', '27 E300'] },
  // Likewise ufw-logging-deny.
  'ufw-before.rules': { ...SAVE4, statement: ['30 E300', '63 E300'] },
  'ufw-before6.ip6tables.rules': { ...SAVE6, statement: ['39 E300'] },
  // CR LF line ends (iptables-restore: "table name 'nat' invalid").
  'ufw-fail2ban-vserver.rules': { ...SAVE4, statement: ['1 W106'] },
  'ufw-generated-server1.rules': SAVE4,
  'ugent-nat-gateway.rules': SAVE4,
  // "COMMIT " with a trailing blank (iptables-restore: "Bad argument `COMMIT'").
  'veroneau-net-server.rules': { ...SAVE4, statement: ['269 W106'] },
  'wireless-isp-hotspot.rules': SAVE4,
};

/** Quoted names in a message (`chain "x"`, `module "y"`). */
function quoted(message: string): string[] {
  return [...message.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
}

/** Diagnostics whose message names something written on the line they point at. */
const NAMING = new Set(['E102', 'E105', 'E201', 'E202', 'E208', 'E300', 'E301', 'E302', 'E308', 'E309', 'E311', 'E312', 'E314', 'E316']);

function checkInvariants(file: string, text: string, diagnostics: Diagnostic[]): void {
  const lines = text.split('\n');
  for (const d of diagnostics) {
    const { start, end } = d.span;
    const at = `${file}:${start.line}:${start.column} ${d.code} ${d.message}`;
    expect(d.span.file, at).toBe(file);
    expect(start.offset, at).toBeLessThanOrEqual(end.offset);
    expect(end.offset, at).toBeLessThanOrEqual(text.length);
    // W106 points at blanks or a CR: the characters iptables-restore trips over.
    if (d.code !== 'W106') expect(text.slice(start.offset, end.offset).trim().length, `${at}: empty span`).toBeGreaterThan(0);
    else expect(end.offset, at).toBeGreaterThan(start.offset);
    if (NAMING.has(d.code)) {
      const line = lines.slice(start.line - 1, end.line).join('\n').toLowerCase();
      for (const name of quoted(d.message)) {
        if (name === 'filter' && d.code === 'E309') continue;
        expect(line, `${at}: "${name}" is not on the line`).toContain(name.toLowerCase());
      }
    }
  }
}

describe.runIf(present)('corpus: every file with the real option level', () => {
  it('knows every corpus file (a new file needs its expectations here)', () => {
    expect(files).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(files)('%s: never throws, valid or not, every refusal on the line it names', (file) => {
    const text = read(file);
    const { report, diagnostics } = checkText(text, file);
    expect(typeof report.valid).toBe('boolean');
    expect(report.valid).toBe(!diagnostics.some((d) => d.severity === 'error'));
    expect(report.summary.families).toEqual(EXPECTED[file]!.families);
    checkInvariants(file, text, diagnostics);
  });
});

describe.runIf(present)('corpus: statement level (option level replaced by a target-only reader)', () => {
  it.each(files)('%s', (file) => {
    const exp = EXPECTED[file]!;
    const text = read(file);
    const r = parseRuleset(text, file, { lowerOptions: targetOnly });
    expect(r.form).toBe(exp.form);
    expect(r.ruleset.families.map((f) => f.family)).toEqual(exp.families);
    const mine = r.diagnostics.filter((d) => STATEMENT.test(d.code));
    expect(mine.filter((d) => d.code === 'W100').length, 'skipped lines').toBe(exp.skipped);
    expect(mine.filter((d) => d.code === 'E102').length, 'shell variables').toBe(exp.variables ?? 0);
    expect(mine.filter((d) => d.code !== 'W100' && d.code !== 'E102').map((d) => `${d.span.start.line} ${d.code}`)).toEqual(exp.statement ?? []);
    expect(r.diagnostics.filter((d) => !STATEMENT.test(d.code))).toEqual([]);
    checkInvariants(file, text, r.diagnostics);
  });

  it('reads the largest files completely', () => {
    const count = (f: string) =>
      parseRuleset(read(f), f, { lowerOptions: targetOnly }).ruleset.families.flatMap((x) => x.tables.flatMap((t) => t.chains.flatMap((c) => c.rules))).length;
    // `-A` lines of each file (every one is a rule; none is refused at the statement level).
    for (const f of ['shadowsocks-gfw-bypass-redir.rules', 'tum-chair-router-2016-06-27.iptables.rules', 'tum-chair-router-2016-06-27.ip6tables.rules']) {
      expect(count(f), f).toBe(read(f).split('\n').filter((l) => l.startsWith('-A ')).length);
    }
  });
});

describe.runIf(present)('corpus: hand-checked option-level refusals (real option level)', () => {
  /** `line CODE "quoted name"` that must be among the file's diagnostics. */
  it.each<[string, string[]]>([
    ['afw-generated-server.rules', ['61 E208 ntp.example.net']],
    ['classroom-bash-history-iptables.sh', ['14 E208 index.hu']],
  ])('%s', (file, expected) => {
    const { diagnostics } = checkText(read(file), file);
    const got = diagnostics.map((d) => `${d.span.start.line} ${d.code} ${quoted(d.message)[0] ?? ''}`);
    expect(got).toEqual(expect.arrayContaining(expected));
  });

  it('openwrt-fw3-router.rules: the two rules broken by line wrapping ("ACC EPT", "--cts tate") are refused', () => {
    const { diagnostics } = checkText(read('openwrt-fw3-router.rules'), 'openwrt-fw3-router.rules');
    const errorLines = new Set(diagnostics.filter((d) => d.severity === 'error').map((d) => d.span.start.line));
    expect(errorLines.has(86)).toBe(true);
    expect(errorLines.has(88)).toBe(true);
  });
});

describe.runIf(present)('corpus: through the CLI', () => {
  const cli = join(import.meta.dirname, '..', 'dist', 'src', 'cli.js');
  it.each(['ringofsaturn-server-firewall.sh', 'ufw-after.rules', 'tum-chair-router-2016-06-27.ip6tables.rules'])('%s exits 0 or 1 with one JSON document', (file) => {
    const r = spawnSync(process.execPath, [cli, 'check', '--json', join(CORPUS, file)], { encoding: 'utf8', maxBuffer: 256 << 20 });
    expect([0, 1]).toContain(r.status);
    const doc = JSON.parse(r.stdout);
    expect(doc.valid).toBe(r.status === 0);
    expect(doc.summary.errors).toBe(doc.diagnostics.filter((d: { severity: string }) => d.severity === 'error').length);
  });

  it('the command function agrees with the CLI', () => {
    const out = process.stdout.write;
    const err = process.stderr.write;
    process.stdout.write = () => true;
    process.stderr.write = () => true;
    let code: number;
    try {
      code = checkCommand(join(CORPUS, 'ufw-after.rules'));
    } finally {
      process.stdout.write = out;
      process.stderr.write = err;
    }
    expect(code).toBe(1);
  });
});
