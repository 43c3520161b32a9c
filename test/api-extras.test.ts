import * as path from 'node:path';
import { AutoTokenizer, encodeBatchToTensors } from '../lib';
import { SHARED } from './helpers/paths';

describe('tokenizer to tensors', () => {
  it('returns int64 [batch, len] ids and attention masks equal to encodeBatch', () => {
    const tok = AutoTokenizer.fromPretrained(path.join(SHARED, 'models', 'distilbert-base-uncased'));
    const texts = ['A wonderful film.', 'Not good at all, and far too long for what it has to say.'];
    const { inputIds, attentionMask } = encodeBatchToTensors(tok, texts, { maxLength: 12 });
    const enc = tok.encodeBatch(texts, { maxLength: 12 });
    expect(inputIds.dtype).toBe('int64');
    expect(inputIds.shape).toEqual([2, 12]);
    expect(inputIds.toArray()).toEqual(enc.inputIds);
    expect(attentionMask.toArray()).toEqual(enc.attentionMask);
  });
});
