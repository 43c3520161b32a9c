// Checks against an independent implementation: tools/reference/distilbert_reference.py (plain PyTorch, no
// transformers / peft / safetensors) wrote the fixtures in test/fixtures/reference/ (tools/reference/make_reference_fixtures.py).
//
// (a) Full-size DistilBERT (dim 768, 6 layers, 12 heads, hidden 3072, vocab 30522) without committing weights: every
//     weight comes from THE FORMULA, which both sides compute with the same float32 ops:
//       for the k-th tensor of the state dict (k = 0, 1, 2, ... in transformers' order; parameters only), n = numel,
//         v = sin(arange(n, dtype=float32) * 0.37 + k) * 0.02, reshaped to the tensor's shape;
//         LayerNorm weights (embeddings.LayerNorm, sa_layer_norm, output_layer_norm): 1 + v.
//     The fixture also fingerprints each generated tensor, so a weight-generation mismatch is told apart from a
//     forward-pass mismatch.
//     Measured (same libtorch 1.13.1 on both sides): max |diff| 3e-10 on the logits and 5e-9 on the [CLS] hidden
//     states; both float32 implementations are within 3.4e-7 / 3.4e-6 of the float64 reference. REFERENCE_VERBOSE=1
//     prints the numbers.
// (b) PEFT adapters written by the Python side the way PEFT 0.13 writes them, loaded with loadAdapter, then written back
//     with saveAdapter (round trip). Note PEFT 0.13's modules_to_save quirk: 'classifier' matches by plain suffix, so
//     the files also carry (and loadAdapter must load) DistilBERT's pre_classifier.
//
// Regenerate the fixtures with: /usr/bin/python3 tools/reference/make_reference_fixtures.py
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Tensor } from '../../lib';
import {
  DistilBertForSequenceClassification,
  distilBertConfig,
  tensor,
  arange,
  noGrad,
  tidy,
  loadAdapter,
  saveAdapter,
  readAdapterConfig,
  loraLayers,
  io,
} from '../../lib';
import { TINY_MODEL } from '../helpers/paths';
import { maxAbsDiff } from '../helpers/compare';

const REF = path.join(__dirname, '..', 'fixtures', 'reference');
const readJson = (file: string) => JSON.parse(fs.readFileSync(path.join(REF, file), 'utf8'));

/** THE FORMULA (see the top of this file and tools/reference/make_reference_fixtures.py). */
function formulaTensor(k: number, shape: number[], layerNormWeight: boolean): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = arange(n, undefined, 1, { dtype: 'float32' }).mul(0.37).add(k).sin().mul(0.02);
  return (layerNormWeight ? v.add(1) : v).reshape(shape);
}
const isLayerNormWeight = (name: string) => name.endsWith('LayerNorm.weight') || name.endsWith('layer_norm.weight');

interface TensorEntry {
  name: string;
  shape: number[];
  sum: number;
  at: number[];
  values: number[];
}

describe('full-size DistilBERT with formula weights vs the independent Python reference', () => {
  const fx = readJson('distilbert-base-formula.json');
  let model: DistilBertForSequenceClassification;

  beforeAll(() => {
    model = new DistilBertForSequenceClassification(
      distilBertConfig({
        vocab_size: fx.config.vocab_size,
        max_position_embeddings: fx.config.max_position_embeddings,
        n_layers: fx.config.n_layers,
        n_heads: fx.config.n_heads,
        dim: fx.config.dim,
        hidden_dim: fx.config.hidden_dim,
        num_labels: Object.keys(fx.config.id2label).length,
      }),
    );
    const sd = model.stateDict();
    const entries: TensorEntry[] = fx.tensors;
    expect(Object.keys(sd)).toEqual(entries.map((e) => e.name));
    noGrad(() =>
      entries.forEach((e, k) =>
        tidy(() => {
          expect(sd[e.name].shape).toEqual(e.shape);
          sd[e.name].copy_(formulaTensor(k, e.shape, isLayerNormWeight(e.name)));
        }),
      ),
    );
    model.eval();
  });

  afterAll(() => model?.dispose());

  it('generates the same weights as the Python side', () => {
    const sd = model.stateDict();
    let worstValue = 0;
    for (const e of fx.tensors as TensorEntry[]) {
      tidy(() => {
        const flat = sd[e.name].reshape(-1);
        const sum = flat.double().sum().item() as number;
        const n = flat.numel();
        expect(Math.abs(sum - e.sum)).toBeLessThan(1e-9 * n);
        e.at.forEach((i, j) => {
          worstValue = Math.max(worstValue, Math.abs((flat.select(0, i).item() as number) - e.values[j]));
        });
      });
    }
    // Same libtorch on both sides: bit-identical; 1e-6 leaves room for a one-ulp sin() difference elsewhere.
    expect(worstValue).toBeLessThan(1e-6);
  });

  it('matches the reference logits and [CLS] hidden states (batch 3 x 128, padded, masked)', () => {
    noGrad(() =>
      tidy(() => {
        const ids = tensor(fx.input_ids, { dtype: 'int64' });
        const mask = tensor(fx.attention_mask, { dtype: 'int64' });
        const hidden = model.distilbert.forward(ids, mask);
        const { logits } = model.forward(ids, mask);
        const dLogits = maxAbsDiff(logits, fx.logits);
        const dCls = maxAbsDiff(hidden.select(1, 0), fx.cls_hidden);
        const dLogits64 = maxAbsDiff(logits, fx.logits_float64);
        const dCls64 = maxAbsDiff(hidden.select(1, 0), fx.cls_hidden_float64);
        if (process.env.REFERENCE_VERBOSE) {
          console.log(
            `formula model: max |diff| vs reference float32: logits ${dLogits.toExponential(2)}, [CLS] ${dCls.toExponential(2)}; ` +
              `vs float64: logits ${dLogits64.toExponential(2)}, [CLS] ${dCls64.toExponential(2)}`,
          );
        }
        expect(dLogits).toBeLessThan(1e-4);
        expect(dCls).toBeLessThan(1e-4);
        expect(dLogits64).toBeLessThan(1e-4);
        expect(dCls64).toBeLessThan(1e-4);
      }),
    );
  });
});

describe('PEFT adapters written by the independent Python writer', () => {
  const variants = [
    { folder: 'peft-tiny-adapter', expected: 'peft-tiny-expected.json' },
    { folder: 'peft-tiny-adapter-rslora', expected: 'peft-tiny-rslora-expected.json' },
  ];

  function logitsOf(
    model: DistilBertForSequenceClassification,
    fx: { input_ids: number[][]; attention_mask: number[][] },
  ) {
    return noGrad(() =>
      tidy(() => {
        const ids = tensor(fx.input_ids, { dtype: 'int64' });
        const mask = tensor(fx.attention_mask, { dtype: 'int64' });
        return { logits: model.forward(ids, mask).logits, cls: model.distilbert.forward(ids, mask).select(1, 0) };
      }),
    );
  }

  for (const v of variants) {
    describe(v.folder, () => {
      const dir = path.join(REF, v.folder);
      const fx = readJson(v.expected);

      it('loads with loadAdapter and reproduces the reference logits and [CLS] hidden states', async () => {
        const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
        const adapted = loadAdapter(model, dir);
        expect([...adapted].sort()).toEqual(Object.keys(fx.scalings).sort());
        for (const [name, layer] of loraLayers(model)) {
          const a = layer.adapter();
          expect(a.rank).toBe(fx.ranks[name]);
          expect(a.scaling).toBeCloseTo(fx.scalings[name], 10);
        }
        model.eval();
        const { logits, cls } = logitsOf(model, fx);
        expect(maxAbsDiff(logits, fx.logits)).toBeLessThan(1e-5);
        expect(maxAbsDiff(cls, fx.cls_hidden)).toBeLessThan(1e-5);
        // The adapter matters: the base model is far from these logits.
        expect(maxAbsDiff(logits, fx.base_logits)).toBeGreaterThan(0.05);
        model.dispose();
      });

      it('loads frozen by default and trainable with isTrainable', async () => {
        for (const isTrainable of [undefined, true]) {
          const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
          loadAdapter(model, dir, isTrainable === undefined ? {} : { isTrainable });
          const want = isTrainable ?? false;
          for (const [, layer] of loraLayers(model)) {
            expect(layer.A.requiresGrad).toBe(want);
            expect(layer.B.requiresGrad).toBe(want);
          }
          // PEFT 0.13 saves both heads ('classifier' matches 'pre_classifier' by suffix); both load, with the same flag.
          for (const p of [...model.classifier.parameters(), ...model.pre_classifier.parameters()])
            expect(p.requiresGrad).toBe(want);
          model.dispose();
        }
      });

      it('saveAdapter writes back the same tensors and an equivalent config (round trip)', async () => {
        const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
        loadAdapter(model, dir);
        const out = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-roundtrip-'));
        saveAdapter(model, out, {
          modulesToSave: ['pre_classifier', 'classifier'],
          baseModelNameOrPath: 'distilbert-tiny-random',
        });

        const theirs = io.readSafetensors(path.join(dir, 'adapter_model.safetensors'));
        const ours = io.readSafetensors(path.join(out, 'adapter_model.safetensors'));
        expect(ours.metadata.format).toBe('pt');
        expect([...ours.tensors.keys()].sort()).toEqual([...theirs.tensors.keys()].sort());
        for (const [key, t] of theirs.tensors) {
          const o = ours.tensors.get(key)!;
          expect({ key, dtype: o.dtype, shape: o.shape }).toEqual({ key, dtype: t.dtype, shape: t.shape });
          expect(o.data.equals(t.data)).toBe(true);
        }

        const a = readAdapterConfig(dir);
        const b = readAdapterConfig(out);
        for (const k of [
          'peft_type',
          'task_type',
          'r',
          'lora_alpha',
          'lora_dropout',
          'bias',
          'use_rslora',
          'use_dora',
          'fan_in_fan_out',
          'inference_mode',
          'init_lora_weights',
          'base_model_name_or_path',
          'revision',
          'layers_to_transform',
          'layers_pattern',
          'alpha_pattern',
        ] as const) {
          expect({ k, v: b[k] }).toEqual({ k, v: a[k] });
        }
        expect([...(b.target_modules as string[])].sort()).toEqual([...(a.target_modules as string[])].sort());
        // rank_pattern keys may be spelled differently; what counts is that every module resolves to the same rank.
        for (const [name, rank] of Object.entries(fx.ranks as Record<string, number>)) {
          expect({ name, rank: peft013Rank(b, name) }).toEqual({ name, rank });
          expect({ name, rank: peft013Rank(a, name) }).toEqual({ name, rank });
        }

        // And the written folder loads back to the same outputs.
        const again = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
        loadAdapter(again, out);
        again.eval();
        expect(maxAbsDiff(logitsOf(again, fx).logits, fx.logits)).toBeLessThan(1e-5);
        model.dispose();
        again.dispose();
        fs.rmSync(out, { recursive: true, force: true });
      });
    });
  }
});

/**
 * PEFT 0.13's rank lookup (LoraModel._create_and_replace): the first rank_pattern / alpha_pattern key k, as a regular
 * expression, with re.match(rf'.*\.{k}$', name); else the module's own full name, looked up literally; else r.
 */
function peft013Rank(
  config: { r: number; rank_pattern: Record<string, number>; alpha_pattern: Record<string, number> },
  name: string,
): number {
  const keys = [...Object.keys(config.rank_pattern ?? {}), ...Object.keys(config.alpha_pattern ?? {})];
  const key = keys.find((k) => new RegExp(`^.*\\.${k}$`).test(name)) ?? name;
  return config.rank_pattern?.[key] ?? config.r;
}
