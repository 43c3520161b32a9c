/**
 * The BertNormalizer of Hugging Face `tokenizers`: clean text, pad CJK ideographs with spaces, strip accents,
 * lowercase — in that order.
 */

export interface BertNormalizerOptions {
  cleanText?: boolean;
  handleChineseChars?: boolean;
  /** When null or undefined, follows `lowercase` (as in Hugging Face). */
  stripAccents?: boolean | null;
  lowercase?: boolean;
}

import { filterCodePoints, isHfControl, isHfMark } from './unicode-classes';

const WHITESPACE_CHARS = /\p{White_Space}/gu;
// The CJK Unified Ideographs blocks as `tokenizers` defines them (Hangul, kana etc. are not among them).
const CJK_IDEOGRAPHS =
  /[\u{4E00}-\u{9FFF}\u{3400}-\u{4DBF}\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B920}-\u{2CEAF}\u{F900}-\u{FAFF}\u{2F800}-\u{2FA1F}]/gu;
const NOT_PLAIN_ASCII = /[^\x20-\x7E\t\n\r]/;
const ASCII_WHITESPACE_CONTROLS = /[\t\n\r]/g;
const CAPITAL_SIGMA = '\u03A3';

export function cleanText(text: string): string {
  return filterCodePoints(text, (cp) => !isHfControl(cp)).replace(WHITESPACE_CHARS, ' ');
}

export function padChineseChars(text: string): string {
  return text.replace(CJK_IDEOGRAPHS, ' $& ');
}

export function stripAccents(text: string): string {
  return filterCodePoints(text.normalize('NFD'), (cp) => !isHfMark(cp));
}

/**
 * Lowercases code point by code point, as `tokenizers` does. String.prototype.toLowerCase differs from that
 * only for the context-dependent final sigma (Σ -> ς at the end of a word), so Σ is mapped to σ on its own.
 */
export function lowercase(text: string): string {
  if (!text.includes(CAPITAL_SIGMA)) return text.toLowerCase();
  return text
    .split(CAPITAL_SIGMA)
    .map((part) => part.toLowerCase())
    .join('\u03C3');
}

export class BertNormalizer {
  readonly cleanText: boolean;
  readonly handleChineseChars: boolean;
  readonly stripAccents: boolean;
  readonly lowercase: boolean;

  constructor(options: BertNormalizerOptions = {}) {
    this.cleanText = options.cleanText ?? true;
    this.handleChineseChars = options.handleChineseChars ?? true;
    this.lowercase = options.lowercase ?? true;
    this.stripAccents = options.stripAccents ?? this.lowercase;
  }

  normalize(text: string): string {
    if (!NOT_PLAIN_ASCII.test(text)) return this.normalizePlainAscii(text);
    let out = text;
    if (this.cleanText) out = cleanText(out);
    if (this.handleChineseChars) out = padChineseChars(out);
    if (this.stripAccents) out = stripAccents(out);
    if (this.lowercase) out = lowercase(out);
    return out;
  }

  /** Printable ASCII plus \t \n \r: no control chars, ideographs or accents, so only two steps can apply. */
  private normalizePlainAscii(text: string): string {
    let out = text;
    if (this.cleanText) out = out.replace(ASCII_WHITESPACE_CONTROLS, ' ');
    if (this.lowercase) out = out.toLowerCase();
    return out;
  }
}
