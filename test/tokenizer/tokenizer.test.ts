import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  AutoTokenizer,
  BertNormalizer,
  BertPreTokenizer,
  BertTokenizer,
  VocabIndex,
  WordPiece,
} from '../../lib/tokenizer';

const SHARED = path.resolve(__dirname, '..', '..', '..', 'shared');
const BASE_UNCASED = path.join(SHARED, 'models', 'distilbert-base-uncased');
const TINY_RANDOM = path.join(SHARED, 'fixtures', 'distilbert-tiny-random');

interface TokenizerCase {
  text: string;
  max_length: number;
  input_ids: number[];
}

const fixture = JSON.parse(fs.readFileSync(path.join(SHARED, 'fixtures', 'tokenizer-cases.json'), 'utf8')) as {
  cases: TokenizerCase[];
};
const cases = fixture.cases.map((c, i) => ({ ...c, label: `#${i} ${JSON.stringify(c.text.slice(0, 40))}` }));

const fromTokenizerJson = BertTokenizer.fromPretrained(BASE_UNCASED);
const fromVocabTxt = BertTokenizer.fromPretrained(TINY_RANDOM);

describe.each([
  ['tokenizer.json', fromTokenizerJson],
  ['vocab.txt', fromVocabTxt],
])('Hugging Face reference ids, loaded from %s', (_source, tokenizer) => {
  it('has 189 cases', () => {
    expect(cases).toHaveLength(189);
  });

  it.each(cases)('$label', ({ text, max_length, input_ids }) => {
    expect(tokenizer.encode(text, { maxLength: max_length, truncation: true })).toEqual(input_ids);
  });

  it('encodes the same ids in one batch without padding', () => {
    const { inputIds } = tokenizer.encodeBatch(
      cases.map((c) => c.text),
      { maxLength: 128, padding: false },
    );
    const expected = cases.filter((c) => c.max_length === 128);
    const byText = new Map(cases.map((c, i) => [c.text, inputIds[i]]));
    for (const c of expected) expect(byText.get(c.text)).toEqual(c.input_ids);
  });
});

describe('BertTokenizer properties', () => {
  it.each([
    ['tokenizer.json', fromTokenizerJson],
    ['vocab.txt', fromVocabTxt],
  ])('from %s', (_source, tokenizer) => {
    expect(tokenizer.vocabSize).toBe(30522);
    expect(tokenizer.padTokenId).toBe(0);
    expect(tokenizer.unkTokenId).toBe(100);
    expect(tokenizer.clsTokenId).toBe(101);
    expect(tokenizer.sepTokenId).toBe(102);
    expect(tokenizer.maskTokenId).toBe(103);
    expect(tokenizer.modelMaxLength).toBe(512);
  });

  it('converts between tokens and ids', () => {
    expect(fromTokenizerJson.convertTokensToIds(['[CLS]', 'hello', '##s', 'not-a-token'])).toEqual([
      101, 7592, 2015, 100,
    ]);
    expect(fromTokenizerJson.convertIdsToTokens([101, 7592, 2015])).toEqual(['[CLS]', 'hello', '##s']);
    expect(() => fromTokenizerJson.convertIdsToTokens([30522])).toThrow(RangeError);
  });

  it('matches added tokens in the raw text, or in the normalized text when they are normalized', () => {
    const lines = fs.readFileSync(path.join(BASE_UNCASED, 'vocab.txt'), 'utf8').trimEnd().split('\n');
    const tokenizer = new BertTokenizer({
      vocab: new Map(lines.map((token, id) => [token, id])),
      addedTokens: [
        { id: 103, content: '[MASK]', special: true, normalized: false },
        { id: 30522, content: 'Big World', special: false, normalized: true },
      ],
    });
    expect(tokenizer.tokenize('[MASK] [mask] BIG WORLD!')).toEqual(['[MASK]', '[', 'mask', ']', 'Big World', '!']);
    expect(tokenizer.convertTokensToIds(['Big World'])).toEqual([30522]);
    expect(tokenizer.decode([30522, 999])).toBe('Big World!');
  });

  it('tokenizes into word pieces', () => {
    expect(fromTokenizerJson.tokenize('Unaffable, [MASK]!')).toEqual(['una', '##ffa', '##ble', ',', '[MASK]', '!']);
  });
});

describe('encode', () => {
  const tokenizer = fromTokenizerJson;

  it('adds [CLS] and [SEP] unless told not to', () => {
    expect(tokenizer.encode('hello world')).toEqual([101, 7592, 2088, 102]);
    expect(tokenizer.encode('hello world', { addSpecialTokens: false })).toEqual([7592, 2088]);
  });

  it('truncates the content, keeping [CLS] and [SEP], to maxLength', () => {
    const text = 'one two three four five';
    expect(tokenizer.encode(text, { maxLength: 4 })).toEqual([101, 2028, 2048, 102]);
    expect(tokenizer.encode(text, { maxLength: 2 })).toEqual([101, 102]);
    expect(tokenizer.encode(text, { maxLength: 3, addSpecialTokens: false })).toEqual([2028, 2048, 2093]);
    expect(tokenizer.encode(text, { maxLength: 4, truncation: false })).toHaveLength(7);
  });

  it('truncates to modelMaxLength when asked to truncate without maxLength', () => {
    const long = 'word '.repeat(1000);
    expect(tokenizer.encode(long)).toHaveLength(1002);
    expect(tokenizer.encode(long, { truncation: true })).toHaveLength(512);
  });

  it('rejects a maxLength with no room for the special tokens', () => {
    expect(() => tokenizer.encode('hello', { maxLength: 1 })).toThrow(RangeError);
  });
});

describe('encodeBatch', () => {
  const tokenizer = fromTokenizerJson;
  const texts = ['hello world', 'a much longer sentence than the first one', ''];

  it('pads to the longest sequence with [PAD] and a zero mask', () => {
    const { inputIds, attentionMask } = tokenizer.encodeBatch(texts);
    expect(inputIds.map((ids) => ids.length)).toEqual([10, 10, 10]);
    expect(inputIds[0]).toEqual([101, 7592, 2088, 102, 0, 0, 0, 0, 0, 0]);
    expect(attentionMask[0]).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
    expect(attentionMask[1]).toEqual(new Array(10).fill(1));
    expect(inputIds[2]).toEqual([101, 102, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(attentionMask[2]).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('pads to maxLength with padding max_length', () => {
    const { inputIds, attentionMask } = tokenizer.encodeBatch(texts, { maxLength: 16, padding: 'max_length' });
    for (const row of [...inputIds, ...attentionMask]) expect(row).toHaveLength(16);
    expect(attentionMask[0].reduce((a, b) => a + b, 0)).toBe(4);
  });

  it('truncates to maxLength by default, and not with truncation false', () => {
    const truncated = tokenizer.encodeBatch(texts, { maxLength: 5 });
    expect(truncated.inputIds).toEqual([
      [101, 7592, 2088, 102, 0],
      [101, 1037, 2172, 2936, 102],
      [101, 102, 0, 0, 0],
    ]);
    expect(truncated.attentionMask).toEqual([
      [1, 1, 1, 1, 0],
      [1, 1, 1, 1, 1],
      [1, 1, 0, 0, 0],
    ]);
    const whole = tokenizer.encodeBatch(texts, { maxLength: 5, truncation: false, padding: false });
    expect(whole.inputIds.map((ids) => ids.length)).toEqual([4, 10, 2]);
    expect(whole.attentionMask.map((mask) => mask.length)).toEqual([4, 10, 2]);
  });

  it('handles an empty batch', () => {
    expect(tokenizer.encodeBatch([])).toEqual({ inputIds: [], attentionMask: [] });
  });
});

describe('decode', () => {
  const tokenizer = fromTokenizerJson;

  // The expected strings are transformers 5.18's decode() of these ids (distilbert-base-uncased).
  it('joins word pieces and cleans up spaces before punctuation as transformers 5.18 does', () => {
    const ids = tokenizer.encode("Unaffable, isn't it? I'm sure.");
    expect(tokenizer.decode(ids)).toBe("[CLS] unaffable, isn ' t it? i ' m sure. [SEP]");
    expect(tokenizer.decode(ids, { skipSpecialTokens: true })).toBe("unaffable, isn ' t it? i ' m sure.");
    expect(tokenizer.decode(ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: true })).toBe(
      "unaffable, isn't it? i'm sure.",
    );
    expect(tokenizer.decode(ids, { skipSpecialTokens: true, decoderCleanup: false })).toBe(
      "unaffable , isn ' t it ? i ' m sure .",
    );
  });

  it('skips padding and [UNK] with skipSpecialTokens', () => {
    const { inputIds } = tokenizer.encodeBatch(['hello 😀', 'a b c d e f'], { padding: 'longest' });
    expect(tokenizer.decode(inputIds[0])).toBe('[CLS] hello [UNK] [SEP] [PAD] [PAD] [PAD] [PAD]');
    expect(tokenizer.decode(inputIds[0], { skipSpecialTokens: true })).toBe('hello');
  });
});

describe('normalizer, pre-tokenizer and WordPiece', () => {
  it('normalizes as BertNormalizer with lowercase', () => {
    const normalizer = new BertNormalizer();
    expect(normalizer.normalize('Ångström\tİSTANBUL\u0000\u200b\ufffd')).toBe('angstrom istanbul');
    expect(normalizer.normalize('北京 ok')).toBe(' 北  京  ok');
    // Lowercasing is per character: no final sigma.
    expect(normalizer.normalize('ΟΔΟΣ')).toBe('οδοσ');
    expect(new BertNormalizer({ lowercase: false }).normalize('Café')).toBe('Café');
    expect(new BertNormalizer({ lowercase: false, stripAccents: true }).normalize('Café')).toBe('Cafe');
  });

  it('splits on whitespace and isolates punctuation', () => {
    const preTokenizer = new BertPreTokenizer();
    expect(preTokenizer.preTokenize("  don't  $5+x¿«ok»  ")).toEqual([
      'don',
      "'",
      't',
      '$',
      '5',
      '+',
      'x',
      '¿',
      '«',
      'ok',
      '»',
    ]);
    expect(preTokenizer.preTokenize('a\u3000b€c')).toEqual(['a', 'b€c']);
  });

  it('splits greedily longest-first and gives [UNK] for long or unsplittable words', () => {
    const vocab = new Map(['[UNK]', 'un', 'una', '##ff', '##able', '##a'].map((token, id) => [token, id]));
    const wordPiece = new WordPiece(vocab, { maxInputCharsPerWord: 8 });
    expect(wordPiece.tokenize('unaffable')).toEqual([0]);
    expect(new WordPiece(vocab).tokenize('unaffable')).toEqual([2, 3, 4]);
    expect(new WordPiece(vocab).tokenize('unx')).toEqual([0]);
    expect(() => new WordPiece(new Map([['a', 0]]))).toThrow(/\[UNK\]/);
  });

  it('splits words with characters outside the BMP', () => {
    const vocab = new Map(['[UNK]', '😀', '##x', '##😀'].map((token, id) => [token, id]));
    expect(new WordPiece(vocab).tokenize('😀x😀')).toEqual([1, 2, 3]);
    expect(new WordPiece(vocab, { maxInputCharsPerWord: 3 }).tokenize('😀x😀')).toEqual([1, 2, 3]);
    expect(new WordPiece(vocab, { maxInputCharsPerWord: 2 }).tokenize('😀x😀')).toEqual([0]);
  });

  it('looks spans up in the vocabulary index', () => {
    const index = new VocabIndex(
      new Map([
        ['play', 7],
        ['##ing', 9],
      ]),
    );
    expect(index.find('replaying', 2, 6)).toBe(7);
    expect(index.find('replaying', 6, 9, '##')).toBe(9);
    expect(index.find('replaying', 6, 9)).toBe(-1);
    expect(index.find('replaying', 2, 5)).toBe(-1);
  });
});

describe('loading', () => {
  const missing = path.join(os.tmpdir(), 'torch-lora-no-such-tokenizer-folder');
  let tmp: string;

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'torch-lora-tokenizer-'));
  });

  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  function folderWith(name: string, files: Record<string, string>): string {
    const folder = path.join(tmp, name);
    fs.mkdirSync(folder);
    for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(folder, file), text);
    return folder;
  }

  it('AutoTokenizer returns a BertTokenizer', () => {
    const tokenizer = AutoTokenizer.fromPretrained(BASE_UNCASED);
    expect(tokenizer).toBeInstanceOf(BertTokenizer);
    expect(tokenizer.encode('Hello, world!')).toEqual([101, 7592, 1010, 2088, 999, 102]);
  });

  it('fromVocabFile honours do_lower_case', () => {
    const cased = BertTokenizer.fromVocabFile(path.join(BASE_UNCASED, 'vocab.txt'), { doLowerCase: false });
    expect(cased.tokenize('Hello hello')).toEqual(['[UNK]', 'hello']);
  });

  it('throws naming a missing folder', () => {
    expect(() => AutoTokenizer.fromPretrained(missing)).toThrow(missing);
    expect(() => BertTokenizer.fromPretrained(missing)).toThrow(/not found/);
  });

  it('throws naming a folder without tokenizer files', () => {
    const empty = folderWith('empty', { 'config.json': '{}' });
    expect(() => AutoTokenizer.fromPretrained(empty)).toThrow(`${empty} has neither tokenizer.json nor vocab.txt`);
  });

  it('throws naming the folder of an unsupported tokenizer', () => {
    const gpt2 = folderWith('gpt2', {
      'tokenizer.json': JSON.stringify({ model: { type: 'BPE', vocab: {} }, pre_tokenizer: { type: 'ByteLevel' } }),
    });
    expect(() => AutoTokenizer.fromPretrained(gpt2)).toThrow(`unsupported tokenizer type in ${gpt2}: model BPE`);
    const roberta = folderWith('roberta', { 'tokenizer_config.json': '{"tokenizer_class": "RobertaTokenizer"}' });
    expect(() => AutoTokenizer.fromPretrained(roberta)).toThrow(/RobertaTokenizer/);
  });
});
