/**
 * The line grammar of iptables-save files and iptables shell scripts (CST only; meaning is
 * given by src/compiler/lower/). One parser instance is built once and reused.
 *
 *   ruleset     := line*
 *   line        := Newline | content Newline
 *   content     := Comment | tableHeader | chainDecl | commit | commandList Comment?
 *   tableHeader := TableHeader Word*                       (save form; extra words are errors)
 *   chainDecl   := ChainDecl (Word | Counters)*             (`:CHAIN POLICY [p:b]`)
 *   commit      := Commit Word*
 *   commandList := command (Operator command?)*             (`a && b; c`)
 *   command     := (Word | Counters | redirect)+            (a save-file rule line is a command too)
 *   redirect    := Redirect Word?
 *
 * The grammar is deliberately permissive: what iptables accepts is decided when lowering, where
 * the diagnostics can speak iptables' language. The only syntax errors left are separators in
 * impossible places (a line starting with `&&`). Recovery is on, so one bad line never hides
 * the rest of the file.
 */
import type { CstNode, ILexingError, IRecognitionException, IToken } from 'chevrotain';
import { CstParser, createTokenInstance } from './chevrotain.js';
import {
  ALL_TOKENS,
  ChainDecl,
  Comment,
  Commit,
  Counters,
  lexer,
  Newline,
  Operator,
  Redirect,
  TableHeader,
  Word,
  type InputForm,
} from './tokens.js';
import type { RulesetCstNode } from './cst.js';

/** The CstParser of both input forms; rules are typed class fields, self-analysis runs last. */
export class RulesParser extends CstParser {
  constructor() {
    super(ALL_TOKENS, { recoveryEnabled: true, nodeLocationTracking: 'none' });
    this.performSelfAnalysis();
  }

  public ruleset = this.RULE('ruleset', () => {
    this.MANY(() => this.SUBRULE(this.line));
  });

  public line = this.RULE('line', () => {
    this.OR([
      { ALT: () => this.CONSUME(Newline) },
      {
        ALT: () => {
          this.SUBRULE(this.content);
          this.CONSUME2(Newline);
        },
      },
    ]);
  });

  public content = this.RULE('content', () => {
    this.OR([
      { ALT: () => this.CONSUME(Comment) },
      { ALT: () => this.SUBRULE(this.tableHeader) },
      { ALT: () => this.SUBRULE(this.chainDecl) },
      { ALT: () => this.SUBRULE(this.commit) },
      {
        ALT: () => {
          this.SUBRULE(this.commandList);
          this.OPTION(() => this.CONSUME2(Comment));
        },
      },
    ]);
  });

  public tableHeader = this.RULE('tableHeader', () => {
    this.CONSUME(TableHeader);
    this.MANY(() => this.CONSUME(Word));
  });

  public chainDecl = this.RULE('chainDecl', () => {
    this.CONSUME(ChainDecl);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(Word) }, { ALT: () => this.CONSUME(Counters) }]);
    });
  });

  public commit = this.RULE('commit', () => {
    this.CONSUME(Commit);
    this.MANY(() => this.CONSUME(Word));
  });

  public commandList = this.RULE('commandList', () => {
    this.SUBRULE(this.command);
    this.MANY(() => {
      this.CONSUME(Operator);
      this.OPTION(() => this.SUBRULE2(this.command));
    });
  });

  public command = this.RULE('command', () => {
    this.AT_LEAST_ONE(() => {
      this.OR([
        { ALT: () => this.CONSUME(Word) },
        { ALT: () => this.CONSUME(Counters) },
        { ALT: () => this.SUBRULE(this.redirect) },
      ]);
    });
  });

  public redirect = this.RULE('redirect', () => {
    this.CONSUME(Redirect);
    this.OPTION(() => this.CONSUME(Word));
  });
}

/** The single parser instance (chevrotain parsers are built once and reused). */
export const parser = new RulesParser();

export interface ParseOutput {
  cst: RulesetCstNode;
  lexErrors: ILexingError[];
  parseErrors: IRecognitionException[];
}

/**
 * Lexes and parses `text` in the given form. Never throws. The token vector always ends with
 * a line end (a virtual one at the end of the text if the last line has none), so every line,
 * the last included, is `content Newline`.
 */
export function parseText(text: string, form: InputForm): ParseOutput {
  const lexed = lexer.tokenize(text, form);
  const tokens: IToken[] = lexed.tokens;
  const last = tokens[tokens.length - 1];
  if (last === undefined || last.tokenType !== Newline) {
    tokens.push(createTokenInstance(Newline, '', text.length, text.length - 1, NaN, NaN, NaN, NaN));
  }
  parser.input = tokens;
  const cst = parser.ruleset() as CstNode as RulesetCstNode;
  return { cst, lexErrors: lexed.errors, parseErrors: parser.errors };
}
