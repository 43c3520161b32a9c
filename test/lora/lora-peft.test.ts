// Adapters written by real PEFT 0.21 (tools/make_peft_fixtures.py, transformers 5.18, PyTorch 2.13) load exactly:
// the logits PEFT computes with PeftModel.from_pretrained, the parameters its is_trainable leaves trainable, the
// float64 logits, and five AdamW steps of PEFT training in float32 and float64.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LinearWithLoRA, Tensor, DType } from '../../lib';
import {
  DistilBertForSequenceClassification,
  loadAdapter,
  saveAdapter,
  loraLayers,
  countParameters,
  replaceLinearWithLora,
  markOnlyLoraAsTrainable,
  tensor,
  tidy,
  noGrad,
  optim,
  F,
} from '../../lib';
import { TINY_MODEL, fixture } from '../helpers/paths';
import { maxAbsDiff } from '../helpers/compare';

const PEFT = path.join(__dirname, '..', 'fixtures', 'peft');
const readJson = (name: string) => JSON.parse(fs.readFileSync(path.join(PEFT, name), 'utf8'));
const inputs = JSON.parse(fs.readFileSync(fixture('distilbert-tiny-expected.json'), 'utf8'));
const load = () => DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));

function logits(model: DistilBertForSequenceClassification, dtype: DType = 'float32'): number[][] {
  return noGrad(() =>
    tidy(() => {
      const out = model.forward(
        tensor(inputs.input_ids, { dtype: 'int64' }),
        tensor(inputs.attention_mask, { dtype: 'int64' }),
      ).logits;
      expect(out.dtype).toBe(dtype);
      return out.toArray() as number[][];
    }),
  );
}
const diff = (a: number[][], b: number[][]) =>
  Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[i][j]))));

const CASES = [
  'dropout',
  'bias-lora-only',
  'bias-all',
  'lora-bias',
  'bin',
  'seq-cls-default',
  'seq-cls-classifier',
  'heads-no-task',
  'patterns-rslora',
  'layers-exclude',
  'dora',
];

describe('adapters written by PEFT load exactly (PeftModel.from_pretrained logits)', () => {
  it.each(CASES)('%s: logits to 1e-5, and the adapter matters', async (name) => {
    const fx = readJson(`${name}.json`);
    const model = (await load()).eval();
    loadAdapter(model, path.join(PEFT, name));
    const got = logits(model);
    expect(diff(got, fx.logits)).toBeLessThan(1e-5);
    expect(diff(got, fx.base_logits)).toBeGreaterThan(1e-2);
    model.dispose();
  });

  it.each(CASES)('%s: isTrainable leaves trainable exactly what PEFT does', async (name) => {
    const fx = readJson(`${name}.json`);
    const model = await load();
    loadAdapter(model, path.join(PEFT, name), { isTrainable: true });
    expect(countParameters(model).trainable).toBe(fx.trainable_params);
    model.dispose();
  });
});

describe('issue 11 found items', () => {
  it('1: layers added by loadAdapter follow the model mode: no LoRA dropout after eval(), two forwards agree', async () => {
    const fx = readJson('dropout.json');
    const model = (await load()).eval();
    loadAdapter(model, path.join(PEFT, 'dropout'));
    for (const [, l] of loraLayers(model)) {
      expect(l.training).toBe(false);
      expect(l.adapter().training).toBe(false);
      expect(l.adapter().dropoutP).toBeCloseTo(0.1);
    }
    const a = logits(model);
    expect(diff(a, logits(model))).toBe(0);
    expect(diff(a, fx.logits)).toBeLessThan(1e-5);
    model.train(); // and training mode still runs dropout
    expect(diff(logits(model), a)).toBeGreaterThan(1e-4);
    model.dispose();
  });

  it('2: an unknown tensor in the adapter file is an error that names it', async () => {
    const dir = tmp('peft-extra-');
    fs.copyFileSync(path.join(PEFT, 'dropout', 'adapter_config.json'), path.join(dir, 'adapter_config.json'));
    const { readSafetensors, writeSafetensors } = await import('../../lib/io');
    const { tensors } = readSafetensors(path.join(PEFT, 'bias-lora-only', 'adapter_model.safetensors'));
    writeSafetensors(path.join(dir, 'adapter_model.safetensors'), tensors);
    const model = await load();
    // bias-lora-only's file with a config that says bias 'none': the base_layer biases are not silently dropped.
    expect(() => loadAdapter(model, dir)).toThrow(
      /unknown tensors? 'base_model\.model\.distilbert\.transformer\.layer\.0\.attention\.q_lin\.base_layer\.bias'/,
    );
    model.dispose();
  });

  it('2: saveAdapter writes the trained biases and lora_bias; our file loads back to the same logits', async () => {
    for (const name of ['bias-lora-only', 'bias-all', 'lora-bias']) {
      const model = (await load()).eval();
      loadAdapter(model, path.join(PEFT, name), { isTrainable: true });
      const dir = tmp(`resave-${name}-`);
      saveAdapter(model, dir, { taskType: null });
      const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
      const peftConfig = JSON.parse(fs.readFileSync(path.join(PEFT, name, 'adapter_config.json'), 'utf8'));
      expect([config.bias, config.lora_bias]).toEqual([peftConfig.bias, peftConfig.lora_bias]);
      const fresh = (await load()).eval();
      loadAdapter(fresh, dir);
      expect(diff(logits(fresh), readJson(`${name}.json`).logits)).toBeLessThan(1e-5);
      [model, fresh].forEach((m) => m.dispose());
    }
  });

  it('3: adapter_model.bin (safe_serialization=False) loads', async () => {
    expect(fs.existsSync(path.join(PEFT, 'bin', 'adapter_model.bin'))).toBe(true);
    expect(fs.existsSync(path.join(PEFT, 'bin', 'adapter_model.safetensors'))).toBe(false);
    const model = (await load()).eval();
    expect(loadAdapter(model, path.join(PEFT, 'bin'))).toHaveLength(4);
    expect(diff(logits(model), readJson('bin.json').logits)).toBeLessThan(1e-5);
  });

  it('4: saveAdapter writes the heads PEFT will wrap (SEQ_CLS adds classifier, and by suffix pre_classifier)', async () => {
    const model = (await load()).eval();
    loadAdapter(model, path.join(PEFT, 'seq-cls-default'));
    const cases: [Parameters<typeof saveAdapter>[2], string[]][] = [
      [{}, ['classifier', 'pre_classifier']],
      [{ modulesToSave: ['classifier'] }, ['classifier', 'pre_classifier']],
      [{ taskType: null }, []],
      [{ taskType: null, modulesToSave: ['classifier'] }, ['classifier', 'pre_classifier']],
    ];
    const { readSafetensorsHeader } = await import('../../lib/io');
    for (const [opts, heads] of cases) {
      const dir = tmp('heads-');
      saveAdapter(model, dir, opts);
      const keys = [...readSafetensorsHeader(path.join(dir, 'adapter_model.safetensors')).tensors.keys()];
      const saved = [...new Set(keys.filter((k) => !k.includes('lora_')).map((k) => k.split('.')[2]))].sort();
      expect(saved).toEqual(heads);
      const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
      expect(config.task_type).toBe(opts!.taskType === undefined ? 'SEQ_CLS' : opts!.taskType);
    }
    model.dispose();
  });

  it('5: isTrainable trains only the adapter and its modules to save (PEFT: 2,146 of the tiny model)', async () => {
    const model = await load();
    loadAdapter(model, path.join(PEFT, 'seq-cls-default'), { isTrainable: true });
    const trainable = [...model.namedParameters()].filter(([, p]) => p.requiresGrad).map(([n]) => n);
    expect(trainable.every((n) => /\.lora\.default\.[AB]$|^pre_classifier\.|^classifier\./.test(n))).toBe(true);
    expect(countParameters(model).trainable).toBe(readJson('seq-cls-default.json').trainable_params);
  });

  it('6: LoRA follows the base dtype: float64 logits equal PEFT in float64 (1e-10); bfloat16 runs; to() keeps working', async () => {
    const fx = readJson('dropout.json');
    const model = (await load()).eval().to('float64');
    loadAdapter(model, path.join(PEFT, 'dropout'));
    for (const [, l] of loraLayers(model))
      expect([l.adapter().A.dtype, l.adapter().B.dtype]).toEqual(['float64', 'float64']);
    expect(diff(logits(model, 'float64'), fx.logits_float64)).toBeLessThan(1e-10);
    model.to('float32');
    expect(diff(logits(model), fx.logits)).toBeLessThan(1e-5);

    const bf = (await load()).eval().to('bfloat16');
    replaceLinearWithLora(bf, { rank: 4, alpha: 8, targets: ['q_lin', 'v_lin'] });
    expect((bf.getSubmodule('distilbert.transformer.layer.0.attention.q_lin') as LinearWithLoRA).A.dtype).toBe(
      'bfloat16',
    );
    const out = logits(bf, 'bfloat16');
    expect(diff(out, readJson('dropout.json').base_logits)).toBeLessThan(0.1); // B = 0: the base model, in bfloat16
    [model, bf].forEach((m) => m.dispose());
  });
});

describe('training parity with PEFT: five AdamW steps from the same start', () => {
  const fx = readJson('training.json');
  it.each([
    ['float32', 1e-5, false],
    ['float64', 1e-9, false],
    ['float32', 1e-5, true],
    ['float64', 1e-9, true],
  ] as const)('%s: losses and weights within %s (DoRA: %s)', async (dtype, tol, dora) => {
    const run = fx[dora ? `dora_${dtype}` : dtype];
    const model = (await load()).eval().to(dtype);
    replaceLinearWithLora(model, {
      rank: fx.rank,
      alpha: fx.lora_alpha,
      scaling: 'alpha/r',
      targets: fx.targets,
      dora,
    });
    markOnlyLoraAsTrainable(model, { modulesToSave: fx.modules_to_save });
    const ours = (peftName: string) =>
      peftName
        .replace(/^base_model\.model\./, '')
        .replace(/\.lora_A\.default\.weight$/, '.lora.default.A')
        .replace(/\.lora_B\.default\.weight$/, '.lora.default.B')
        .replace(/\.modules_to_save\.default\./, '.')
        .replace(/\.lora_magnitude_vector\.default\.weight$/, '.lora.default.magnitude');
    const params = new Map(model.namedParameters());
    const transposed = (n: string) => /\.lora\.default\.[AB]$/.test(n);
    noGrad(() => {
      for (const [peftName, values] of Object.entries(run.start)) {
        const p = params.get(ours(peftName));
        expect(p).toBeDefined();
        tidy(() =>
          p!.copy_(
            transposed(ours(peftName))
              ? tensor(values as number[][], { dtype }).t()
              : tensor(values as number[][], { dtype }),
          ),
        );
      }
    });
    const trainable = model.parameters().filter((p) => p.requiresGrad);
    expect(trainable.length).toBe(Object.keys(run.start).length);
    const opt = new optim.AdamW(trainable, { lr: fx.lr, weightDecay: fx.weight_decay });
    const losses: number[] = [];
    for (const b of fx.batches) {
      opt.zeroGrad();
      losses.push(
        tidy(() => {
          const out = model.forward(
            tensor(b.input_ids, { dtype: 'int64' }),
            tensor(b.attention_mask, { dtype: 'int64' }),
          ).logits;
          const loss = F.crossEntropy(out, tensor(b.labels, { dtype: 'int64' }));
          loss.backward();
          return loss.item() as number;
        }),
      );
      opt.step();
    }
    losses.forEach((l, i) => expect(Math.abs(l - run.losses[i])).toBeLessThan(tol));
    for (const [peftName, values] of Object.entries(run.final)) {
      const p = params.get(ours(peftName))!;
      const t: Tensor = transposed(ours(peftName)) ? p.t() : p;
      expect(maxAbsDiff(t, values as number[][])).toBeLessThan(tol);
    }
    opt.dispose();
    model.dispose();
  });
});

describe('DoRA (use_dora) in PEFT numbers', () => {
  it('loads in float64 to 1e-10, merges and unmerges exactly, and saves back what PEFT wrote', async () => {
    const fx = readJson('dora.json');
    const model = (await load()).eval().to('float64');
    loadAdapter(model, path.join(PEFT, 'dora'));
    const [, layer] = loraLayers(model)[0];
    expect(layer.adapter().magnitude!.shape).toEqual([32]);
    const want = logits(model, 'float64');
    expect(diff(want, fx.logits_float64)).toBeLessThan(1e-10);
    const w0 = layer.linear.weight.clone();
    const { mergeLora, unmergeLora } = await import('../../lib');
    mergeLora(model);
    expect(diff(logits(model, 'float64'), want)).toBeLessThan(1e-10);
    unmergeLora(model);
    expect(maxAbsDiff(layer.linear.weight, w0.toArray())).toBeLessThan(1e-12);
    const dir = tmp('dora-resave-');
    saveAdapter(model.to('float32'), dir);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')).use_dora).toBe(true);
    const fresh = (await load()).eval();
    loadAdapter(fresh, dir);
    expect(diff(logits(fresh), fx.logits)).toBeLessThan(1e-5);
    [model, fresh].forEach((m) => m.dispose());
  });
});
