/**
 * A Hugging Face compatible BERT WordPiece tokenizer (as used by bert-base-uncased and distilbert-base-uncased).
 * Reading a model folder's `tokenizer.json` or `vocab.txt` + `tokenizer_config.json` is hf-folder.ts's job.
 */
import type { BertNormalizerOptions } from './bert-normalizer';
import { BertNormalizer } from './bert-normalizer';
import { BertPreTokenizer } from './bert-pretokenizer';
import { WordPiece } from './wordpiece';
import { readTokenizerFolder, resolveTokenizerFolder, vocabFileConfig } from './hf-folder';
import type { TokenizerSourceOptions } from './hf-folder';

export type { TokenizerSourceOptions } from './hf-folder';

export interface SpecialTokens {
  pad: string;
  unk: string;
  cls: string;
  sep: string;
  mask: string;
}

/** A token matched as a whole in the input, before (normalized: false) or after (true) normalization. */
export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  normalized: boolean;
}

export interface BertTokenizerConfig {
  vocab: ReadonlyMap<string, number>;
  normalizer?: BertNormalizerOptions;
  continuingSubwordPrefix?: string;
  maxInputCharsPerWord?: number;
  specialTokens?: Partial<SpecialTokens>;
  /** Defaults to the special tokens, matched in the raw text. */
  addedTokens?: AddedToken[];
  modelMaxLength?: number;
  /** decode()'s default for cleanUpTokenizationSpaces (false). */
  cleanUpTokenizationSpaces?: boolean;
  /** decode()'s default for decoderCleanup (true). */
  decoderCleanup?: boolean;
}

export interface VocabFileOptions {
  doLowerCase?: boolean;
  stripAccents?: boolean | null;
  tokenizeChineseChars?: boolean;
  specialTokens?: Partial<SpecialTokens>;
  modelMaxLength?: number;
  cleanUpTokenizationSpaces?: boolean;
}

export interface EncodeOptions {
  maxLength?: number;
  /** Defaults to true when maxLength is given. Without maxLength, truncates to modelMaxLength. */
  truncation?: boolean;
  addSpecialTokens?: boolean;
}

export interface BatchEncodeOptions {
  /** Defaults to modelMaxLength. */
  maxLength?: number;
  truncation?: boolean;
  /** Defaults to 'longest'. */
  padding?: 'longest' | 'max_length' | false;
  addSpecialTokens?: boolean;
}

export interface BatchEncoding {
  inputIds: number[][];
  attentionMask: number[][];
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
  /**
   * transformers' clean_up_tokenization over the whole text (also joins contractions: "isn ' t" -> "isn't").
   * Default: tokenizer_config.json's clean_up_tokenization_spaces, else false, as in transformers 5.
   */
  cleanUpTokenizationSpaces?: boolean;
  /**
   * The WordPiece decoder's own cleanup, token by token (" ." -> "."; " ," " ?" " !" likewise). Default: the
   * tokenizer.json decoder's `cleanup`, else true. Off with cleanUpTokenizationSpaces off gives the raw join.
   */
  decoderCleanup?: boolean;
}

const DEFAULT_SPECIAL_TOKENS: SpecialTokens = {
  pad: '[PAD]',
  unk: '[UNK]',
  cls: '[CLS]',
  sep: '[SEP]',
  mask: '[MASK]',
};
const DEFAULT_MODEL_MAX_LENGTH = 512;
const WORD_CACHE_LIMIT = 1 << 18;

/** Text still to tokenize, or the id of an added token found in it. */
type Segment = string | number;

class AddedTokenMatcher {
  private readonly ids: ReadonlyMap<string, number>;
  private readonly pattern: RegExp;

  constructor(tokens: AddedToken[], contentOf: (token: AddedToken) => string) {
    this.ids = new Map(tokens.map((token) => [contentOf(token), token.id]));
    // Longest first, so that the regex finds the leftmost-longest match as `tokenizers` does.
    const alternatives = [...this.ids.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
    this.pattern = new RegExp(alternatives.join('|'), 'g');
  }

  split(text: string): Segment[] {
    const segments: Segment[] = [];
    let last = 0;
    this.pattern.lastIndex = 0;
    for (let match = this.pattern.exec(text); match !== null; match = this.pattern.exec(text)) {
      if (match.index > last) segments.push(text.slice(last, match.index));
      segments.push(this.ids.get(match[0]) as number);
      last = match.index + match[0].length;
    }
    if (last < text.length) segments.push(text.slice(last));
    return segments;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function matcherFor(tokens: AddedToken[], contentOf: (token: AddedToken) => string): AddedTokenMatcher | undefined {
  const matchable = tokens.filter((token) => contentOf(token) !== '');
  return matchable.length > 0 ? new AddedTokenMatcher(matchable, contentOf) : undefined;
}

function splitOn(text: string, matcher: AddedTokenMatcher | undefined): Segment[] {
  return matcher ? matcher.split(text) : [text];
}

function padTo(ids: number[], length: number, padId: number): { ids: number[]; mask: number[] } {
  const padCount = Math.max(0, length - ids.length);
  return {
    ids: padCount > 0 ? ids.concat(new Array<number>(padCount).fill(padId)) : ids,
    mask: new Array<number>(ids.length).fill(1).concat(new Array<number>(padCount).fill(0)),
  };
}

// transformers' clean_up_tokenization; tokenizers' WordPiece decoder cleanup has one rule more (" do not" -> " don't").
const CLEAN_UP: [string, string][] = [
  [' .', '.'],
  [' ?', '?'],
  [' !', '!'],
  [' ,', ','],
  [" ' ", "'"],
  [" n't", "n't"],
  [" 'm", "'m"],
  [" 's", "'s"],
  [" 've", "'ve"],
  [" 're", "'re"],
];
const CLEAN_UP_DECODER: [string, string][] = [...CLEAN_UP.slice(0, 7), [' do not', " don't"], ...CLEAN_UP.slice(7)];
const replaceEach = (text: string, pairs: [string, string][]) =>
  pairs.reduce((t, [from, to]) => t.replaceAll(from, to), text);

/** tokenizers' WordPiece decoder cleanup, applied to each token with its leading space. */
function cleanUpToken(token: string): string {
  return replaceEach(token, CLEAN_UP_DECODER);
}

/** transformers' clean_up_tokenization. */
function cleanUpTokenization(text: string): string {
  return replaceEach(text, CLEAN_UP);
}

export class BertTokenizer {
  readonly normalizer: BertNormalizer;
  readonly preTokenizer = new BertPreTokenizer();
  readonly model: WordPiece;
  readonly specialTokens: SpecialTokens;
  readonly modelMaxLength: number;
  readonly padTokenId: number;
  readonly unkTokenId: number;
  readonly clsTokenId: number;
  readonly sepTokenId: number;
  readonly maskTokenId: number;
  readonly cleanUpTokenizationSpaces: boolean;
  readonly decoderCleanup: boolean;

  private readonly vocab: ReadonlyMap<string, number>;
  private readonly idToToken: string[] = [];
  private readonly addedTokenIds: ReadonlyMap<string, number>;
  private readonly specialIds: ReadonlySet<number>;
  private readonly rawTokenMatcher: AddedTokenMatcher | undefined;
  private readonly normalizedTokenMatcher: AddedTokenMatcher | undefined;
  private readonly wordCache = new Map<string, number[]>();

  constructor(config: BertTokenizerConfig) {
    this.vocab = config.vocab;
    this.specialTokens = { ...DEFAULT_SPECIAL_TOKENS, ...config.specialTokens };
    this.normalizer = new BertNormalizer(config.normalizer);
    this.model = new WordPiece(this.vocab, {
      unkToken: this.specialTokens.unk,
      continuingSubwordPrefix: config.continuingSubwordPrefix,
      maxInputCharsPerWord: config.maxInputCharsPerWord,
    });
    this.modelMaxLength = config.modelMaxLength ?? DEFAULT_MODEL_MAX_LENGTH;
    this.cleanUpTokenizationSpaces = config.cleanUpTokenizationSpaces ?? false;
    this.decoderCleanup = config.decoderCleanup ?? true;
    this.padTokenId = this.requireId(this.specialTokens.pad);
    this.unkTokenId = this.requireId(this.specialTokens.unk);
    this.clsTokenId = this.requireId(this.specialTokens.cls);
    this.sepTokenId = this.requireId(this.specialTokens.sep);
    this.maskTokenId = this.requireId(this.specialTokens.mask);

    const addedTokens = config.addedTokens ?? this.specialAddedTokens();
    for (const [token, id] of this.vocab) this.idToToken[id] = token;
    for (const token of addedTokens) this.idToToken[token.id] = token.content;
    this.addedTokenIds = new Map(addedTokens.map((token) => [token.content, token.id]));
    this.specialIds = new Set([
      ...Object.values(this.specialTokens).map((token) => this.requireId(token)),
      ...addedTokens.filter((token) => token.special).map((token) => token.id),
    ]);
    this.rawTokenMatcher = matcherFor(
      addedTokens.filter((token) => !token.normalized),
      (token) => token.content,
    );
    this.normalizedTokenMatcher = matcherFor(
      addedTokens.filter((token) => token.normalized),
      (token) => this.normalizer.normalize(token.content),
    );
  }

  /** Loads `tokenizer.json` from a model folder, or else `vocab.txt` (+ `tokenizer_config.json`). */
  /** From a model folder, or a hub id already in the Hugging Face cache (as the model's fromPretrained left it). */
  static fromPretrained(pathOrId: string, opts: TokenizerSourceOptions = {}): BertTokenizer {
    return fromFolder(resolveTokenizerFolder(pathOrId, opts, 'BertTokenizer'), 'BertTokenizer');
  }

  static fromVocabFile(file: string, options: VocabFileOptions = {}): BertTokenizer {
    return new BertTokenizer(vocabFileConfig(file, options));
  }

  /** The size of the WordPiece vocabulary (added tokens with new ids not counted, as in transformers). */
  get vocabSize(): number {
    return this.vocab.size;
  }

  tokenize(text: string): string[] {
    return this.convertIdsToTokens(this.textToIds(text));
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const addSpecialTokens = options.addSpecialTokens ?? true;
    const truncation = options.truncation ?? options.maxLength !== undefined;
    const maxLength = options.maxLength ?? this.modelMaxLength;
    const ids = this.textToIds(text, truncation ? this.contentBudget(maxLength, addSpecialTokens) : Infinity);
    return addSpecialTokens ? [this.clsTokenId, ...ids, this.sepTokenId] : ids;
  }

  encodeBatch(texts: readonly string[], options: BatchEncodeOptions = {}): BatchEncoding {
    const maxLength = options.maxLength ?? this.modelMaxLength;
    const padding = options.padding ?? 'longest';
    const encoded = texts.map((text) =>
      this.encode(text, {
        maxLength,
        truncation: options.truncation ?? true,
        addSpecialTokens: options.addSpecialTokens,
      }),
    );
    const width = padding === 'max_length' ? maxLength : padding === 'longest' ? longest(encoded) : 0;
    const padded = encoded.map((ids) => padTo(ids, width, this.padTokenId));
    return { inputIds: padded.map((row) => row.ids), attentionMask: padded.map((row) => row.mask) };
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const kept = options.skipSpecialTokens ? ids.filter((id) => !this.specialIds.has(id)) : ids;
    const prefix = this.model.continuingSubwordPrefix;
    const perToken = options.decoderCleanup ?? this.decoderCleanup;
    const text = this.convertIdsToTokens(kept)
      .map((token, i) => (i === 0 ? token : token.startsWith(prefix) ? token.slice(prefix.length) : ` ${token}`))
      .map((token) => (perToken ? cleanUpToken(token) : token))
      .join('');
    return (options.cleanUpTokenizationSpaces ?? this.cleanUpTokenizationSpaces) ? cleanUpTokenization(text) : text;
  }

  /** Unknown tokens map to the [UNK] id. */
  convertTokensToIds(tokens: readonly string[]): number[] {
    return tokens.map((token) => this.vocab.get(token) ?? this.addedTokenIds.get(token) ?? this.unkTokenId);
  }

  convertIdsToTokens(ids: readonly number[]): string[] {
    return ids.map((id) => {
      const token = this.idToToken[id];
      if (token === undefined) throw new RangeError(`BertTokenizer: no token has id ${id}`);
      return token;
    });
  }

  /**
   * Stops soon after `limit` ids: tokenization runs left to right, so the first ids of a text do not depend on
   * what follows them, and truncated encodes need not tokenize the rest.
   */
  private textToIds(text: string, limit = Infinity): number[] {
    const ids: number[] = [];
    for (const segment of splitOn(text, this.rawTokenMatcher)) {
      if (ids.length >= limit) break;
      if (typeof segment === 'number') ids.push(segment);
      else this.pushNormalizedTextIds(this.normalizer.normalize(segment), ids, limit);
    }
    return ids.length > limit ? ids.slice(0, limit) : ids;
  }

  private pushNormalizedTextIds(normalized: string, ids: number[], limit: number): void {
    for (const segment of splitOn(normalized, this.normalizedTokenMatcher)) {
      if (ids.length >= limit) return;
      if (typeof segment === 'number') {
        ids.push(segment);
        continue;
      }
      this.preTokenizer.forEachWord(segment, (start, end) => {
        const id = this.model.wholeWordId(segment, start, end);
        if (id >= 0) ids.push(id);
        else for (const pieceId of this.wordPieceIds(segment.slice(start, end))) ids.push(pieceId);
        return ids.length < limit;
      });
    }
  }

  /** Words that need several pieces cost a search each, and natural text repeats them: hence the cache. */
  private wordPieceIds(word: string): number[] {
    let ids = this.wordCache.get(word);
    if (ids === undefined) {
      ids = this.model.tokenize(word);
      if (this.wordCache.size >= WORD_CACHE_LIMIT) this.wordCache.clear();
      this.wordCache.set(word, ids);
    }
    return ids;
  }

  private contentBudget(maxLength: number, addSpecialTokens: boolean): number {
    const specialCount = addSpecialTokens ? 2 : 0;
    if (!Number.isInteger(maxLength) || maxLength < specialCount) {
      throw new RangeError(
        `BertTokenizer: maxLength ${maxLength} leaves no room for the ${specialCount} special tokens`,
      );
    }
    return maxLength - specialCount;
  }

  private requireId(token: string): number {
    const id = this.vocab.get(token);
    if (id === undefined) throw new Error(`BertTokenizer: special token ${token} is not in the vocabulary`);
    return id;
  }

  private specialAddedTokens(): AddedToken[] {
    return Object.values(this.specialTokens).map((content) => ({
      id: this.requireId(content),
      content,
      special: true,
      normalized: false,
    }));
  }
}

function longest(rows: number[][]): number {
  return rows.reduce((max, row) => Math.max(max, row.length), 0);
}

/** The Hugging Face entry point: only BERT WordPiece tokenizers are supported. */
export class AutoTokenizer {
  /** From a model folder, or a hub id already in the Hugging Face cache (as the model's fromPretrained left it). */
  static fromPretrained(pathOrId: string, opts: TokenizerSourceOptions = {}): BertTokenizer {
    return fromFolder(resolveTokenizerFolder(pathOrId, opts, 'AutoTokenizer'), 'AutoTokenizer');
  }
}

function fromFolder(folder: string, caller: string): BertTokenizer {
  const { config, jsonFile } = readTokenizerFolder(folder, caller);
  try {
    return new BertTokenizer(config);
  } catch (error) {
    if (jsonFile === undefined) throw error;
    throw new Error(`${jsonFile}: ${(error as Error).message}`);
  }
}
