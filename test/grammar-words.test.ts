import { describe, expect, it } from 'vitest';
import { decodeWord } from '../src/compiler/lower/decode-word.js';
import { LineMap } from '../src/compiler/span.js';

function decode(image: string, form: 'save' | 'script') {
  const lines = new LineMap('t', `  ${image}`);
  const d = decodeWord(image, 2, form, lines);
  return { text: d.word.text, quoted: d.word.quoted, unterminated: d.unterminated, expansions: d.expansions.map((e) => e.name) };
}

describe('iptables-restore word decoding (add_param_to_argv)', () => {
  it.each<[string, string, boolean]>([
    ['plain', 'plain', false],
    ['"a b"', 'a b', true],
    ['"say \\"hi\\""', 'say "hi"', true],
    ['x"y z"w', 'xy zw', true],
    ["'a", "'a", false],
    ['back\\slash', 'back\\slash', false],
    ['$VAR', '$VAR', false],
    ['""', '', true],
  ])('%s -> %j', (image, text, quoted) => {
    const d = decode(image, 'save');
    expect(d).toEqual({ text, quoted, unterminated: false, expansions: [] });
  });

  it('flags an unterminated quote', () => {
    expect(decode('"open', 'save')).toMatchObject({ text: 'open', unterminated: true });
  });

  it('keeps the span of the whole word, quotes included', () => {
    const lines = new LineMap('f', '-A "x y"');
    expect(decodeWord('"x y"', 3, 'save', lines).word.span).toMatchObject({ start: { line: 1, column: 4 }, end: { column: 9 } });
  });
});

describe('shell word decoding', () => {
  it.each<[string, string, boolean, string[]]>([
    ['plain', 'plain', false, []],
    ["'a b'", 'a b', true, []],
    ['"a b"', 'a b', true, []],
    ['\\!', '!', true, []],
    ['a\\ b', 'a b', true, []],
    ['"\\$x \\" \\\\ \\n"', '$x " \\ \\n', true, []],
    ["'$NOT'", '$NOT', true, []],
    ['$IPT', '$IPT', false, ['IPT']],
    ['${IPT}', '${IPT}', false, ['IPT']],
    ['${LIST:-x}', '${LIST:-x}', false, ['LIST']],
    ['"$LAN_IP"/24', '$LAN_IP/24', true, ['LAN_IP']],
    ['$(which iptables)', '$(which iptables)', false, ['$(which iptables)']],
    ['`which iptables`', '`which iptables`', false, ['`which iptables`']],
    ['$1', '$1', false, ['1']],
    ['a$', 'a$', false, []],
    ['100$', '100$', false, []],
    ['"--log-prefix "$X', '--log-prefix $X', true, ['X']],
  ])('%s -> %j', (image, text, quoted, expansions) => {
    expect(decode(image, 'script')).toEqual({ text, quoted, unterminated: false, expansions });
  });

  it.each(["'open", '"open', '`open', 'a"b'])('flags the unterminated quote in %s', (image) => {
    expect(decode(image, 'script').unterminated).toBe(true);
  });

  it('places an expansion exactly', () => {
    const text = 'iptables -s "$LAN_IP" -j ACCEPT';
    const lines = new LineMap('f', text);
    const at = text.indexOf('"$LAN');
    const d = decodeWord('"$LAN_IP"', at, 'script', lines);
    expect(d.expansions).toEqual([{ name: 'LAN_IP', start: at + 1, end: at + 8 }]);
  });
});
