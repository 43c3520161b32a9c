// `torch-lora finetune --nproc-per-node 2`: the CLI relaunches itself as 2 ranks (Gloo on 127.0.0.1, 1 thread each),
// the job exits 0, only rank 0 prints and writes (one metrics record per split, one adapter), and the adapter it
// wrote loads into a fresh model that scores the test split exactly as the 2-rank run reported.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { DistilBertForSequenceClassification, AutoTokenizer, Trainer, loadAdapter } from '../../lib';
import { loadTextDataset } from '../../lib/recipes';
import { freePort } from '../helpers/ranks';
import { TINY_MODEL, SHARED } from '../helpers/paths';

const repo = path.resolve(__dirname, '..', '..');
let out = '';
beforeAll(() => {
  out = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-ddp-'));
});
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

test('finetune --nproc-per-node 2 trains once, writes once, and its adapter loads', async () => {
  execFileSync('node', ['scripts/bootstrap.js', '--quiet'], { cwd: repo });
  const cli = path.join(repo, 'dist', 'bin', 'torch-lora.js');
  const sst2 = path.join(SHARED, 'data', 'sst2');
  // 32 training examples, batches of 4 per rank: 4 optimizer steps per rank in the one epoch.
  const sizes = { train: 32, val: 16, test: 16 };
  const args = [
    'finetune',
    '--nproc-per-node',
    '2',
    '--master-port',
    String(await freePort()),
    '--model',
    TINY_MODEL,
    '--data',
    sst2,
    '--train-size',
    String(sizes.train),
    '--val-size',
    String(sizes.val),
    '--test-size',
    String(sizes.test),
    '--epochs',
    '1',
    '--batch-size',
    '4',
    '--max-length',
    '32',
    '--rank',
    '2',
    '--train-head',
    '--threads',
    '1',
    '--output',
    out,
  ];
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve) => {
      const child = execFile(
        'node',
        [cli, ...args],
        { cwd: repo, timeout: 90_000, env: { ...process.env, OMP_NUM_THREADS: '1' } },
        (e, so, se) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, stdout: so, stderr: se }),
      );
      child.stdin?.end();
    },
  );
  if (code !== 0) throw new Error(`exit ${code}\n${stderr.slice(-3000)}`);

  // Rank 1 is silent: the summary lines appear once.
  expect(stdout.match(/^trainable parameters: /gm)).toHaveLength(1);
  expect(stdout.match(/^train accuracy .* test \d+\.\d+%/gm)).toHaveLength(1);
  // One record per split and epoch (rank 1 appending its own would double them), and a checkpoint of a 2-rank run.
  const records = fs
    .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(records.filter((r) => r.split === 'validation')).toHaveLength(1);
  expect(records.filter((r) => r.split === 'test')).toHaveLength(1);
  const state = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'trainer_state.json'), 'utf8'));
  expect(state.worldSize).toBe(2);
  expect(state.globalStep).toBe(sizes.train / (2 * 4));
  expect(fs.readdirSync(path.join(out, 'adapter')).sort()).toEqual([
    'adapter_config.json',
    'adapter_model.safetensors',
  ]);

  // The adapter in a fresh single process: the same test accuracy and loss as the 2-rank run's reduced evaluation.
  const data = await loadTextDataset(sst2, {
    trainSize: sizes.train,
    validationSize: sizes.val,
    testSize: sizes.test,
    seed: 123,
  });
  const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL, {
    numLabels: 2,
    id2label: data.labels,
    ignoreMismatchedSizes: true,
  });
  loadAdapter(model, path.join(out, 'adapter'));
  const t = new Trainer({
    model,
    tokenizer: AutoTokenizer.fromPretrained(TINY_MODEL),
    train: data.train,
    maxLength: 32,
    batchSize: 4,
    progress: false,
    log: () => undefined,
  });
  try {
    const alone = t.evaluate(data.test);
    const reported = records.find((r) => r.split === 'test');
    expect(alone.examples).toBe(sizes.test);
    expect(alone.accuracy).toBe(reported.accuracy);
    expect(alone.loss).toBeCloseTo(reported.loss, 5);
  } finally {
    t.dispose();
    model.dispose();
  }
}, 120_000);
