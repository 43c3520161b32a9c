/**
 * The BertPreTokenizer of Hugging Face `tokenizers`: split on whitespace (dropped) and on punctuation (each
 * punctuation char becomes a word of its own).
 */

const WORD = 0;
const SPACE = 1;
const PUNCT = 2;
type CharKind = typeof WORD | typeof SPACE | typeof PUNCT;

import { isHfPunctuation } from './unicode-classes';

const WHITESPACE = /^\p{White_Space}$/u;

// Punctuation: ASCII symbols such as $ + < = > ^ ` | ~ (not Unicode punctuation, but BERT treats them as such) and
// Unicode punctuation as tokenizers' tables have it.
function classify(cp: number): CharKind {
  if (WHITESPACE.test(String.fromCodePoint(cp))) return SPACE;
  return isHfPunctuation(cp) ? PUNCT : WORD;
}

const ASCII_KINDS: CharKind[] = Array.from({ length: 128 }, (_, cp) => classify(cp));
const otherKinds = new Map<number, CharKind>();

function charKind(cp: number): CharKind {
  if (cp < 128) return ASCII_KINDS[cp];
  let kind = otherKinds.get(cp);
  if (kind === undefined) {
    kind = classify(cp);
    otherKinds.set(cp, kind);
  }
  return kind;
}

export class BertPreTokenizer {
  preTokenize(text: string): string[] {
    const words: string[] = [];
    this.forEachWord(text, (start, end) => {
      words.push(text.slice(start, end));
    });
    return words;
  }

  /**
   * Visits the words as [start, end) spans of `text`, in order, and stops early when `visit` returns false.
   * Spans rather than strings, so that a caller can look words up without allocating them.
   */
  forEachWord(text: string, visit: (start: number, end: number) => boolean | void): void {
    let wordStart = -1;
    for (let i = 0; i < text.length;) {
      const cp = text.codePointAt(i) as number;
      const width = cp > 0xffff ? 2 : 1;
      const kind = charKind(cp);
      if (kind === WORD) {
        if (wordStart < 0) wordStart = i;
      } else {
        if (wordStart >= 0 && visit(wordStart, i) === false) return;
        wordStart = -1;
        if (kind === PUNCT && visit(i, i + width) === false) return;
      }
      i += width;
    }
    if (wordStart >= 0) visit(wordStart, text.length);
  }
}
