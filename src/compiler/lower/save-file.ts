/**
 * The statement level of iptables-save / iptables-restore files, as iptables-restore reads them:
 * `*table` opens a block (and flushes the table), `:CHAIN POLICY [p:b]` declares a chain, other
 * lines are iptables commands without the program name (`[p:b] -A CHAIN ...`, also `-I`, `-N`,
 * `-D` ...), `COMMIT` closes the block, `#` in column 1 is a comment.
 *
 * Lines that are not iptables-restore input at all (prose or a shell prompt pasted around the
 * dump) are skipped with warning W100 when they are outside a table block; inside a block
 * iptables-restore would fail on them, so they are errors.
 */
import { diag, type Diagnostic } from '../diagnostics.js';
import type { Backend, Counters, Family } from '../ir.js';
import type { Span } from '../span.js';
import type { SpanSource } from './positions.js';
import { restoreText, restoreUnterminated, restoreWord } from './decode-word.js';
import { guessFamily, headerInfo, mayBeIpv6 } from './family.js';
import { joinedSource, type Invocation } from './invocation.js';
import { isTableName, type RulesetBuilder } from './ruleset-builder.js';
import type { LineSource, RawToken } from './source-lines.js';
import type { Word } from './words.js';

export interface SaveFileOptions {
  /** Forces the family instead of reading it from the header or the rules. */
  family?: Family;
}

/** What the lines say about the file before any of them is executed. */
export interface SaveFileFacts {
  family: Family;
  backend: Backend;
}

function parseCounters(image: string): Counters {
  const [p, b] = image.slice(1, -1).split(':');
  return { packets: Number(p), bytes: Number(b) };
}

/**
 * Reads a save file's lines into `builder`. The family of each `*table` block is
 * `options.family` if given, else that of the last iptables-save header comment before the
 * block (so `iptables-save; ip6tables-save` output concatenated reads as both families), else
 * that of the first header in the file, else {@link guessFamily} of all rules, else IPv4.
 * Returns the file's family (its first block's) and back end. Never throws.
 */
export function lowerSaveFile(
  lines: LineSource,
  text: string,
  lineMap: SpanSource,
  builder: RulesetBuilder,
  options: SaveFileOptions = {},
): SaveFileFacts {
  const word = (t: RawToken): Word => restoreWord(t.image, t.start, lineMap);
  const diagnostics: Diagnostic[] = builder.diagnostics;
  const report = (code: Parameters<typeof diag>[0], span: Span, params: Record<string, string | number> = {}) =>
    diagnostics.push(diag(code, span, params));

  let header: ReturnType<typeof headerInfo> = {};
  for (const comment of lines.comments()) {
    const info = headerInfo(comment.image);
    if (info.family) {
      header = info;
      break;
    }
  }
  function* ruleTexts(): Iterable<string[]> {
    for (const images of lines.commandImages()) {
      for (let i = 0; i < images.length; i++) images[i] = restoreText(images[i]!);
      yield images;
    }
  }
  // (A file whose rules show no IPv6 sign is IPv4 whatever its IPv4 signs: no need to count them.)
  const fileFamily = options.family ?? header.family ?? (mayBeIpv6(text) ? guessFamily(ruleTexts()) : undefined) ?? 'ipv4';
  let family = fileFamily;
  const backend = header.backend ?? 'unknown';
  builder.backend = backend;

  let table: ReturnType<RulesetBuilder['table']> | undefined;
  let tableName = '';
  let tableSpan: Span | undefined;
  /** Inside a block whose table name is unknown: its lines are skipped after one error. */
  let skipping = false;
  const span = (t: RawToken) => lineMap.span(t.start, t.end);
  const ignored = (extra: RawToken[], what: string) => {
    if (extra.length > 0) report('W105', lineMap.span(extra[0]!.start, extra[extra.length - 1]!.end), { what: `text after ${what}` });
  };

  for (const line of lines) {
    switch (line.kind) {
      case 'comment': {
        const said = options.family ? undefined : headerInfo(line.token.image).family;
        if (said && !table) family = said;
        break;
      }
      case 'table': {
        const name = line.token.image.slice(1);
        if (table || skipping) report('E104', span(line.token), { table: tableName });
        table = undefined;
        skipping = false;
        tableName = name;
        tableSpan = span(line.token);
        if (isTableName(name)) table = builder.resetTable(family, name, tableSpan);
        else {
          report('E105', tableSpan, { table: name });
          skipping = true;
        }
        ignored(line.extra, `"*${name}"`);
        break;
      }
      case 'chain': {
        if (skipping) break;
        const lineSpan = lineMap.span(line.token.start, line.words.at(-1)?.end ?? line.token.end);
        if (!table) {
          report('E315', lineSpan);
          break;
        }
        const nameWord = { text: line.token.image.slice(1), span: lineMap.span(line.token.start + 1, line.token.end), quoted: false };
        const first = line.words[0];
        const policyToken = first && !first.counters ? first : undefined;
        const counterToken = line.words.find((t, i) => t.counters && i === (policyToken ? 1 : 0));
        const rest = line.words.filter((t) => t !== policyToken && t !== counterToken);
        const policyWord = policyToken ? word(policyToken) : undefined;
        builder.declareChain(table, nameWord, policyWord, counterToken ? parseCounters(counterToken.image) : undefined, lineSpan);
        ignored(rest, `":${nameWord.text}" and its policy`);
        break;
      }
      case 'commit':
        if (line.extra.length > 0) {
          report('E100', span(line.extra[0]!), { detail: `"COMMIT" must be alone on its line, found "${line.extra[0]!.image}"` });
        }
        if (!table && !skipping) report('E100', span(line.token), { detail: 'COMMIT without a table: expected "*filter" (or another table) first' });
        table = undefined;
        skipping = false;
        break;
      case 'commands':
        for (const command of line.commands) {
          if (skipping) continue;
          const tokens = command.tokens;
          const counters = tokens[0]?.counters ? tokens[0] : undefined;
          const wordTokens = counters ? tokens.slice(1) : tokens;
          const words = wordTokens.map(word);
          const first = words[0];
          if (!first || !first.text.startsWith('-')) {
            const at = first?.span ?? span(tokens[0]!);
            if (table) report('E100', at, { detail: `expected an iptables command such as "-A CHAIN", found "${first?.text ?? tokens[0]!.image}"` });
            else report('W100', at);
            continue;
          }
          // Only a quoted word (one with a '"') can leave a quote open.
          const open = words.find((w, i) => w.quoted && restoreUnterminated(wordTokens[i]!.image));
          if (open) {
            report('E101', open.span);
            continue;
          }
          const inv: Invocation = {
            family,
            backend,
            args: words,
            restore: true,
            span: lineMap.span(command.start, command.end),
            source: joinedSource(text, command.start, command.end),
            head: first.span,
          };
          if (counters) inv.counters = { value: parseCounters(counters.image), span: span(counters) };
          builder.execute(inv, family, table);
        }
        break;
    }
  }
  if ((table || skipping) && tableSpan) report('E104', tableSpan, { table: tableName });
  diagnostics.push(...restoreStrictness(text, lineMap));
  return { family: fileFamily, backend };
}

/**
 * Lines iptables-restore itself refuses although their meaning is plain (it compares
 * `buffer[0]` and `"COMMIT\n"` literally): a line of only blanks, blanks after COMMIT, and
 * CR LF line ends (reported once, at the first). rejectc reads them; the user is told.
 */
function restoreStrictness(text: string, lineMap: SpanSource): Diagnostic[] {
  const out: Diagnostic[] = [];
  let crlf = false;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const cr = end > start && text.charCodeAt(end - 1) === 13;
    const bodyEnd = cr ? end - 1 : end;
    if (bodyEnd > start && onlyBlanks(text, start, bodyEnd)) {
      out.push(diag('W106', lineMap.span(start, bodyEnd), { reason: 'a line of only blanks' }));
    } else if (bodyEnd > start + 6 && text.startsWith('COMMIT', start) && onlyBlanks(text, start + 6, bodyEnd)) {
      out.push(diag('W106', lineMap.span(start, bodyEnd), { reason: 'blanks after COMMIT' }));
    }
    if (!crlf && cr) {
      crlf = true;
      out.push(diag('W106', lineMap.span(bodyEnd, end), { reason: 'a CR LF line end; iptables-restore reads the CR as part of the last word' }));
    }
    start = end + 1;
  }
  return out;
}

/** True if text[from, to) holds only spaces and tabs. */
function onlyBlanks(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9) return false;
  }
  return true;
}
