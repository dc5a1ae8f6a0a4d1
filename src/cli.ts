#!/usr/bin/env -S node --initial-old-space-size=256
/**
 * The rejectc command line. This file only wires commander to the command modules in
 * src/commands/ and turns their results and errors into exit codes (see ../shared/DESIGN.md):
 * 0 success, 1 user error, 2 environment error. `--json` output goes to stdout and nothing
 * else does; human-readable diagnostics go to stderr.
 *
 * The `#!` line starts V8 with a larger initial old generation (a limit, not memory taken):
 * compiling a large ruleset builds its IR, flat rules and slots at once (about 150 MB for
 * 50,000 rules), and a heap that starts small is marked again and again while it grows, which
 * cost about a tenth of a cold 50,000-rule compile. `npm run bench` starts its cold compiles
 * with the flags of this line (scripts/bench.ts); test/cli-flags.test.ts checks that Node
 * accepts them.
 */
import { Command, CommanderError, Option } from 'commander';
import { EXIT, EnvironmentError, UserError } from './errors.js';

type Action = (...args: never[]) => Promise<number> | number;

/** Runs a command module's default export and converts thrown errors into exit codes. */
function run(load: () => Promise<{ default: Action }>) {
  return async (...args: unknown[]) => {
    try {
      const mod = await load();
      process.exitCode = await (mod.default as (...a: unknown[]) => Promise<number> | number)(...args);
    } catch (err) {
      process.exitCode = reportError(err);
    }
  };
}

function reportError(err: unknown): number {
  if (err instanceof UserError) {
    process.stderr.write(`rejectc: error: ${err.message}\n`);
    return EXIT.user;
  }
  if (err instanceof EnvironmentError) {
    process.stderr.write(`rejectc: error: ${err.message}\n`);
    if (err.fix) process.stderr.write(`  fix: ${err.fix}\n`);
    return EXIT.environment;
  }
  process.stderr.write(`rejectc: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return EXIT.environment;
}

const program = new Command('rejectc')
  .description('compile iptables/ip6tables rulesets into eBPF that REJECTs exactly like the kernel')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

const hookOption = () => new Option('--hook <hook>', 'attach point flavour').choices(['tc', 'xdp']).default('tc');
const familyOption = () =>
  new Option('--family <family>', 'read an iptables-save file (and $IPT commands) as this family instead of detecting it').choices(['ipv4', 'ipv6']);

program
  .command('check')
  .description('parse and validate a ruleset; exit 0 if valid, 1 with diagnostics')
  .argument('<rules>', 'iptables-save file or script of iptables commands, or - for stdin')
  .option('--json', 'print the diagnostics as one JSON document')
  .addOption(familyOption())
  .action(run(() => import('./commands/check.js')));

program
  .command('print')
  .description('print the ruleset in canonical iptables-save spelling')
  .argument('<rules>', 'rules file, or - for stdin')
  .addOption(familyOption())
  .action(run(() => import('./commands/print.js')));

program
  .command('compile')
  .description('compile a ruleset into rejectc.bpf.c, rejectc.bpf.o and maps.json')
  .argument('<rules>', 'rules file, or - for stdin')
  .option('-o, --out <dir>', 'output directory', 'out')
  .addOption(hookOption())
  .option('--json', 'print a JSON summary')
  .option('--ipset <file>', 'the sets -m set rules use: `ipset save` output')
  .addOption(familyOption())
  .action(run(() => import('./commands/compile.js')));

program
  .command('run')
  .description('run one packet through the compiled program with BPF_PROG_TEST_RUN')
  .argument('<rules>', 'rules file or a directory written by compile')
  .option('--packet <hex>', 'an IP packet (no Ethernet header) in hex')
  .option('--frame <hex>', 'a whole Ethernet frame in hex')
  .addOption(new Option('--chain <chain>', 'the chain the packet traverses').choices(['INPUT', 'FORWARD', 'OUTPUT']).default('INPUT'))
  .addOption(hookOption())
  .option('--json', 'print one JSON object')
  .addOption(familyOption())
  .option('--dev <iface>', 'the interface the packet arrives on (INPUT, FORWARD) or leaves by (OUTPUT); default loopback')
  .option('--ipset <file>', 'the sets -m set rules use: `ipset save` output')
  .action(run(() => import('./commands/run.js')));

program
  .command('apply')
  .description('compile if needed, load and attach; replace atomically where rejectc already runs')
  .argument('<rules...>', 'rules file (an IPv4 and an IPv6 file may be given together), a directory written by compile, or - for stdin')
  .requiredOption('--dev <ifaces>', 'interface(s), comma-separated')
  .addOption(hookOption())
  .option('--reply-limit <spec>', 'override the reply budget')
  .option('--ipset <file>', 'the sets -m set rules use: `ipset save` output (re-apply with a new file to change them)')
  .addOption(new Option('--xdp-mode <mode>', 'XDP attach mode (default: generic on veth, native elsewhere)').choices(['native', 'generic']))
  .addOption(familyOption())
  .action(run(() => import('./commands/apply.js')));

program
  .command('stats')
  .description('per-rule counters like iptables -L -v -n, replies sent and suppressed')
  .requiredOption('--dev <iface>', 'interface')
  .option('--json', 'print one JSON document')
  .option('--zero', 'zero the counters after reading them')
  .action(run(() => import('./commands/stats.js')));

program
  .command('detach')
  .description('remove the programs, links and pins rejectc put on an interface')
  .requiredOption('--dev <ifaces>', 'interface(s), comma-separated')
  .action(run(() => import('./commands/detach.js')));

program
  .command('demo')
  .description('throwaway namespaces: a connection refused by our RST, ICMP errors, stats')
  .action(run(() => import('./commands/demo.js')));

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander already printed its message (help, version, or a usage error).
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.user;
  } else {
    process.exitCode = reportError(err);
  }
}
