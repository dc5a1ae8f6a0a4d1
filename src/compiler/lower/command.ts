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

/** Every command-level option word without a glued value (`-A`, `--append`), resolved once. */
const RESOLVED = new Map<string, Resolved>();
for (const [letter, spec] of SPECS) RESOLVED.set(`-${letter}`, { letter, spec });
for (const [long, letter] of LONG) RESOLVED.set(`--${long}`, { letter, spec: SPECS.get(letter)! });

function resolve(text: string): Resolved | undefined {
  const plain = RESOLVED.get(text);
  if (plain || !text.startsWith('--')) return plain;
  const eq = text.indexOf('=');
  if (eq < 0) return undefined;
  const letter = LONG.get(text.slice(2, eq));
  return letter === undefined ? undefined : { letter, spec: SPECS.get(letter)!, inline: text.slice(eq + 1) };
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
  return new CommandReader(args).read(head);
}

/** The getopt-like walk over one invocation's words (one instance per invocation). */
class CommandReader {
  private readonly diagnostics: Diagnostic[] = [];
  private readonly ruleWords: Word[] = [];
  private readonly cmd: Partial<Command> = {};
  private found: { op: CommandOp; opWord: Word } | undefined;
  private i = 0;
  private failed = false;

  constructor(private readonly args: Word[]) {}

  read(head: Span): CommandResult {
    const args = this.args;
    while (this.i < args.length) {
      const w = args[this.i++]!;
      const prev = this.i >= 2 ? args[this.i - 2] : undefined;
      const optionLike = !w.quoted && w.text.charCodeAt(0) === 45; // '-'
      const r = optionLike ? resolve(w.text) : undefined;
      const valueOfPrev = r !== undefined && prev !== undefined && !prev.quoted && takesValue(prev.text) && this.ruleWords[this.ruleWords.length - 1] === prev;
      if (r && !valueOfPrev) this.option(w, r);
      else this.ruleWords.push(w);
    }
    if (this.failed) return { diagnostics: this.diagnostics };
    if (!this.found) {
      const at = args.length > 0 ? joinSpans(args[0]!.span, args[args.length - 1]!.span) : head;
      return { diagnostics: [diag('E107', at)] };
    }
    const command = this.cmd as Command;
    command.op = this.found.op;
    command.opWord = this.found.opWord;
    command.ruleWords = this.ruleWords;
    return { command, diagnostics: this.diagnostics };
  }

  private option(w: Word, r: Resolved): void {
    const cmd = this.cmd;
    const spec = r.spec;
    if (spec.op) {
      if (this.found) this.fail(diag('E109', w.span, { a: this.found.opWord.text, b: w.text }));
      else this.found = { op: spec.op, opWord: w };
    }
    switch (spec.arity) {
      case 'none':
        break;
      case 'required': {
        const v = this.required(w, r);
        if (spec.role === 'table') cmd.table = v;
        else if (spec.role === 'counters' && v) cmd.counters = this.counters(w, v);
        else if (spec.op) cmd.chain = v;
        break;
      }
      case 'optional':
        cmd.chain = this.optional(w, r);
        break;
      case 'optional-value':
        this.optional(w, r);
        break;
      case 'required+optional-number':
      case 'optional+optional-number':
        cmd.chain = spec.arity === 'required+optional-number' ? this.required(w, r) : this.optional(w, r);
        if (cmd.chain && this.hasArg()) cmd.index = this.number(this.args[this.i++]!);
        break;
      case 'required+number':
      case 'required+required': {
        cmd.chain = this.required(w, r);
        if (!cmd.chain) break;
        if (!this.hasArg()) {
          this.fail(diag('E203', cmd.chain.span, { option: `${w.text.split('=')[0]!} ${cmd.chain.text}` }));
          break;
        }
        const next = this.args[this.i++]!;
        if (spec.arity === 'required+number') cmd.index = this.number(next);
        else cmd.second = next;
        break;
      }
    }
    if (spec.role === 'family') cmd.familyFlag = w;
  }

  private fail(d: Diagnostic): void {
    this.diagnostics.push(d);
    this.failed = true;
  }

  /** `xs_has_arg`: the next word exists and does not start with `-` or `!`. */
  private hasArg(): boolean {
    return hasArg(this.args, this.i);
  }

  /** A required argument: glued (`--table=nat`) or the next word, whatever it looks like. */
  private required(w: Word, r: Resolved): Word | undefined {
    if (r.inline !== undefined) return { text: r.inline, span: w.span, quoted: w.quoted };
    const v = this.args[this.i];
    if (v === undefined) {
      this.fail(diag('E203', w.span, { option: w.text }));
      return undefined;
    }
    this.i++;
    return v;
  }

  /** An optional argument: glued, or the next word if it does not look like an option. */
  private optional(w: Word, r: Resolved): Word | undefined {
    if (r.inline !== undefined) return { text: r.inline, span: w.span, quoted: w.quoted };
    return this.hasArg() ? this.args[this.i++] : undefined;
  }

  private number(w: Word): { value: number; span: Span } | undefined {
    const value = Number(w.text);
    if (!RULE_NUMBER.test(w.text) || value < 1 || value > 0x7fffffff) {
      this.fail(diag('E110', w.span, { value: w.text }));
      return undefined;
    }
    return { value, span: w.span };
  }

  /** `-c PKTS BYTES` or `-c PKTS,BYTES`. */
  private counters(opt: Word, first: Word): { value: Counters; span: Span } | undefined {
    let packets = first.text;
    let bytes: string | undefined;
    let last = first;
    const comma = packets.indexOf(',');
    if (comma >= 0) {
      bytes = packets.slice(comma + 1);
      packets = packets.slice(0, comma);
    } else if (this.hasArg()) {
      last = this.args[this.i++]!;
      bytes = last.text;
    }
    const span = joinSpans(opt.span, last.span);
    if (!/^[0-9]+$/.test(packets) || bytes === undefined || !/^[0-9]+$/.test(bytes)) {
      this.fail(diag('E204', span, { what: 'counters', value: `${first.text}${last === first ? '' : ` ${last.text}`}`, detail: ': expected PACKETS BYTES' }));
      return undefined;
    }
    return { value: { packets: Number(packets), bytes: Number(bytes) }, span };
  }
}
