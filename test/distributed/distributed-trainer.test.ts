// The Trainer under DDP (2 processes, Gloo): the same weights and the same metrics on both ranks, evaluation equal to
// a single-process evaluation of the final model, files written once by rank 0, and resume refusing another world size.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runRanks, transpiledLib } from '../helpers/ranks';
import { SHARED, TINY_MODEL } from '../helpers/paths';
import {
  DistilBertForSequenceClassification,
  AutoTokenizer,
  Trainer,
  replaceLinearWithLora,
  markOnlyLoraAsTrainable,
  data as datasets,
} from '../../lib';

let libDir = '';
let dir = '';
beforeAll(() => {
  libDir = transpiledLib();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddp-trainer-'));
});
afterAll(() => {
  fs.rmSync(libDir, { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Out {
  epochs: { validation: { accuracy: number; loss: number; confusion: number[][]; examples: number } }[];
  steps: number;
  alone: { accuracy: number; loss: number; confusion: number[][]; examples: number };
  logged: number;
  weights: number[][];
}

test('2 ranks: same weights and metrics, eval equal to one process, one metrics file, resume needs the same world size', async () => {
  const outs = await runRanks(libDir, 'trainer', 2, {
    args: { model: TINY_MODEL, sst2: path.join(SHARED, 'data', 'sst2'), outputDir: dir },
  });
  for (const o of outs) if (o.code !== 0) throw new Error(`rank ${o.rank}: ${o.error}\n${o.stderr.slice(-2000)}`);
  const [a, b] = outs.map((o) => o.result as Out);
  expect(a.weights).toEqual(b.weights);
  // 96 examples, batches of 8 per rank: 12 batches dealt to 2 ranks = 6 steps per epoch.
  expect(a.steps).toBe(12);
  expect(a.epochs.map((e) => e.validation)).toEqual(b.epochs.map((e) => e.validation));
  const last = a.epochs[a.epochs.length - 1].validation;
  expect(last.examples).toBe(50);
  expect(last.accuracy).toBe(a.alone.accuracy);
  expect(last.confusion).toEqual(a.alone.confusion);
  expect(last.loss).toBeCloseTo(a.alone.loss, 5);
  expect(a.logged).toBeGreaterThan(0);
  expect(b.logged).toBe(0); // rank 1 is silent

  const lines = fs
    .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(lines.filter((l) => l.split === 'validation')).toHaveLength(2);
  expect(lines.filter((l) => l.split === 'train' && l.accuracy !== undefined)).toHaveLength(2);
  const state = JSON.parse(fs.readFileSync(path.join(dir, 'checkpoint', 'trainer_state.json'), 'utf8'));
  expect(state.worldSize).toBe(2);

  const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL, { numLabels: 2 });
  replaceLinearWithLora(model, { rank: 2, alpha: 4, targets: ['q_lin', 'v_lin'] });
  markOnlyLoraAsTrainable(model, { modulesToSave: ['pre_classifier', 'classifier'] });
  const sst2 = datasets.loadSst2(path.join(SHARED, 'data', 'sst2'));
  const t = new Trainer({
    model,
    tokenizer: AutoTokenizer.fromPretrained(TINY_MODEL),
    train: datasets.subsample(sst2.train, 96, 1),
    epochs: 3,
    batchSize: 8,
    maxLength: 32,
    progress: false,
    outputDir: dir,
    resume: true,
    log: () => undefined,
  });
  await expect(t.train()).rejects.toThrow(/written by a run of 2 process\(es\); resume it with 2, not 1/);
  t.dispose();
  model.dispose();
}, 120000);

test('resume under DDP: 1 epoch, then resumed to 2 with 2 ranks, ends where 2 uninterrupted epochs end', async () => {
  const base = { model: TINY_MODEL, sst2: path.join(SHARED, 'data', 'sst2'), schedule: 'constant' };
  const whole = path.join(dir, 'whole'),
    parts = path.join(dir, 'parts');
  const straight = await runRanks(libDir, 'trainer', 2, { args: { ...base, outputDir: whole, epochs: 2 } });
  const first = await runRanks(libDir, 'trainer', 2, { args: { ...base, outputDir: parts, epochs: 1 } });
  const resumed = await runRanks(libDir, 'trainer', 2, {
    args: { ...base, outputDir: parts, epochs: 2, resume: true },
  });
  for (const o of [...straight, ...first, ...resumed])
    if (o.code !== 0) throw new Error(`rank ${o.rank}: ${o.error}\n${o.stderr.slice(-2000)}`);
  const w = (o: { result?: unknown }) => (o.result as Out).weights;
  expect((first[0].result as Out).steps).toBe(6);
  expect((resumed[0].result as Out).steps).toBe(6); // only epoch 2 ran
  expect(w(resumed[0])).toEqual(w(straight[0]));
  expect(w(resumed[1])).toEqual(w(straight[1]));
  const lines = fs
    .readFileSync(path.join(parts, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(lines.filter((l) => l.split === 'validation').map((l) => l.epoch)).toEqual([1, 2]);
}, 180000);
