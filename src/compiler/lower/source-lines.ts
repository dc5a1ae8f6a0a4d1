/**
 * CST → a flat list of source lines: the statement level of both input forms before any meaning
 * is given to the words. A visitor typed with the generated CST declarations (grammar/cst.d.ts).
 */
import type { IToken } from 'chevrotain';
import type {
  ChainDeclCstChildren,
  CommandCstChildren,
  CommandListCstChildren,
  CommitCstChildren,
  ContentCstChildren,
  ICstNodeVisitor,
  LineCstChildren,
  RedirectCstChildren,
  RulesetCstChildren,
  RulesetCstNode,
  TableHeaderCstChildren,
} from '../../../grammar/cst.js';
import { parser } from '../../../grammar/parser.js';

/** One token's text and place: `end` is exclusive. `counters` marks a `[p:b]` token. */
export interface RawToken {
  image: string;
  start: number;
  end: number;
  counters: boolean;
}

/** One command of a line (`a && b` holds two): its words in order, redirections apart. */
export interface RawCommand {
  tokens: RawToken[];
  redirects: RawToken[];
  start: number;
  end: number;
}

/** One non-blank line: a comment, a save-file statement, or the commands of a (logical) line. */
export type SourceLine =
  | { kind: 'comment'; token: RawToken }
  | { kind: 'table'; token: RawToken; extra: RawToken[] }
  | { kind: 'chain'; token: RawToken; words: RawToken[] }
  | { kind: 'commit'; token: RawToken; extra: RawToken[] }
  | { kind: 'commands'; commands: RawCommand[]; comment?: RawToken };

/**
 * Source lines that can also be read in part without building the others: the comment lines'
 * tokens, or the tokens of every command. Iterable any number of times.
 */
export interface LineSource extends Iterable<SourceLine> {
  comments(): Iterable<RawToken>;
  /** The token images of each command line (no token objects: the family guess reads them all). */
  commandImages(): Iterable<string[]>;
}

/** A {@link LineSource} over lines already built. */
export function lineSource(lines: readonly SourceLine[]): LineSource {
  return {
    [Symbol.iterator]: () => lines[Symbol.iterator](),
    *comments() {
      for (const l of lines) if (l.kind === 'comment') yield l.token;
    },
    *commandImages() {
      for (const l of lines) if (l.kind === 'commands') for (const c of l.commands) yield c.tokens.map((t) => t.image);
    },
  };
}

function raw(t: IToken): RawToken {
  return { image: t.image, start: t.startOffset, end: t.startOffset + t.image.length, counters: t.tokenType.name === 'Counters' };
}

/** Tokens of several CST child arrays merged back into source order. */
function inOrder(...groups: (IToken[] | undefined)[]): RawToken[] {
  const all: RawToken[] = [];
  for (const g of groups) if (g) for (const t of g) if (!Number.isNaN(t.startOffset)) all.push(raw(t));
  return all.sort((a, b) => a.start - b.start);
}

const BaseVisitor = parser.getBaseCstVisitorConstructor();

class LineCollector extends BaseVisitor implements ICstNodeVisitor<SourceLine[], unknown> {
  constructor() {
    super();
    this.validateVisitor();
  }

  ruleset(children: RulesetCstChildren, out: SourceLine[]): void {
    for (const line of children.line ?? []) this.visit(line, out);
  }

  line(children: LineCstChildren, out: SourceLine[]): void {
    for (const c of children.content ?? []) this.visit(c, out);
  }

  content(children: ContentCstChildren, out: SourceLine[]): void {
    if (children.tableHeader) this.visit(children.tableHeader, out);
    else if (children.chainDecl) this.visit(children.chainDecl, out);
    else if (children.commit) this.visit(children.commit, out);
    else if (children.commandList) {
      const commands = this.visit(children.commandList) as RawCommand[];
      const comment = children.Comment?.[0];
      out.push(comment ? { kind: 'commands', commands, comment: raw(comment) } : { kind: 'commands', commands });
    } else if (children.Comment?.[0]) out.push({ kind: 'comment', token: raw(children.Comment[0]) });
  }

  tableHeader(children: TableHeaderCstChildren, out: SourceLine[]): void {
    out.push({ kind: 'table', token: raw(children.TableHeader[0]!), extra: inOrder(children.Word) });
  }

  chainDecl(children: ChainDeclCstChildren, out: SourceLine[]): void {
    out.push({ kind: 'chain', token: raw(children.ChainDecl[0]!), words: inOrder(children.Word, children.Counters) });
  }

  commit(children: CommitCstChildren, out: SourceLine[]): void {
    out.push({ kind: 'commit', token: raw(children.Commit[0]!), extra: inOrder(children.Word) });
  }

  commandList(children: CommandListCstChildren): RawCommand[] {
    return children.command.map((c) => this.visit(c) as RawCommand).filter((c) => c.tokens.length + c.redirects.length > 0);
  }

  command(children: CommandCstChildren): RawCommand {
    const redirects = children.redirect ? children.redirect.flatMap((r) => this.visit(r) as RawToken[]) : [];
    // Words alone are already in source order (the common case: no sort, no merge).
    const tokens = children.Counters || redirects.length > 0 ? inOrder(children.Word, children.Counters) : (children.Word ?? []).filter((t) => !Number.isNaN(t.startOffset)).map(raw);
    if (redirects.length === 0) {
      const first = tokens[0];
      const last = tokens[tokens.length - 1];
      return { tokens, redirects, start: first ? first.start : Infinity, end: last ? last.end : -Infinity };
    }
    const edges = [...tokens, ...redirects];
    const start = Math.min(...edges.map((t) => t.start));
    const end = Math.max(...edges.map((t) => t.end));
    return { tokens, redirects, start, end };
  }

  redirect(children: RedirectCstChildren): RawToken[] {
    return inOrder(children.Redirect, children.Word);
  }
}

const collector = new LineCollector();

/** The lines of a parsed text, in source order; blank lines are left out. */
export function sourceLines(cst: RulesetCstNode): SourceLine[] {
  const out: SourceLine[] = [];
  collector.visit(cst, out);
  return out;
}
