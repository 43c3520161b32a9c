export { BertNormalizer, cleanText, lowercase, padChineseChars, stripAccents } from './bert-normalizer';
export type { BertNormalizerOptions } from './bert-normalizer';
export { BertPreTokenizer } from './bert-pretokenizer';
export { VocabIndex, WordPiece } from './wordpiece';
export type { WordPieceOptions } from './wordpiece';
export { AutoTokenizer, BertTokenizer } from './tokenizer';
export type {
  AddedToken,
  BatchEncodeOptions,
  BatchEncoding,
  BertTokenizerConfig,
  DecodeOptions,
  EncodeOptions,
  SpecialTokens,
  TokenizerSourceOptions,
  VocabFileOptions,
} from './tokenizer';
