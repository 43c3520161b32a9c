import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { nn } from '../../lib';
import {
  DistilBertForSequenceClassification,
  DistilBertModel,
  DistilBertForMaskedLM,
  tensor,
  noGrad,
  tidy,
} from '../../lib';
import { TINY_MODEL, fixture } from '../helpers/paths';
import { maxAbsDiff } from '../helpers/compare';

const expected = JSON.parse(fs.readFileSync(fixture('distilbert-tiny-expected.json'), 'utf8'));

function copyCheckpoint(keep: 'model.safetensors' | 'pytorch_model.bin'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-'));
  for (const f of ['config.json', 'vocab.txt', 'tokenizer_config.json', keep])
    fs.copyFileSync(path.join(TINY_MODEL, f), path.join(dir, f));
  return dir;
}

describe('DistilBertForSequenceClassification on the tiny random checkpoint', () => {
  for (const file of ['model.safetensors', 'pytorch_model.bin'] as const) {
    it(`matches Hugging Face logits and [CLS] hidden state (from ${file})`, async () => {
      const model = await DistilBertForSequenceClassification.fromPretrained(copyCheckpoint(file));
      expect(model.loadingInfo.missingKeys).toEqual([]);
      expect(model.loadingInfo.unexpectedKeys).toEqual([]);
      model.eval();
      noGrad(() =>
        tidy(() => {
          const ids = tensor(expected.input_ids, { dtype: 'int64' });
          const mask = tensor(expected.attention_mask, { dtype: 'int64' });
          const { logits } = model.forward(ids, mask);
          expect(maxAbsDiff(logits, expected.logits)).toBeLessThan(1e-4);
          const hidden = model.distilbert.forward(ids, mask).select(1, 0);
          expect(maxAbsDiff(hidden, expected.cls_hidden)).toBeLessThan(1e-4);
        }),
      );
    });
  }

  it('uses Hugging Face module names, so state-dict keys equal the checkpoint keys', async () => {
    const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
    const keys = Object.keys(model.stateDict());
    expect(keys).toContain('distilbert.transformer.layer.1.attention.q_lin.weight');
    expect(keys).toContain('pre_classifier.bias');
    expect(model.toString()).toContain('(q_lin): Linear(in_features=32, out_features=32, bias=True)');
  });

  it('loads the encoder alone and the MLM head (initialising and reporting what the checkpoint lacks)', async () => {
    const bare = await DistilBertModel.fromPretrained(TINY_MODEL);
    expect(bare.loadingInfo.missingKeys).toEqual([]);
    expect(bare.loadingInfo.unexpectedKeys.sort()).toEqual([
      'classifier.bias',
      'classifier.weight',
      'pre_classifier.bias',
      'pre_classifier.weight',
    ]);
    const mlm = await DistilBertForMaskedLM.fromPretrained(TINY_MODEL);
    expect(mlm.loadingInfo.missingKeys.sort()).toEqual([
      'vocab_layer_norm.bias',
      'vocab_layer_norm.weight',
      'vocab_projector.bias',
      'vocab_transform.bias',
      'vocab_transform.weight',
    ]);
    expect(mlm.vocab_projector.weight).toBe(mlm.distilbert.embeddings.word_embeddings.weight);
    // Only what the checkpoint lacks is initialised, by transformers' rule: N(0, initializer_range) weights (0.15 in
    // this checkpoint's config), zero biases, unit LayerNorm scales; nothing is left as uninitialised memory.
    const stats = (t: nn.Parameter | import('../../lib').Tensor) => {
      const v = Array.from(t.dataSync() as Float32Array);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      return {
        mean,
        std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length),
        finite: v.every(Number.isFinite),
      };
    };
    const w = stats(mlm.vocab_transform.weight);
    expect(w.finite).toBe(true);
    expect(mlm.config.initializer_range).toBe(0.15);
    expect(Math.abs(w.mean)).toBeLessThan(0.03); // 1,024 draws
    expect(w.std).toBeGreaterThan(0.13);
    expect(w.std).toBeLessThan(0.17);
    for (const zero of [mlm.vocab_transform.bias!, mlm.vocab_projector.bias!, mlm.vocab_layer_norm.bias!])
      expect(stats(zero)).toEqual({ mean: 0, std: 0, finite: true });
    expect(stats(mlm.vocab_layer_norm.weight!)).toEqual({ mean: 1, std: 0, finite: true });
  });

  it('re-initialises a classifier with another label count only when asked', async () => {
    await expect(DistilBertForSequenceClassification.fromPretrained(TINY_MODEL, { numLabels: 3 })).rejects.toThrow(
      /size mismatch for classifier.weight/,
    );
    const m = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL, {
      numLabels: 3,
      ignoreMismatchedSizes: true,
    });
    expect(m.classifier.forward(tensor([[...Array(32)].map(() => 0)])).shape).toEqual([1, 3]);
    expect(m.loadingInfo.mismatchedKeys.sort()).toEqual(['classifier.bias', 'classifier.weight']);
    expect(m.classifier.bias!.toArray()).toEqual([0, 0, 0]); // re-initialised as transformers does, not left uninitialised
    const w = Array.from(m.classifier.weight.dataSync() as Float32Array);
    expect(w.every((x) => Number.isFinite(x) && Math.abs(x) < 6 * 0.15)).toBe(true);
    expect(Math.sqrt(w.reduce((a, x) => a + x * x, 0) / w.length)).toBeGreaterThan(0.1); // drawn, not zeros
  });

  it('savePretrained writes a folder that loads back to the same outputs', async () => {
    const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'saved-'));
    model.savePretrained(dir);
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
    const again = await DistilBertForSequenceClassification.fromPretrained(dir);
    noGrad(() =>
      tidy(() => {
        const ids = tensor(expected.input_ids, { dtype: 'int64' });
        const mask = tensor(expected.attention_mask, { dtype: 'int64' });
        expect(maxAbsDiff(again.eval().forward(ids, mask).logits, expected.logits)).toBeLessThan(1e-4);
      }),
    );
  });

  for (const dtype of ['float16', 'bfloat16'] as const) {
    it(`loads a ${dtype} checkpoint, into float32 or kept in ${dtype}`, async () => {
      const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${dtype}-`));
      model.to(dtype).savePretrained(dir);
      const header = fs.readFileSync(path.join(dir, 'model.safetensors')).subarray(8, 400).toString();
      expect(header).toContain(dtype === 'float16' ? '"F16"' : '"BF16"');
      const widened = await DistilBertForSequenceClassification.fromPretrained(dir);
      expect((widened.getSubmodule('classifier') as nn.Linear).weight.dtype).toBe('float32');
      const kept = await DistilBertForSequenceClassification.fromPretrained(dir, { dtype });
      expect((kept.getSubmodule('classifier') as nn.Linear).weight.dtype).toBe(dtype);
      noGrad(() =>
        tidy(() => {
          const ids = tensor(expected.input_ids, { dtype: 'int64' });
          const mask = tensor(expected.attention_mask, { dtype: 'int64' });
          // Rounding every weight to 16 bits moves the logits a little, not more.
          expect(maxAbsDiff(widened.eval().forward(ids, mask).logits, expected.logits)).toBeLessThan(
            dtype === 'float16' ? 5e-3 : 3e-2,
          );
        }),
      );
    });
  }

  it('explains a folder without weights or config', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'empty-'));
    await expect(DistilBertForSequenceClassification.fromPretrained(empty)).rejects.toThrow(/config.json/);
    fs.copyFileSync(path.join(TINY_MODEL, 'config.json'), path.join(empty, 'config.json'));
    await expect(DistilBertForSequenceClassification.fromPretrained(empty)).rejects.toThrow(/no checkpoint found/);
  });
});
