/**
 * The command level of one iptables invocation: which command (`-A`, `-I`, `-N`, ...) with
 * which chain, table and numbers, and which words are the rule specification handed to the
 * option level.
 *
 * Like iptables' getopt loop (iptables/xshared.c `do_parse`), command options may appear
 * anywhere among the rule options (`iptables -A INPUT -p tcp -t nat ...` is valid), an option
 * with a required argument takes the next word whatever it looks like, and optional arguments
 * (`-I CHAIN [n]`, `-F [CHAIN]`) are taken only when the next word does not start with `-` or
 * `!` (`xs_has_arg`). A word right after a rule option that takes a value is that value, never
 * a command (`--comment -A` is a comment).
 */
import { diag, type Diagnostic } from '../diagnostics.js';
import type { Counters } from '../ir.js';
import { joinSpans, type Span } from '../span.js';
import type { Word } from './words.js';

export type CommandOp =
  | 'append'
  | 'insert'
  | 'delete'
  | 'replace'
  | 'check'
  | 'new'
  | 'delete-chain'
  | 'policy'
  | 'flush'
  | 'zero'
  | 'rename'
  | 'list'
  | 'list-rules'
  | 'help'
  | 'version';

/** A parsed iptables command. Words keep their spans for diagnostics. */
export interface Command {
  op: CommandOp;
  /** The option word that named the command (`-A`, `--append`). */
  opWord: Word;
  chain?: Word;
  /** `-I CHAIN n`, `-D CHAIN n`, `-R CHAIN n`, `-Z CHAIN n` (1-based). */
  index?: { value: number; span: Span };
  /** `-P CHAIN POLICY`: the policy; `-E OLD NEW`: the new name. */
  second?: Word;
  /** `-t TABLE`. */
  table?: Word;
  /** `-c PKTS BYTES` / `--set-counters`. */
  counters?: { value: Counters; span: Span };
  /** `-4` / `-6`: the family the line is meant for. */
  familyFlag?: Word;
  /** The rule specification: every word that is not part of a command option, in order. */
  ruleWords: Word[];
}

type Arity =
  | 'none' // -v
  | 'required' // -A CHAIN
  | 'optional' // -F [CHAIN]
  | 'required+optional-number' // -I CHAIN [n], -D CHAIN [n]
  | 'required+number' // -R CHAIN n
  | 'optional+optional-number' // -Z [CHAIN [n]], -S [CHAIN [n]]
  | 'required+required' // -P CHAIN POLICY, -E OLD NEW
  | 'optional-value'; // -w [secs]

interface OptionSpec {
  op?: CommandOp;
  arity: Arity;
  /** Not a command: table, counters, family flag, or ignored output flags. */
  role?: 'table' | 'counters' | 'family' | 'ignored';
}

const SPECS = new Map<string, OptionSpec>(Object.entries({
  A: { op: 'append', arity: 'required' },
  C: { op: 'check', arity: 'required' },
  D: { op: 'delete', arity: 'required+optional-number' },
  R: { op: 'replace', arity: 'required+number' },
  I: { op: 'insert', arity: 'required+optional-number' },
  L: { op: 'list', arity: 'optional' },
  S: { op: 'list-rules', arity: 'optional+optional-number' },
  F: { op: 'flush', arity: 'optional' },
  Z: { op: 'zero', arity: 'optional+optional-number' },
  N: { op: 'new', arity: 'required' },
  X: { op: 'delete-chain', arity: 'optional' },
  P: { op: 'policy', arity: 'required+required' },
  E: { op: 'rename', arity: 'required+required' },
  h: { op: 'help', arity: 'none' },
  V: { op: 'version', arity: 'none' },
  t: { arity: 'required', role: 'table' },
  c: { arity: 'required', role: 'counters' },
  '4': { arity: 'none', role: 'family' },
  '6': { arity: 'none', role: 'family' },
  v: { arity: 'none', role: 'ignored' },
  n: { arity: 'none', role: 'ignored' },
  x: { arity: 'none', role: 'ignored' },
  w: { arity: 'optional-value', role: 'ignored' },
  W: { arity: 'optional-value', role: 'ignored' },
  M: { arity: 'required', role: 'ignored' },
  '0': { arity: 'none', role: 'ignored' },
} satisfies Record<string, OptionSpec>));

/** Long names of the command-level options (iptables.c `original_opts`). */
const LONG = new Map<string, string>(Object.entries({
  append: 'A',
  check: 'C',
  delete: 'D',
  replace: 'R',
  insert: 'I',
  list: 'L',
  'list-rules': 'S',
  flush: 'F',
  zero: 'Z',
  'new-chain': 'N',
  new: 'N',
  'delete-chain': 'X',
  policy: 'P',
  'rename-chain': 'E',
  help: 'h',
  version: 'V',
  table: 't',
  'set-counters': 'c',
  ipv4: '4',
  ipv6: '6',
  verbose: 'v',
  numeric: 'n',
  exact: 'x',
  wait: 'w',
  'wait-interval': 'W',
  modprobe: 'M',
  'line-numbers': '0',
}));

/** Rule options of iptables itself that take a value (the next word is never a command). */
const BASE_WITH_VALUE = new Set([
  '-s', '--source', '--src', '-d', '--destination', '--dst', '-i', '--in-interface', '-o', '--out-interface',
  '-p', '--protocol', '-j', '--jump', '-g', '--goto', '-m', '--match',
]);

/** Extension options that take no value, so that a command option may follow them. */
const EXTENSION_FLAGS = new Set([
  '--syn', '--set', '--rcheck', '--update', '--remove', '--rsource', '--rdest', '--reap', '--rttl',
  '--log-tcp-sequence', '--log-tcp-options', '--log-ip-options', '--log-uid', '--log-macdecode',
  '--physdev-is-in', '--physdev-is-out', '--physdev-is-bridged', '--socket-exists', '--suppl-groups',
  '--limit-iface-in', '--limit-iface-out', '--ecn-tcp-cwr', '--ecn-tcp-ece', '--fragres', '--fragfirst',
  '--fragmore', '--fraglast', '--rt-0-res', '--rt-0-not-strict', '--soft', '--return-nomatch',
  '--update-counters', '--update-subcounters', '--clamp-mss-to-pmtu', '--random', '--random-fully',
  '--persistent', '--notrack', '--nfmask', '--ctmask', '--checksum-fill', '--fragment', '--fragments',
  '--connlimit-saddr', '--connlimit-daddr', '--hashlimit-rate-match', '--strict',
]);

interface Resolved {
  letter: string;
  spec: OptionSpec;
  /** `--table=nat`: the value glued to the option. */
  inline?: string;
}

function resolve(text: string): Resolved | undefined {
  if (text.length === 2) {
    const spec = text.charCodeAt(0) === 45 ? SPECS.get(text[1]!) : undefined;
    return spec ? { letter: text[1]!, spec } : undefined;
  }
  if (!text.startsWith('--')) return undefined;
  const eq = text.indexOf('=');
  const letter = LONG.get(eq < 0 ? text.slice(2) : text.slice(2, eq));
  if (letter === undefined) return undefined;
  const spec = SPECS.get(letter)!;
  return eq < 0 ? { letter, spec } : { letter, spec, inline: text.slice(eq + 1) };
}

/** True if `text` is an iptables command-level option (`-A`, `--flush`, `-t`, ...). */
export function isCommandOption(text: string): boolean {
  return resolve(text) !== undefined;
}

/** True if the option word `text` is a rule option whose value is the next word. */
function takesValue(text: string): boolean {
  if (BASE_WITH_VALUE.has(text)) return true;
  return text.startsWith('--') && !text.includes('=') && !EXTENSION_FLAGS.has(text);
}

/** `xs_has_arg`: the next word exists and does not start with `-` or `!`. */
function hasArg(words: Word[], i: number): boolean {
  const w = words[i];
  return w !== undefined && !w.text.startsWith('-') && !w.text.startsWith('!');
}

const RULE_NUMBER = /^[0-9]+$/;

export interface CommandResult {
  command?: Command;
  diagnostics: Diagnostic[];
}

/**
 * Splits the words after the program name into the command and the rule specification.
 * `head` is where to point when the command itself is missing. Never throws.
 */
export function parseCommand(args: Word[], head: Span): CommandResult {
  const diagnostics: Diagnostic[] = [];
  const ruleWords: Word[] = [];
  let found: { op: CommandOp; opWord: Word } | undefined;
  const cmd: Partial<Command> = {};
  let i = 0;
  let failed = false;
  const fail = (d: Diagnostic) => {
    diagnostics.push(d);
    failed = true;
  };
  const number = (w: Word): { value: number; span: Span } | undefined => {
    const value = Number(w.text);
    if (!RULE_NUMBER.test(w.text) || value < 1 || value > 0x7fffffff) {
      fail(diag('E110', w.span, { value: w.text }));
      return undefined;
    }
    return { value, span: w.span };
  };

  while (i < args.length) {
    const w = args[i]!;
    const prev = args[i - 1];
    const optionLike = !w.quoted && w.text.charCodeAt(0) === 45; // '-'
    const r = !optionLike || (prev !== undefined && !prev.quoted && takesValue(prev.text) && ruleWords.at(-1) === prev) ? undefined : resolve(w.text);
    if (!r) {
      ruleWords.push(w);
      i++;
      continue;
    }
    i++;
    const optName = w.text.split('=')[0]!;
    const required = (): Word | undefined => {
      if (r.inline !== undefined) return { text: r.inline, span: w.span, quoted: w.quoted };
      const v = args[i];
      if (v === undefined) {
        fail(diag('E203', w.span, { option: optName }));
        return undefined;
      }
      i++;
      return v;
    };
    const optional = (): Word | undefined => {
      if (r.inline !== undefined) return { text: r.inline, span: w.span, quoted: w.quoted };
      if (!hasArg(args, i)) return undefined;
      return args[i++];
    };

    if (r.spec.op) {
      if (found) {
        fail(diag('E109', w.span, { a: found.opWord.text, b: w.text }));
      } else {
        found = { op: r.spec.op, opWord: w };
      }
    }
    switch (r.spec.arity) {
      case 'none':
        break;
      case 'required': {
        const v = required();
        if (r.spec.role === 'table') cmd.table = v;
        else if (r.spec.role === 'counters' && v) cmd.counters = parseCounters(w, v, args, () => i++, fail);
        else if (r.spec.op) cmd.chain = v;
        break;
      }
      case 'optional':
        cmd.chain = optional();
        break;
      case 'optional-value':
        optional();
        break;
      case 'required+optional-number':
      case 'optional+optional-number': {
        cmd.chain = r.spec.arity === 'required+optional-number' ? required() : optional();
        if (cmd.chain && hasArg(args, i)) cmd.index = number(args[i++]!);
        break;
      }
      case 'required+number': {
        cmd.chain = required();
        if (cmd.chain && hasArg(args, i)) cmd.index = number(args[i++]!);
        else if (cmd.chain) fail(diag('E203', cmd.chain.span, { option: `${optName} ${cmd.chain.text}`, }));
        break;
      }
      case 'required+required': {
        cmd.chain = required();
        if (cmd.chain && hasArg(args, i)) cmd.second = args[i++];
        else if (cmd.chain) fail(diag('E203', cmd.chain.span, { option: `${optName} ${cmd.chain.text}` }));
        break;
      }
    }
    if (r.spec.role === 'family') cmd.familyFlag = w;
  }

  if (failed) return { diagnostics };
  if (!found) {
    const at = args.length > 0 ? joinSpans(args[0]!.span, args[args.length - 1]!.span) : head;
    return { diagnostics: [diag('E107', at)] };
  }
  const command: Command = { ...cmd, op: found.op, opWord: found.opWord, ruleWords };
  return { command, diagnostics };
}

/** `-c PKTS BYTES` or `-c PKTS,BYTES`. */
function parseCounters(
  opt: Word,
  first: Word,
  args: Word[],
  consumeNext: () => void,
  fail: (d: Diagnostic) => void,
): { value: Counters; span: Span } | undefined {
  let packets = first.text;
  let bytes: string | undefined;
  let last = first;
  const comma = packets.indexOf(',');
  if (comma >= 0) {
    bytes = packets.slice(comma + 1);
    packets = packets.slice(0, comma);
  } else {
    const idx = args.indexOf(first) + 1;
    if (hasArg(args, idx)) {
      last = args[idx]!;
      bytes = last.text;
      consumeNext();
    }
  }
  if (!/^[0-9]+$/.test(packets) || bytes === undefined || !/^[0-9]+$/.test(bytes)) {
    fail(diag('E204', joinSpans(opt.span, last.span), { what: 'counters', value: `${first.text}${last === first ? '' : ` ${last.text}`}`, detail: ': expected PACKETS BYTES' }));
    return undefined;
  }
  return { value: { packets: Number(packets), bytes: Number(bytes) }, span: joinSpans(opt.span, last.span) };
}
