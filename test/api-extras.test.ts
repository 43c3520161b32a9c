import * as path from 'path';
import { AutoTokenizer, encodeBatchToTensors, empty, manualSeed, nn } from '../lib';
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

describe('Tensor.kaimingUniform_', () => {
  it('draws what nn.init.kaimingUniform_ draws (itself checked against PyTorch)', () => {
    manualSeed(11);
    const a = empty([7, 5]).kaimingUniform_({ a: Math.sqrt(5) });
    manualSeed(11);
    const b = nn.init.kaimingUniform_(empty([7, 5]), { a: Math.sqrt(5) });
    expect(a.equal(b)).toBe(true);
    expect(() => empty([3]).kaimingUniform_()).toThrow(/fewer than 2 dimensions/);
  });
});
