import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Tensor } from '../../lib';
import {
  DistilBertForSequenceClassification,
  replaceLinearWithLora,
  markOnlyLoraAsTrainable,
  LinearWithLoRA,
  LoRALayer,
  countParameters,
  printTrainableParameters,
  mergeLora,
  unmergeLora,
  mergeAndUnload,
  saveAdapter,
  loadAdapter,
  readAdapterLabels,
  setAdapter,
  disableAdapter,
  deleteAdapter,
  listAdapters,
  freeze,
  nn,
  optim,
  F,
  tensor,
  randn,
  tidy,
  noGrad,
  manualSeed,
} from '../../lib';
import { TINY_MODEL, fixture } from '../helpers/paths';

const expected = JSON.parse(fs.readFileSync(fixture('distilbert-tiny-expected.json'), 'utf8'));
const ids = () => tensor(expected.input_ids, { dtype: 'int64' });
const mask = () => tensor(expected.attention_mask, { dtype: 'int64' });
const load = () => DistilBertForSequenceClassification.fromPretrained(TINY_MODEL).then((m) => m.eval());
const logitsOf = (m: DistilBertForSequenceClassification) =>
  noGrad(() => tidy(() => m.forward(ids(), mask()).logits.dataSync() as Float32Array));
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));

/** Gives every adapter a non-zero B so that it changes the output. */
function perturbAdapters(model: nn.Module, seed: number): void {
  manualSeed(seed);
  noGrad(() => {
    for (const m of model.modules()) if (m instanceof LoRALayer) m.B.normal_(0, 0.5);
  });
}

describe('LoRALayer', () => {
  it('holds A [in, r] and B [r, out], B zero, and scales by alpha, alpha/r or alpha/sqrt(r)', () => {
    const l = new LoRALayer(16, 8, { rank: 4, alpha: 8 });
    expect(l.A.shape).toEqual([16, 4]);
    expect(l.B.shape).toEqual([4, 8]);
    expect(Array.from(l.B.dataSync() as Float32Array).every((v) => v === 0)).toBe(true);
    expect(l.scaling).toBe(8);
    expect(new LoRALayer(16, 8, { rank: 4, alpha: 8, scaling: 'alpha/r' }).scaling).toBe(2);
    expect(new LoRALayer(16, 8, { rank: 4, alpha: 8, scaling: 'rslora' }).scaling).toBe(4);
    expect(() => new LoRALayer(16, 8, { rank: 0, alpha: 1 })).toThrow(/rank/);
  });

  it('initialises A as Raschka (randn/sqrt(r)) or PEFT (uniform within 1/sqrt(in))', () => {
    manualSeed(1);
    const r = new LoRALayer(256, 8, { rank: 16, alpha: 1, init: 'raschka' });
    const std = r.A.std().item() as number;
    expect(std).toBeGreaterThan(0.2);
    expect(std).toBeLessThan(0.3); // 1/sqrt(16) = 0.25
    const p = new LoRALayer(256, 8, { rank: 16, alpha: 1, init: 'peft' });
    expect(p.A.abs().max().item()).toBeLessThanOrEqual(1 / 16);
  });

  it('computes scaling * (x @ A @ B)', () => {
    const l = new LoRALayer(6, 5, { rank: 3, alpha: 2 });
    noGrad(() => l.B.normal_());
    tidy(() => {
      const x = randn([4, 6]);
      const want = x.matmul(l.A).matmul(l.B).mul(2);
      expect(l.forward(x).allclose(want, 1e-5, 1e-6)).toBe(true);
    });
  });

  it('addedTo(x, base) (one native call) is base(x) + forward(x), lora_bias and dropout included', () => {
    const base = new nn.Linear(6, 5);
    const l = new LoRALayer(6, 5, { rank: 3, alpha: 2, bias: true, dropout: 0.5 });
    noGrad(() => {
      l.B.normal_();
      l.bias!.normal_();
    });
    tidy(() => {
      const x = randn([4, 6]);
      manualSeed(5);
      const fused = l.addedTo(x, base);
      manualSeed(5);
      const apart = base.forward(x).add(l.forward(x)); // the same dropout mask: one draw from the same seed
      expect(fused.allclose(apart, 1e-5, 1e-6)).toBe(true);
      l.eval();
      expect(l.addedTo(x, base).allclose(base.forward(x).add(l.forward(x)), 1e-5, 1e-6)).toBe(true);
    });
  });
});

describe('LinearWithLoRA and replaceLinearWithLora', () => {
  it('equals the base model exactly at initialisation (B = 0)', async () => {
    const base = await load();
    const before = logitsOf(base);
    replaceLinearWithLora(base, { rank: 8, alpha: 16 });
    expect(maxDiff(logitsOf(base), before)).toBe(0);
  });

  it('adds scaling * (x A B) to the frozen linear output in one fused call', () => {
    const lin = new nn.Linear(6, 4);
    const wrapped = new LinearWithLoRA(lin, 2, 3);
    noGrad(() => wrapped.B.normal_());
    tidy(() => {
      const x = randn([5, 6]);
      const want = F.linear(x, lin.weight, lin.bias).add(x.matmul(wrapped.A).matmul(wrapped.B).mul(3));
      expect(wrapped.forward(x).allclose(want, 1e-5, 1e-6)).toBe(true);
    });
  });

  it('selects targets by name suffix, RegExp or predicate, honours exclusions and never wraps a wrapper', async () => {
    const m = await load();
    const q = replaceLinearWithLora(m, { rank: 2, alpha: 1, targets: ['q_lin', 'v_lin'] });
    expect(q).toEqual([
      'distilbert.transformer.layer.0.attention.q_lin',
      'distilbert.transformer.layer.0.attention.v_lin',
      'distilbert.transformer.layer.1.attention.q_lin',
      'distilbert.transformer.layer.1.attention.v_lin',
    ]);
    expect(replaceLinearWithLora(m, { rank: 2, alpha: 1, targets: ['q_lin', 'v_lin'] })).toEqual([]);
    expect(m.getSubmodule('distilbert.transformer.layer.0.attention.q_lin')).toBeInstanceOf(LinearWithLoRA);
    expect((m.getSubmodule('distilbert.transformer.layer.0.attention.q_lin') as LinearWithLoRA).linear).toBeInstanceOf(
      nn.Linear,
    );

    const ffn = replaceLinearWithLora(m, {
      rank: 2,
      alpha: 1,
      targets: /.*\.ffn\.lin\d/,
      exclude: ['layer.1.ffn.lin2'],
    });
    expect(ffn).toEqual([
      'distilbert.transformer.layer.0.ffn.lin1',
      'distilbert.transformer.layer.0.ffn.lin2',
      'distilbert.transformer.layer.1.ffn.lin1',
    ]);
    const heads = replaceLinearWithLora(m, { rank: 2, alpha: 1, targets: (name) => !name.startsWith('distilbert') });
    expect(heads).toEqual(['pre_classifier', 'classifier']);
    expect(() => replaceLinearWithLora(m, { rank: 2, alpha: 1, targets: ['no_such_layer'] })).toThrow(
      /no Linear module matched/,
    );
  });
});

describe('freezing and training', () => {
  it('gives gradients only to A, B and the modules to save; frozen weights stay bit-identical', async () => {
    const m = await load();
    replaceLinearWithLora(m, { rank: 4, alpha: 8, targets: ['q_lin', 'v_lin'] });
    markOnlyLoraAsTrainable(m, { modulesToSave: ['pre_classifier', 'classifier'] });
    const frozen = [...m.namedParameters()].filter(([, p]) => !p.requiresGrad);
    const snapshot = new Map(frozen.map(([n, p]) => [n, Buffer.from(p.bytes())]));
    const opt = new optim.AdamW(
      m.parameters().filter((p) => p.requiresGrad),
      { lr: 0.05 },
    );
    m.train();
    for (let step = 0; step < 3; step++) {
      opt.zeroGrad();
      tidy(() =>
        F.crossEntropy(
          m.forward(ids(), mask()).logits,
          tensor([0, 1, 0, 1, 1, 0, 1, 0], { dtype: 'int64' }),
        ).backward(),
      );
      const withGrad = [...m.namedParameters()].filter(([, p]) => p.hasGrad).map(([n]) => n);
      expect(withGrad.every((n) => /lora\.default\.[AB]$|^pre_classifier\.|^classifier\./.test(n))).toBe(true);
      expect(withGrad).toHaveLength(4 * 2 + 4); // A and B of four layers, weight and bias of two heads
      opt.step();
    }
    for (const [n, p] of frozen) expect(Buffer.compare(p.bytes(), snapshot.get(n)!)).toBe(0);
  });

  it('counts parameters and prints them as PEFT does', async () => {
    const m = await load();
    const total = countParameters(m).total;
    replaceLinearWithLora(m, { rank: 4, alpha: 8, targets: ['q_lin', 'v_lin'] });
    markOnlyLoraAsTrainable(m);
    const lora = 4 * 4 * (32 + 32);
    expect(countParameters(m)).toEqual({ trainable: lora, total: total + lora });
    const lines: string[] = [];
    printTrainableParameters(m, (s) => lines.push(s));
    expect(lines[0]).toBe(
      `trainable params: ${lora.toLocaleString('en-US')} || all params: ${(total + lora).toLocaleString('en-US')} || trainable%: ${((100 * lora) / (total + lora)).toFixed(4)}`,
    );
  });

  it('bias modes: none, all, lora_only', async () => {
    const m = await load();
    replaceLinearWithLora(m, { rank: 2, alpha: 1, targets: ['q_lin'] });
    markOnlyLoraAsTrainable(m, { bias: 'lora_only' });
    const trainable = () => [...m.namedParameters()].filter(([, p]) => p.requiresGrad).map(([n]) => n);
    expect(trainable().filter((n) => n.endsWith('bias'))).toEqual([
      'distilbert.transformer.layer.0.attention.q_lin.linear.bias',
      'distilbert.transformer.layer.1.attention.q_lin.linear.bias',
    ]);
    markOnlyLoraAsTrainable(m, { bias: 'all' });
    expect(trainable().filter((n) => n.endsWith('bias')).length).toBeGreaterThan(10);
    freeze(m);
    expect(trainable()).toEqual([]);
  });
});

describe('merging', () => {
  it('merge/unmerge round trip and mergeAndUnload keep the outputs (1e-5)', async () => {
    const m = await load();
    const base = logitsOf(m);
    replaceLinearWithLora(m, { rank: 4, alpha: 8, targets: ['q_lin', 'v_lin', 'lin1'] });
    perturbAdapters(m, 3);
    const adapted = logitsOf(m);
    expect(maxDiff(adapted, base)).toBeGreaterThan(1e-2);
    const w = (m.getSubmodule('distilbert.transformer.layer.0.attention.q_lin') as LinearWithLoRA).linear.weight;
    const w0 = w.clone();
    mergeLora(m);
    expect(maxDiff(logitsOf(m), adapted)).toBeLessThan(1e-5);
    unmergeLora(m);
    expect(w.allclose(w0, 0, 1e-6)).toBe(true);
    expect(maxDiff(logitsOf(m), adapted)).toBeLessThan(1e-5);
    mergeAndUnload(m);
    expect([...m.modules()].some((x) => x instanceof LinearWithLoRA)).toBe(false);
    expect(maxDiff(logitsOf(m), adapted)).toBeLessThan(1e-5);
  });

  it('savePretrained refuses a model that still has adapters, naming the first wrapped layer, and writes nothing', async () => {
    const m = await load();
    replaceLinearWithLora(m, { rank: 2, alpha: 4, targets: ['q_lin'] });
    const dir = path.join(tmp('lora-save-'), 'out');
    expect(() => m.savePretrained(dir)).toThrow(
      "savePretrained: 'distilbert.transformer.layer.0.attention.q_lin' still has LoRA adapters; call mergeAndUnload(model) first",
    );
    expect(fs.existsSync(dir)).toBe(false);
    mergeAndUnload(m);
    m.savePretrained(dir);
    expect(fs.existsSync(path.join(dir, 'model.safetensors'))).toBe(true);
  });
});

describe('adapters on disk and several adapters', () => {
  it('saveAdapter -> loadAdapter gives identical outputs; the config speaks PEFT', async () => {
    const m = await load();
    replaceLinearWithLora(m, { rank: 4, alpha: 8, targets: ['q_lin', 'v_lin'] });
    markOnlyLoraAsTrainable(m, { modulesToSave: ['classifier'] });
    perturbAdapters(m, 5);
    noGrad(() => m.classifier.forward === undefined || (m.getSubmodule('classifier') as nn.Linear).bias!.add_(0.25));
    const want = logitsOf(m);
    const dir = tmp('adapter-');
    saveAdapter(m, dir, { modulesToSave: ['classifier'], baseModelNameOrPath: 'distilbert-base-uncased' });
    expect(fs.readdirSync(dir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({
      peft_type: 'LORA',
      r: 4,
      lora_alpha: 32,
      target_modules: ['q_lin', 'v_lin'],
      modules_to_save: ['classifier'],
      use_rslora: false,
    });

    const fresh = await load();
    const adapted = loadAdapter(fresh, dir);
    expect(adapted).toHaveLength(4);
    expect(maxDiff(logitsOf(fresh), want)).toBeLessThan(1e-6);
    const layer = fresh.getSubmodule('distilbert.transformer.layer.0.attention.q_lin') as LinearWithLoRA;
    expect(layer.adapter().scalingMode).toBe('alpha');
    expect(layer.A.requiresGrad).toBe(false);
  });

  it("each loaded adapter keeps its own head (PEFT's ModulesToSaveWrapper): the last one loaded does not own it (issue 13)", async () => {
    // Two adapters that train the classifier, saved apart; each alone in a fresh model is the reference.
    const dirs: string[] = [];
    for (const [seed, shift] of [
      [11, 0.5],
      [12, -0.75],
    ] as const) {
      const m = await load();
      replaceLinearWithLora(m, { rank: 2, alpha: 4, targets: ['q_lin'] });
      perturbAdapters(m, seed);
      noGrad(() => (m.getSubmodule('classifier') as nn.Linear).bias!.add_(shift));
      const dir = tmp('head-adapter-');
      saveAdapter(m, dir, { modulesToSave: ['classifier'] });
      dirs.push(dir);
    }
    const alone = await Promise.all(
      dirs.map(async (dir) => {
        const m = await load();
        loadAdapter(m, dir);
        return logitsOf(m);
      }),
    );
    const m = await load();
    const base = logitsOf(m);
    const classifierBias = (m.getSubmodule('classifier') as nn.Linear).bias!;
    const baseBias = Array.from(classifierBias.dataSync() as Float32Array);
    loadAdapter(m, dirs[0], { adapterName: 'a' });
    loadAdapter(m, dirs[1], { adapterName: 'b', activate: false });
    expect(maxDiff(logitsOf(m), alone[0])).toBeLessThan(1e-6); // loading b left a's head alone
    setAdapter(m, 'b');
    expect(maxDiff(logitsOf(m), alone[1])).toBeLessThan(1e-6);
    setAdapter(m, 'a');
    expect(maxDiff(logitsOf(m), alone[0])).toBeLessThan(1e-6);
    disableAdapter(m); // the base model's own head again, untouched by either load
    expect(maxDiff(logitsOf(m), base)).toBe(0);
    expect(Array.from(classifierBias.dataSync() as Float32Array)).toEqual(baseBias);
    expect(listAdapters(m).sort()).toEqual(['a', 'b']);
    setAdapter(m, 'b');
    deleteAdapter(m, 'b'); // frees b's copies and falls back to the base head
    expect(maxDiff(logitsOf(m), base)).toBe(0);
    setAdapter(m, 'a');
    mergeAndUnload(m); // a's head stays, as PEFT keeps the active copy
    expect(maxDiff(logitsOf(m), alone[0])).toBeLessThan(1e-5);
  });

  it('switches, disables and deletes named adapters over one shared base', async () => {
    const m = await load();
    const base = logitsOf(m);
    replaceLinearWithLora(m, { rank: 4, alpha: 8, targets: ['q_lin', 'v_lin'], adapterName: 'sst2' });
    perturbAdapters(m, 7);
    const a = logitsOf(m);
    replaceLinearWithLora(m, { rank: 2, alpha: 4, targets: ['q_lin', 'v_lin'], adapterName: 'imdb' });
    expect(listAdapters(m).sort()).toEqual(['imdb', 'sst2']);
    expect(maxDiff(logitsOf(m), a)).toBe(0); // adding an adapter does not activate it
    setAdapter(m, 'imdb');
    expect(maxDiff(logitsOf(m), base)).toBe(0); // its B is still zero
    setAdapter(m, 'sst2');
    expect(maxDiff(logitsOf(m), a)).toBe(0);
    disableAdapter(m);
    expect(maxDiff(logitsOf(m), base)).toBe(0);
    deleteAdapter(m, 'sst2');
    expect(listAdapters(m)).toEqual(['imdb']);
    expect(() => setAdapter(m, 'sst2')).toThrow(/no layer has an adapter named 'sst2'/);
  });

  it('carries the class names: fromPretrained id2label -> saveAdapter -> loadAdapter; placeholders are not stored', async () => {
    const named = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL, { id2label: ['spam', 'ham'] });
    expect([named.config.id2label, named.config.label2id]).toEqual([
      { 0: 'spam', 1: 'ham' },
      { spam: 0, ham: 1 },
    ]);
    await expect(
      DistilBertForSequenceClassification.fromPretrained(TINY_MODEL, { numLabels: 3, id2label: ['a', 'b'] }),
    ).rejects.toThrow(/numLabels 3 but 2 names/);
    replaceLinearWithLora(named, { rank: 2, alpha: 4, targets: ['q_lin'] });
    const dir = tmp('named-adapter-');
    saveAdapter(named, dir, { modulesToSave: ['classifier'] });
    expect(readAdapterLabels(dir)).toEqual(['spam', 'ham']);
    // PEFT reads adapter_config.json and the tensors; the names ride in the safetensors metadata, which it ignores.
    expect(Object.keys(JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')))).not.toContain(
      'labels',
    );

    const fresh = await load();
    loadAdapter(fresh, dir);
    expect([fresh.config.id2label, fresh.config.label2id]).toEqual([
      { 0: 'spam', 1: 'ham' },
      { spam: 0, ham: 1 },
    ]);
    const inactive = await load();
    loadAdapter(inactive, dir, { activate: false, adapterName: 'other' });
    expect(inactive.config.id2label).toEqual({ 0: 'LABEL_0', 1: 'LABEL_1' });

    const plain = await load();
    replaceLinearWithLora(plain, { rank: 2, alpha: 4, targets: ['q_lin'] });
    const plainDir = tmp('plain-adapter-');
    saveAdapter(plain, plainDir);
    expect(readAdapterLabels(plainDir)).toBeNull();
    saveAdapter(plain, plainDir, { labels: ['neg', 'pos'] });
    expect(readAdapterLabels(plainDir)).toEqual(['neg', 'pos']);
    [named, fresh, inactive, plain].forEach((m) => m.dispose());
  });

  it('reports broken adapter folders clearly', async () => {
    const m = await load();
    const dir = tmp('bad-adapter-');
    expect(() => loadAdapter(m, dir)).toThrow(/adapter_config.json/);
    fs.writeFileSync(
      path.join(dir, 'adapter_config.json'),
      '{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_lin"]}',
    );
    expect(() => loadAdapter(m, dir)).toThrow(/adapter_model.safetensors/);
    fs.writeFileSync(path.join(dir, 'adapter_model.safetensors'), Buffer.from([1, 2, 3]));
    expect(() => loadAdapter(m, dir)).toThrow();
    const t: Tensor = tensor([1]);
    expect(t.item()).toBe(1);
  });
});
