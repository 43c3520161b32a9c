// Several adapters on one base, as PEFT 0.21 computes them (fixture: tools/make_peft_fixtures.py): each alone, both
// active at once (set_adapter(['a', 'b'])), and add_weighted_adapter's linear, cat and svd combinations (0.7, 0.3).
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  DistilBertForSequenceClassification,
  loadAdapter,
  setAdapter,
  addWeightedAdapter,
  activeAdapters,
  mergeAndUnload,
  tensor,
  tidy,
  noGrad,
  loraLayers,
} from '../../lib';
import { TINY_MODEL, fixture } from '../helpers/paths';

const PEFT = path.join(__dirname, '..', 'fixtures', 'peft');
const fx = JSON.parse(fs.readFileSync(path.join(PEFT, 'multi-adapter.json'), 'utf8'));
const inputs = JSON.parse(fs.readFileSync(fixture('distilbert-tiny-expected.json'), 'utf8'));
const logits = (m: DistilBertForSequenceClassification) =>
  noGrad(() =>
    tidy(
      () =>
        m
          .forward(tensor(inputs.input_ids, { dtype: 'int64' }), tensor(inputs.attention_mask, { dtype: 'int64' }))
          .logits.toArray() as number[][],
    ),
  );
const diff = (a: number[][], b: number[][]) =>
  Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[i][j]))));

async function twoAdapters(): Promise<DistilBertForSequenceClassification> {
  const model = (await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL)).eval();
  loadAdapter(model, path.join(PEFT, 'multi-a'), { adapterName: 'a' });
  loadAdapter(model, path.join(PEFT, 'multi-b'), { adapterName: 'b' });
  return model;
}

describe('several adapters as PEFT computes them', () => {
  it('each alone, and both active at once (their updates add up)', async () => {
    const model = await twoAdapters();
    setAdapter(model, 'a');
    expect(diff(logits(model), fx.a)).toBeLessThan(1e-5);
    setAdapter(model, 'b');
    expect(diff(logits(model), fx.b)).toBeLessThan(1e-5);
    setAdapter(model, ['a', 'b']);
    expect(activeAdapters(model)).toEqual(['a', 'b']);
    expect(diff(logits(model), fx['a+b'])).toBeLessThan(1e-5);
    // merging both for good gives the same outputs
    mergeAndUnload(model);
    expect(loraLayers(model)).toHaveLength(0);
    expect(diff(logits(model), fx['a+b'])).toBeLessThan(1e-5);
    model.dispose();
  });

  it.each(['linear', 'cat', 'svd'] as const)('addWeightedAdapter %s with weights 0.7, 0.3', async (kind) => {
    const model = await twoAdapters();
    addWeightedAdapter(model, ['a', 'b'], fx.weights, kind, kind);
    const [, layer] = loraLayers(model)[0];
    expect(layer.adapter(kind).rank).toBe(kind === 'cat' ? 8 : 4);
    expect(layer.adapter(kind).scaling).toBe(1);
    expect(layer.adapter(kind).A.requiresGrad).toBe(false);
    setAdapter(model, kind);
    expect(diff(logits(model), fx[kind])).toBeLessThan(1e-5);
    model.dispose();
  });

  it('refuses what PEFT refuses, with clear errors', async () => {
    const model = await twoAdapters();
    expect(() => addWeightedAdapter(model, ['a', 'nope'], [1, 1], 'x', 'cat')).toThrow(
      /no layer has an adapter named 'nope'/,
    );
    expect(() => addWeightedAdapter(model, ['a', 'b'], [1], 'x', 'cat')).toThrow(/2 adapters but 1 weights/);
    expect(() => addWeightedAdapter(model, ['a', 'b'], [1, NaN], 'x', 'cat')).toThrow(/finite/);
    expect(() => addWeightedAdapter(model, ['a', 'b'], [1, 1], 'a', 'cat')).toThrow(/already exists/);
    expect(() => addWeightedAdapter(model, ['a', 'b'], [1, 1], 'x', 'ties' as never)).toThrow(
      /'ties' is not supported/,
    );
    expect(() => setAdapter(model, ['a', 'nope'])).toThrow(/no layer has an adapter named 'nope'/);
    model.dispose();
  });
});
