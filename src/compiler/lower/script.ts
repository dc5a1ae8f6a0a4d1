/**
 * The shell level of script input: which command lines run iptables, and with which words.
 *
 * A command runs iptables when its program word is `iptables`, `ip6tables`, their `-legacy` /
 * `-nft` variants, an absolute path to one of them, or a `$VAR` / `${VAR}` standing for one
 * (the script assigns it such a value, e.g. `IPT=/sbin/iptables` or `IPT=$(which iptables)`,
 * or, when the script does not assign it, the next word is an iptables command option).
 * `sudo` and a shell prompt (`root@host:~#`) before the program are dropped.
 *
 * Every other command (assignments, `if`/`for`/`echo`, `sysctl`, `modprobe`, `iptables -L`
 * output pasted into a history, ...) is skipped with warning W100. rejectc runs no shell code:
 * an expansion (`$VAR`, `$(...)`) among the iptables arguments is error E102 and the command is
 * not executed.
 */
import type { InputForm } from '../../../grammar/tokens.js';
import { diag, type Diagnostic } from '../diagnostics.js';
import type { Backend, Family } from '../ir.js';
import type { SpanSource } from './positions.js';
import { isCommandOption } from './command.js';
import { decodeWord, type DecodedWord } from './decode-word.js';
import { joinedSource, type Invocation } from './invocation.js';
import type { RawCommand, SourceLine } from './source-lines.js';

const FORM: InputForm = 'script';

/** `iptables`, `/usr/sbin/ip6tables-nft`, ...: the family and back end a program name says. */
export function iptablesProgram(text: string): { family: Family; backend: Backend } | undefined {
  const m = /(?:^|\/)(ip6?)tables(-legacy|-nft)?$/.exec(text);
  if (!m) return undefined;
  return {
    family: m[1] === 'ip6' ? 'ipv6' : 'ipv4',
    backend: m[2] === '-nft' ? 'nft' : m[2] === '-legacy' ? 'legacy' : 'unknown',
  };
}

/** A program named inside an assigned value: `/sbin/iptables`, `$(which ip6tables)`, `` `command -v iptables` ``. */
function programInValue(value: string): { family: Family; backend: Backend } | undefined {
  const m = /(?:^|[\s/`(])(ip6?tables(?:-legacy|-nft)?)(?=$|[\s`)])/.exec(value.trim());
  return m ? iptablesProgram(m[1]!) : undefined;
}

/** `root@host:~#`, `user@box:/tmp$`, `$`, `#`-less prompts are not recognised (they are words). */
function isPrompt(text: string): boolean {
  return /^\S*[@:]\S*[#$%>]$/.test(text) || text === '$' || text === '%';
}

/** `sudo [-E] [-u USER] [-g GROUP] cmd ...` → `cmd ...` (sudo's own options dropped). */
function withoutSudo(words: DecodedWord[]): DecodedWord[] {
  let i = 1;
  while (i < words.length && words[i]!.word.text.startsWith('-')) {
    const flag = words[i]!.word.text;
    i += flag === '-u' || flag === '-g' || flag === '-C' || flag === '-h' || flag === '-p' ? 2 : 1;
  }
  return words.slice(i);
}

const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=([\s\S]*)$/;
const DECLARATION = new Set(['export', 'local', 'readonly', 'declare', 'typeset']);

interface Assignment {
  value: string;
  line: number;
}

export interface ScriptOptions {
  /** Family for programs that do not say (`$IPT` never assigned in the script). */
  family?: Family;
  /**
   * Receives each invocation as soon as it is found, in order, instead of the result's list
   * (which is then empty): a large script's words need not live all at once.
   */
  onInvocation?: (inv: Invocation) => void;
}

export interface ScriptResult {
  invocations: Invocation[];
  diagnostics: Diagnostic[];
}

/**
 * Finds the iptables invocations of a script, in order. Pure; never throws.
 * Precondition: `lines` come from the script form of `text`.
 */
export function scriptInvocations(lines: SourceLine[], text: string, lineMap: SpanSource, options: ScriptOptions = {}): ScriptResult {
  const invocations: Invocation[] = [];
  const diagnostics: Diagnostic[] = [];
  const assignments = new Map<string, Assignment>();

  for (const line of lines) {
    if (line.kind !== 'commands') continue;
    for (const command of line.commands) {
      const inv = interpret(command);
      if (inv && options.onInvocation) options.onInvocation(inv);
      else if (inv) invocations.push(inv);
    }
  }
  return { invocations, diagnostics };

  function interpret(command: RawCommand): Invocation | undefined {
    let words: DecodedWord[] = command.tokens.map((t) => decodeWord(t.image, t.start, FORM, lineMap));
    while (words.length > 0 && isPrompt(words[0]!.word.text) && !words[0]!.word.quoted) words = words.slice(1);
    if (words.length === 0) return undefined;
    const assigned = recordAssignments(words);
    if (assigned === words.length) {
      diagnostics.push(diag('W100', words[0]!.word.span));
      return undefined;
    }
    words = words.slice(assigned);
    if (words[0]!.word.text === 'sudo') {
      const sudo = words[0]!;
      words = withoutSudo(words);
      if (words.length === 0) {
        diagnostics.push(diag('W100', sudo.word.span));
        return undefined;
      }
    }
    const first = words[0]!;
    const program = programOf(first, words[1]);
    if (!program) {
      diagnostics.push(diag('W100', first.word.span));
      return undefined;
    }
    const args = words.slice(1);
    let ok = true;
    for (const w of args) {
      for (const e of w.expansions) {
        ok = false;
        diagnostics.push(diag('E102', lineMap.span(e.start, e.end), { name: e.name }, assignmentNote(e.name)));
      }
      if (w.unterminated) {
        ok = false;
        diagnostics.push(diag('E101', w.word.span));
      }
    }
    if (!ok) return undefined;
    const start = first.word.span.start.offset;
    const end = args.length > 0 ? args[args.length - 1]!.word.span.end.offset : first.word.span.end.offset;
    return {
      family: program.family,
      backend: program.backend,
      args: args.map((w) => w.word),
      restore: false,
      span: lineMap.span(start, end),
      source: joinedSource(text, start, end),
      head: first.word.span,
    };
  }

  /**
   * `NAME=value ...`, `export NAME=value`: remembered so that `$NAME` can be recognised later.
   * Returns how many leading words are assignments (all of them for a declaration).
   */
  function recordAssignments(words: DecodedWord[]): number {
    if (DECLARATION.has(words[0]!.word.text)) {
      for (const w of words.slice(1)) {
        const m = ASSIGNMENT.exec(w.word.text);
        if (m) assignments.set(m[1]!, { value: m[2]!, line: w.word.span.start.line });
      }
      return words.length;
    }
    let i = 0;
    for (; i < words.length; i++) {
      const m = ASSIGNMENT.exec(words[i]!.word.text);
      if (!m || words[i]!.word.text.startsWith('=')) break;
      assignments.set(m[1]!, { value: m[2]!, line: words[i]!.word.span.start.line });
    }
    return i;
  }

  function programOf(first: DecodedWord, next: DecodedWord | undefined): { family: Family; backend: Backend } | undefined {
    if (first.expansions.length === 0) return first.word.quoted && first.word.text === '' ? undefined : iptablesProgram(first.word.text);
    const only = first.expansions[0]!;
    const wholeWord =
      first.expansions.length === 1 && (first.word.text === `$${only.name}` || first.word.text === `\${${only.name}}`);
    if (!wholeWord) return undefined;
    const assigned = assignments.get(only.name);
    if (assigned) return programInValue(assigned.value);
    if (next && !next.word.quoted && isCommandOption(next.word.text)) {
      return { family: options.family ?? (/6/.test(only.name) ? 'ipv6' : 'ipv4'), backend: 'unknown' };
    }
    return undefined;
  }

  function assignmentNote(name: string): string[] | undefined {
    const a = assignments.get(name);
    if (!a) return undefined;
    return [`"${name}" is set to "${a.value}" on line ${a.line}; rejectc does not expand shell variables`];
  }
}
