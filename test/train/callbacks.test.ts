// The Trainer's callbacks: the hooks a user's callback sees and their order, and the control flags it steers the loop
// with (stop after a step, checkpoint now, evaluate now); async hooks are waited for.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TrainerCallback } from '../../lib';
import { BertTokenizer, DistilBertForSequenceClassification, Trainer, prepareModel, data as datasets } from '../../lib';
import { TINY_MODEL, SHARED } from '../helpers/paths';

const tokenizer = BertTokenizer.fromPretrained(TINY_MODEL);
const sst2 = datasets.loadSst2(path.join(SHARED, 'data', 'sst2'));

async function tinyLora(): Promise<DistilBertForSequenceClassification> {
  const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
  prepareModel(model, 'lora', { rank: 2, trainHead: true });
  return model;
}

it("calls every hook in order, the caller's after the built-in ones, and waits for async hooks", async () => {
  const model = await tinyLora();
  const seen: string[] = [];
  let metricsLines = -1;
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'callbacks-'));
  const spy: TrainerCallback = {
    onTrainBegin: (ctx, { resumed }) => {
      seen.push(`begin ${ctx.state.globalStep} ${resumed === null}`);
    },
    onEpochBegin: (_ctx, { epoch, batches }) => {
      seen.push(`epoch ${epoch} of ${batches} batches`);
    },
    onStepEnd: async (ctx) => {
      await new Promise((r) => setTimeout(r, 5));
      seen.push(`step ${ctx.state.globalStep}`);
    },
    onLog: (_ctx, r) => {
      // The metrics callback (built in) has written the record before this one sees it.
      metricsLines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length;
      seen.push(`log ${r.split}${r.lr !== undefined ? ' window' : ''}`);
    },
    onEvaluate: (_ctx, { split, isBest }) => {
      seen.push(`evaluate ${split} ${isBest}`);
    },
    onEpochEnd: (ctx, e) => {
      seen.push(`epoch end ${e.epoch} save=${ctx.control.shouldSave}`);
    },
    onSave: (_ctx, saved) => {
      seen.push(`save ${saved.epoch}`);
    },
    onTrainEnd: () => {
      seen.push('end');
    },
    onPredict: (_ctx, r) => {
      seen.push(`predict ${r.examples}`);
    },
  };
  const trainer = new Trainer({
    model,
    tokenizer,
    train: datasets.subsample(sst2.train, 16, 1),
    validation: datasets.subsample(sst2.train, 8, 2),
    test: datasets.subsample(sst2.train, 8, 3),
    epochs: 1,
    batchSize: 8,
    maxLength: 16,
    logEvery: 2,
    outputDir: out,
    progress: false,
    log: () => undefined,
    callbacks: [spy],
  });
  await trainer.train();
  trainer.dispose();
  model.dispose();
  expect(seen).toEqual([
    'begin 0 true',
    'epoch 1 of 2 batches',
    'step 1',
    'step 2',
    'log train window',
    'log train',
    'log validation',
    'evaluate validation true',
    'epoch end 1 save=true',
    'save 1',
    'end',
    'log test',
    'predict 8',
  ]);
  expect(metricsLines).toBe(4);
});

it('stops after the step a callback asks it to, checkpointing that step, and evaluates when asked', async () => {
  const model = await tinyLora();
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'callbacks-stop-'));
  const evaluated: number[] = [];
  const stopAtThree: TrainerCallback = {
    onStepEnd: (ctx) => {
      if (ctx.state.globalStep === 2) ctx.control.shouldEvaluate = true;
      if (ctx.state.globalStep === 3) Object.assign(ctx.control, { shouldSave: true, shouldTrainingStop: true });
    },
    onEvaluate: (ctx, { split }) => {
      evaluated.push(ctx.state.globalStep);
      expect(split).toBe('validation');
    },
  };
  const trainer = new Trainer({
    model,
    tokenizer,
    train: datasets.subsample(sst2.train, 48, 4),
    validation: datasets.subsample(sst2.train, 8, 5),
    epochs: 2,
    batchSize: 8,
    maxLength: 16,
    outputDir: out,
    progress: false,
    log: () => undefined,
    callbacks: [stopAtThree],
  });
  const r = await trainer.train();
  trainer.dispose();
  model.dispose();
  expect(r.steps).toBe(3);
  expect(r.epochs.map((e) => e.epoch)).toEqual([1]); // the epoch still ends (and evaluates) after the stop
  expect(evaluated).toEqual([2, 3]);
  // As with maxSteps, the stopped epoch ends there (3 of its 6 batches) and its end is checkpointed last.
  expect(JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'trainer_state.json'), 'utf8'))).toMatchObject({
    epoch: 1,
    globalStep: 3,
  });
});
