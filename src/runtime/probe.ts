/**
 * Runs the socket-level probes of probe.py (a TCP connect, a UDP send read back with
 * IP_RECVERR, a raw ICMP echo, a listener) inside a network namespace, for `rejectc demo`
 * and the live tests. Node's own sockets cannot read IP_RECVERR, hence Python 3.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvironmentError } from '../errors.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The probe script: next to this file in the sources, or in src/ when running from dist/. */
export const PROBE_SCRIPT = [join(here, 'probe.py'), join(here, '..', '..', '..', 'src', 'runtime', 'probe.py')].find((p) => existsSync(p)) ?? join(here, 'probe.py');

function argvIn(netns: string | undefined, args: readonly string[]): string[] {
  const base = ['python3', PROBE_SCRIPT, ...args];
  return netns ? ['ip', 'netns', 'exec', netns, ...base] : base;
}

/** Outcome of a TCP connect. */
export interface TcpProbe {
  result: 'connected' | 'refused' | 'timeout' | 'error';
  errno: string | null;
}

/** Outcome of a UDP send read back through the socket error queue. */
export interface UdpProbe {
  result: 'error' | 'timeout' | 'answered';
  errno: string | null;
  icmp: { type: number; code: number; offender: string | null } | null;
}

/** Outcome of an ICMP echo request. */
export interface PingProbe {
  result: 'reply' | 'error' | 'timeout';
  type: number | null;
  code: number | null;
  from: string | null;
}

/** Runs one probe (in `netns` when given) and returns its JSON output. */
export function runProbe<T>(netns: string | undefined, args: readonly string[], timeoutMs = 15_000): T {
  const [cmd, ...rest] = argvIn(netns, args);
  const res = spawnSync(cmd!, rest, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (res.error) throw new EnvironmentError(`cannot run the probe: ${res.error.message}`, 'install python3');
  if (res.status !== 0) throw new EnvironmentError(`probe ${args.join(' ')} failed: ${res.stderr.trim()}`);
  const line = res.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as T;
}

/** Runs one probe asynchronously (in `netns` when given); resolves with its JSON output. */
export function runProbeAsync<T>(netns: string | undefined, args: readonly string[]): Promise<T> {
  const [cmd, ...rest] = argvIn(netns, args);
  const child = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new EnvironmentError(`probe ${args.join(' ')} failed (${code}): ${stderr.trim()}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop() ?? 'null') as T);
    });
  });
}

/** connect() to host:port. */
export function probeTcp(netns: string | undefined, host: string, port: number, timeoutS = 2): TcpProbe {
  return runProbe<TcpProbe>(netns, ['tcp', host, String(port), String(timeoutS)]);
}

/** A UDP datagram to host:port, then the ICMP error (if any) from the error queue. */
export function probeUdp(netns: string | undefined, host: string, port: number, timeoutS = 2): UdpProbe {
  return runProbe<UdpProbe>(netns, ['udp', host, String(port), String(timeoutS)]);
}

/** An ICMP/ICMPv6 echo request to host; the first answer. */
export function probePing(netns: string | undefined, host: string, timeoutS = 2): PingProbe {
  return runProbe<PingProbe>(netns, ['ping', host, String(timeoutS)]);
}

/**
 * Starts a probe that prints `{"ready": true}` first (serve, sink) and resolves once it is
 * ready. The caller stops it (kill). Rejects if it exits before being ready.
 */
export function startProbe(netns: string | undefined, args: readonly string[]): Promise<{ child: ChildProcess; output: Promise<string> }> {
  const [cmd, ...rest] = argvIn(netns, args);
  const child = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const output = new Promise<string>((resolve) => child.on('close', () => resolve(stdout)));
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('"ready": true')) resolve({ child, output });
    });
    child.on('exit', (code) => reject(new EnvironmentError(`probe ${args.join(' ')} exited (${code}) before it was ready: ${stderr.trim()}`)));
  });
}
