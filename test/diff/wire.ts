/**
 * Injection and observation for every side at once, through one long-lived helper process
 * (test/diff/wire.py, which explains how a frame's effects are bounded without timeouts).
 *
 *   const wire = await Wire.open(topology);
 *   const seen = await wire.send(frame);   // per side: what came back, what got through
 *   wire.close();
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { execArgv } from '../support/netns.js';
import { CLIENT_V4, IF, MAC, type DiffTopology, type SideKind } from './topology.js';

/** A packet the server let through its filter table (seen by NFLOG in the security table). */
export interface Passed {
  /** `INPUT` or `FORWARD` (NF_INET_LOCAL_IN = 1, NF_INET_FORWARD = 2). */
  hook: 'INPUT' | 'FORWARD';
  /** Interface indexes in the server namespace (0 = none). */
  indev: number;
  outdev: number;
  /** The IP packet as the hook saw it. */
  packet: Uint8Array;
}

/** Everything one frame caused on one side. */
export interface Observation {
  /** Frames the client received (the server's replies, hairpin forwards), in order. */
  client: Uint8Array[];
  /** Packets that passed the filter table. */
  passed: Passed[];
  /** Frames the far namespace received (forwarded packets), in order. */
  far: Uint8Array[];
}

export type Observations = Partial<Record<SideKind, Observation>>;

/** Which end of a side a frame is injected at. */
export type Via = 'client' | 'far';

interface RawObservation {
  client: string[];
  nflog: { hook: number; indev: number; outdev: number; payload: string }[];
  far: string[];
}

const HOOK_NAMES: Record<number, Passed['hook']> = { 1: 'INPUT', 2: 'FORWARD' };

/** The repository root (this file runs from test/diff or, compiled, from dist/test/diff). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('wire: cannot find the repository root');
    dir = up;
  }
  return dir;
}

const bytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));

/** The helper process, opened on every side of a topology. */
export class Wire {
  private constructor(
    private readonly child: ChildProcess,
    private readonly lines: Interface,
    private readonly iterator: AsyncIterator<string>,
    private stderr: string,
  ) {}

  /** Starts the helper and opens its sockets in every side's namespaces. */
  static async open(topology: DiffTopology): Promise<Wire> {
    const script = join(repoRoot(), 'test', 'diff', 'wire.py');
    const child = spawn('python3', ['-u', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    const lines = createInterface({ input: child.stdout! });
    const wire = new Wire(child, lines, lines[Symbol.asyncIterator](), '');
    child.stderr!.on('data', (d: Buffer) => (wire.stderr += d.toString()));
    const sides = topology.sides.map((s) => ({
      id: s.kind,
      client: { ns: s.client.name, ifname: IF.client, mac: MAC.client, ip: CLIENT_V4 },
      server: { ns: s.server.name, ip: '192.0.2.2', csumOff: serverInterfaces(s.server.name) },
      far: { ns: s.far.name, ifname: IF.far },
    }));
    try {
      await wire.request({ op: 'open', sides });
    } catch (err) {
      wire.close();
      throw err;
    }
    return wire;
  }

  private async request(req: object): Promise<unknown> {
    if (this.child.exitCode !== null) throw new Error(`wire helper exited (${this.child.exitCode}): ${this.stderr}`);
    this.child.stdin!.write(`${JSON.stringify(req)}\n`);
    const next = await this.iterator.next();
    if (next.done) throw new Error(`wire helper exited: ${this.stderr}`);
    const answer = JSON.parse(next.value) as { ok: boolean; error?: string; sides?: unknown };
    if (!answer.ok) throw new Error(`wire helper: ${answer.error}`);
    return answer.sides;
  }

  /**
   * Sends `frame` (a whole Ethernet frame) into every side, from the client (default) or from
   * the far namespace; resolves to what it caused.
   */
  async send(frame: Uint8Array, via: Via = 'client'): Promise<Observations> {
    const raw = (await this.request({ op: 'send', frame: Buffer.from(frame).toString('hex'), via })) as Record<SideKind, RawObservation>;
    const out: Observations = {};
    for (const [kind, o] of Object.entries(raw) as [SideKind, RawObservation][]) {
      out[kind] = {
        client: o.client.map(bytes),
        passed: o.nflog.filter((e) => HOOK_NAMES[e.hook]).map((e) => ({ hook: HOOK_NAMES[e.hook]!, indev: e.indev, outdev: e.outdev, packet: bytes(e.payload) })),
        far: o.far.map(bytes),
      };
    }
    return out;
  }

  /** Empties the connection table of every side's server (state left by earlier cases). */
  async flushConntrack(): Promise<void> {
    await this.request({ op: 'flush-conntrack' });
  }

  /** Stops the helper (idempotent). */
  close(): void {
    this.lines.close();
    this.child.stdin?.end();
    if (this.child.exitCode === null) this.child.kill();
  }
}

/** The server's two veth names (whatever the topology called them). */
function serverInterfaces(ns: string): string[] {
  const out = JSON.parse(execArgv(['ip', '-n', ns, '-j', 'link', 'show', 'type', 'veth']).stdout) as { ifname: string }[];
  return out.map((l) => l.ifname);
}
