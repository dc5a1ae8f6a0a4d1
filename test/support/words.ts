/**
 * Test helper: splits one rule's option text into {@link Word}s with exact spans, the way
 * iptables-restore splits a line (`add_param_to_argv`: blanks separate words, double quotes
 * group, a backslash inside quotes escapes the next character; single quotes are also
 * accepted, as a shell would).
 */
import type { RuleContext, Word } from '../../src/compiler/lower/words.js';
import { LineMap } from '../../src/compiler/span.js';

export function splitWords(text: string, file = 'test.rules'): Word[] {
  const map = new LineMap(file, text);
  const words: Word[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /[ \t\n]/.test(text[i]!)) i++;
    if (i >= text.length) break;
    const start = i;
    let value = '';
    let quoted = false;
    while (i < text.length && !/[ \t\n]/.test(text[i]!)) {
      const c = text[i]!;
      if (c === '"' || c === "'") {
        quoted = true;
        i++;
        while (i < text.length && text[i] !== c) {
          if (text[i] === '\\' && c === '"' && i + 1 < text.length) i++;
          value += text[i]!;
          i++;
        }
        i++;
      } else {
        value += c;
        i++;
      }
    }
    words.push({ text: value, span: map.span(start, i), quoted });
  }
  return words;
}

export const V4: RuleContext = { family: 'ipv4', table: 'filter', chain: 'INPUT', backend: 'unknown' };
export const V6: RuleContext = { family: 'ipv6', table: 'filter', chain: 'INPUT', backend: 'unknown' };
