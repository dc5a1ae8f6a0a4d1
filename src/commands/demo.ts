/**
 * `rejectc demo` (and `npm run demo`): rejectc end to end in two throwaway network namespaces.
 *
 * A server namespace and a client namespace are joined by a veth pair (documentation
 * addresses only). A server listens on TCP port 23 and UDP port 9 of the server, so every
 * refusal the client sees comes from rejectc, not from a closed port. The demo then runs the
 * real CLI in the server namespace — `rejectc apply examples/demo.rules examples/demo6.rules`
 * — and from the client: a TCP connect (refused by rejectc's RST), a UDP datagram (answered by
 * an ICMP port unreachable, read with IP_RECVERR), a ping (answered by ICMP "communication
 * administratively prohibited"), each over IPv4 and IPv6; then `rejectc stats` and
 * `rejectc detach`. The namespaces are deleted at the end, also on failure or Ctrl-C.
 *
 * Nothing outside the two namespaces is touched. Needs root, python3 and clang.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, EnvironmentError } from '../errors.js';
import { requireBpfPrivileges, requireTool } from '../runtime/environment.js';
import { type PingProbe, type TcpProbe, type UdpProbe, probePing, probeTcp, probeUdp, startProbe } from '../runtime/probe.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The CLI entry next to this module (dist/src/cli.js when built). */
const CLI = join(here, '..', 'cli.js');

/** examples/ of the package, searched upwards from this module. */
function examplesDir(): string {
  let dir = here;
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'examples', 'demo.rules'))) return join(dir, 'examples');
    dir = resolve(dir, '..');
  }
  throw new EnvironmentError('cannot find examples/demo.rules next to the rejectc installation', 'reinstall rejectc; examples/ ships with it');
}

const out = (line = '') => process.stdout.write(`${line}\n`);

function sh(argv: readonly string[]): { status: number; stdout: string; stderr: string } {
  const res = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  return { status: res.status ?? -1, stdout: res.stdout ?? '', stderr: res.stderr ?? res.error?.message ?? '' };
}

function must(argv: readonly string[]): void {
  const res = sh(argv);
  if (res.status !== 0) throw new EnvironmentError(`${argv.join(' ')} failed: ${res.stderr.trim()}`);
}

/** Runs the rejectc CLI in `ns`, echoing the command line and its output. */
function rejectc(ns: string, args: readonly string[]): number {
  out(`$ ip netns exec ${ns} rejectc ${args.join(' ')}`);
  const res = sh(['ip', 'netns', 'exec', ns, process.execPath, CLI, ...args]);
  const indent = (text: string) => text.replace(/^(?=.)/gm, '  ');
  process.stdout.write(indent(res.stdout));
  if (res.stderr.trim()) process.stdout.write(indent(res.stderr));
  out();
  return res.status;
}

const ICMP_NAMES: Record<string, string> = {
  '3/3': 'port unreachable',
  '3/13': 'communication administratively prohibited',
  '1/4': 'port unreachable',
  '1/1': 'communication with destination administratively prohibited',
};

function icmpText(family: 'ipv4' | 'ipv6', type: number | null, code: number | null): string {
  const name = ICMP_NAMES[`${type}/${code}`] ?? '';
  return `${family === 'ipv4' ? 'ICMP' : 'ICMPv6'} type ${type} code ${code}${name ? ` (${name})` : ''}`;
}

function showTcp(target: string, r: TcpProbe): boolean {
  const ok = r.result === 'refused';
  out(`  TCP connect to [${target}]:23 → ${r.result === 'connected' ? 'connected (not refused!)' : `connect() failed: ${r.errno ?? r.result}`}${ok ? ' — a RST from rejectc (a server is listening on port 23)' : ''}`);
  return ok;
}

function showUdp(family: 'ipv4' | 'ipv6', target: string, r: UdpProbe): boolean {
  const ok = r.result === 'error' && r.icmp !== null;
  const what = r.icmp ? `${icmpText(family, r.icmp.type, r.icmp.code)} from ${r.icmp.offender}, errno ${r.errno} (IP_RECVERR)` : r.result;
  out(`  UDP datagram to [${target}]:9 → ${what}`);
  return ok;
}

function showPing(family: 'ipv4' | 'ipv6', target: string, r: PingProbe): boolean {
  const ok = r.result === 'error';
  out(`  ping ${target} → ${r.result === 'error' ? `${icmpText(family, r.type, r.code)} from ${r.from}` : r.result === 'reply' ? 'echo reply (not refused!)' : 'no answer'}`);
  return ok;
}

/** `rejectc demo`: see the module comment. Exit 0 when every probe saw rejectc's answer. */
export default async function demoCommand(): Promise<number> {
  requireBpfPrivileges('rejectc demo');
  requireTool('python3', 'python3', 'run the demo\'s socket probes');
  if (!existsSync(CLI)) throw new EnvironmentError(`the demo runs the built CLI (${CLI}), which is missing`, 'run "npm run build" first (npm run demo does)');
  const examples = examplesDir();
  const tag = `rjcdemo${process.pid % 100000}`;
  const server = `${tag}s`;
  const client = `${tag}c`;
  let listener: ChildProcess | undefined;
  const cleanup = () => {
    listener?.kill('SIGKILL');
    for (const ns of [server, client]) sh(['ip', 'netns', 'del', ns]);
  };
  const onSignal = () => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // Also on a crash (the 'exit' event still runs synchronous code), and a closed stdout
  // (`rejectc demo | head`) must not stop the demo before it cleans up.
  process.once('exit', cleanup);
  const ignoreEpipe = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  };
  process.stdout.on('error', ignoreEpipe);
  try {
    out('rejectc demo: two throwaway network namespaces joined by a veth pair');
    out(`  server  ${server}  veth0  192.0.2.1/24  2001:db8::1/64`);
    out(`  client  ${client}  veth0  192.0.2.2/24  2001:db8::2/64`);
    must(['ip', 'netns', 'add', server]);
    must(['ip', 'netns', 'add', client]);
    must(['ip', '-n', server, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth0', 'netns', client]);
    for (const [ns, last] of [[server, '1'], [client, '2']] as const) {
      must(['ip', '-n', ns, 'addr', 'add', `192.0.2.${last}/24`, 'dev', 'veth0']);
      must(['ip', '-n', ns, 'addr', 'add', `2001:db8::${last}/64`, 'dev', 'veth0', 'nodad']);
      must(['ip', '-n', ns, 'link', 'set', 'veth0', 'up']);
      must(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    }
    listener = (await startProbe(server, ['serve', '23', '9'])).child;
    out('  a server listens on TCP port 23 and UDP port 9 of the server: without rejectc, both would answer.');
    out();

    // Shown relative to the working directory when inside it (npm run demo: examples/...).
    const rules = ['demo.rules', 'demo6.rules'].map((f) => {
      const rel = relative(process.cwd(), join(examples, f));
      return rel.startsWith('..') ? join(examples, f) : rel;
    });
    if (rejectc(server, ['apply', ...rules, '--dev', 'veth0']) !== 0) throw new EnvironmentError('rejectc apply failed in the demo namespace (see above)');

    out('From the client:');
    const results = [
      showTcp('192.0.2.1', probeTcp(client, '192.0.2.1', 23)),
      showUdp('ipv4', '192.0.2.1', probeUdp(client, '192.0.2.1', 9)),
      showPing('ipv4', '192.0.2.1', probePing(client, '192.0.2.1')),
      showTcp('2001:db8::1', probeTcp(client, '2001:db8::1', 23)),
      showUdp('ipv6', '2001:db8::1', probeUdp(client, '2001:db8::1', 9)),
      showPing('ipv6', '2001:db8::1', probePing(client, '2001:db8::1')),
    ];
    out();
    rejectc(server, ['stats', '--dev', 'veth0']);
    rejectc(server, ['detach', '--dev', 'veth0']);
    const passed = results.filter(Boolean).length;
    out(`${passed} of ${results.length} probes were refused by rejectc as the rules say.`);
    return passed === results.length ? EXIT.ok : EXIT.environment;
  } finally {
    cleanup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('exit', cleanup);
    out(`cleaned up: namespaces ${server} and ${client} deleted.`);
  }
}
