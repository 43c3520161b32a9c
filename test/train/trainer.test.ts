import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import type { MetricRecord, TrainerOptions } from '../../lib';
import {
  DistilBertForSequenceClassification,
  DistilBertForMaskedLM,
  AutoTokenizer,
  BertTokenizer,
  Trainer,
  finetune,
  prepareModel,
  loadTextDataset,
  runFinetuneJob,
  maskTokens,
  maskedLmLoss,
  pretrainMlm,
  readMetrics,
  tensor,
  tidy,
  noGrad,
  manualSeed,
  memory,
  data as datasets,
  confusionMatrix,
  macroF1,
} from '../../lib';
import { TINY_MODEL, SHARED } from '../helpers/paths';
import { liveTensors, settledLiveTensors } from '../helpers/gc';

const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));
const tokenizer = BertTokenizer.fromPretrained(TINY_MODEL);
const sst2 = datasets.loadSst2(path.join(SHARED, 'data', 'sst2'));
const small = (n: number, seed: number) => datasets.subsample(sst2.train, n, seed);
const quiet = { progress: false, log: () => undefined };

describe('Trainer', () => {
  it('trains, evaluates, logs metrics and a plot, checkpoints, and resumes from the checkpoint', async () => {
    const out = tmp('trainer-');
    manualSeed(0);
    const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
    prepareModel(model, 'lora', { rank: 4, alpha: 8, trainHead: true });
    const opts = {
      model,
      tokenizer,
      train: small(96, 1),
      validation: small(32, 2),
      test: small(32, 3),
      batchSize: 16,
      maxLength: 64,
      lr: 5e-3,
      outputDir: out,
      logEvery: 2,
      ...quiet,
    };
    const first = await new Trainer({ ...opts, epochs: 1 }).train();
    expect(first.epochs).toHaveLength(1);
    expect(first.steps).toBe(6);
    expect(first.test!.examples).toBe(32);
    expect(first.bestEpoch).toBe(1);
    for (const f of [
      'metrics.jsonl',
      'metrics.svg',
      'checkpoint/trainer_state.json',
      'checkpoint/trainable.safetensors',
      'checkpoint/optimizer.safetensors',
      'best/trainable.safetensors',
      'best/best.json',
    ]) {
      expect(fs.existsSync(path.join(out, f))).toBe(true);
    }
    const records = readMetrics(path.join(out, 'metrics.jsonl'));
    expect(records.some((r) => r.split === 'validation' && typeof r.accuracy === 'number')).toBe(true);
    expect(fs.readFileSync(path.join(out, 'metrics.svg'), 'utf8')).toMatch(/^<svg/);

    const resumed = await new Trainer({ ...opts, epochs: 2, resume: true }).train();
    expect(resumed.epochs.map((e) => e.epoch)).toEqual([2]);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'trainer_state.json'), 'utf8'))).toMatchObject({
      epoch: 2,
      globalStep: 12,
    });
  });

  it('stopped mid-epoch and resumed, it ends with exactly the weights and numbers of an uninterrupted run; saveEvery; early stopping', async () => {
    // The tiny checkpoint has no dropout, so a run is a pure function of its seed: batches, AdamW state and schedule.
    const run = async (out: string, extra: Partial<TrainerOptions>) => {
      manualSeed(4);
      const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
      prepareModel(model, 'lora', { rank: 2, alpha: 4, trainHead: true });
      const trainer = new Trainer({
        model,
        tokenizer,
        train: small(64, 5),
        validation: small(24, 6),
        test: small(24, 7),
        epochs: 3,
        batchSize: 8,
        gradientAccumulation: 2,
        lr: 2e-2,
        maxLength: 32,
        outputDir: out,
        logEvery: 1,
        ...quiet,
        ...extra,
      });
      try {
        const result = await trainer.train();
        const weights = [...model.namedParameters()]
          .filter(([, p]) => p.requiresGrad)
          .map(([n, p]) => [n, Array.from(p.dataSync())]);
        return { result, weights };
      } finally {
        trainer.dispose();
        model.dispose();
      }
    };
    const whole = await run(tmp('whole-'), {});
    // Epoch 2 scores best and epoch 3 worse, so the run ends by putting epoch 2's weights back.
    expect(whole.result.bestEpoch).toBe(2);
    expect(whole.result.epochs[2].validation!.accuracy).toBeLessThan(whole.result.epochs[1].validation!.accuracy);

    // 4 steps (8 batches) an epoch: stopped in epoch 1 (nothing finished yet), in epoch 2, in epoch 3 (the best is on
    // disk by then), and while epoch 2's validation runs (resuming evaluates it again).
    const afterStep = (n: number) => (r: MetricRecord) => r.step === n && r.lr !== undefined;
    const stops = [
      { when: afterStep(2), step: 2, epoch: 0, batches: 4 },
      { when: afterStep(7), step: 7, epoch: 1, batches: 6 },
      { when: afterStep(9), step: 9, epoch: 2, batches: 2 },
      {
        when: (r: MetricRecord) => r.epoch === 2 && r.split === 'train' && r.accuracy !== undefined,
        step: 8,
        epoch: 1,
        batches: 8,
      },
    ];
    for (const { when, step, epoch, batches } of stops) {
      const out = tmp('stopped-');
      const stop = new AbortController();
      await expect(run(out, { signal: stop.signal, onMetrics: (r) => when(r) && stop.abort() })).rejects.toMatchObject({
        name: 'AbortError',
      });
      const saved = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'trainer_state.json'), 'utf8'));
      expect(saved).toMatchObject({ globalStep: step, epoch, inEpoch: { batches } });
      const lines: string[] = [];
      const resumed = await run(out, { resume: true, log: (l) => lines.push(l) });
      expect(lines[0]).toMatch(new RegExp(`in epoch ${epoch + 1} after ${batches} batches \\(step ${step}\\)`));
      expect(resumed.weights).toEqual(whole.weights);
      expect(resumed.result.test).toEqual(whole.result.test);
      expect([resumed.result.bestEpoch, resumed.result.bestValidationAccuracy]).toEqual([
        whole.result.bestEpoch,
        whole.result.bestValidationAccuracy,
      ]);
      expect(resumed.result.epochs).toEqual(
        whole.result.epochs
          .slice(-resumed.result.epochs.length)
          .map((e, i) => ({ ...e, seconds: resumed.result.epochs[i].seconds })),
      );
    }

    // Resuming mid-epoch with other batches is refused rather than silently wrong.
    const other = tmp('stopped-other-');
    const halt = new AbortController();
    await expect(
      run(other, { signal: halt.signal, onMetrics: (r) => afterStep(2)(r) && halt.abort() }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    await expect(run(other, { resume: true, batchSize: 16 })).rejects.toThrow(
      /after 4 of 8 batches in epoch 1, but this run makes 4; resume with the same data, batchSize and seed/,
    );

    // Early stopping with a patience of 1: the run ends at the first epoch that does not beat the best one.
    const patient = await run(tmp('patience-'), { epochs: 6, earlyStoppingPatience: 1 });
    const best = patient.result.bestEpoch!;
    const accuracies = patient.result.epochs.map((e) => e.validation!.accuracy);
    expect(patient.result.epochs.map((e) => e.epoch)).toEqual(Array.from({ length: best + 1 }, (_, i) => i + 1));
    expect(accuracies.slice(1, best).every((a, i) => a > Math.max(...accuracies.slice(0, i + 1)))).toBe(true);
    expect(accuracies[best]).toBeLessThanOrEqual(accuracies[best - 1]);
    expect(best + 1).toBeLessThan(6);

    // saveEvery checkpoints within the epoch too: at step 4 the last checkpoint is step 3's.
    const out = tmp('save-every-');
    let seenAtStep4: unknown;
    await run(out, {
      saveEvery: 3,
      onMetrics: (r) => {
        if (r.step === 4 && r.lr !== undefined)
          seenAtStep4 = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'trainer_state.json'), 'utf8'));
      },
    });
    expect(seenAtStep4).toMatchObject({ epoch: 0, globalStep: 3, inEpoch: { batches: 6 } });
  });

  it('learns a learnable task and holds memory flat across epochs', async () => {
    // Sentences that say "good" are positive and "bad" negative: the tiny model must fit this quickly.
    const words = ['film', 'plot', 'actor', 'scene', 'music', 'story', 'ending', 'cast'];
    const make = (n: number, seed: number) =>
      Array.from({ length: n }, (_, i) => {
        const w = words[(i * 7 + seed) % words.length];
        return i % 2
          ? { text: `the ${w} was good , really good`, label: 1 }
          : { text: `the ${w} was bad , really bad`, label: 0 };
      });
    manualSeed(1);
    const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
    prepareModel(model, 'full');
    const trainer = new Trainer({
      model,
      tokenizer,
      train: make(64, 0),
      validation: make(16, 3),
      epochs: 4,
      batchSize: 8,
      lr: 3e-3,
      maxLength: 16,
      ...quiet,
    });
    const before = await settledLiveTensors();
    const r = await trainer.train();
    expect(r.bestValidationAccuracy).toBe(1);
    // What stays is AdamW's two moments per parameter; nothing per step or per epoch.
    expect(memory().numTensors - before).toBe(2 * model.parameters().length);
  });

  it('stops when its signal aborts, between steps and during evaluation, and gives the event loop turns while it evaluates', async () => {
    const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
    prepareModel(model, 'lora', { rank: 2 });
    const validation = small(200, 9);
    const stopAt = async (when: (r: MetricRecord) => boolean) => {
      const stop = new AbortController();
      const splits: string[] = [];
      const trainer = new Trainer({
        model,
        tokenizer,
        train: small(64, 8),
        validation,
        epochs: 2,
        batchSize: 8,
        evalBatchSize: 8,
        maxLength: 32,
        logEvery: 1,
        ...quiet,
        signal: stop.signal,
        onMetrics: (r) => {
          splits.push(r.split);
          if (when(r)) stop.abort();
        },
      });
      const before = await settledLiveTensors();
      await expect(trainer.train()).rejects.toMatchObject({ name: 'AbortError' });
      trainer.dispose();
      expect(liveTensors()).toBe(before); // no best-weights snapshot or optimizer state left behind
      expect(model.training).toBe(true);
      return splits;
    };
    // After the third optimizer step of 8 in the first epoch.
    expect(await stopAt((r) => r.step === 3)).toEqual(['train', 'train', 'train']);
    // After the second epoch's training, while its validation runs (25 batches): no validation record comes.
    const splits = await stopAt((r) => r.epoch === 2 && r.split === 'train' && r.accuracy !== undefined);
    expect(splits.filter((s) => s === 'validation')).toHaveLength(1);
    expect(splits[splits.length - 1]).toBe('train');

    // Evaluation yields: a timer set before it fires while it runs, not after.
    const trainer = new Trainer({ model, tokenizer, train: small(8, 8), maxLength: 32, evalBatchSize: 8, ...quiet });
    let evaluating = true;
    let firedWhileEvaluating = false;
    setImmediate(() => (firedWhileEvaluating = evaluating));
    const r = await trainer.evaluateAsync(validation);
    evaluating = false;
    expect(r.examples).toBe(200);
    expect(firedWhileEvaluating).toBe(true);
    expect(r).toEqual(trainer.evaluate(validation));
    trainer.dispose();
  });

  it("evaluates accuracy, macro F1 and the confusion matrix of the model's own predictions", async () => {
    // scikit-learn's documented example: f1_score([0,1,2,0,1,2], [0,2,1,0,0,1], average='macro') == 0.2666...
    expect(macroF1(confusionMatrix([0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1], 3))).toBeCloseTo(0.26666666666666666, 12);
    expect(macroF1(confusionMatrix([0, 0, 1], [0, 0, 1], 3))).toBe(1); // a class nobody has or predicts does not count

    manualSeed(3);
    const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL, {
      id2label: ['a', 'b', 'c'],
      ignoreMismatchedSizes: true,
    });
    const examples = small(60, 11).map((e, i) => ({ ...e, label: i % 3 }));
    const trainer = new Trainer({ model, tokenizer, train: examples, maxLength: 32, evalBatchSize: 7, ...quiet });
    const r = trainer.evaluate(examples);
    // The same predictions made here, one example at a time.
    const predicted = examples.map((e) =>
      noGrad(() =>
        tidy(() => {
          const enc = tokenizer.encodeBatch([e.text], { maxLength: 32, truncation: true });
          return model
            .eval()
            .forward(tensor(enc.inputIds, { dtype: 'int64' }), tensor(enc.attentionMask, { dtype: 'int64' }))
            .logits.argmax(-1)
            .item() as number;
        }),
      ),
    );
    const confusion = [
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ];
    examples.forEach((e, i) => confusion[e.label][predicted[i]]++);
    expect(r.confusion).toEqual(confusion);
    expect(r.accuracy).toBeCloseTo(examples.filter((e, i) => e.label === predicted[i]).length / 60, 12);
    const f1 = [0, 1, 2]
      .map((c) => {
        const tp = confusion[c][c],
          fn = confusion[c].reduce((a, b) => a + b) - tp,
          fp = confusion.reduce((a, row) => a + row[c], 0) - tp;
        return tp + fn + fp ? (2 * tp) / (2 * tp + fp + fn) : null;
      })
      .filter((v): v is number => v !== null);
    expect(r.macroF1).toBeCloseTo(f1.reduce((a, b) => a + b) / f1.length, 12);
    trainer.dispose();
    model.dispose();
  });

  it('refuses a model with nothing to train', async () => {
    const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
    model.requiresGrad_(false);
    expect(() => new Trainer({ model, tokenizer, train: small(8, 1) })).toThrow(/no trainable parameters/);
  });

  it('finetune() writes a PEFT adapter for LoRA and reports parameter counts', async () => {
    const out = tmp('finetune-');
    const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
    const r = await finetune({
      model,
      tokenizer,
      method: 'lora',
      lora: { rank: 2, alpha: 4 },
      train: small(32, 4),
      epochs: 1,
      batchSize: 16,
      maxLength: 32,
      outputDir: out,
      ...quiet,
    });
    expect(r.trainable).toBe(4 * 2 * (32 + 32));
    expect(fs.existsSync(path.join(out, 'adapter', 'adapter_config.json'))).toBe(true);
  });

  it('finetune() keeps the submodules named in keepFrozen frozen and out of the trainable count', async () => {
    const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
    const embeddings = model.getSubmodule('distilbert.embeddings');
    const before = embeddings.parameters().map((p) => p.toArray());
    const frozen = embeddings.parameters().reduce((n, p) => n + p.numel(), 0);
    const all = model.parameters().reduce((n, p) => n + p.numel(), 0);
    const r = await finetune({
      model,
      tokenizer,
      method: 'full',
      keepFrozen: ['distilbert.embeddings'],
      train: small(32, 4),
      epochs: 1,
      batchSize: 16,
      lr: 1e-2,
      maxLength: 32,
      ...quiet,
    });
    expect(r.trainable).toBe(all - frozen);
    expect(embeddings.parameters().map((p) => p.toArray())).toEqual(before);
    expect(embeddings.parameters().every((p) => !p.requiresGrad)).toBe(true);
    model.dispose();
  });
});

describe('masked-language-model pretraining', () => {
  const opts = { maskTokenId: 103, vocabSize: 30522, specialIds: new Set([0, 101, 102]) };

  it('masks 15% of ordinary tokens, 80/10/10 mask/random/keep, never special tokens', () => {
    const n = 200_000;
    const ids = Int32Array.from({ length: n }, (_, i) => (i % 50 === 0 ? 101 : i % 50 === 49 ? 102 : 1000 + (i % 997)));
    const { inputs, labels } = maskTokens(ids, opts, datasets.mulberry32(3));
    let chosen = 0,
      masked = 0,
      kept = 0,
      special = 0,
      touchedUnchosen = 0;
    for (let i = 0; i < n; i++) {
      if (labels[i] === -100) {
        if (inputs[i] !== ids[i]) touchedUnchosen++;
        continue;
      }
      chosen++;
      if (opts.specialIds.has(ids[i])) special++;
      if (inputs[i] === 103) masked++;
      else if (inputs[i] === ids[i]) kept++;
    }
    const ordinary = n - (2 * n) / 50;
    expect(special).toBe(0);
    expect(touchedUnchosen).toBe(0);
    expect(chosen / ordinary).toBeCloseTo(0.15, 2);
    expect(masked / chosen).toBeCloseTo(0.8, 1);
    expect(kept / chosen).toBeGreaterThan(0.08); // 10% kept, plus the rare random draw of the same token
    expect(kept / chosen).toBeLessThan(0.12);
  });

  it('computes the loss at chosen positions only, equal to the full head with ignore_index', () => {
    const mlm = DistilBertForMaskedLM.random(
      { dim: 32, n_layers: 1, n_heads: 2, hidden_dim: 64, dropout: 0, attention_dropout: 0 },
      5,
    );
    mlm.eval();
    noGrad(() =>
      tidy(() => {
        const ids = tensor(
          [
            [101, 2000, 103, 2003, 102],
            [101, 103, 2010, 102, 0],
          ],
          { dtype: 'int64' },
        );
        const mask = tensor(
          [
            [1, 1, 1, 1, 1],
            [1, 1, 1, 1, 0],
          ],
          { dtype: 'int64' },
        );
        const labels = tensor(
          [
            [-100, -100, 2001, -100, -100],
            [-100, 2500, -100, -100, -100],
          ],
          { dtype: 'int64' },
        );
        const full = mlm.forward(ids, mask, labels).loss!.item() as number;
        const fast = maskedLmLoss(mlm, ids, mask, labels.view(-1)).item() as number;
        expect(Math.abs(full - fast)).toBeLessThan(1e-5);
      }),
    );
  });

  it('lowers the MLM loss on repeated text', async () => {
    const mlm = DistilBertForMaskedLM.random(
      { dim: 32, n_layers: 1, n_heads: 2, hidden_dim: 64, dropout: 0, attention_dropout: 0 },
      6,
    );
    const texts = Array.from({ length: 64 }, () => 'the movie was a wonderful story about love and music');
    const r = await pretrainMlm({
      model: mlm,
      tokenizer,
      texts,
      batchSize: 8,
      lr: 1e-2,
      maxLength: 16,
      progress: false,
      seed: 1,
    });
    expect(r.steps).toBe(8);
    expect(r.lastLoss).toBeLessThan(r.firstLoss);
  });
});

describe('datasets for the pipeline and the CLI', () => {
  it("loads IMDb with Raschka's split, subsampled", async () => {
    const d = await loadTextDataset(path.join(SHARED, 'data', 'aclImdb_v1.tar.gz'), {
      trainSize: 100,
      validationSize: 20,
      testSize: 40,
    });
    expect([d.train.length, d.validation.length, d.test.length]).toEqual([100, 20, 40]);
    expect(d.labels).toEqual(['neg', 'pos']);
  });

  it('runs `torch-lora finetune` end to end and fails clearly on bad input', async () => {
    const repo = path.resolve(__dirname, '..', '..');
    execFileSync('node', ['scripts/bootstrap.js', '--quiet'], { cwd: repo });
    const out = tmp('cli-');
    const cli = path.join(repo, 'dist', 'bin', 'torch-lora.js');
    const stdout = execFileSync(
      'node',
      [
        cli,
        'finetune',
        '--model',
        TINY_MODEL,
        '--data',
        path.join(SHARED, 'data', 'sst2'),
        '--train-size',
        '48',
        '--val-size',
        '16',
        '--test-size',
        '16',
        '--epochs',
        '1',
        '--max-length',
        '32',
        '--lora-query',
        '--lora-value',
        '--rank',
        '2',
        '--output',
        out,
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    expect(stdout).toMatch(/trainable parameters: 512 of/);
    expect(stdout).toMatch(/test \d+\.\d+%/);
    expect(fs.existsSync(path.join(out, 'adapter', 'adapter_model.safetensors'))).toBe(true);
    const predicted = execFileSync(
      'node',
      [cli, 'predict', '--model', TINY_MODEL, '--adapter', path.join(out, 'adapter'), 'a fine film'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    expect(predicted).toMatch(/^(negative|positive)\t0\.\d{4}\ta fine film/); // SST-2's class names, carried by the adapter
    // An adapter for three classes over the two-class base: predict sizes the head from the adapter.
    const three = tmp('three-classes-');
    const texts = ['good film', 'bad film', 'so-so film'];
    await runFinetuneJob({
      model: TINY_MODEL,
      data: {
        labels: ['pos', 'neg', 'meh'],
        train: Array.from({ length: 24 }, (_, i) => ({ text: texts[i % 3], label: i % 3 })),
      },
      lora: { rank: 2, trainHead: true },
      epochs: 1,
      maxLength: 16,
      progress: false,
      outputDir: three,
    });
    const threeOut = execFileSync(
      'node',
      [cli, 'predict', '--model', TINY_MODEL, '--adapter', path.join(three, 'adapter'), 'good film'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    expect(threeOut).toMatch(/^(pos|neg|meh)\t0\.\d{4}\tgood film/);
    const bad = spawnSync('node', [cli, 'finetune', '--model', TINY_MODEL, '--data', '/nonexistent.csv'], {
      encoding: 'utf8',
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/torch-lora: /);
  });
});

it('AutoTokenizer reads the base tokenizer files', () => {
  expect(AutoTokenizer.fromPretrained(path.join(SHARED, 'models', 'distilbert-base-uncased')).vocabSize).toBe(30522);
});
