/**
 * Kernel round trip: for each corpus save file that the kernel's own tooling accepts
 * (`iptables-restore` / `ip6tables-restore` inside a throwaway network namespace), rejectc's
 * `print` of the file must equal what `iptables-save` prints back — ignoring counters, `#`
 * lines, and the order of tables and chains, which iptables itself chooses. This proves the
 * front end reads files as iptables does, and prints them as iptables-save does. A file that
 * uses a match or target rejectc does not support is refused by name (E201/E202) and only its
 * tables and chains are compared; a file iptables-restore refuses must get a diagnostic.
 * The sets a file uses are created first (ipset), since iptables-restore needs them.
 *
 * Runs as root (CI does); reads ../shared/corpus/real/ when it exists. Uses the default
 * (nf_tables) iptables 1.8.9 of the machine, one namespace for the whole file, flushed with
 * `nft flush ruleset` before each input.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseText } from '../grammar/parser.js';
import { parseRuleset } from '../src/compiler/frontend.js';
import type { Family, Ruleset } from '../src/compiler/ir.js';
import { Positions } from '../src/compiler/lower/positions.js';
import { scriptInvocations } from '../src/compiler/lower/script.js';
import { sourceLines } from '../src/compiler/lower/source-lines.js';
import { printRuleset } from '../src/compiler/print.js';
import { canUseKernel, createNetns, deleteNetns, type Netns } from './support/netns.js';

const CORPUS = join(import.meta.dirname, '..', '..', 'shared', 'corpus', 'real');
const present = existsSync(CORPUS);
const files = present ? readdirSync(CORPUS).filter((f) => f.endsWith('.rules')).sort() : [];
const scripts = present ? readdirSync(CORPUS).filter((f) => f.endsWith('.sh')).sort() : [];

/**
 * The text of a save file reduced to what both sides must agree on: per table (sorted by
 * name), the chain lines without counters (sorted), then each chain's rules in order (chains
 * sorted by name), rule counters and trailing blanks removed.
 */
export function normalizeSave(text: string): string {
  const tables = new Map<string, { chains: string[]; rules: Map<string, string[]> }>();
  let current: { chains: string[]; rules: Map<string, string[]> } | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '').trimEnd();
    if (line === '' || line.startsWith('#') || line === 'COMMIT') continue;
    if (line.startsWith('*')) {
      current = { chains: [], rules: new Map() };
      tables.set(line, current);
    } else if (!current) {
      continue;
    } else if (line.startsWith(':')) {
      current.chains.push(line.replace(/\s*\[\d+:\d+\]$/, ''));
    } else {
      const rule = line.replace(/^\[\d+:\d+\]\s+/, '');
      const chain = /^-A (\S+)/.exec(rule)?.[1] ?? '?';
      current.rules.set(chain, [...(current.rules.get(chain) ?? []), rule]);
    }
  }
  const out: string[] = [];
  for (const name of [...tables.keys()].sort()) {
    const t = tables.get(name)!;
    out.push(name, ...t.chains.sort());
    for (const chain of [...t.rules.keys()].sort()) out.push(...t.rules.get(chain)!);
  }
  return out.join('\n');
}

/**
 * `ipset create` commands for the sets a file uses (`--match-set NAME src,dst`, `--add-set`):
 * iptables-restore needs them to exist. Their type only has to have enough dimensions.
 */
export function ipsetCommands(text: string, family: 'ipv4' | 'ipv6'): string[][] {
  const types = ['hash:ip', 'hash:ip,port', 'hash:ip,port,ip'];
  const dims = new Map<string, number>();
  for (const m of text.matchAll(/--(?:match|add|del)-set\s+(\S+)\s+(\S+)/g)) {
    dims.set(m[1]!, Math.max(dims.get(m[1]!) ?? 1, m[2]!.split(',').length));
  }
  return [...dims].map(([name, n]) => ['ipset', 'create', name, types[Math.min(n, 3) - 1]!, 'family', family === 'ipv6' ? 'inet6' : 'inet']);
}

interface Outcome {
  file: string;
  accepted: boolean;
  roundTrips?: boolean;
  /** Refused by rejectc only for features it does not support (by name: E201/E202). */
  unsupported?: string[];
}

/** Refusals of unsupported features by name: the file is valid, rejectc just does not read it all. */
const UNSUPPORTED = new Set(['E201', 'E202']);
const outcomes: Outcome[] = [];

describe.runIf(present && canUseKernel())('kernel round trip of the corpus (iptables-restore → iptables-save vs rejectc print)', () => {
  let ns: Netns;
  beforeAll(() => {
    ns = createNetns();
  });
  afterAll(() => {
    deleteNetns(ns);
    const accepted = outcomes.filter((o) => o.accepted);
    const ok = accepted.filter((o) => o.roundTrips);
    const unsupported = accepted.filter((o) => o.unsupported);
    const differing = accepted.filter((o) => !o.roundTrips && !o.unsupported);
    console.log(
      `round trip: ${files.length} save files, ${accepted.length} accepted by iptables-restore, ${ok.length} printed identically by rejectc` +
        (unsupported.length > 0 ? `; refused for unsupported features: ${unsupported.map((o) => `${o.file} (${o.unsupported!.join(', ')})`).join(', ')}` : '') +
        (differing.length > 0 ? `; differing: ${differing.map((o) => o.file).join(', ')}` : ''),
    );
  });

  it.each(files)('%s', (file) => {
    const text = readFileSync(join(CORPUS, file), 'utf8');
    const { ruleset, diagnostics } = parseRuleset(text, file);
    const family = ruleset.families[0]?.family ?? 'ipv4';
    const tool = family === 'ipv6' ? 'ip6tables' : 'iptables';
    ns.exec(['nft', 'flush', 'ruleset']);
    ns.exec(['ipset', 'destroy']);
    for (const cmd of ipsetCommands(text, family)) ns.exec(cmd);
    const restore = ns.exec([`${tool}-restore`], { input: text, allowFail: true });
    const outcome: Outcome = { file, accepted: restore.status === 0 };
    outcomes.push(outcome);
    if (!outcome.accepted) {
      // What iptables-restore refuses, rejectc must refuse too (or at least warn about).
      expect(diagnostics.length, `${file}: iptables-restore refused it (${restore.stderr.trim()}), rejectc said nothing`).toBeGreaterThan(0);
      return;
    }
    const saved = ns.exec([`${tool}-save`]).stdout;
    const errors = diagnostics.filter((d) => d.severity === 'error');
    const ours = normalizeSave(printRuleset(ruleset));
    const theirs = normalizeSave(saved);
    outcome.roundTrips = errors.length === 0 && ours === theirs;
    // Tables, chains and policies (the statement level) agree even where a rule is refused.
    const declarations = (s: string) => s.split('\n').filter((l) => !l.startsWith('-')).join('\n');
    expect(declarations(ours)).toBe(declarations(theirs));
    if (errors.length > 0 && errors.every((d) => UNSUPPORTED.has(d.code))) {
      // Valid for iptables, refused by rejectc by name: nothing to print for those rules.
      outcome.unsupported = [...new Set(errors.map((d) => d.message))];
      return;
    }
    const listed = errors.map((d) => `${d.span.start.line}:${d.span.start.column} ${d.code} ${d.message}`);
    expect(listed.join('\n'), `${file}: iptables-restore accepts it`).toBe('');
    expect(ours).toBe(theirs);
  });
});

/** A table with only its built-in chains, policy ACCEPT and no rules: nft creates none of these. */
function dropEmptyTables(normalized: string): string {
  const blocks = normalized.split(/\n(?=\*)/);
  return blocks.filter((b) => !b.split('\n').slice(1).every((l) => / ACCEPT$/.test(l))).join('\n');
}

function onlyFamily(r: Ruleset, family: Family): Ruleset {
  return { ...r, families: r.families.filter((f) => f.family === family) };
}

/**
 * Scripts: the iptables commands rejectc found in a script are replayed with the real iptables
 * in a namespace (failing ones fail there too, as in the script), and iptables-save must equal
 * rejectc's print. This checks the command semantics (-I n, -D, -R, -E, -X, -F, -P, -t ...)
 * against iptables itself. Expansions cannot be replayed, so scripts with diagnostics other than
 * warnings are left out.
 */
const HANDMADE = [
  'iptables -P FORWARD DROP',
  'iptables --new-chain web',
  'iptables -N ssh',
  'iptables -A INPUT -i lo -j ACCEPT',
  'iptables -A INPUT -p tcp --dport 80 -j web',
  'iptables -I INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
  'iptables -I INPUT 2 -p tcp --dport 22 -j ssh',
  'iptables -A web -s 192.0.2.0/24 -j ACCEPT',
  'iptables -A web -j REJECT --reject-with tcp-reset -p tcp',
  'iptables -A web -j DROP',
  'iptables -D web 3',
  'iptables -A ssh -j DROP',
  'iptables -R ssh 1 -s 198.51.100.7 -j ACCEPT',
  'iptables -A ssh -j LOG --log-prefix "ssh: "',
  'iptables -D ssh -j LOG --log-prefix "ssh: "',
  'iptables -E ssh secure-shell',
  'iptables -N tmp; iptables -A tmp -j RETURN; iptables -F tmp; iptables -X tmp',
  'iptables -A OUTPUT -o eth0 -t nat -j ACCEPT',
  'iptables --table=mangle --append PREROUTING --protocol udp --jump ACCEPT',
  'iptables -t raw -N unused',
  'iptables -t raw -X',
  'iptables -X DOES-NOT-EXIST',
  'ip6tables -P INPUT DROP',
  'ip6tables -N icmp6-in',
  'ip6tables -A INPUT -p ipv6-icmp -j icmp6-in',
  'ip6tables -A icmp6-in -p ipv6-icmp --icmpv6-type echo-request -j ACCEPT',
  'ip6tables -I icmp6-in -s 2001:db8::/32 -j RETURN',
  'ip6tables -A INPUT -p tcp -j REJECT --reject-with tcp-reset',
  '',
].join('\n');

describe.runIf(canUseKernel())('kernel replay of script commands (iptables itself vs rejectc print)', () => {
  const inputs: [string, string][] = [['handmade.sh', HANDMADE], ...scripts.map((f): [string, string] => [f, readFileSync(join(CORPUS, f), 'utf8')])];
  let ns: Netns;
  beforeAll(() => {
    ns = createNetns();
  });
  afterAll(() => deleteNetns(ns));

  it('the hand-made script reads without errors (so it is replayed below)', () => {
    expect(parseRuleset(HANDMADE, 'handmade.sh').diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });

  it.each(inputs)('%s', (file, text) => {
    const { ruleset, diagnostics } = parseRuleset(text, file, { form: 'script' });
    if (diagnostics.some((d) => d.severity === 'error')) return;
    ns.exec(['nft', 'flush', 'ruleset']);
    const lines = new Positions(file, text);
    const { invocations } = scriptInvocations(sourceLines(parseText(text, 'script').cst), text, lines);
    for (const inv of invocations) {
      ns.exec([inv.family === 'ipv6' ? 'ip6tables' : 'iptables', ...inv.args.map((w) => w.text)], { allowFail: true });
    }
    for (const family of ['ipv4', 'ipv6'] as const) {
      const saved = ns.exec([family === 'ipv6' ? 'ip6tables-save' : 'iptables-save']).stdout;
      const ours = printRuleset(onlyFamily(ruleset, family));
      expect(dropEmptyTables(normalizeSave(ours)), `${file} ${family}`).toBe(dropEmptyTables(normalizeSave(saved)));
    }
  });
});
