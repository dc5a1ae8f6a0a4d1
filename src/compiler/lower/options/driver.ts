/**
 * The option-level parser: iptables' `do_parse()` loop for one rule. It walks the words the way
 * getopt_long walks argv, with the option table growing as `-m`, `-j` and the implicit protocol
 * match are loaded, and dispatches each option like `command_default()`:
 *
 * 1. to the target, if the target owns it;
 * 2. else to the first match instance that owns it and is not "completed" (a later `-m` of the
 *    same module completes the earlier instances);
 * 3. else, when `-p PROTO` was given and its match has not been loaded implicitly yet, the
 *    protocol's match (`-p tcp` → `-m tcp`) is appended and the option is looked up again;
 * 4. else the option is unknown.
 */
import { diag, type Diagnostic } from '../../diagnostics.js';
import type { MessageCode } from '../../messages.js';
import type { AddressMatch, BaseMatches, Counters, InterfaceMatch, Match, Neg, Target } from '../../ir.js';
import { joinSpans, type Span } from '../../span.js';
import { parseCidrList } from '../../values/addresses.js';
import { implicitModuleName, parseProtocol } from '../../values/protocols.js';
import type { Parsed } from '../../values/result.js';
import { spanOfWords, type LoweredRuleOptions, type RuleContext, type Word } from '../words.js';
import { BASE_OPTIONS, COMMAND_LETTERS, IFNAME_MAX, type BaseOption } from './base.js';
import { findMatch, findTarget, isUnsupportedMatch, isUnsupportedTarget, optionOwners } from './registry.js';
import type { FinishCall, MatchSpec, OptionCall, OptionSpec, TargetSpec } from './spec.js';
import { subSpan, tokenize, type OptionToken } from './tokens.js';

type Params = Record<string, string | number>;

interface MatchInstance {
  spec: MatchSpec;
  state: unknown;
  completed: boolean;
  span: Span;
  given: string[];
}

interface TargetInstance {
  spec: TargetSpec;
  state: unknown;
  span: Span;
  given: string[];
}

type Entry =
  | { owner: 'base'; name: string; option: BaseOption }
  | { owner: MatchSpec | TargetSpec; name: string; option: OptionSpec<unknown> };

type Found = { kind: 'found'; entry: Entry };
type Lookup = Found | { kind: 'ambiguous'; candidates: string[] } | { kind: 'unknown' };

const UNKNOWN: Lookup = { kind: 'unknown' };
const found = (entry: Entry): Found => ({ kind: 'found', entry });

// Lookup results of exact names, built once (they are never mutated).
const BASE_BY_LONG = new Map<string, Found>();
const BASE_BY_SHORT = new Map<string, Found>();
for (const option of BASE_OPTIONS) {
  for (const name of option.long) BASE_BY_LONG.set(name, found({ owner: 'base', name, option }));
  if (option.short) BASE_BY_SHORT.set(option.short, found({ owner: 'base', name: option.long[0]!, option }));
}
const COMMANDS_BY_SHORT = new Map<string, Found>([...COMMAND_LETTERS].map((letter) => [letter, found({ owner: 'base', name: letter, option: BASE_OPTIONS[0]! })]));

const OPTIONS_BY_NAME = new WeakMap<MatchSpec | TargetSpec, Map<string, Found>>();

/** An extension's options by long name (built once per extension). */
function optionsByName(spec: MatchSpec | TargetSpec): Map<string, Found> {
  let map = OPTIONS_BY_NAME.get(spec);
  if (!map) {
    map = new Map();
    for (const option of spec.options) {
      for (const name of option.names) if (!map.has(name)) map.set(name, found({ owner: spec, name, option: option as OptionSpec<unknown> }));
    }
    OPTIONS_BY_NAME.set(spec, map);
  }
  return map;
}

class RuleOptionParser {
  private i = 0;
  private readonly diagnostics: Diagnostic[] = [];
  private readonly base: BaseMatches = {};
  private readonly matches: MatchInstance[] = [];
  /** Extensions whose options are in the getopt table, newest first (iptables merge order). */
  private readonly loaded: { spec: MatchSpec | TargetSpec; options: Map<string, Found> }[] = [];
  private target?: TargetInstance;
  private jump?: { chain: string; goto: boolean; span: Span };
  private jumpGiven = false;
  private protoText?: string;
  private protoUsed = false;
  private counters?: Counters;
  /** Set after an extension we refuse: its options are skipped without further errors. */
  private poisoned = false;
  /** Where -i / -o were given, for the per-chain check. */
  private readonly ifaceSpans: { inInterface?: Span; outInterface?: Span } = {};
  /** Base options given so far (iptables allows each once, even when it stores nothing). */
  private readonly baseGiven = { src: false, dst: false, inInterface: false, outInterface: false };
  /** Extensions refused (E201) in this rule, reported once each (made at the first). */
  private refused?: Set<string>;
  /** After an unknown option: its arguments are skipped without further errors. */
  private skippingArgs = false;

  constructor(
    private readonly words: readonly Word[],
    private readonly ctx: RuleContext,
  ) {}

  run(): LoweredRuleOptions {
    let bang: Word | undefined;
    while (this.i < this.words.length) {
      const word = this.words[this.i++]!;
      const tok = tokenize(word);
      if (tok.kind === 'bang') {
        if (bang) this.report('E217', word.span, { what: '"!"', reason: 'multiple consecutive "!" are not allowed' });
        bang = word;
        continue;
      }
      if (tok.kind === 'arg') {
        if (!this.skippingArgs) this.report('E216', word.span, { value: word.text });
        bang = undefined;
        continue;
      }
      this.skippingArgs = false;
      this.option(tok, bang);
      bang = undefined;
    }
    if (bang) this.report('E216', bang.span, { value: '!' });
    return this.finish();
  }

  // -------------------------------------------------------------------------------------------
  // getopt_long lookup

  private lookup(tok: Exclude<OptionToken, { kind: 'bang' | 'arg' }>): Lookup {
    if (tok.kind === 'short') return COMMANDS_BY_SHORT.get(tok.letter) ?? BASE_BY_SHORT.get(tok.letter) ?? UNKNOWN;
    // getopt_long: an exact name wins (base options first, then extensions newest first) ...
    const base = BASE_BY_LONG.get(tok.name);
    if (base) return base;
    for (const { options } of this.loaded) {
      const option = options.get(tok.name);
      if (option) return option;
    }
    // After a refused extension its options are unknown to us: an abbreviation that happens to
    // fit a known option (`--pol` of -m policy vs --policy) is taken as one of its options.
    if (this.poisoned) return UNKNOWN;
    // ... else a unique prefix (several names of one option count as one).
    const prefixed: Entry[] = [];
    for (const option of BASE_OPTIONS) for (const name of option.long) if (name.startsWith(tok.name)) prefixed.push({ owner: 'base', name, option });
    for (const { spec } of this.loaded) {
      for (const option of spec.options) for (const name of option.names) if (name.startsWith(tok.name)) prefixed.push({ owner: spec, name, option: option as OptionSpec<unknown> });
    }
    if (prefixed.length === 0) return UNKNOWN;
    const first = prefixed[0]!;
    if (prefixed.every((e) => e.owner === first.owner && e.option === first.option)) return found(first);
    return { kind: 'ambiguous', candidates: prefixed.map((e) => `--${e.name}`) };
  }

  private option(tok: Exclude<OptionToken, { kind: 'bang' | 'arg' }>, bang: Word | undefined): void {
    const written = tok.written;
    let found = this.lookup(tok);
    for (let attempt = 0; attempt < 2; attempt++) {
      if (found.kind === 'ambiguous') {
        this.report('E214', tok.word.span, { what: 'option', value: written, candidates: found.candidates.join(', ') });
        this.skippingArgs = true;
        return;
      }
      if (found.kind === 'found') {
        const entry = found.entry;
        if (entry.owner === 'base') return this.baseOption(entry.option, tok, bang);
        if (this.target && this.target.spec === entry.owner) return this.extensionOption(this.target, entry, tok, bang);
        const inst = this.matches.find((m) => !m.completed && m.spec === entry.owner);
        if (inst) return this.extensionOption(inst, entry, tok, bang);
      }
      if (attempt === 0 && this.loadProtocolMatch(tok.word)) {
        if (this.poisoned) {
          this.skippingArgs = true;
          return;
        }
        found = this.lookup(tok);
        continue;
      }
      break;
    }
    if (this.poisoned) {
      this.skippingArgs = true;
      return;
    }
    const owners = optionOwners(tok.kind === 'long' ? tok.name : '', this.ctx.family);
    const notes = owners.length > 0 ? [`"${written}" is an option of ${owners.map((o) => (o.kind === 'match' ? `-m ${o.name}` : `-j ${o.name}`)).join(', ')}, which must come first${owners.some((o) => o.kind === 'match' && ['tcp', 'udp', 'icmp', 'icmp6'].includes(o.name)) ? ' (or -p with that protocol)' : ''}`] : undefined;
    this.report('E200', tok.word.span, { option: written }, notes);
    this.skippingArgs = true;
  }

  /** `load_proto()`: appends the `-p` protocol's match once, if there is one. */
  private loadProtocolMatch(at: Word): boolean {
    if (this.protoText === undefined || this.protoUsed) return false;
    const name = implicitModuleName(this.protoText);
    if (name === undefined) return false;
    const spec = findMatch(name, this.ctx.family);
    if (spec) {
      this.protoUsed = true;
      this.addMatch(spec, at.span);
      return true;
    }
    if (isUnsupportedMatch(name)) {
      this.protoUsed = true;
      if (!this.isRefused(name)) this.report('E201', at.span, { module: name }, [`implied by "-p ${this.protoText}"`]);
      this.refuse(name);
      this.poisoned = true;
      return true;
    }
    return false;
  }

  private addMatch(spec: MatchSpec, span: Span): MatchInstance {
    for (const m of this.matches) if (m.spec === spec) m.completed = true;
    const inst: MatchInstance = { spec, state: spec.init(this.ctx), completed: false, span, given: [] };
    this.matches.push(inst);
    this.load(spec);
    return inst;
  }

  /** Puts an extension's options into the getopt table (once), ahead of earlier ones. */
  private load(spec: MatchSpec | TargetSpec): void {
    if (!this.loaded.some((l) => l.spec === spec)) this.loaded.unshift({ spec, options: optionsByName(spec) });
  }

  // -------------------------------------------------------------------------------------------
  // Arguments

  /** The next word as an option argument (getopt takes it whatever it looks like). */
  private nextWord(): Word | undefined {
    return this.i < this.words.length ? this.words[this.i++] : undefined;
  }

  /**
   * Collects `count` arguments, handling the old intrapositioned negation `--opt ! value`
   * (accepted with warning W103). Returns undefined after reporting a missing argument.
   */
  private collectArgs(
    tok: Exclude<OptionToken, { kind: 'bang' | 'arg' }>,
    count: number,
    invertible: boolean,
    negated: { value: boolean },
  ): Word[] | undefined {
    const written = tok.written;
    if (count === 0) {
      if (tok.inline && tok.kind === 'long') {
        this.report('E217', tok.word.span, { what: `option "${written}"`, reason: 'it takes no value' });
      } else if (tok.inline && tok.kind === 'short') {
        this.report('E200', tok.word.span, { option: tok.word.text });
      }
      return [];
    }
    let first = tok.inline ?? this.nextWord();
    if (first && !tok.inline && first.text === '!' && !first.quoted) {
      const value = this.words[this.i];
      if (negated.value) this.report('E217', first.span, { what: '"!"', reason: 'multiple "!" are not allowed' });
      else if (!invertible) this.report('E210', first.span, { option: written });
      else if (value) this.report('W103', first.span, { option: written, value: value.text });
      negated.value = invertible;
      first = this.nextWord();
    }
    if (!first) {
      this.report('E203', tok.word.span, { option: written });
      return undefined;
    }
    const args = [first];
    while (args.length < count) {
      const w = this.nextWord();
      if (!w) {
        this.report('E203', tok.word.span, { option: written }, [`"${written}" takes ${count} values`]);
        return undefined;
      }
      args.push(w);
    }
    return args;
  }

  // -------------------------------------------------------------------------------------------
  // Extension options

  private extensionOption(
    inst: MatchInstance | TargetInstance,
    entry: Exclude<Entry, { owner: 'base' }>,
    tok: Exclude<OptionToken, { kind: 'bang' | 'arg' }>,
    bang: Word | undefined,
  ): void {
    const option = entry.option;
    const canonical = option.names[0]!;
    const written = tok.written;
    if (bang && !option.invert) this.report('E210', bang.span, { option: written });
    const negated = { value: bang !== undefined && option.invert === true };
    const args = this.collectArgs(tok, option.args, option.invert === true, negated);
    if (!args) return;
    const span = spanOfWords(bang ?? tok.word, args.length > 0 ? args[args.length - 1]! : tok.word);
    inst.span = joinSpans(inst.span, span);
    if (inst.given.includes(canonical) && !option.multi) {
      this.report('E205', tok.word.span, { option: `--${canonical}` });
      return;
    }
    const clash = option.conflicts?.find((c) => inst.given.includes(c));
    if (clash) {
      this.report('E206', tok.word.span, { a: `--${clash}`, b: `--${canonical}` });
      return;
    }
    inst.given.push(canonical);
    option.apply(inst.state, this.call(written, canonical, negated.value, args, span, tok.word));
  }

  private call(written: string, name: string, negated: boolean, args: readonly Word[], span: Span, optionWord: Word): OptionCall {
    return new Call(written, name, negated, args, span, optionWord, this.ctx, this.diagnostics);
  }

  // -------------------------------------------------------------------------------------------
  // Base options

  private baseOption(option: BaseOption, tok: Exclude<OptionToken, { kind: 'bang' | 'arg' }>, bang: Word | undefined): void {
    const written = tok.written;
    if (option.id === 'command') {
      this.report('E217', tok.word.span, { what: `"${written}"`, reason: 'an iptables command cannot appear among the options of a rule' });
      this.skippingArgs = true;
      return;
    }
    if (bang && !option.invert) {
      this.report(option.id === 'match' ? 'E217' : 'E210', bang.span, option.id === 'match' ? { what: '"!"', reason: 'unexpected "!" before --match' } : { option: written });
    }
    if (option.id === 'wait') {
      if (!tok.inline && this.words[this.i] && /^\d+$/.test(this.words[this.i]!.text)) this.i++;
      return;
    }
    const negated = { value: bang !== undefined && option.invert };
    const args = this.collectArgs(tok, option.args, option.invert, negated);
    if (!args) return;
    const arg = args[0];
    const span = spanOfWords(bang ?? tok.word, arg ?? tok.word);
    const neg = negated.value;
    switch (option.id) {
      case 'source':
      case 'destination':
        return this.address(option.id === 'source' ? 'src' : 'dst', option, arg!, neg, span);
      case 'protocol':
        return this.protocol(option, arg!, neg, span);
      case 'in-interface':
      case 'out-interface':
        return this.iface(option.id === 'in-interface' ? 'inInterface' : 'outInterface', option, arg!, neg, span);
      case 'fragment':
        if (this.ctx.family === 'ipv6') return this.report('E212', tok.word.span, { what: '"-f"', family: 'ip6tables' });
        if (this.base.fragment) return this.report('E205', tok.word.span, { option: '-f' });
        this.base.fragment = { negated: neg, span };
        return;
      case 'match':
        return this.match(arg!, tok.word);
      case 'jump':
      case 'goto':
        return this.jumpTo(arg!, option.id === 'goto', tok.word, span);
      case 'set-counters':
        return this.setCounters(arg!, tok.word);
      case 'table':
        if (arg!.text !== this.ctx.table) this.report('E217', arg!.span, { what: `"-t ${arg!.text}"`, reason: `the rule is in table "${this.ctx.table}"; give -t before the chain command` });
        return;
      case 'ipv4':
      case 'ipv6':
        if ((option.id === 'ipv4') !== (this.ctx.family === 'ipv4')) this.report('E212', tok.word.span, { what: `"${written}"`, family: this.ctx.family === 'ipv4' ? 'iptables' : 'ip6tables' });
        return;
      case 'flag':
        return;
      default:
        return;
    }
  }

  private address(key: 'src' | 'dst', option: BaseOption, arg: Word, negated: boolean, span: Span): void {
    if (this.baseGiven[key]) return this.report('E205', span, { option: `-${option.letter}` });
    this.baseGiven[key] = true;
    const list = parseCidrList(arg.text, this.ctx.family);
    if (!list.ok) return this.report(list.problem.code, arg.span, list.problem.params, list.problem.notes);
    // `-s 0.0.0.0/0` alone is what iptables stores when there is no -s at all.
    if (!negated && list.value.length === 1 && list.value[0]!.prefix === 0) return;
    const m: AddressMatch = { negated, addresses: list.value, span };
    this.base[key] = m;
  }

  private protocol(option: BaseOption, arg: Word, negated: boolean, span: Span): void {
    if (this.base.protocol || this.protoText !== undefined) return this.report('E205', span, { option: '-p' });
    const text = arg.text.toLowerCase();
    const p = parseProtocol(text);
    if (!p.ok) return this.report(p.problem.code, arg.span, p.problem.params, p.problem.notes);
    this.protoText = text;
    if (p.value === 0) {
      if (negated) this.report('E217', span, { what: `"! -p ${arg.text}"`, reason: 'the rule would never match any protocol' });
      return;
    }
    this.base.protocol = { negated, protocol: p.value, span };
  }

  private iface(key: 'inInterface' | 'outInterface', option: BaseOption, arg: Word, negated: boolean, span: Span): void {
    if (this.baseGiven[key]) return this.report('E205', span, { option: `-${option.letter}` });
    this.baseGiven[key] = true;
    this.ifaceSpans[key] = span;
    const text = arg.text;
    if (text === '') return this.report('E204', arg.span, { what: 'interface name', value: '', detail: ': it must not be empty' });
    if (text.length > IFNAME_MAX) {
      return this.report('E204', arg.span, { what: 'interface name', value: text, detail: `: at most ${IFNAME_MAX} characters (IFNAMSIZ)` });
    }
    const wildcard = text.endsWith('+');
    // `-i +` matches every interface: iptables stores it as no -i at all.
    if (text === '+' && !negated) return;
    const m: InterfaceMatch = { negated, name: wildcard ? text.slice(0, -1) : text, wildcard, span };
    this.base[key] = m;
  }

  private match(arg: Word, optionWord: Word): void {
    const name = arg.text;
    const spec = findMatch(name, this.ctx.family);
    if (spec) {
      this.poisoned = false;
      this.addMatch(spec, spanOfWords(optionWord, arg));
      return;
    }
    const other = findMatch(name, this.ctx.family === 'ipv4' ? 'ipv6' : 'ipv4');
    if (other) {
      this.report('E212', arg.span, { what: `match "${name}"`, family: this.ctx.family === 'ipv4' ? 'iptables (IPv4)' : 'ip6tables (IPv6)' });
    } else if (!this.isRefused(name)) {
      this.report('E201', arg.span, { module: name }, isUnsupportedMatch(name) ? undefined : ['no such iptables match module is known to rejectc']);
    }
    this.refuse(name);
    this.poisoned = true;
  }

  private isRefused(name: string): boolean {
    return this.refused?.has(name) ?? false;
  }

  private refuse(name: string): void {
    (this.refused ??= new Set()).add(name);
  }

  private jumpTo(arg: Word, goto: boolean, optionWord: Word, span: Span): void {
    if (this.jumpGiven) {
      this.report('E205', optionWord.span, { option: goto ? '-g' : '-j' });
      return;
    }
    this.jumpGiven = true;
    const name = arg.text;
    if (name.length === 0 || /\s/.test(name) || name.length > 28) {
      this.report('E204', arg.span, { what: 'target or chain name', value: name, detail: name.length > 28 ? ': at most 28 characters' : '' });
      return;
    }
    const spec = findTarget(name, this.ctx.family);
    if (spec) {
      if (goto) {
        this.report('E217', arg.span, { what: `"-g ${name}"`, reason: '-g needs a user-defined chain; use -j for targets' });
        return;
      }
      this.target = { spec, state: spec.init(this.ctx), span, given: [] };
      this.poisoned = false;
      this.load(spec);
      return;
    }
    const other = findTarget(name, this.ctx.family === 'ipv4' ? 'ipv6' : 'ipv4');
    if (other) {
      this.report('E212', arg.span, { what: `target "${name}"`, family: this.ctx.family === 'ipv4' ? 'iptables (IPv4)' : 'ip6tables (IPv6)' });
      this.poisoned = true;
      return;
    }
    if (isUnsupportedTarget(name)) {
      this.report('E202', arg.span, { target: name });
      this.poisoned = true;
      return;
    }
    this.jump = { chain: name, goto, span };
  }

  private setCounters(arg: Word, optionWord: Word): void {
    if (this.counters) return this.report('E205', optionWord.span, { option: '-c' });
    let pcnt = arg.text;
    let bcnt: string | undefined;
    const comma = pcnt.indexOf(',', 1);
    if (comma >= 0) {
      bcnt = pcnt.slice(comma + 1);
      pcnt = pcnt.slice(0, comma);
    } else {
      const next = this.words[this.i];
      if (next && !next.text.startsWith('-') && !next.text.startsWith('!')) {
        bcnt = next.text;
        this.i++;
      }
    }
    if (bcnt === undefined) return this.report('E203', optionWord.span, { option: '-c' }, ['-c needs a packet and a byte counter: -c PACKETS BYTES']);
    const num = /^\s*\d+/;
    if (!num.test(pcnt)) return this.report('E204', arg.span, { what: 'packet counter', value: pcnt, detail: '' });
    if (!num.test(bcnt)) return this.report('E204', arg.span, { what: 'byte counter', value: bcnt, detail: '' });
    this.counters = { packets: Number(num.exec(pcnt)![0]), bytes: Number(num.exec(bcnt)![0]) };
  }

  // -------------------------------------------------------------------------------------------
  // Final checks and IR

  private finishCall(span: Span, given: readonly string[], matches: readonly Match[] = []): FinishCall {
    return new Finish(this.ctx, this.base, span, given, matches, this.diagnostics);
  }

  /** iptables' "Can't use -o with INPUT" / "Can't use -i with OUTPUT" (iptables.c). */
  private checkInterfacesForChain(): void {
    const chain = this.ctx.chain;
    const noOut = chain === 'PREROUTING' || chain === 'INPUT';
    const noIn = chain === 'POSTROUTING' || chain === 'OUTPUT';
    const check = (key: 'inInterface' | 'outInterface', flag: string, reason: string) => {
      const span = this.ifaceSpans[key];
      if (span) this.report('E213', span, { what: `"${flag}"`, chain, reason });
    };
    if (noOut) check('outInterface', '-o', 'packets there have no output interface yet');
    if (noIn) check('inInterface', '-i', 'packets there have no input interface');
  }

  private finish(): LoweredRuleOptions {
    this.checkInterfacesForChain();
    this.checkNegatedAddressLists();
    const finished: Match[] = [];
    for (const inst of this.matches) {
      const m = inst.spec.finish(inst.state, this.finishCall(inst.span, inst.given));
      if (m) finished.push(m);
    }
    // The IR keeps the list: a copy holds only its elements (a pushed-to array keeps spare room).
    const matches = finished.slice();
    let target: Target | null = null;
    if (this.target) {
      target = this.target.spec.finish(this.target.state, this.finishCall(this.target.span, this.target.given, matches)) ?? null;
    } else if (this.jump) {
      target = { kind: 'target', target: 'jump', chain: this.jump.chain, goto: this.jump.goto, span: this.jump.span };
    }
    const out: LoweredRuleOptions = { base: this.base, matches, target, diagnostics: this.diagnostics };
    if (this.counters) out.counters = this.counters;
    return out;
  }

  /**
   * xshared.c refuses any address negation once either -s or -d holds a list: iptables would
   * otherwise have to expand `! -s a,b` into rules that together match everything.
   */
  private checkNegatedAddressLists(): void {
    const { src, dst } = this.base;
    const list = (src?.addresses.length ?? 0) > 1 || (dst?.addresses.length ?? 0) > 1;
    const negated = src?.negated ? src : dst?.negated ? dst : undefined;
    if (list && negated) {
      this.report('E217', negated.span, { what: '"!"', reason: 'not allowed with multiple source or destination IP addresses' });
    }
  }

  private report(code: MessageCode, span: Span, params: Params = {}, notes?: string[]): void {
    this.diagnostics.push(diag(code, span, params, notes));
  }
}

/** What an option handler gets (one per option given; methods rather than closures, for speed). */
class Call implements OptionCall {
  constructor(
    readonly written: string,
    readonly name: string,
    readonly negated: boolean,
    readonly args: readonly Word[],
    readonly span: Span,
    private readonly optionWord: Word,
    readonly ctx: RuleContext,
    private readonly diagnostics: Diagnostic[],
  ) {}

  private argSpan(i: number): Span {
    return this.args[i]?.span ?? this.optionWord.span;
  }

  arg(i = 0): string {
    return this.args[i]?.text ?? '';
  }

  value<T>(parsed: Parsed<T>, i = 0): T | undefined {
    if (parsed.ok) return parsed.value;
    this.diagnostics.push(diag(parsed.problem.code, this.argSpan(i), parsed.problem.params, parsed.problem.notes));
    return undefined;
  }

  error(code: MessageCode, params: Params = {}, i = 0, notes?: string[]): void {
    this.diagnostics.push(diag(code, this.argSpan(i), params, notes));
  }

  neg<T>(value: T): Neg<T> {
    return { negated: this.negated, value, span: this.span };
  }
}

/** What an extension's `finish` gets. */
class Finish implements FinishCall {
  constructor(
    readonly ctx: RuleContext,
    readonly base: BaseMatches,
    readonly span: Span,
    readonly given: readonly string[],
    readonly matches: readonly Match[],
    private readonly diagnostics: Diagnostic[],
  ) {}

  error(code: MessageCode, params: Params = {}, at: Span = this.span, notes?: string[]): void {
    this.diagnostics.push(diag(code, at, params, notes));
  }
}

/** See {@link RuleOptionParser}. Never throws; problems are diagnostics. */
export function parseRuleOptions(words: readonly Word[], ctx: RuleContext): LoweredRuleOptions {
  return new RuleOptionParser(words, ctx).run();
}

export { subSpan };
