// Checks the parts of a tokenizer.json that BertTokenizer reads, so that a broken or hostile file gets an error that
// names the file and the field (issue 14 item 16: an id "x" used to encode silently as [PAD], a null file crashed).

/** Ids are array indices here (id -> token); tokenizers itself stores them as u32. */
export const MAX_TOKEN_ID = 2 ** 31 - 1;

export interface TokenizerJson {
  added_tokens?: Array<{ id: number; content: string; special?: boolean; normalized?: boolean }>;
  normalizer?: {
    type: string;
    clean_text?: boolean;
    handle_chinese_chars?: boolean;
    strip_accents?: boolean | null;
    lowercase?: boolean;
  } | null;
  pre_tokenizer?: { type: string } | null;
  post_processor?: {
    type: string;
    cls?: [string, number];
    sep?: [string, number];
    single?: Array<{ SpecialToken?: { id: string } }>;
  } | null;
  padding?: { pad_token?: string } | null;
  decoder?: { type?: string; cleanup?: boolean } | null;
  model: {
    type?: string;
    vocab: Record<string, number>;
    unk_token?: string;
    continuing_subword_prefix?: string;
    max_input_chars_per_word?: number;
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isId = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_TOKEN_ID;

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

export function validateTokenizerJson(raw: unknown, file: string): TokenizerJson {
  const fail = (field: string, want: string, got: unknown): never => {
    throw new Error(`${file}: ${field} must be ${want}, got ${show(got)}`);
  };
  if (!isObject(raw)) fail('the file', 'a JSON object', raw);
  const json = raw as Record<string, unknown>;
  const model = json.model;
  if (!isObject(model)) fail('model', 'an object', model);
  const m = model as Record<string, unknown>;
  if (!isObject(m.vocab)) fail('model.vocab', 'an object of token -> id', m.vocab);
  for (const [token, id] of Object.entries(m.vocab as object)) {
    if (!isId(id)) fail(`model.vocab[${show(token)}]`, `an integer id in 0..${MAX_TOKEN_ID}`, id);
  }
  for (const field of ['unk_token', 'continuing_subword_prefix'] as const) {
    if (m[field] !== undefined && typeof m[field] !== 'string') fail(`model.${field}`, 'a string', m[field]);
  }
  const maxChars = m.max_input_chars_per_word;
  if (maxChars !== undefined && maxChars !== null && !(Number.isInteger(maxChars) && (maxChars as number) >= 0)) {
    fail('model.max_input_chars_per_word', 'a non-negative integer', maxChars);
  }
  if (json.added_tokens !== undefined && json.added_tokens !== null) {
    if (!Array.isArray(json.added_tokens)) fail('added_tokens', 'a list', json.added_tokens);
    (json.added_tokens as unknown[]).forEach((t, i) => {
      if (!isObject(t)) fail(`added_tokens[${i}]`, 'an object', t);
      const token = t as Record<string, unknown>;
      if (!isId(token.id)) fail(`added_tokens[${i}].id`, `an integer id in 0..${MAX_TOKEN_ID}`, token.id);
      if (typeof token.content !== 'string' || token.content === '')
        fail(`added_tokens[${i}].content`, 'a non-empty string', token.content);
      for (const flag of ['special', 'normalized'] as const) {
        if (token[flag] !== undefined && typeof token[flag] !== 'boolean')
          fail(`added_tokens[${i}].${flag}`, 'true or false', token[flag]);
      }
    });
  }
  for (const part of ['normalizer', 'pre_tokenizer', 'post_processor', 'padding', 'decoder'] as const) {
    if (json[part] !== undefined && json[part] !== null && !isObject(json[part]))
      fail(part, 'an object or null', json[part]);
  }
  const normalizer = json.normalizer as Record<string, unknown> | null | undefined;
  if (normalizer) {
    for (const flag of ['clean_text', 'handle_chinese_chars', 'lowercase'] as const) {
      if (normalizer[flag] !== undefined && typeof normalizer[flag] !== 'boolean')
        fail(`normalizer.${flag}`, 'true or false', normalizer[flag]);
    }
    const sa = normalizer.strip_accents;
    if (sa !== undefined && sa !== null && typeof sa !== 'boolean')
      fail('normalizer.strip_accents', 'true, false or null', sa);
  }
  const padding = json.padding as Record<string, unknown> | null | undefined;
  if (padding && padding.pad_token !== undefined && typeof padding.pad_token !== 'string')
    fail('padding.pad_token', 'a string', padding.pad_token);
  const post = json.post_processor as Record<string, unknown> | null | undefined;
  if (post) {
    for (const end of ['cls', 'sep'] as const) {
      const pair = post[end];
      if (pair !== undefined && !(Array.isArray(pair) && typeof pair[0] === 'string' && isId(pair[1])))
        fail(`post_processor.${end}`, '[token, id]', pair);
    }
    if (post.single !== undefined && !Array.isArray(post.single)) fail('post_processor.single', 'a list', post.single);
    (post.single as unknown[] | undefined)?.forEach((piece, i) => {
      const special = isObject(piece) ? piece.SpecialToken : undefined;
      if (special !== undefined && !(isObject(special) && typeof special.id === 'string'))
        fail(`post_processor.single[${i}].SpecialToken.id`, 'a string', special);
    });
  }
  return json as unknown as TokenizerJson;
}
