// Generated from grammar/parser.ts by grammar/generate-cst-dts.ts; do not edit.
import type { CstNode, ICstVisitor, IToken } from "chevrotain";

export interface RulesetCstNode extends CstNode {
  name: "ruleset";
  children: RulesetCstChildren;
}

export type RulesetCstChildren = {
  line?: LineCstNode[];
};

export interface LineCstNode extends CstNode {
  name: "line";
  children: LineCstChildren;
}

export type LineCstChildren = {
  Newline?: (IToken)[];
  content?: ContentCstNode[];
};

export interface ContentCstNode extends CstNode {
  name: "content";
  children: ContentCstChildren;
}

export type ContentCstChildren = {
  Comment?: (IToken)[];
  tableHeader?: TableHeaderCstNode[];
  chainDecl?: ChainDeclCstNode[];
  commit?: CommitCstNode[];
  commandList?: CommandListCstNode[];
};

export interface TableHeaderCstNode extends CstNode {
  name: "tableHeader";
  children: TableHeaderCstChildren;
}

export type TableHeaderCstChildren = {
  TableHeader: IToken[];
  Word?: IToken[];
};

export interface ChainDeclCstNode extends CstNode {
  name: "chainDecl";
  children: ChainDeclCstChildren;
}

export type ChainDeclCstChildren = {
  ChainDecl: IToken[];
  Word?: IToken[];
  Counters?: IToken[];
};

export interface CommitCstNode extends CstNode {
  name: "commit";
  children: CommitCstChildren;
}

export type CommitCstChildren = {
  Commit: IToken[];
  Word?: IToken[];
};

export interface CommandListCstNode extends CstNode {
  name: "commandList";
  children: CommandListCstChildren;
}

export type CommandListCstChildren = {
  command: (CommandCstNode)[];
  Operator?: IToken[];
};

export interface CommandCstNode extends CstNode {
  name: "command";
  children: CommandCstChildren;
}

export type CommandCstChildren = {
  Word?: IToken[];
  Counters?: IToken[];
  redirect?: RedirectCstNode[];
};

export interface RedirectCstNode extends CstNode {
  name: "redirect";
  children: RedirectCstChildren;
}

export type RedirectCstChildren = {
  Redirect: IToken[];
  Word?: IToken[];
};

export interface ICstNodeVisitor<IN, OUT> extends ICstVisitor<IN, OUT> {
  ruleset(children: RulesetCstChildren, param?: IN): OUT;
  line(children: LineCstChildren, param?: IN): OUT;
  content(children: ContentCstChildren, param?: IN): OUT;
  tableHeader(children: TableHeaderCstChildren, param?: IN): OUT;
  chainDecl(children: ChainDeclCstChildren, param?: IN): OUT;
  commit(children: CommitCstChildren, param?: IN): OUT;
  commandList(children: CommandListCstChildren, param?: IN): OUT;
  command(children: CommandCstChildren, param?: IN): OUT;
  redirect(children: RedirectCstChildren, param?: IN): OUT;
}
