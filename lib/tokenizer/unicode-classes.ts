// Character classes exactly as Hugging Face tokenizers' BERT normalizer and pre-tokenizer see them, from the tables
// measured on the library itself (unicode-tables.ts): JavaScript's \p{C} and \p{P} follow a newer Unicode, which
// deletes unassigned code points such as U+0378 (tokenizers keeps them, as [UNK]) and splits U+2E45 as punctuation.
import { CONTROL_RANGES, MARK_RANGES, PUNCTUATION_RANGES } from './unicode-tables';

/** Whether cp lies in one of the sorted [first, last] ranges, flattened. */
function inRanges(ranges: readonly number[], cp: number): boolean {
  let lo = 0;
  let hi = ranges.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < ranges[2 * mid]) hi = mid - 1;
    else if (cp > ranges[2 * mid + 1]) lo = mid + 1;
    else return true;
  }
  return false;
}

/**
 * Deleted by BertNormalizer's clean_text (controls, format characters, private use, U+0000, U+FFFD). Lone
 * surrogates, which a Rust string cannot hold and so are not in the measured tables, count as controls (category Cs).
 */
export const isHfControl = (cp: number): boolean => (cp >= 0xd800 && cp <= 0xdfff) || inRanges(CONTROL_RANGES, cp);
/** Deleted by BertNormalizer's strip_accents after NFD (non-spacing marks). */
export const isHfMark = (cp: number): boolean => inRanges(MARK_RANGES, cp);
/** Split off by BertPreTokenizer (ASCII symbols and Unicode punctuation, as tokenizers' tables have it). */
export const isHfPunctuation = (cp: number): boolean => inRanges(PUNCTUATION_RANGES, cp);

/** The code points of text for which keep(cp) holds, as a string. */
export function filterCodePoints(text: string, keep: (cp: number) => boolean): string {
  let out = '';
  let runStart = 0;
  for (let i = 0; i < text.length;) {
    const cp = text.codePointAt(i)!;
    const width = cp > 0xffff ? 2 : 1;
    if (!keep(cp)) {
      out += text.slice(runStart, i);
      runStart = i + width;
    }
    i += width;
  }
  return runStart === 0 ? text : out + text.slice(runStart);
}
