// Rare Unicode and decoding as Hugging Face does it (issue 11 items 7 and 8): 367 adversarial strings whose ids come
// from the real `tokenizers` 0.23 and whose decode() comes from transformers 5.18 (tools/make_tokenizer_fixtures.py).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertTokenizer } from '../../lib/tokenizer';

const BASE_UNCASED = path.resolve(__dirname, '..', '..', '..', 'shared', 'models', 'distilbert-base-uncased');
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'tokenizer', 'adversarial.json'), 'utf8'),
) as {
  cases: { text: string; ids: number[]; decode: string; decode_skip_special: string; decode_clean_up: string }[];
};
const tokenizer = BertTokenizer.fromPretrained(BASE_UNCASED);
const show = (s: string) =>
  [...s]
    .map((c) =>
      c.codePointAt(0)! < 0x7f && c.codePointAt(0)! >= 0x20 ? c : `U+${c.codePointAt(0)!.toString(16).toUpperCase()}`,
    )
    .join(' ');

describe('adversarial Unicode strings: ids equal to tokenizers', () => {
  it('encodes all 367 strings exactly as tokenizers does', () => {
    const wrong = fixture.cases
      .map((c) => ({ text: show(c.text), want: c.ids, got: tokenizer.encode(c.text, { truncation: false }) }))
      .filter((c) => c.got.join() !== c.want.join());
    expect(wrong.slice(0, 5)).toEqual([]);
  });
});

describe('decode as transformers 5.18 does for distilbert-base-uncased', () => {
  it('by default, with skipSpecialTokens, and with cleanUpTokenizationSpaces', () => {
    const wrong = fixture.cases.flatMap((c) => {
      const got = [
        tokenizer.decode(c.ids),
        tokenizer.decode(c.ids, { skipSpecialTokens: true }),
        tokenizer.decode(c.ids, { cleanUpTokenizationSpaces: true }),
      ];
      const want = [c.decode, c.decode_skip_special, c.decode_clean_up];
      return got.join('\u0000') === want.join('\u0000') ? [] : [{ text: show(c.text), got, want }];
    });
    expect(wrong.slice(0, 5)).toEqual([]);
  });
});

describe('text tokenizers cannot hold', () => {
  it('deletes lone surrogates as control characters (category Cs)', () => {
    expect(tokenizer.encode('a\uD800b\uDC00c', { addSpecialTokens: false })).toEqual(
      tokenizer.encode('abc', { addSpecialTokens: false }),
    );
  });
});
