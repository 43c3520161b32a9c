// Hostile tokenizer.json files (issue 14 items 8 and 16): validated on load with errors that name the file, and a
// WordPiece whose time per word does not depend on max_input_chars_per_word.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AutoTokenizer } from '../../lib';
import { WordPiece } from '../../lib/tokenizer/wordpiece';

const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

function tokenizerJson(vocab: string[], model: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    added_tokens: SPECIALS.map((content, id) => ({ id, content, special: true, normalized: false })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'BertProcessing', cls: ['[CLS]', 2], sep: ['[SEP]', 3] },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries([...SPECIALS, ...vocab].map((t, i) => [t, i])),
      ...model,
    },
  };
}

function folderWith(json: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostile-tokenizer-'));
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), typeof json === 'string' ? json : JSON.stringify(json));
  return dir;
}

describe('issue 14 item 16: tokenizer.json is validated on load, naming the file', () => {
  const good = () => tokenizerJson(['a', '##a', 'b']);
  it('the valid file loads', () => {
    expect(AutoTokenizer.fromPretrained(folderWith(good())).encode('a aa b ab')).toEqual([2, 5, 5, 6, 7, 1, 3]); // ab: no '##b', so [UNK]
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- hostile edits reach anywhere in the JSON
  const cases: [string, (j: Record<string, any>) => unknown, RegExp][] = [
    ['null', () => null, /tokenizer\.json: the file must be a JSON object, got null/],
    ['a list', () => [1, 2], /tokenizer\.json: the file must be a JSON object/],
    [
      'no model',
      (j) => {
        delete j.model;
        return j;
      },
      /tokenizer\.json: model must be an object, got nothing/,
    ],
    [
      'an added token with null content',
      (j) => {
        j.added_tokens[0].content = null;
        return j;
      },
      /tokenizer\.json: added_tokens\[0\]\.content must be a non-empty string, got null/,
    ],
    [
      'an added token with id "x"',
      (j) => {
        j.added_tokens[1].id = 'x';
        return j;
      },
      /tokenizer\.json: added_tokens\[1\]\.id must be an integer id/,
    ],
    [
      'a vocabulary id "x"',
      (j) => {
        j.model.vocab.a = 'x';
        return j;
      },
      /tokenizer\.json: model\.vocab\["a"\] must be an integer id in 0\.\.2147483647, got "x"/,
    ],
    [
      'a vocabulary id 1.5',
      (j) => {
        j.model.vocab.a = 1.5;
        return j;
      },
      /model\.vocab\["a"\] must be an integer id/,
    ],
    [
      'a vocabulary id -1',
      (j) => {
        j.model.vocab.a = -1;
        return j;
      },
      /model\.vocab\["a"\] must be an integer id/,
    ],
    [
      'a vocabulary id 1e12',
      (j) => {
        j.model.vocab.a = 1e12;
        return j;
      },
      /model\.vocab\["a"\] must be an integer id/,
    ],
    [
      'max_input_chars_per_word "many"',
      (j) => {
        j.model.max_input_chars_per_word = 'many';
        return j;
      },
      /model\.max_input_chars_per_word must be a non-negative integer/,
    ],
    [
      'a post-processor id "x"',
      (j) => {
        j.post_processor.cls = ['[CLS]', 'x'];
        return j;
      },
      /post_processor\.cls must be \[token, id\]/,
    ],
    [
      'lowercase "yes"',
      (j) => {
        j.normalizer.lowercase = 'yes';
        return j;
      },
      /normalizer\.lowercase must be true or false/,
    ],
    [
      'an unknown token missing from the vocabulary',
      (j) => {
        j.model.unk_token = '[NOPE]';
        return j;
      },
      /tokenizer\.json: .*\[NOPE\]/,
    ],
  ];
  it.each(cases)('%s', (_what, edit, message) => {
    expect(() => AutoTokenizer.fromPretrained(folderWith(edit(good())))).toThrow(message);
  });

  it('broken JSON names the file', () => {
    expect(() => AutoTokenizer.fromPretrained(folderWith('{"model": '))).toThrow(/tokenizer\.json/);
  });
});

describe('issue 14 item 8: WordPiece time per word is linear whatever max_input_chars_per_word', () => {
  it('a 5,000-character word with max_input_chars_per_word 1e9 takes milliseconds, not seconds', () => {
    const tok = AutoTokenizer.fromPretrained(
      folderWith(tokenizerJson(['a', '##a', '##aa', '##aaa'], { max_input_chars_per_word: 1e9 })),
    );
    const t0 = Date.now();
    const ids = tok.encode('a'.repeat(5000), { addSpecialTokens: false, truncation: false });
    const ms = Date.now() - t0;
    // Greedy longest-first: 'a', then '##aaa' as long as it fits, then the remainder.
    expect(ids.length).toBe(1 + Math.ceil(4999 / 3));
    expect(ids[0]).toBe(5);
    expect(ids.slice(1, -1).every((id) => id === 8)).toBe(true);
    if (process.env.TOKENIZER_VERBOSE) console.log(`5,000-character word: ${ms} ms`);
    expect(ms).toBeLessThan(1500); // was 11.8 s (cubic)
    // An unsplittable word of 200,000 characters also ends quickly, as [UNK].
    const t1 = Date.now();
    expect(tok.encode(`${'a'.repeat(200_000)}b`, { addSpecialTokens: false, truncation: false })).toEqual([1]);
    expect(Date.now() - t1).toBeLessThan(2000);
  });

  it('long tokens in the vocabulary bound the search by their length, and still split longest-first', () => {
    const long = 'x'.repeat(300);
    const wp = new WordPiece(
      new Map([
        ['[UNK]', 0],
        ['x', 1],
        ['##x', 2],
        [long, 3],
        [`##${long}`, 4],
      ]),
      { maxInputCharsPerWord: 1e9 },
    );
    const t0 = Date.now();
    const ids = wp.tokenize('x'.repeat(30_000));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(ids.length).toBe(100);
    expect(ids[0]).toBe(3);
    expect(ids.slice(1).every((id) => id === 4)).toBe(true);
  });
});
