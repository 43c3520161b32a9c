// evaluate / evaluateAsync: loss, accuracy, confusion and macro-F1 of a classifier on labelled texts, batched and
// padded by length, checked against transformers running the same model one unpadded example at a time.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import {
  BertTokenizer,
  DistilBertForSequenceClassification,
  Trainer,
  evaluate,
  evaluateAsync,
  data as datasets,
} from '../../lib';
import { TINY_MODEL, SHARED } from '../helpers/paths';
import { describeWithPython } from '../helpers/python';

const tokenizer = BertTokenizer.fromPretrained(TINY_MODEL);
const examples = datasets.subsample(datasets.loadSst2(path.join(SHARED, 'data', 'sst2')).validation, 23, 5);

// transformers, each example alone (no padding): the mean cross-entropy and the predictions
const REFERENCE = `
import json, sys, torch
from transformers import DistilBertForSequenceClassification
inp = json.load(sys.stdin)
m = DistilBertForSequenceClassification.from_pretrained(inp['model']).eval()
losses, preds = [], []
with torch.no_grad():
    for ids, label in zip(inp['ids'], inp['labels']):
        logits = m(input_ids=torch.tensor([ids])).logits
        losses.append(torch.nn.functional.cross_entropy(logits, torch.tensor([label])).item())
        preds.append(int(logits.argmax(-1)))
print(json.dumps({'loss': sum(losses) / len(losses), 'preds': preds}))
`;

describeWithPython('evaluate agrees with transformers', ['torch', 'transformers'], (python) => {
  it('the same loss, predictions, confusion matrix and macro-F1 at any batch size', async () => {
    const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
    const ids = examples.map((e) => tokenizer.encode(e.text, { maxLength: 48, truncation: true }));
    const labels = examples.map((e) => e.label);
    const ref = JSON.parse(
      execFileSync(python, ['-c', REFERENCE], {
        input: JSON.stringify({ model: TINY_MODEL, ids, labels }),
        encoding: 'utf8',
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    );
    const confusion = [
      [0, 0],
      [0, 0],
    ];
    labels.forEach((l, i) => confusion[l][ref.preds[i]]++);
    const f1 = (c: number) => {
      const tp = confusion[c][c];
      const fp = confusion[1 - c][c];
      const fn = confusion[c][1 - c];
      return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
    };
    const accuracy = (confusion[0][0] + confusion[1][1]) / labels.length;
    for (const batchSize of [1, 4, 23, 64]) {
      const r = evaluate(model, tokenizer, examples, { maxLength: 48, batchSize });
      expect(r.examples).toBe(23);
      expect(r.loss).toBeCloseTo(ref.loss, 5);
      expect(r.confusion).toEqual(confusion);
      expect(r.accuracy).toBeCloseTo(accuracy, 12);
      expect(r.macroF1).toBeCloseTo((f1(0) + f1(1)) / 2, 12);
    }
    model.dispose();
  });
});

describe('evaluate', () => {
  it("restores the model's mode, matches the Trainer's evaluation and stops when aborted", async () => {
    const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
    model.train();
    const alone = await evaluateAsync(model, tokenizer, examples, { maxLength: 48, batchSize: 8 });
    expect(model.training).toBe(true);
    const trainer = new Trainer({
      model,
      tokenizer,
      train: examples,
      maxLength: 48,
      evalBatchSize: 8,
      progress: false,
      log: () => undefined,
    });
    try {
      expect(trainer.evaluate(examples)).toEqual(alone);
    } finally {
      trainer.dispose();
    }
    const ac = new AbortController();
    const pending = evaluateAsync(model, tokenizer, examples, { maxLength: 48, batchSize: 1, signal: ac.signal });
    ac.abort(new Error('stop now'));
    await expect(pending).rejects.toThrow('stop now');
    expect(model.training).toBe(true);
    expect(() => evaluate(model, tokenizer, examples, { batchSize: 0 })).toThrow(
      /batchSize must be a whole number >= 1, got 0/,
    );
    expect(() => evaluate(model, tokenizer, examples, { maxLength: 1.5 })).toThrow(
      /maxLength must be a whole number >= 2, got 1.5/,
    );
    expect(evaluate(model, tokenizer, [])).toMatchObject({ examples: 0, accuracy: 0 });
    model.dispose();
  });
});
