/**
 * Shared pieces of the conntrack tests: a traffic generator (Python, run inside a namespace:
 * Node has no raw sockets), iptables per-state counting rules and their counters, and the
 * build of the BPF probe test/bpf/ct-probe.bpf.c.
 */
import { execFileSync } from 'node:child_process';
import { expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { BpfObject, attachTc, u32 } from '../src/runtime/libbpf.js';
import { createPair, stop, type Netns, type Pair } from './support/netns.js';
import { ensureBuilt, rejectc } from './fixtures/runtime/cli.js';

const here = dirname(fileURLToPath(import.meta.url));

/** State names in the probe's counter order (bit index of RJC_CT_*). */
export const CT_STATES = ['INVALID', 'ESTABLISHED', 'RELATED', 'NEW', 'UNTRACKED'] as const;
export type CtStateName = (typeof CT_STATES)[number];

let outDir: string | undefined;
const built = new Map<string, string>();

/** Builds test/bpf/ct-probe.bpf.c (TC, or XDP with `xdp`) once per process; the object path. */
export function buildProbe(xdp = false): string {
  const key = xdp ? 'xdp' : 'tc';
  const cached = built.get(key);
  if (cached) return cached;
  outDir ??= mkdtempSync(join(tmpdir(), 'rjc-ct-'));
  const out = join(outDir, `ct-probe-${key}.o`);
  const args = ['-target', 'bpf', '-O2', '-g', '-Wall', '-Wno-unused-function', '-I', join(here, '..', 'bpf')];
  if (process.arch === 'x64') args.push('-I', '/usr/include/x86_64-linux-gnu');
  if (xdp) args.push('-DCT_PROBE_XDP');
  args.push('-c', join(here, 'bpf', 'ct-probe.bpf.c'), '-o', out);
  execFileSync('clang', args, { stdio: 'pipe' });
  built.set(key, out);
  return out;
}

/**
 * The traffic generator. Commands (one per run, JSON result on stdout):
 *   serve PORT              TCP (echoes data) and UDP echo on PORT, dual stack; prints {"ready":true}
 *   tcp HOST PORT           connect, send 5 bytes, read the echo, close: {"result":"ok"|"refused"|"timeout"}
 *   udp HOST PORT N         N datagrams, each waiting for its echo: {"replies":n,"refused":n}
 *                           (refused: an ICMP port unreachable reached the socket)
 *   ping HOST N             N ICMP echo requests with one identifier: {"replies":n}
 *   raw HOST PORT FLAGS [SEQ ACK SPORT]  one TCP segment with FLAGS (e.g. 0x10), by default from
 *                           port 40000 with seq 1000 and ack 2000
 *   hold HOST PORT SPORT S  connect from SPORT, exchange 5 bytes, print {"snd":seq,"rcv":seq}
 *                           (the next sequence numbers each way, read with TCP_REPAIR), stay S s
 *   icmperr HOST PORT       an ICMP(v6) port unreachable quoting a UDP packet HOST:PORT -> us:PORT
 *   bad HOST tcp|udp|icmp   a SYN / datagram / echo request with a wrong checksum
 *   malformed HOST KIND     right checksum, wrong length: tcp-doff-long|tcp-doff-short|udp-len-long|udp-len-short|sctp-short;
 *                           udp-zero: no checksum at all
 *   send SRC HOST PORTS     one UDP datagram from address SRC to each of the comma-separated PORTS
 *                           ({"refused": n}: sendto errors, e.g. EPERM from a DROP in OUTPUT)
 */
export const TRAFFIC_PY = String.raw`
import json, select, socket, struct, sys, time

def fam(h): return socket.AF_INET6 if ':' in h else socket.AF_INET
def out(o): print(json.dumps(o)); sys.stdout.flush()

def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b)//2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

def local_addr(host, f):
    s = socket.socket(f, socket.SOCK_DGRAM); s.connect((host, 9)); a = s.getsockname()[0]; s.close(); return a

def serve(port):
    t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    t.bind(('::', port)); t.listen(16)
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    u.bind(('::', port))
    out({'ready': True})
    conns = []
    while True:
        r, _, _ = select.select([t, u] + conns, [], [])
        for s in r:
            if s is t:
                c, _ = t.accept(); conns.append(c)
            elif s is u:
                d, a = u.recvfrom(2048); u.sendto(d, a)
            else:
                try:
                    d = s.recv(2048)
                    if d: s.sendall(d)
                except OSError:
                    d = b''
                if not d: s.close(); conns.remove(s)

def tcp(host, port):
    s = socket.socket(fam(host), socket.SOCK_STREAM); s.settimeout(3)
    try:
        s.connect((host, port))
    except ConnectionRefusedError:
        return out({'result': 'refused'})
    except OSError:
        return out({'result': 'timeout'})
    s.sendall(b'hello'); d = s.recv(16); s.shutdown(socket.SHUT_WR)
    while s.recv(16): pass
    s.close(); time.sleep(0.2)
    out({'result': 'ok' if d == b'hello' else 'short'})

def udp(host, port, n):
    s = socket.socket(fam(host), socket.SOCK_DGRAM); s.settimeout(1); s.connect((host, port)); got = 0; refused = 0
    for i in range(n):
        s.send(b'x%d' % i)
        try:
            s.recv(64); got += 1
        except ConnectionRefusedError:
            refused += 1
        except OSError:
            pass
    out({'replies': got, 'refused': refused})

def ping(host, n):
    f = fam(host)
    if f == socket.AF_INET:
        s = socket.socket(f, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    else:
        s = socket.socket(f, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.settimeout(1); got = 0; ident = 0x4242
    for i in range(n):
        t = 8 if f == socket.AF_INET else 128
        h = struct.pack('!BBHHH', t, 0, 0, ident, i + 1) + b'ping'
        if f == socket.AF_INET:
            h = h[:2] + struct.pack('!H', csum(h)) + h[4:]
        s.sendto(h, (host, 0))
        end = time.time() + 1
        while time.time() < end:
            try:
                d = s.recv(2048)
            except OSError:
                break
            if f == socket.AF_INET: d = d[(d[0] & 15) * 4:]
            if d[0] in (0, 129) and struct.unpack('!H', d[4:6])[0] == ident:
                got += 1; break
    out({'replies': got})

def pseudo(f, src, dst, proto, n):
    if f == socket.AF_INET:
        return socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, proto, n)
    return socket.inet_pton(f, src) + socket.inet_pton(f, dst) + struct.pack('!I3xB', n, proto)

def raw(host, port, flags, seq=1000, ack=2000, sport=40000):
    f = fam(host); src = local_addr(host, f)
    s = socket.socket(f, socket.SOCK_RAW, socket.IPPROTO_TCP)
    h = struct.pack('!HHIIBBHHH', sport, port, seq & 0xffffffff, (ack & 0xffffffff) if flags & 0x10 else 0, 5 << 4, flags, 8192, 0, 0)
    h = h[:16] + struct.pack('!H', csum(pseudo(f, src, host, 6, len(h)) + h)) + h[18:]
    s.sendto(h, (host, 0)); out({'sent': 1})

def malformed(host, kind):
    # Right checksums, wrong lengths: tcp-doff-long (15 words in 20 bytes), tcp-doff-short (4),
    # udp-len-long (says 100 bytes), udp-len-short (says 4); sctp-short (6 bytes of header);
    # udp-zero: a right length and no checksum (0), which conntrack takes (IPv6 too).
    f = fam(host); src = local_addr(host, f)
    if kind == 'sctp-short':
        socket.socket(f, socket.SOCK_RAW, 132).sendto(struct.pack('!HHH', 40002, 7001, 0), (host, 0)); return out({'sent': 1})
    if kind == 'udp-zero':
        h = struct.pack('!HHHH', 40002, 7001, 12, 0) + b'data'
        socket.socket(f, socket.SOCK_RAW, 17).sendto(h, (host, 0)); return out({'sent': 1})
    if kind.startswith('tcp'):
        n, h = 6, struct.pack('!HHIIBBHHH', 40002, 7001, 1, 0, (15 if kind == 'tcp-doff-long' else 4) << 4, 0x02, 8192, 0, 0)
    else:
        n, h = 17, struct.pack('!HHHH', 40002, 7001, 100 if kind == 'udp-len-long' else 4, 0) + b'data'
    at = 16 if n == 6 else 6
    h = h[:at] + struct.pack('!H', csum(pseudo(f, src, host, n, len(h)) + h)) + h[at + 2:]
    socket.socket(f, socket.SOCK_RAW, n).sendto(h, (host, 0)); out({'sent': 1})

def bad(host, proto):
    # One segment of proto (tcp, udp, icmp) with a wrong checksum.
    f = fam(host); src = local_addr(host, f)
    if proto == 'tcp':
        n, h = 6, struct.pack('!HHIIBBHHH', 40001, 7001, 1, 0, 5 << 4, 0x02, 8192, 0, 0)
    elif proto == 'udp':
        n, h = 17, struct.pack('!HHHH', 40001, 7001, 12, 0) + b'data'
    else:
        n = 1 if f == socket.AF_INET else 58
        h = struct.pack('!BBHHH', 8 if n == 1 else 128, 0, 0, 0x77, 1) + b'ping'
    good = csum((pseudo(f, src, host, n, len(h)) if n != 1 else b'') + h)
    at = {6: 16, 17: 6}.get(n, 2)
    h = h[:at] + struct.pack('!H', good ^ 0x5a5a) + h[at + 2:]
    s = socket.socket(f, socket.SOCK_RAW, n)
    s.sendto(h, (host, 0)); out({'sent': 1})

def icmperr(host, port):
    f = fam(host); src = local_addr(host, f)
    u = struct.pack('!HHHH', port, port, 12, 0) + b'data'
    if f == socket.AF_INET:
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(u), 1, 0, 64, 17, 0, socket.inet_aton(host), socket.inet_aton(src))
        ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
        m = struct.pack('!BBHI', 3, 3, 0, 0) + ip + u
        m = m[:2] + struct.pack('!H', csum(m)) + m[4:]
        s = socket.socket(f, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    else:
        ip = struct.pack('!IHBB16s16s', 0x60000000, len(u), 17, 64, socket.inet_pton(f, host), socket.inet_pton(f, src))
        m = struct.pack('!BBHI', 1, 4, 0, 0) + ip + u
        s = socket.socket(f, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.sendto(m, (host, 0)); out({'sent': 1})

def hold(host, port, sport, seconds):
    s = socket.socket(fam(host), socket.SOCK_STREAM)
    s.bind(('::' if fam(host) == socket.AF_INET6 else '0.0.0.0', sport)); s.connect((host, port))
    s.sendall(b'hello'); s.recv(16)
    s.setsockopt(socket.SOL_TCP, 19, 1)                  # TCP_REPAIR
    s.setsockopt(socket.SOL_TCP, 20, 2); snd = s.getsockopt(socket.SOL_TCP, 21)   # TCP_SEND_QUEUE, TCP_QUEUE_SEQ
    s.setsockopt(socket.SOL_TCP, 20, 1); rcv = s.getsockopt(socket.SOL_TCP, 21)   # TCP_RECV_QUEUE
    s.setsockopt(socket.SOL_TCP, 19, 0)
    out({'snd': snd, 'rcv': rcv}); time.sleep(seconds)

def send(src, host, ports):
    s = socket.socket(fam(host), socket.SOCK_DGRAM); s.bind((src, 0)); refused = 0
    for p in ports.split(','):
        try:
            s.sendto(b'x', (host, int(p)))
        except OSError:
            refused += 1
    out({'sent': len(ports.split(',')), 'refused': refused})

a = sys.argv[1:]
if a[0] == 'serve': serve(int(a[1]))
elif a[0] == 'tcp': tcp(a[1], int(a[2]))
elif a[0] == 'udp': udp(a[1], int(a[2]), int(a[3]))
elif a[0] == 'ping': ping(a[1], int(a[2]))
elif a[0] == 'raw': raw(a[1], int(a[2]), int(a[3], 0), *[int(x, 0) for x in a[4:7]])
elif a[0] == 'bad': bad(a[1], a[2])
elif a[0] == 'malformed': malformed(a[1], a[2])
elif a[0] == 'hold': hold(a[1], int(a[2]), int(a[3]), float(a[4]))
elif a[0] == 'icmperr': icmperr(a[1], int(a[2]))
elif a[0] == 'send': send(a[1], a[2], a[3])
`;

/** Runs one traffic command inside `ns`; its JSON result. */
export function traffic(ns: Netns, ...args: (string | number)[]): Record<string, unknown> {
  const r = ns.exec(['python3', '-c', TRAFFIC_PY, ...args.map(String)]);
  const last = r.stdout.trim().split('\n').pop() ?? '{}';
  return JSON.parse(last) as Record<string, unknown>;
}

/** Starts the echo server in `ns` on `port` and waits until it listens. */
export async function startServer(ns: Netns, port: number): Promise<ChildProcess> {
  const child = ns.spawn(['python3', '-c', TRAFFIC_PY, 'serve', String(port)]);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('traffic server did not start')), 5000);
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', () => reject(new Error('traffic server exited')));
  });
  return child;
}

/** Adds one counting rule per state (no target) to INPUT and OUTPUT of both families. */
export function addStateCounters(ns: Netns): void {
  for (const tool of ['iptables', 'ip6tables']) {
    for (const chain of ['INPUT', 'OUTPUT']) {
      for (const st of CT_STATES) ns.exec([tool, '-w', '-A', chain, '-m', 'conntrack', '--ctstate', st]);
    }
  }
}

/** iptables' per-state packet counters: [INPUT v4, INPUT v6, OUTPUT v4, OUTPUT v6] × CT_STATES. */
export function stateCounters(ns: Netns): number[] {
  const out: number[] = [];
  for (const chain of ['INPUT', 'OUTPUT']) {
    for (const tool of ['iptables', 'ip6tables']) {
      const text = ns.exec([tool, '-w', '-L', chain, '-v', '-x', '-n']).stdout;
      const rows = text.split('\n').slice(2).filter((l) => l.trim() !== '');
      out.push(...rows.slice(0, CT_STATES.length).map((l) => Number(l.trim().split(/\s+/)[0])));
    }
  }
  return out;
}

/** Names the counter vector positions, for readable diffs. */
export function labelCounts(v: readonly number[]): Record<string, number> {
  const names = ['in4', 'in6', 'out4', 'out6'];
  const o: Record<string, number> = {};
  v.forEach((n, i) => {
    if (n !== 0) o[`${names[Math.floor(i / CT_STATES.length)]}:${CT_STATES[i % CT_STATES.length]}`] = n;
  });
  return o;
}

/** Per-rule packet counters of iptables and ip6tables in `ns`, chain after chain, in rule order. */
export function kernelRuleCounters(ns: Netns, chains: readonly string[] = ['INPUT']): number[] {
  return ['iptables', 'ip6tables'].flatMap((tool) =>
    chains.flatMap((chain) =>
      ns
        .exec([tool, '-w', '-L', chain, '-v', '-x', '-n'])
        .stdout.split('\n')
        .slice(2)
        .filter((l) => l.trim())
        .map((l) => Number(l.trim().split(/\s+/)[0])),
    ),
  );
}

/** The same counters from `rejectc stats --json` on `ifname` in `ns` (IPv4 then IPv6). */
export function rejectcRuleCounters(ns: Netns, ifname: string, chains: readonly string[] = ['INPUT']): number[] {
  const r = rejectc(ns.name, ['stats', '--dev', ifname, '--json']);
  if (r.status !== 0) throw new Error(`rejectc stats failed: ${r.stderr}`);
  const stats = JSON.parse(r.stdout) as { chains: { family: string; chain: string; rules: { packets: number }[] }[] };
  return ['ipv4', 'ipv6'].flatMap((f) => chains.flatMap((chain) => stats.chains.find((c) => c.family === f && c.chain === chain)?.rules.map((x) => x.packets) ?? []));
}

/** Two namespace pairs: the same rules loaded in `kernel.b` by iptables, in `bpf.b` by `rejectc apply`. */
export interface KernelAndRejectc {
  kernel: Pair;
  bpf: Pair;
  /** Detaches rejectc and deletes both pairs. */
  cleanup(): void;
}

/**
 * Creates the pairs of a kernel-vs-rejectc test (`tag`: two letters; the pairs get tag + k /
 * tag + b), loads `rules(false)` with iptables-restore and `rules(true)` with
 * ip6tables-restore on the kernel side, and both as one file with `rejectc apply` (the built
 * CLI) on the other side's b end. Fails the test if apply fails.
 */
export function kernelAndRejectc(tag: string, rules: (v6: boolean) => string): KernelAndRejectc {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), `rjc-${tag}-`));
  writeFileSync(join(dir, 'rules'), rules(false) + rules(true));
  const kernel = createPair({ tag: `${tag}k` });
  let bpf: Pair | undefined;
  const cleanup = () => {
    if (bpf) rejectc(bpf.b.name, ['detach', '--dev', bpf.ifB]);
    kernel.cleanup();
    bpf?.cleanup();
  };
  try {
    bpf = createPair({ tag: `${tag}b` });
    kernel.b.exec(['iptables-restore'], { input: rules(false) });
    kernel.b.exec(['ip6tables-restore'], { input: rules(true) });
    const r = rejectc(bpf.b.name, ['apply', join(dir, 'rules'), '--dev', bpf.ifB]);
    expect(r.status, r.stderr).toBe(0);
    return { kernel, bpf, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** Runs `step` on the kernel pair, then on the rejectc pair; the results must be equal. Returns the kernel's. */
export function sameOnBoth<P, T>(kernel: P, bpf: P, step: (p: P) => T): T {
  const k = step(kernel);
  const b = step(bpf);
  expect(b).toEqual(k);
  return k;
}

/** A namespace pair with iptables per-state counters and the TC probe on b, servers on both ends. */
export interface ProbeSetup {
  pair: Pair;
  obj: BpfObject;
  servers: ChildProcess[];
  /** The probe's counters in {@link stateCounters}' order: INPUT v4, INPUT v6, OUTPUT v4, OUTPUT v6. */
  probeCounts(): number[];
  close(): Promise<void>;
}

/** Builds a {@link ProbeSetup}: echo servers on `port` in a and b. Close it in afterAll. */
export async function setupProbe(tag: string, port: number): Promise<ProbeSetup> {
  const pair = createPair({ tag });
  const obj = BpfObject.open(buildProbe());
  const servers: ChildProcess[] = [];
  const close = async () => {
    for (const s of servers) await stop(s);
    pair.cleanup();
    obj.close();
  };
  try {
    addStateCounters(pair.b);
    obj.load();
    const ifindex = pair.b.ifindex(pair.ifB);
    pair.b.run(() => {
      attachTc(obj.program('ct_probe_ingress'), { ifindex, direction: 'ingress', handle: 1, priority: 1 });
      attachTc(obj.program('ct_probe_egress'), { ifindex, direction: 'egress', handle: 1, priority: 1 });
    });
    servers.push(await startServer(pair.b, port), await startServer(pair.a, port));
  } catch (err) {
    await close();
    throw err;
  }
  const probeCounts = () => {
    const map = obj.map('ct_counts');
    const out: number[] = [];
    for (const base of [0, 8, 16, 24]) for (let s = 0; s < CT_STATES.length; s++) out.push(Number(map.lookup(u32(base + s))!.readBigUInt64LE(0)));
    return out;
  };
  return { pair, obj, servers, probeCounts, close };
}
