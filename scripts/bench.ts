/**
 * `npm run bench`: rejectc's numbers, printed (never asserted by tests). Sections:
 *
 *   reply    BPF_PROG_TEST_RUN ns/packet for a TCP RST, an ICMP error and an accepted packet,
 *            TC and XDP (issue 3)
 *   scale    ns/packet for rulesets of 1, 100, 1,000, 10,000 and 50,000 rules where the
 *            matching rule is the last one, TC and XDP, and the 10,000 : 1 ratio (issue 4;
 *            goal <= 1.5)
 *   compile  compile time (parse -> maps.json + C, clang excluded) and map-fill time for 10,000
 *            and 50,000 rules (goal < 1 s each), and the kernel's bytes for all BPF maps
 *   vs-kernel  side by side with the kernel in one run (scripts/bench-kernel.ts): a SYN flood
 *            over veth answered by the kernel's TCP stack, iptables-nft, iptables-legacy, nft
 *            and rejectc TC/XDP with the REJECT first and after 1,000 and 10,000 rules; replies/s
 *            and ratios (`--udp` adds the same table for ICMP port unreachable)
 *
 * Usage (after `npm run build`, as root): node dist/scripts/bench.js [section...] [--quick]
 * (`--cold-compile N`: internal, the compile section's child process.)
 * Sections are separate functions in SECTIONS below; add a section by appending one.
 *
 * Method: a packet's time is the kernel's own measure of BPF_PROG_TEST_RUN (`duration`, ns,
 * averaged over `repeat` runs). Test-run with repeat > 1 runs the program again on its own
 * output (bpf-notes.md), so a case whose program rewrites the packet (a reply) is timed with
 * repeat = 1, many times, fresh input each time; cases that only pass or drop use repeat.
 * Times are medians over rounds; the machine is shared, so compare within one run.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { compile, type CompileArtifacts } from '../src/compiler/compile.js';
import { parseRuleset } from '../src/compiler/frontend.js';
import { fillRulesetMaps, LoadedRuleset } from '../src/commands/run.js';
import { readHostConfig, type HostConfig } from '../src/runtime/host-config.js';
import { findIfindex, withNetns, type BpfObject } from '../src/runtime/libbpf.js';
import { benchKernel, median } from './bench-kernel.js';
import { cliNodeFlags } from '../src/cli-flags.js';

interface BenchContext {
  quick: boolean;
  /** A namespace set up like a small host: veth rjb0 192.0.2.2/24 and 2001:db8::2/64. */
  ns: string;
  host: HostConfig;
  ifindex: number;
}

interface Section {
  name: string;
  title: string;
  /** Needs the kernel (root). */
  kernel: boolean;
  run(ctx: BenchContext): void;
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** Runs `f`, timing it: wall ms and this process's CPU ms (user + system; GC threads count). */
function timed<T>(f: () => T): { value: T; ms: number; cpu: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = f();
  const c = process.cpuUsage(c0);
  return { value, ms: performance.now() - t0, cpu: (c.user + c.system) / 1000 };
}

function compiled(text: string, hook: 'tc' | 'xdp'): CompileArtifacts {
  const parsed = parseRuleset(text, 'bench.rules');
  const r = compile(parsed.ruleset, { hook });
  if (!r.artifacts) throw new Error(`bench ruleset does not compile: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  return r.artifacts;
}

function load(ctx: BenchContext, a: CompileArtifacts): LoadedRuleset {
  return withNetns(ctx.ns, () => LoadedRuleset.load({ maps: a.maps, c: a.c }, ctx.host, { trace: false }));
}

const ETH4 = '020000000002020000000001' + '0800';
const SRC = [192, 0, 2, 1];
const DST = [192, 0, 2, 2];

function checksum(b: Buffer, start: number, end: number, initial = 0): number {
  let sum = initial;
  for (let i = start; i < end; i += 2) sum += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An Ethernet frame with an IPv4 TCP SYN or UDP datagram to `dport`, checksums right. */
function frame(proto: 'tcp' | 'udp', dport: number): Buffer {
  const l4 = proto === 'tcp' ? Buffer.alloc(20) : Buffer.alloc(12);
  l4.writeUInt16BE(40000, 0);
  l4.writeUInt16BE(dport, 2);
  if (proto === 'tcp') {
    l4.writeUInt32BE(1000, 4);
    l4[12] = 0x50;
    l4[13] = 0x02;
    l4.writeUInt16BE(64240, 14);
  } else {
    l4.writeUInt16BE(12, 4);
  }
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + l4.length, 2);
  ip.writeUInt16BE(0x1234, 4);
  ip[8] = 64;
  ip[9] = proto === 'tcp' ? 6 : 17;
  ip.set(SRC, 12);
  ip.set(DST, 16);
  ip.writeUInt16BE(checksum(ip, 0, 20), 10);
  const pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, ip[9]!, 0, l4.length])]);
  const sum = checksum(Buffer.concat([pseudo, l4]), 0, pseudo.length + l4.length);
  l4.writeUInt16BE(sum, proto === 'tcp' ? 16 : 6);
  return Buffer.concat([Buffer.from(ETH4, 'hex'), ip, l4]);
}

/**
 * ns/packet of one program on one frame: median over rounds of the kernel's duration.
 * `rewrites`: the program rewrites the packet (a reply), so every run gets fresh input.
 */
function nsPerPacket(ctx: BenchContext, obj: BpfObject, program: string, data: Buffer, rewrites: boolean): number {
  const prog = obj.program(program);
  const ctxIn = program === 'rjc_xdp' ? { kind: 'xdp' as const, ingressIfindex: ctx.ifindex } : { kind: 'skb' as const, ifindex: ctx.ifindex, ingressIfindex: ctx.ifindex };
  const rounds = ctx.quick ? 5 : 15;
  return withNetns(ctx.ns, () => {
    const samples: number[] = [];
    for (let r = 0; r < rounds; r++) {
      if (rewrites) {
        let total = 0;
        const n = ctx.quick ? 200 : 1000;
        for (let i = 0; i < n; i++) total += prog.testRun({ data, ctx: ctxIn }).duration;
        samples.push(total / n);
      } else {
        samples.push(prog.testRun({ data, ctx: ctxIn, repeat: ctx.quick ? 2000 : 20000 }).duration);
      }
    }
    return median(samples);
  });
}

function table(rows: (string | number)[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => String(c).padStart(widths[i]!)).join('  ')).join('\n');
}

/** `n` rules of realistic shapes (blocklist hosts, service ports, UDP rules) of which only the last matches the probe packet (a TCP SYN to port 23 from 192.0.2.1). */
function scaleRules(n: number, last: string): string {
  const lines = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]'];
  for (let i = 0; i < n - 1; i++) {
    const a = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    const port = 1024 + (i % 60000);
    switch (i % 4) {
      case 0:
      case 1:
        lines.push(`-A INPUT -s ${a} -p tcp -m tcp --dport ${port} -j DROP`);
        break;
      case 2:
        lines.push(`-A INPUT -d ${a} -j DROP`);
        break;
      default:
        lines.push(`-A INPUT -p udp -m udp --dport ${port} -j ACCEPT`);
    }
  }
  lines.push(last, 'COMMIT', '');
  return lines.join('\n');
}

/** The kernel's bytes (fdinfo memlock) of each BPF map of a loaded object, by map name. */
function mapBytesInKernel(obj: BpfObject): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of obj.maps.values()) {
    try {
      const info = readFileSync(`/proc/self/fdinfo/${m.fd}`, 'utf8');
      const memlock = /^memlock:\s*(\d+)/m.exec(info);
      if (memlock) out.set(m.name, Number(memlock[1]));
    } catch {
      /* a map without fd (not created) */
    }
  }
  return out;
}

function sum(xs: Iterable<number>): number {
  let n = 0;
  for (const x of xs) n += x;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Sections

const DEMO = [
  '*filter',
  ':INPUT ACCEPT [0:0]',
  '-A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset',
  '-A INPUT -p udp -m udp --dport 9 -j REJECT --reject-with icmp-port-unreachable',
  'COMMIT',
  '',
].join('\n');

const reply: Section = {
  name: 'reply',
  title: 'test-run ns/packet: a TCP RST, an ICMP error, an accepted packet (issue 3)',
  kernel: true,
  run(ctx) {
    const rows: (string | number)[][] = [['hook', 'RST', 'ICMP error', 'accepted']];
    for (const hook of ['tc', 'xdp'] as const) {
      const loaded = load(ctx, compiled(DEMO, hook));
      try {
        const prog = hook === 'xdp' ? 'rjc_xdp' : 'rjc_tc_ingress';
        rows.push([
          hook,
          nsPerPacket(ctx, loaded.obj, prog, frame('tcp', 23), true).toFixed(0),
          nsPerPacket(ctx, loaded.obj, prog, frame('udp', 9), true).toFixed(0),
          nsPerPacket(ctx, loaded.obj, prog, frame('tcp', 80), false).toFixed(0),
        ]);
      } finally {
        loaded.close();
      }
    }
    console.log(table(rows));
  },
};

const scale: Section = {
  name: 'scale',
  title: 'test-run ns/packet with N rules, the matching rule last (issue 4; goal: 10,000 rules <= 1.5 x 1 rule)',
  kernel: true,
  run(ctx) {
    const sizes = ctx.quick ? [1, 100, 1000, 10000] : [1, 100, 1000, 10000, 50000];
    const rows: (string | number)[][] = [['rules', 'tc ns', 'xdp ns', 'tc ns, no rule matches', 'slots', 'shape']];
    const policy: Record<number, number> = {};
    const results: Record<string, Record<number, number>> = { tc: {}, xdp: {} };
    const shapes: Record<number, string> = {};
    for (const n of sizes) {
      for (const hook of ['tc', 'xdp'] as const) {
        const a = compiled(scaleRules(n, '-A INPUT -p tcp -m tcp --dport 23 -j DROP'), hook);
        shapes[n] = `${a.maps.shape.slots} slots, ${a.maps.shape.words} level-1 word(s), fields ${a.maps.shape.fields.map((f) => f.id).join(',')}`;
        const loaded = load(ctx, a);
        try {
          const prog = hook === 'xdp' ? 'rjc_xdp' : 'rjc_tc_ingress';
          results[hook]![n] = nsPerPacket(ctx, loaded.obj, prog, frame('tcp', 23), false);
          // A UDP datagram to port 9: no rule matches, the policy (ACCEPT) decides.
          if (hook === 'tc') policy[n] = nsPerPacket(ctx, loaded.obj, prog, frame('udp', 9), false);
        } finally {
          loaded.close();
        }
      }
      rows.push([n, results.tc![n]!.toFixed(0), results.xdp![n]!.toFixed(0), policy[n]!.toFixed(0), shapes[n]!.split(',')[0]!, shapes[n]!.slice(shapes[n]!.indexOf(',') + 2)]);
    }
    console.log(table(rows));
    for (const hook of ['tc', 'xdp'] as const) {
      const ratio = results[hook]![10000]! / results[hook]![1]!;
      console.log(`${hook}: 10,000 rules : 1 rule = ${ratio.toFixed(2)} (goal <= 1.5)`);
    }
  },
};

/** Parse and compile times of `n` scale rules: wall and CPU ms of each stage. */
interface CompileTiming {
  parse: { ms: number; cpu: number };
  compile: { ms: number; cpu: number };
  /** maps.json as text (JSON.stringify, what `rejectc compile` writes). */
  serialise: { ms: number; cpu: number };
}

function timeCompile(n: number): { timing: CompileTiming; artifacts: CompileArtifacts } {
  const text = scaleRules(n, '-A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset');
  const parse = timed(() => parseRuleset(text, 'bench.rules'));
  const comp = timed(() => compile(parse.value.ruleset, { hook: 'tc' }));
  const artifacts = comp.value.artifacts;
  if (!artifacts) throw new Error('the scale rules do not compile');
  const serialise = timed(() => JSON.stringify(artifacts.maps));
  return {
    timing: { parse: { ms: parse.ms, cpu: parse.cpu }, compile: { ms: comp.ms, cpu: comp.cpu }, serialise: { ms: serialise.ms, cpu: serialise.cpu } },
    artifacts,
  };
}

/**
 * Cold: the first parse and compile of a fresh node process (JIT and heap cold), run as a child
 * started with the node flags the rejectc command starts with (its `#!` line).
 */
function coldCompile(n: number): CompileTiming {
  const r = spawnSync(process.execPath, [...cliNodeFlags(), process.argv[1]!, '--cold-compile', String(n)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cold compile of ${n} rules failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as CompileTiming;
}

/** Map names whose kernel bytes the compile section lists, the rest summed as "other". */
const BIG_MAPS = ['rjc_l1', 'rjc_l2', 'rjc_act', 'rjc_cnt', 'rjc_s1_w', 'rjc_s1_a4', 'rjc_blk', 'rjc_budget_peers'];

const compileTimes: Section = {
  name: 'compile',
  title: 'compile time (parse -> maps.json + C, without clang), map-fill time, BPF map bytes (goal < 1 s each)',
  kernel: true,
  run(ctx) {
    const sizes = [10000, 50000];
    const rows: (string | number)[][] = [['rules', 'run', 'parse ms', 'compile ms', 'parse+compile ms', 'maps.json text ms', 'all ms', 'fill ms', 'map bytes (kernel)', 'maps.json MB']];
    const memRows: (string | number)[][] = [['rules', ...BIG_MAPS, 'other']];
    const ms = (t: { ms: number; cpu: number }): string => `${t.ms.toFixed(0)} (cpu ${t.cpu.toFixed(0)})`;
    const both = (t: CompileTiming): string => ms({ ms: t.parse.ms + t.compile.ms, cpu: t.parse.cpu + t.compile.cpu });
    const all = (t: CompileTiming): string => ms({ ms: t.parse.ms + t.compile.ms + t.serialise.ms, cpu: t.parse.cpu + t.compile.cpu + t.serialise.cpu });
    for (const n of sizes) {
      const cold = coldCompile(n);
      rows.push([n, 'cold', ms(cold.parse), ms(cold.compile), both(cold), ms(cold.serialise), all(cold), '', '', '']);
      // Warm: the median (by parse + compile CPU) of three runs in this process.
      const runs = [timeCompile(n), timeCompile(n), timeCompile(n)].sort((x, y) => x.timing.parse.cpu + x.timing.compile.cpu - (y.timing.parse.cpu + y.timing.compile.cpu));
      const { timing: warm, artifacts: a } = runs[1]!;
      const json = JSON.stringify(a.maps).length;
      const loaded = load(ctx, a);
      try {
        // Fill again, timed: the load above already did once (generation 0).
        const fill = timed(() => fillRulesetMaps(loaded.obj, a.maps, 1));
        const bytes = mapBytesInKernel(loaded.obj);
        rows.push([n, 'warm', ms(warm.parse), ms(warm.compile), both(warm), ms(warm.serialise), all(warm), ms(fill), sum(bytes.values()), (json / 1e6).toFixed(1)]);
        const listed = BIG_MAPS.map((m) => bytes.get(m) ?? 0);
        memRows.push([n, ...listed, sum(bytes.values()) - sum(listed)]);
      } finally {
        loaded.close();
      }
    }
    console.log(table(rows));
    console.log("ms are wall-clock, (cpu ...) this process's CPU time; cold: a fresh node process started with the rejectc command's node flags; the machine is shared");
    console.log('maps.json text: JSON.stringify of the compiled maps.json (rejectc compile writes it); all = parse + compile + maps.json text');
    console.log('\nkernel bytes per map (fdinfo memlock):');
    console.log(table(memRows));
  },
};

/** Every section, in the order `npm run bench` runs them. */
export const SECTIONS: Section[] = [reply, scale, compileTimes];

// ---------------------------------------------------------------------------------------------
// Main

function sh(cmd: string): void {
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
}

/** The section that runs after the test-run sections, in namespaces of its own. */
const VS_KERNEL = 'vs-kernel';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const cold = args.indexOf('--cold-compile');
  if (cold >= 0) {
    // The child of coldCompile(): one parse and compile, timings on stdout.
    process.stdout.write(JSON.stringify(timeCompile(Number(args[cold + 1])).timing));
    return;
  }
  const quick = args.includes('--quick');
  const wanted = args.filter((a) => !a.startsWith('--'));
  const sections = wanted.length > 0 ? SECTIONS.filter((s) => wanted.includes(s.name)) : SECTIONS;
  const vsKernel = wanted.length === 0 || wanted.includes(VS_KERNEL);
  const unknown = wanted.filter((w) => w !== VS_KERNEL && !SECTIONS.some((s) => s.name === w));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown section ${unknown.join(', ')} (sections: ${[...SECTIONS.map((s) => s.name), VS_KERNEL].join(', ')})\n`);
    process.exit(1);
  }
  if (process.getuid?.() !== 0 && (vsKernel || sections.some((s) => s.kernel))) {
    process.stderr.write('bench: the kernel sections need root (BPF_PROG_TEST_RUN)\n');
    process.exit(2);
  }
  const ns = `rjcb${process.pid % 100000}`;
  sh(`ip netns add ${ns}`);
  try {
    for (const cmd of [
      'ip link set lo up',
      // rjb0 has the MAC the frames are sent to (ETH4): a frame to another MAC is PACKET_OTHERHOST.
      'ip link add rjb0 address 02:00:00:00:00:02 type veth peer name rjb1',
      'ip link set rjb0 up',
      'ip link set rjb1 up',
      'ip addr add 192.0.2.2/24 dev rjb0',
      'ip -6 addr add 2001:db8::2/64 dev rjb0 nodad',
    ]) {
      sh(`ip netns exec ${ns} ${cmd}`);
    }
    const host = withNetns(ns, () => readHostConfig());
    const ifindex = withNetns(ns, () => findIfindex('rjb0')!);
    const ctx: BenchContext = { quick, ns, host, ifindex };
    for (const s of sections) {
      console.log(`\n== ${s.name}: ${s.title}`);
      s.run(ctx);
    }
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
  if (vsKernel) {
    console.log(`\n== ${VS_KERNEL}: replies/s under a SYN flood over veth, rejectc side by side with the kernel (ratios compare within this run)`);
    await benchKernel({ quick, udp: args.includes('--udp') });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
