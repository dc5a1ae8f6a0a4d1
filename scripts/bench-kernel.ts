/**
 * The side-by-side benchmark (issues 3, 4): replies per second received by a flooding client,
 * for rejectc and for the kernel's own answerers, measured in one run and reported as ratios.
 *
 * Method (spec/bpf-notes.md, "Baseline throughput on this 2-core VM"): for every row a client
 * and a server namespace joined by a veth pair (192.0.2.1 — 192.0.2.2, fixed MACs, IPv6 off,
 * static neighbours). A small C generator (scripts/bench-kernel-flood.c, compiled with clang
 * here) floods TCP SYNs to port 23 from the client through an AF_PACKET socket, cycling through
 * 4096 source ports and 254 spoofed sources (203.0.113.1-254, routed back to the client by the
 * server), and counts what the client's veth receives (rx_packets) over a timed window after a
 * warm-up. Rows are measured interleaved, each round in a rotated order, and reported as the
 * median over rounds.
 *
 * Two checks keep the counts honest. A netdev ingress counter in the client namespace counts
 * the replies of the expected kind (TCP RST) in the same runs: a row whose received packets are
 * not at least 95% such replies is flagged. And at the end each answerer's own count of the
 * replies it sent (the REJECT rule's counter, `rejectc stats`, the server's TCP OutRsts or ICMP
 * OutDestUnreachs) is compared with the replies received: a row where the answerer sent fewer
 * than 95% of them (say, the kernel stack answered behind a REJECT that did not match) is
 * flagged too.
 *
 * Rows: the kernel TCP stack alone (closed port, no rule) as the baseline; then iptables-nft,
 * iptables-legacy, nft's native `reject with tcp reset`, rejectc at TC and rejectc at XDP
 * (generic, the veth default) with the REJECT rule first and after 1,000 and 10,000
 * non-matching rules; and rejectc at TC with its default reply budget, which caps RSTs (1,000/s
 * globally, 10/s per source). The other rejectc rows run with `--reply-limit off` (the kernel
 * never limits RSTs).
 *
 * With `--udp` a second table does the same with UDP datagrams to port 9 and REJECT
 * --reject-with icmp-port-unreachable (the kernel UDP stack as the baseline). The kernel
 * rate-limits ICMP errors, so there the server namespaces take type 3 out of
 * net.ipv4.icmp_ratemask (no limit), except in one row that shows the kernel's default limits
 * and in rejectc's default-budget row (whose ICMP budget is the host's).
 *
 * Everything runs on one core in practice: sending into a veth processes the packet, the
 * server's answer and its reception in the sender's softirq. The machine is shared, so compare
 * rows within one run only.
 *
 * Usage (after `npx tsc`, as root): node dist/scripts/bench-kernel.js [--quick] [--udp]
 * `npm run bench` can call {@link benchKernel}.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Options of {@link benchKernel}. */
export interface BenchKernelOptions {
  /** A short run: 3 rounds of a 0.4 s window per row instead of 9 rounds of 0.6 s. */
  quick: boolean;
  /** Also the UDP flood and its ICMP errors (a second table, as long again). */
  udp?: boolean;
}

/** What the flood sends and which replies answer it. */
interface Probe {
  proto: 'tcp' | 'udp';
  port: number;
  /** What the flood sends and what answers it, for the table's notes. */
  packet: string;
  reply: string;
  /** nft match (client side) for one reply. */
  replyMatch: string;
  /** The REJECT, as an iptables rule and as an nft match and verdict. */
  iptablesReject: string;
  nftMatch: string;
  nftReject: string;
  /** The server's own count of these replies: a /proc/net/snmp group and field. */
  snmp: [group: string, field: string];
}

const TCP_PROBE: Probe = {
  proto: 'tcp',
  port: 23,
  packet: 'TCP SYNs',
  reply: 'RSTs',
  replyMatch: 'tcp flags & rst == rst',
  iptablesReject: '-A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset',
  nftMatch: 'tcp dport 23',
  nftReject: 'reject with tcp reset',
  snmp: ['Tcp', 'OutRsts'],
};

const UDP_PROBE: Probe = {
  proto: 'udp',
  port: 9,
  packet: 'UDP datagrams',
  reply: 'ICMP port unreachables',
  replyMatch: 'icmp type destination-unreachable icmp code port-unreachable',
  iptablesReject: '-A INPUT -p udp -m udp --dport 9 -j REJECT --reject-with icmp-port-unreachable',
  nftMatch: 'udp dport 9',
  nftReject: 'reject with icmp port-unreachable',
  snmp: ['Icmp', 'OutDestUnreachs'],
};

/** What answers the flood in the server namespace. */
type Answerer =
  /** `icmpLimits: 'kernel'`: the kernel's default ICMP rate limits stay (else lifted; see the module comment). */
  | { kind: 'stack'; icmpLimits?: 'kernel' }
  | { kind: 'iptables'; backend: 'nft' | 'legacy' }
  | { kind: 'nft' }
  | { kind: 'rejectc'; hook: 'tc' | 'xdp'; replyLimit: 'off' | 'default' };

/** One line of a table: an answerer with `before` non-matching rules ahead of its REJECT. */
interface Row {
  probe: Probe;
  answerer: Answerer;
  before: number;
}

/** One measurement of one row. */
interface Sample {
  /** Replies received per second in the window. */
  rate: number;
  /** Packets sent per second in the window. */
  sent: number;
  /** Replies of the expected kind the client received in the whole run (warm-up and tail included). */
  replies: number;
  /** Share of the packets the client received in the whole run that were replies of the expected kind. */
  replyShare: number;
}

/** A row's namespaces, ready to measure. */
interface Bed {
  row: Row;
  client: string;
  server: string;
  /** rejectc rows: the reply budget `rejectc apply` reported. */
  budget?: string;
}

const CLIENT_IF = 'rjkc';
const SERVER_IF = 'rjks';
const CLIENT_MAC = '02:00:00:00:00:01';
const SERVER_MAC = '02:00:00:00:00:02';
const CLIENT_IP = '192.0.2.1';
/** The flood's sources: SOURCES addresses from FIRST_SOURCE, routed to the client. */
const FIRST_SOURCE = '203.0.113.1';
const SOURCES = 254;
const SOURCE_NET = '203.0.113.0/24';
const SERVER_IP = '192.0.2.2';
/** The client's netdev table counting the replies it receives. */
const COUNTER_TABLE = 'rjcbench';
/**
 * A row is flagged when fewer of the packets received than this are replies of the expected
 * kind, or when its answerer counted fewer replies than this share of those received.
 */
const MIN_REPLY_SHARE = 0.95;
/** net.ipv4.icmp_ratemask without type 3 (destination unreachable); the default 6168 has types 3, 4, 11 and 12. */
const ICMP_RATEMASK_UNREACH_UNLIMITED = 6168 & ~(1 << 3);

const HERE = fileURLToPath(new URL('.', import.meta.url));
/** The repository root: this file runs as dist/scripts/bench-kernel.js. */
const ROOT = join(HERE, '..', '..');
const FLOOD_SOURCE = join(ROOT, 'scripts', 'bench-kernel-flood.c');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');

// ---------------------------------------------------------------------------------------------
// Commands and namespaces

/** Runs argv (no shell); throws with its output when it fails. */
function run(argv: readonly string[], input?: string): string {
  const [cmd, ...args] = argv;
  const r = spawnSync(cmd!, args, { encoding: 'utf8', input, maxBuffer: 64 << 20, timeout: 120_000 });
  if (r.error || r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status ?? r.error?.message}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

function inNs(ns: string, argv: readonly string[], input?: string): string {
  return run(['ip', 'netns', 'exec', ns, ...argv], input);
}

/** Namespaces this process created and has not deleted yet. */
const created = new Set<string>();

function deleteNs(name: string): void {
  spawnSync('ip', ['netns', 'del', name]);
  created.delete(name);
  // What `rejectc apply` pinned and recorded for the namespace (src/runtime/bpffs.ts).
  for (const dir of [`/sys/fs/bpf/rejectc/netns:${name}`, `/run/rejectc/netns:${name}`]) rmSync(dir, { recursive: true, force: true });
}

function deleteAll(): void {
  for (const name of [...created]) deleteNs(name);
}

let hooksInstalled = false;

/** Deletes the namespaces also when the process is interrupted or exits on an error. */
function installCleanupHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', deleteAll);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      deleteAll();
      process.kill(process.pid, signal);
    });
  }
}

function createNs(name: string): string {
  run(['ip', 'netns', 'add', name]);
  created.add(name);
  run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
  // No IPv6: no router solicitations or neighbour discovery among the counted packets.
  inNs(name, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  return name;
}

/**
 * The rows whose server keeps the kernel's default ICMP limits: the kernel stack row that shows
 * them, and rejectc with its default reply budget, which takes its ICMP budget from the host.
 */
function keepsKernelIcmpLimits(a: Answerer): boolean {
  return (a.kind === 'stack' && a.icmpLimits === 'kernel') || (a.kind === 'rejectc' && a.replyLimit === 'default');
}

/** The client/server pair of row `index`: `rjc<pid><index>c` and `...s`. */
function createBed(row: Row, index: number): Bed {
  const base = `rjc${process.pid % 100000}k${index}`;
  const client = createNs(`${base}c`);
  const server = createNs(`${base}s`);
  run(['ip', '-n', client, 'link', 'add', CLIENT_IF, 'address', CLIENT_MAC, 'type', 'veth', 'peer', 'name', SERVER_IF, 'address', SERVER_MAC, 'netns', server]);
  for (const [ns, ifname, ip, peerIp, peerMac] of [
    [client, CLIENT_IF, CLIENT_IP, SERVER_IP, SERVER_MAC],
    [server, SERVER_IF, SERVER_IP, CLIENT_IP, CLIENT_MAC],
  ] as const) {
    run(['ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', ifname]);
    run(['ip', '-n', ns, 'link', 'set', ifname, 'up']);
    run(['ip', '-n', ns, 'neigh', 'replace', peerIp, 'lladdr', peerMac, 'dev', ifname, 'nud', 'permanent']);
  }
  // Replies to the spoofed sources go to the client, which drops them (it does not forward).
  run(['ip', '-n', server, 'route', 'add', SOURCE_NET, 'via', CLIENT_IP, 'dev', SERVER_IF]);
  if (row.probe.proto === 'udp' && !keepsKernelIcmpLimits(row.answerer)) {
    inNs(server, ['sysctl', '-qw', `net.ipv4.icmp_ratemask=${ICMP_RATEMASK_UNREACH_UNLIMITED}`]);
  }
  inNs(client, ['nft', '-f', '-'], [
    `table netdev ${COUNTER_TABLE} {`,
    '  counter replies { }',
    '  chain in {',
    `    type filter hook ingress device "${CLIENT_IF}" priority 0;`,
    `    ${row.probe.replyMatch} counter name "replies"`,
    '  }',
    '}',
    '',
  ].join('\n'));
  return { row, client, server };
}

// ---------------------------------------------------------------------------------------------
// Rulesets

/**
 * Non-matching rule `i` in iptables and nft syntax: realistic shapes (a blocked host's port, a
 * port to a host elsewhere, a UDP service) that the floods (203.0.113.x -> 192.0.2.2, TCP port
 * 23 or UDP port 9) never match; all distinct.
 */
function filler(i: number): { iptables: string; nft: string } {
  const host = i % 256;
  const port = 1024 + (i % 60000);
  switch (i % 4) {
    case 0:
    case 1:
      return { iptables: `-A INPUT -s 198.51.100.${host} -p tcp -m tcp --dport ${port} -j DROP`, nft: `ip saddr 198.51.100.${host} tcp dport ${port} drop` };
    case 2:
      return { iptables: `-A INPUT -d 203.0.113.${host} -p tcp -m tcp --dport ${port} -j DROP`, nft: `ip daddr 203.0.113.${host} tcp dport ${port} drop` };
    default:
      return { iptables: `-A INPUT -p udp -m udp --dport ${port} -j ACCEPT`, nft: `udp dport ${port} accept` };
  }
}

/** An iptables-save ruleset: `before` non-matching rules, then the probe's REJECT. */
function iptablesRules(probe: Probe, before: number): string {
  const lines = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]'];
  for (let i = 0; i < before; i++) lines.push(filler(i).iptables);
  lines.push(probe.iptablesReject, 'COMMIT', '');
  return lines.join('\n');
}

/** The same ruleset in nft's native syntax. */
function nftRules(probe: Probe, before: number): string {
  const lines = ['table inet rjcbench {', '  chain input {', '    type filter hook input priority filter; policy accept;'];
  for (let i = 0; i < before; i++) lines.push(`    ${filler(i).nft}`);
  // The counter is the answerer's own count of its replies (iptables rules have one anyway).
  lines.push(`    ${probe.nftMatch} counter ${probe.nftReject}`, '  }', '}', '');
  return lines.join('\n');
}

/**
 * Sets up the row's answerer in its server namespace. `dir`: a scratch directory for files.
 * Returns what `rejectc apply` says about the reply budget (its "reply budget:" line), if any.
 */
function installAnswerer(bed: Bed, dir: string): string | undefined {
  const { answerer: a, before, probe } = bed.row;
  switch (a.kind) {
    case 'stack':
      return undefined;
    case 'iptables':
      inNs(bed.server, [a.backend === 'nft' ? 'iptables-nft-restore' : 'iptables-legacy-restore'], iptablesRules(probe, before));
      return undefined;
    case 'nft':
      inNs(bed.server, ['nft', '-f', '-'], nftRules(probe, before));
      return undefined;
    case 'rejectc': {
      const file = join(dir, `rules-${probe.proto}-${before}.v4`);
      writeFileSync(file, iptablesRules(probe, before));
      const limit = a.replyLimit === 'off' ? ['--reply-limit', 'off'] : [];
      // Generic XDP is also apply's default on veth; said explicitly since the table names it.
      const mode = a.hook === 'xdp' ? ['--xdp-mode', 'generic'] : [];
      const out = inNs(bed.server, [process.execPath, CLI, 'apply', file, '--dev', SERVER_IF, '--hook', a.hook, ...mode, ...limit]);
      return /reply budget: (.*)/.exec(out)?.[1];
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Measuring

interface Timing {
  rounds: number;
  warmupMs: number;
  windowMs: number;
}

interface FloodResult {
  sentWindow: number;
  rxWindow: number;
  windowNs: number;
  rxRun: number;
}

/** Reads and zeroes the client's counter of replies. */
function takeReplyCount(bed: Bed): number {
  const out = inNs(bed.client, ['nft', 'reset', 'counter', 'netdev', COUNTER_TABLE, 'replies']);
  const m = /packets (\d+)/.exec(out);
  if (!m) throw new Error(`unexpected nft counter output: ${out}`);
  return Number(m[1]);
}

function measure(bed: Bed, flood: string, t: Timing): Sample {
  takeReplyCount(bed);
  const { proto, port } = bed.row.probe;
  const args = [CLIENT_IF, CLIENT_MAC, SERVER_MAC, FIRST_SOURCE, String(SOURCES), SERVER_IP, proto, String(port), String(t.warmupMs), String(t.windowMs)];
  const out = inNs(bed.client, [flood, ...args]);
  const r = JSON.parse(out) as FloodResult;
  const replies = takeReplyCount(bed);
  const seconds = r.windowNs / 1e9;
  return { rate: r.rxWindow / seconds, sent: r.sentWindow / seconds, replies, replyShare: r.rxRun > 0 ? replies / r.rxRun : 0 };
}

/** Field `field` of group `group` ("Tcp", "Icmp") in /proc/net/snmp text. */
function snmpField(text: string, group: string, field: string): number {
  const [names, values] = text.split('\n').filter((l) => l.startsWith(`${group}: `));
  const i = names?.split(/\s+/).indexOf(field) ?? -1;
  const v = values?.split(/\s+/)[i];
  if (i < 0 || v === undefined) throw new Error(`no ${group} ${field} in /proc/net/snmp`);
  return Number(v);
}

/**
 * The replies the row's answerer says it sent since set-up: the server's TCP OutRsts or ICMP
 * OutDestUnreachs for the kernel stack, the REJECT rule's packet counter for iptables and nft,
 * the replies sent in `rejectc stats` for rejectc.
 */
function answererCount(bed: Bed): number {
  const { answerer: a, probe } = bed.row;
  const found = (re: RegExp, text: string, what: string) => {
    const m = re.exec(text);
    if (!m) throw new Error(`bench-kernel: no ${what} in:\n${text.slice(0, 2000)}`);
    return Number(m[1]);
  };
  switch (a.kind) {
    case 'stack':
      return snmpField(inNs(bed.server, ['cat', '/proc/net/snmp']), ...probe.snmp);
    case 'iptables': {
      const out = inNs(bed.server, [`iptables-${a.backend}-save`, '-c', '-t', 'filter']);
      return found(/^\[(\d+):\d+\] -A INPUT .*-j REJECT/m, out, 'REJECT rule counter');
    }
    case 'nft':
      return found(/counter packets (\d+) bytes \d+ reject/, inNs(bed.server, ['nft', 'list', 'chain', 'inet', 'rjcbench', 'input']), 'reject rule counter');
    case 'rejectc': {
      const stats = JSON.parse(inNs(bed.server, [process.execPath, CLI, 'stats', '--dev', SERVER_IF, '--json'])) as { replies: { sent: Record<string, number> } };
      return Object.values(stats.replies.sent).reduce((x, y) => x + y, 0);
    }
  }
}

/** The `q` quantile (0..1) of a non-empty list, interpolating between neighbours. */
function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (at - lo);
}

export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

// ---------------------------------------------------------------------------------------------
// Report

function answererName(a: Answerer, probe: Probe): string {
  switch (a.kind) {
    case 'stack':
      return `kernel ${probe.proto.toUpperCase()} stack (closed port, no rule)${a.icmpLimits === 'kernel' ? ', default ICMP limits' : ''}`;
    case 'iptables':
      return `iptables-${a.backend} ${probe.iptablesReject.slice(probe.iptablesReject.indexOf('REJECT'))}`;
    case 'nft':
      return `nft ${probe.nftReject}`;
    case 'rejectc':
      return `rejectc ${a.hook === 'tc' ? 'TC' : 'XDP (generic)'}, ${a.replyLimit === 'off' ? '--reply-limit off' : 'default reply budget'}`;
  }
}

function position(before: number): string {
  return before === 0 ? '1st rule' : `after ${before.toLocaleString('en-US')}`;
}

/** A ratio with two decimals, or two significant digits when it is that small. */
function ratio(x: number): string {
  return x >= 0.01 || x === 0 ? x.toFixed(2) : x.toPrecision(2);
}

function kilo(x: number): string {
  return x >= 10_000 ? `${(x / 1000).toFixed(0)}k` : x.toFixed(0);
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

/**
 * The table of one probe: median replies/s, spread, ratios to the kernel stack and to
 * iptables-nft at the same position, the checks; then notes, with the reply budgets rejectc
 * reported. `own`: each row's {@link answererCount} at the end.
 */
function report(beds: readonly Bed[], samples: ReadonlyMap<Row, Sample[]>, own: ReadonlyMap<Row, number>): string {
  const rows = beds.map((b) => b.row);
  const probe = rows[0]!.probe;
  const stack = `${probe.proto.toUpperCase()} stack`;
  const med = (row: Row | undefined) => (row ? median(samples.get(row)!.map((s) => s.rate)) : NaN);
  const baseline = med(rows.find((r) => r.answerer.kind === 'stack' && r.answerer.icmpLimits === undefined));
  const lines: string[][] = [['answerer', 'REJECT rule', 'replies/s', 'spread', `× ${stack}`, '÷ iptables-nft', 'sent/s', 'reply share', 'answerer sent']];
  let flagged = false;
  for (const row of rows) {
    const ss = samples.get(row)!;
    const rate = med(row);
    const rates = ss.map((s) => s.rate);
    const share = Math.min(...ss.map((s) => s.replyShare));
    const ref = rows.find((r) => r.answerer.kind === 'iptables' && r.answerer.backend === 'nft' && r.before === row.before);
    const vsNft = row.answerer.kind === 'rejectc' && ref ? ratio(rate / med(ref)) : '';
    const received = ss.reduce((n, s) => n + s.replies, 0);
    const sentByAnswerer = own.get(row)! / Math.max(received, 1);
    const bad = share < MIN_REPLY_SHARE;
    const foreign = sentByAnswerer < MIN_REPLY_SHARE;
    flagged ||= bad || foreign;
    lines.push([
      answererName(row.answerer, probe),
      row.answerer.kind === 'stack' ? '(none)' : position(row.before),
      kilo(rate),
      `±${(((quantile(rates, 0.75) - quantile(rates, 0.25)) / 2 / Math.max(rate, 1)) * 100).toFixed(0)}%`,
      ratio(rate / baseline),
      vsNft,
      kilo(median(ss.map((s) => s.sent))),
      `${(share * 100).toFixed(1)}%${bad ? ' !' : ''}`,
      `${(sentByAnswerer * 100).toFixed(1)}%${foreign ? ' !' : ''}`,
    ]);
  }
  const notes = [
    `replies/s: median over rounds of the ${probe.reply} the client received per second; spread: ±half the interquartile range over rounds.`,
    `${probe.packet} from ${SOURCES} sources (${FIRST_SOURCE} on), 4096 source ports, to ${SERVER_IP} port ${probe.port}.`,
    'rejectc rows run with --reply-limit off, except the "default reply budget" row, which shows the budget capping. rejectc apply reported:',
    ...[...new Set(beds.flatMap((b) => (b.budget === undefined ? [] : [`  ${answererName(b.row.answerer, probe)}: ${b.budget}`])))],
    probe.proto === 'tcp'
      ? 'The kernel never rate-limits RSTs (its ICMP limits apply to ICMP only).'
      : `The kernel's ICMP limits are lifted (net.ipv4.icmp_ratemask=${ICMP_RATEMASK_UNREACH_UNLIMITED}: type 3 unlimited) in every row but "default ICMP limits" and "default reply budget" (rejectc's default ICMP budget is the host's).`,
    `reply share: the lowest over rounds of the share of received packets that were ${probe.reply}.`,
    `answerer sent: the replies the answerer counted itself (REJECT rule counter, rejectc stats, the server's ${probe.snmp.join(' ')}) over the ${probe.reply} received, all rounds.`,
    'One core does the work (sender, server, client in one softirq path); the machine is shared, so compare rows within this run only.',
  ];
  if (flagged) notes.push(`! below ${MIN_REPLY_SHARE * 100}%: that row's count is not only ${probe.reply} sent by its answerer.`);
  return `${table(lines)}\n${notes.join('\n')}`;
}

// ---------------------------------------------------------------------------------------------
// Entry points

/** The rows of one probe's table, in table order. */
function benchRows(probe: Probe, positions: readonly number[]): Row[] {
  const rows: Row[] = [{ probe, answerer: { kind: 'stack' }, before: 0 }];
  if (probe.proto === 'udp') rows.push({ probe, answerer: { kind: 'stack', icmpLimits: 'kernel' }, before: 0 });
  const answerers: Answerer[] = [
    { kind: 'iptables', backend: 'nft' },
    { kind: 'iptables', backend: 'legacy' },
    { kind: 'nft' },
    { kind: 'rejectc', hook: 'tc', replyLimit: 'off' },
    { kind: 'rejectc', hook: 'xdp', replyLimit: 'off' },
  ];
  for (const answerer of answerers) for (const before of positions) rows.push({ probe, answerer, before });
  rows.push({ probe, answerer: { kind: 'rejectc', hook: 'tc', replyLimit: 'default' }, before: 0 });
  return rows;
}

function requireTools(): void {
  if (process.getuid?.() !== 0) throw new Error('bench-kernel: needs root (network namespaces, iptables, BPF)');
  for (const tool of ['ip', 'iptables-nft-restore', 'iptables-legacy-restore', 'nft', 'clang']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`bench-kernel: ${tool} is not installed (run scripts/setup.sh)`);
  }
  if (spawnSync(process.execPath, [CLI, '--version']).status !== 0) throw new Error(`bench-kernel: ${CLI} does not run: build first (npx tsc)`);
}

/**
 * Sets up one probe's rows, measures them interleaved and prints the table; deletes the
 * namespaces before returning, also on failure. `flood`: the compiled generator.
 */
function runTable(rows: readonly Row[], timing: Timing, flood: string, dir: string): void {
  const beds: Bed[] = [];
  try {
    const t0 = performance.now();
    rows.forEach((row, i) => {
      const bed = createBed(row, i);
      beds.push(bed);
      const budget = installAnswerer(bed, dir);
      if (budget !== undefined) bed.budget = budget;
    });
    const setupS = (performance.now() - t0) / 1000;
    const samples = new Map<Row, Sample[]>(rows.map((r) => [r, []]));
    for (let round = 0; round < timing.rounds; round++) {
      // Rotate the order each round so no row always runs right after the same neighbour.
      const start = Math.floor((round * beds.length) / timing.rounds);
      for (let k = 0; k < beds.length; k++) {
        const bed = beds[(start + k) % beds.length]!;
        samples.get(bed.row)!.push(measure(bed, flood, timing));
      }
    }
    const own = new Map(beds.map((b) => [b.row, answererCount(b)]));
    const probe = rows[0]!.probe;
    console.log(`side by side with the kernel: ${probe.packet} flooded over veth, ${timing.rounds} interleaved rounds of ${timing.windowMs} ms per row (set-up ${setupS.toFixed(0)} s)`);
    console.log(report(beds, samples, own));
  } finally {
    for (const bed of beds) {
      deleteNs(bed.client);
      deleteNs(bed.server);
    }
    deleteAll();
  }
}

/**
 * Runs the side-by-side benchmark and prints its table(s) to stdout. Needs root, iptables-nft,
 * iptables-legacy, nft, clang and a built dist/. Creates only `rjc<pid>k*` namespaces and
 * deletes them before returning (also on failure). Takes about 2.5 minutes, `quick` about
 * 1 minute; `udp` doubles that.
 */
export async function benchKernel(opts: BenchKernelOptions): Promise<void> {
  requireTools();
  installCleanupHooks();
  const timing: Timing = opts.quick ? { rounds: 3, warmupMs: 100, windowMs: 400 } : { rounds: 9, warmupMs: 150, windowMs: 600 };
  const positions = [0, 1000, 10000];
  const dir = mkdtempSync(join(tmpdir(), 'rjc-bench-kernel-'));
  try {
    const flood = join(dir, 'flood');
    run(['clang', '-O2', '-o', flood, FLOOD_SOURCE]);
    runTable(benchRows(TCP_PROBE, positions), timing, flood, dir);
    if (opts.udp) {
      console.log('');
      runTable(benchRows(UDP_PROBE, positions), timing, flood, dir);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** True when this module is the program being run (not imported by the main bench). */
function isMain(): boolean {
  return process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
}

if (isMain()) {
  benchKernel({ quick: process.argv.includes('--quick'), udp: process.argv.includes('--udp') }).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  });
}
