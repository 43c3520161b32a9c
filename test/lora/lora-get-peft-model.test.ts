// getPeftModel takes PEFT's LoraConfig fields and makes what PEFT 0.21's get_peft_model makes of them: the same
// trainable parameters (names, shapes, count) and scalings (fixture: tools/make_peft_fixtures.py).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LoraConfigFields } from '../../lib';
import { DistilBertForSequenceClassification, getPeftModel, loraLayers } from '../../lib';
import { TINY_MODEL } from '../helpers/paths';

const cases = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'peft', 'get-peft-model.json'), 'utf8'),
) as {
  config: LoraConfigFields;
  trainable_params: number;
  trainable: Record<string, number[]>;
  scalings: Record<string, number>;
}[];

/** PEFT's parameter name -> ours, and whether the tensor is stored transposed here. */
function ours(peftName: string): [string, boolean] {
  const n = peftName
    .replace(/^base_model\.model\./, '')
    .replace('.modules_to_save.default.', '.')
    .replace('.base_layer.bias', '.linear.bias');
  if (n.endsWith('.lora_A.default.weight')) return [n.replace('.lora_A.default.weight', '.lora.default.A'), true];
  if (n.endsWith('.lora_B.default.weight')) return [n.replace('.lora_B.default.weight', '.lora.default.B'), true];
  return [n.replace('.lora_B.default.bias', '.lora.default.bias'), false];
}

describe('getPeftModel(model, LoraConfig fields) as get_peft_model', () => {
  it.each(cases.map((c, i) => [i, JSON.stringify(c.config), c] as const))('config %i: %s', async (_i, _s, c) => {
    const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
    model.eval();
    getPeftModel(model, c.config);
    const want = Object.fromEntries(
      Object.entries(c.trainable).map(([n, shape]) => {
        const [name, transposed] = ours(n);
        return [name, transposed ? [...shape].reverse() : shape];
      }),
    );
    const got = Object.fromEntries(
      [...model.namedParameters()].filter(([, p]) => p.requiresGrad).map(([n, p]) => [n, p.shape]),
    );
    expect(got).toEqual(want);
    expect(Object.values(got).reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0)).toBe(c.trainable_params);
    const scalings = Object.fromEntries(loraLayers(model).map(([n, l]) => [n, l.adapter().scaling]));
    const wantScalings = Object.fromEntries(
      Object.entries(c.scalings).map(([n, s]) => [n.replace(/^base_model\.model\./, ''), s]),
    );
    expect(Object.keys(scalings).sort()).toEqual(Object.keys(wantScalings).sort());
    for (const [n, s] of Object.entries(wantScalings)) expect(scalings[n]).toBeCloseTo(s, 12);
    for (const [, l] of loraLayers(model)) expect(l.adapter().training).toBe(false); // follows model.eval()
    model.dispose();
  });

  it('refuses what it cannot honour with a clear error', async () => {
    const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
    expect(() => getPeftModel(model, { target_modules: ['nope'] })).toThrow(/no Linear module matched target_modules/);
    expect(() => getPeftModel(model, { r: 0 })).toThrow(/getPeftModel: 'r' must be a positive integer/);
    expect(() => getPeftModel(model, { init_lora_weights: 'pissa' as never })).toThrow(
      /init_lora_weights "pissa" is not supported/,
    );
    expect(() => getPeftModel(model, { use_dora: true, lora_bias: true })).toThrow(
      /use_dora together with lora_bias is not supported/,
    );
    model.dispose();
  });
});
