// Reading a Hugging Face tokenizer folder: `tokenizer.json`, or `vocab.txt` + `tokenizer_config.json`, into the
// config BertTokenizer is built from; and finding that folder for a hub id, as the models' fromPretrained does.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { findCachedModelPath, hubCacheDir } from '../io/hub';
import type { BertNormalizerOptions } from './bert-normalizer';
import type { TokenizerJson } from './tokenizer-json';
import { validateTokenizerJson } from './tokenizer-json';
import type { BertTokenizerConfig, SpecialTokens, VocabFileOptions } from './tokenizer';

export interface TokenizerSourceOptions {
  /** Branch, tag or commit of a hub id (default 'main'). */
  revision?: string;
  /** Hub cache folder (default HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub). */
  cacheDir?: string;
}

/**
 * The folder to read: `pathOrId` itself when it is a folder (or not a hub id: the folder error says so), else the
 * snapshot of that id in the Hugging Face cache, the one DistilBertForSequenceClassification.fromPretrained(id)
 * resolves to. Reading stays synchronous, so an id must be in the cache already (the model's fromPretrained
 * downloads it).
 */
export function resolveTokenizerFolder(pathOrId: string, opts: TokenizerSourceOptions, caller: string): string {
  const found = findCachedModelPath(pathOrId, opts);
  if (found) return found;
  if (!path.isAbsolute(pathOrId) && !fs.existsSync(pathOrId) && /^[\w.-]+\/[\w.-]+$/.test(pathOrId)) {
    const cache = opts.cacheDir ?? hubCacheDir();
    throw new Error(
      `${caller}: ${pathOrId} is neither a folder nor a model in the Hugging Face cache at ${cache} (the model's fromPretrained downloads it)`,
    );
  }
  return pathOrId;
}

const BERT_TOKENIZER_CLASSES = new Set([
  'BertTokenizer',
  'BertTokenizerFast',
  'DistilBertTokenizer',
  'DistilBertTokenizerFast',
]);

/** The parts of a `tokenizer_config.json` this tokenizer reads; tokens may be strings or AddedToken objects. */
interface TokenizerConfigJson {
  tokenizer_class?: string;
  do_lower_case?: boolean;
  strip_accents?: boolean | null;
  tokenize_chinese_chars?: boolean;
  model_max_length?: number;
  clean_up_tokenization_spaces?: unknown;
  pad_token?: unknown;
  unk_token?: unknown;
  cls_token?: unknown;
  sep_token?: unknown;
  mask_token?: unknown;
}

/**
 * What a tokenizer folder holds, as BertTokenizer's constructor takes it, and the tokenizer.json it came from (errors
 * the constructor finds in it name that file); `caller` names the entry point in errors.
 */
export function readTokenizerFolder(dir: string, caller: string): { config: BertTokenizerConfig; jsonFile?: string } {
  const folder = path.resolve(dir);
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) {
    throw new Error(`${caller}: tokenizer folder not found: ${folder}`);
  }
  const config = readJsonIfExists<TokenizerConfigJson>(path.join(folder, 'tokenizer_config.json')) ?? {};
  const tokenizerClass = config.tokenizer_class;
  if (tokenizerClass !== undefined && !BERT_TOKENIZER_CLASSES.has(tokenizerClass)) {
    throw new Error(`${caller}: unsupported tokenizer_class ${tokenizerClass} in ${folder} (only BERT WordPiece)`);
  }
  const jsonFile = path.join(folder, 'tokenizer.json');
  const tokenizerJson = readJsonIfExists<unknown>(jsonFile);
  if (tokenizerJson !== undefined) {
    const valid = validateTokenizerJson(tokenizerJson, jsonFile);
    try {
      return { config: fromTokenizerJson(valid, config, folder, caller), jsonFile };
    } catch (error) {
      throw new Error(`${jsonFile}: ${(error as Error).message}`);
    }
  }
  const vocabFile = path.join(folder, 'vocab.txt');
  if (!fs.existsSync(vocabFile)) {
    throw new Error(`${caller}: ${folder} has neither tokenizer.json nor vocab.txt`);
  }
  return {
    config: vocabFileConfig(vocabFile, {
      doLowerCase: config.do_lower_case,
      stripAccents: config.strip_accents,
      tokenizeChineseChars: config.tokenize_chinese_chars,
      specialTokens: specialTokensFromConfig(config),
      modelMaxLength: modelMaxLengthFrom(config),
      cleanUpTokenizationSpaces: cleanUpFrom(config),
    }),
  };
}

function cleanUpFrom(config: TokenizerConfigJson): boolean | undefined {
  return typeof config.clean_up_tokenization_spaces === 'boolean' ? config.clean_up_tokenization_spaces : undefined;
}

function fromTokenizerJson(
  json: TokenizerJson,
  config: TokenizerConfigJson,
  folder: string,
  caller: string,
): BertTokenizerConfig {
  const { model } = json;
  const unsupported = (what: string) =>
    new Error(`${caller}: unsupported tokenizer type in ${folder}: ${what} (only BERT WordPiece)`);
  if (model?.type !== 'WordPiece') throw unsupported(`model ${model?.type}`);
  if (json.normalizer && json.normalizer.type !== 'BertNormalizer')
    throw unsupported(`normalizer ${json.normalizer.type}`);
  if (json.pre_tokenizer?.type !== 'BertPreTokenizer') throw unsupported(`pre_tokenizer ${json.pre_tokenizer?.type}`);

  return {
    vocab: new Map(Object.entries(model.vocab)),
    normalizer: normalizerOptionsFrom(json.normalizer ?? null),
    continuingSubwordPrefix: model.continuing_subword_prefix,
    maxInputCharsPerWord: model.max_input_chars_per_word,
    specialTokens: {
      ...specialTokensFromConfig(config),
      ...specialTokensFromPostProcessor(json.post_processor ?? null),
      ...(json.padding?.pad_token !== undefined && { pad: json.padding.pad_token }),
      ...(model.unk_token !== undefined && { unk: model.unk_token }),
    },
    addedTokens: (json.added_tokens ?? []).map((token) => ({
      id: token.id,
      content: token.content,
      special: token.special ?? false,
      normalized: token.normalized ?? !token.special,
    })),
    modelMaxLength: modelMaxLengthFrom(config),
    cleanUpTokenizationSpaces: cleanUpFrom(config),
    decoderCleanup:
      json.decoder?.type === 'WordPiece' && typeof json.decoder.cleanup === 'boolean'
        ? json.decoder.cleanup
        : undefined,
  };
}

function normalizerOptionsFrom(normalizer: TokenizerJson['normalizer']): BertNormalizerOptions {
  if (normalizer === null || normalizer === undefined) {
    return { cleanText: false, handleChineseChars: false, stripAccents: false, lowercase: false };
  }
  return {
    cleanText: normalizer.clean_text,
    handleChineseChars: normalizer.handle_chinese_chars,
    stripAccents: normalizer.strip_accents,
    lowercase: normalizer.lowercase,
  };
}

function specialTokensFromPostProcessor(processor: TokenizerJson['post_processor']): Partial<SpecialTokens> {
  if (processor?.type === 'BertProcessing' && processor.cls && processor.sep) {
    return { cls: processor.cls[0], sep: processor.sep[0] };
  }
  if (processor?.type === 'TemplateProcessing' && processor.single) {
    // The single-sequence template reads [CLS] $A [SEP].
    const specials = processor.single.flatMap((piece) => (piece.SpecialToken ? [piece.SpecialToken.id] : []));
    if (specials.length === 2) return { cls: specials[0], sep: specials[1] };
  }
  return {};
}

function specialTokensFromConfig(config: TokenizerConfigJson): Partial<SpecialTokens> {
  const entries: Array<[keyof SpecialTokens, unknown]> = [
    ['pad', config.pad_token],
    ['unk', config.unk_token],
    ['cls', config.cls_token],
    ['sep', config.sep_token],
    ['mask', config.mask_token],
  ];
  const tokens: Partial<SpecialTokens> = {};
  for (const [name, value] of entries) {
    const content = tokenContent(value);
    if (content !== undefined) tokens[name] = content;
  }
  return tokens;
}

function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

/** transformers writes a huge placeholder (1e30) when a model has no limit; keep the default then. */
function modelMaxLengthFrom(config: TokenizerConfigJson): number | undefined {
  const length = config.model_max_length;
  return typeof length === 'number' && Number.isSafeInteger(length) && length > 0 ? length : undefined;
}

/** BertTokenizer.fromVocabFile's config: a vocab.txt (one token a line, ids in line order) and the options. */
export function vocabFileConfig(file: string, options: VocabFileOptions): BertTokenizerConfig {
  return {
    vocab: readVocabFile(file),
    normalizer: {
      lowercase: options.doLowerCase ?? true,
      stripAccents: options.stripAccents,
      handleChineseChars: options.tokenizeChineseChars ?? true,
    },
    specialTokens: options.specialTokens,
    modelMaxLength: options.modelMaxLength,
    cleanUpTokenizationSpaces: options.cleanUpTokenizationSpaces,
  };
}

function readVocabFile(file: string): Map<string, number> {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const vocab = new Map<string, number>();
  lines.forEach((line, id) => vocab.set(line.endsWith('\r') ? line.slice(0, -1) : line, id));
  return vocab;
}

function readJsonIfExists<T>(file: string): T | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as Error).message}`);
  }
}
