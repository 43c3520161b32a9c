/**
 * WordPiece: greedy longest-match-first split of one word into vocabulary pieces, every piece after the first
 * carrying the continuation prefix ("##"). A word that cannot be split completely becomes the unknown token.
 */

export interface WordPieceOptions {
  unkToken?: string;
  continuingSubwordPrefix?: string;
  maxInputCharsPerWord?: number;
}

const NOT_FOUND = -1;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function codePointCount(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/** FNV-1a over the UTF-16 code units of text[start, end), continuing from `hash`. */
function hashSpan(text: string, start: number, end: number, hash: number): number {
  let h = hash;
  for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  return h >>> 0;
}

function sameChars(token: string, offset: number, text: string, start: number, end: number): boolean {
  for (let i = start, j = offset; i < end; i++, j++) {
    if (text.charCodeAt(i) !== token.charCodeAt(j)) return false;
  }
  return true;
}

/**
 * The vocabulary as an open-addressing hash table that looks up a span of a text in place. Tokenizing looks up
 * millions of spans; with a Map, slicing each into a new string made encoding IMDb reviews 1.4x slower.
 */
export class VocabIndex {
  private readonly tokens: Array<string | undefined>;
  private readonly ids: Int32Array;
  /** Each slot's full hash: a probe compares characters only when the whole hash agrees. */
  private readonly hashes: Uint32Array;
  private readonly mask: number;
  /** The longest token, in UTF-16 units: no piece can be longer, which bounds the search per position. */
  readonly maxTokenLength: number;

  constructor(vocab: ReadonlyMap<string, number>) {
    const capacity = 2 ** Math.ceil(Math.log2(2 * vocab.size + 2)); // at most half full
    this.tokens = new Array<string | undefined>(capacity);
    this.ids = new Int32Array(capacity);
    this.hashes = new Uint32Array(capacity);
    this.mask = capacity - 1;
    let longest = 0;
    for (const [token, id] of vocab) {
      const hash = hashSpan(token, 0, token.length, FNV_OFFSET);
      let slot = hash & this.mask;
      while (this.tokens[slot] !== undefined) slot = (slot + 1) & this.mask;
      this.tokens[slot] = token;
      this.ids[slot] = id;
      this.hashes[slot] = hash;
      longest = Math.max(longest, token.length);
    }
    this.maxTokenLength = longest;
  }

  /** The id of prefix + text[start, end), or -1 when it is not in the vocabulary. */
  find(text: string, start: number, end: number, prefix = ''): number {
    if (prefix.length + end - start > this.maxTokenLength) return NOT_FOUND;
    return this.findHashed(
      hashSpan(text, start, end, hashSpan(prefix, 0, prefix.length, FNV_OFFSET)),
      text,
      start,
      end,
      prefix,
    );
  }

  /**
   * The longest prefix + text[start, end') in the vocabulary with end' <= end, or undefined. The hashes of every
   * candidate come from one pass over at most maxTokenLength characters, so a position costs O(longest token)
   * whatever the word's length (issue 14 item 8: shrinking one character at a time and hashing each candidate anew
   * was cubic, 11.8 s for a 5,000-character word).
   */
  longestAt(text: string, start: number, end: number, prefix: string): { id: number; end: number } | undefined {
    const stop = Math.min(end, start + this.maxTokenLength - prefix.length);
    if (stop <= start) return undefined;
    const hashes = new Uint32Array(stop - start);
    let h = hashSpan(prefix, 0, prefix.length, FNV_OFFSET);
    for (let i = start; i < stop; i++) {
      h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME) >>> 0;
      hashes[i - start] = h;
    }
    for (let e = stop; e > start; e--) {
      const id = this.findHashed(hashes[e - start - 1], text, start, e, prefix);
      if (id !== NOT_FOUND) return { id, end: e };
    }
    return undefined;
  }

  private findHashed(hash: number, text: string, start: number, end: number, prefix: string): number {
    const length = prefix.length + end - start;
    for (let slot = hash & this.mask; ; slot = (slot + 1) & this.mask) {
      const token = this.tokens[slot];
      if (token === undefined) return NOT_FOUND;
      if (
        this.hashes[slot] === hash &&
        token.length === length &&
        token.startsWith(prefix) &&
        sameChars(token, prefix.length, text, start, end)
      ) {
        return this.ids[slot];
      }
    }
  }
}

export class WordPiece {
  readonly unkToken: string;
  readonly unkTokenId: number;
  readonly continuingSubwordPrefix: string;
  readonly maxInputCharsPerWord: number;
  private readonly index: VocabIndex;

  constructor(vocab: ReadonlyMap<string, number>, options: WordPieceOptions = {}) {
    this.unkToken = options.unkToken ?? '[UNK]';
    this.continuingSubwordPrefix = options.continuingSubwordPrefix ?? '##';
    this.maxInputCharsPerWord = options.maxInputCharsPerWord ?? 100;
    const unkTokenId = vocab.get(this.unkToken);
    if (unkTokenId === undefined) throw new Error(`WordPiece: unknown token ${this.unkToken} is not in the vocabulary`);
    this.unkTokenId = unkTokenId;
    this.index = new VocabIndex(vocab);
  }

  /**
   * The id of the word text[start, end) when the vocabulary holds it whole, which is then all WordPiece would
   * make of it; -1 otherwise. The fast path for most words of natural text.
   */
  wholeWordId(text: string, start: number, end: number): number {
    return end - start <= this.maxInputCharsPerWord ? this.index.find(text, start, end) : NOT_FOUND;
  }

  /** The ids of the pieces of one word (a single [UNK] id when it cannot be split). */
  tokenize(word: string): number[] {
    if (word.length > this.maxInputCharsPerWord && codePointCount(word) > this.maxInputCharsPerWord) {
      return [this.unkTokenId];
    }
    const ids: number[] = [];
    for (let start = 0; start < word.length;) {
      const match = this.longestPieceAt(word, start);
      if (match === undefined) return [this.unkTokenId];
      ids.push(match.id);
      start = match.end;
    }
    return ids;
  }

  /**
   * Shrinks the candidate one UTF-16 unit at a time: a candidate cut inside a surrogate pair cannot be in a
   * vocabulary of valid text, so this matches the code point steps of the reference.
   */
  private longestPieceAt(word: string, start: number): { id: number; end: number } | undefined {
    return this.index.longestAt(word, start, word.length, start > 0 ? this.continuingSubwordPrefix : '');
  }
}
