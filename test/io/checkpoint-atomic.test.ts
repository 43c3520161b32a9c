// Issue 14, item 14: nothing is written half. A checkpoint, an adapter or a model folder appears whole or not at all;
// a resume refuses a checkpoint mixed from two saves; metrics.jsonl after a SIGKILL and a resume has no repeats; a
// full disk names the file it was writing.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  optim,
  BertTokenizer,
  DistilBertForSequenceClassification,
  MetricsLogger,
  Trainer,
  data as datasets,
  loadTrainingCheckpoint,
  manualSeed,
  noGrad,
  prepareModel,
  readMetrics,
  saveAdapter,
  saveTrainingCheckpoint,
  weightDecayGroups,
  writePlot,
} from '../../lib';
import { TINY_MODEL, SHARED } from '../helpers/paths';
import { ensureCompiled, ROOT } from '../helpers/compiled';

// The module object itself (the `import * as` namespace has read-only bindings, which jest cannot spy on).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeFs: typeof fs = require('node:fs');
const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));

/** Makes every write to a file whose path matches `pattern` fail as a full disk does (Node's message names no file). */
function diskFullFor(pattern: RegExp): () => void {
  const paths = new Map<number, string>();
  const realOpen = nodeFs.openSync;
  const realWrite = nodeFs.writeSync;
  const open = jest.spyOn(nodeFs, 'openSync').mockImplementation(((p: fs.PathLike, ...rest: unknown[]) => {
    const fd = (realOpen as (...a: unknown[]) => number)(p, ...rest);
    paths.set(fd, String(p));
    return fd;
  }) as typeof fs.openSync);
  const write = jest.spyOn(nodeFs, 'writeSync').mockImplementation(((fd: number, ...rest: unknown[]) => {
    if (pattern.test(paths.get(fd) ?? ''))
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    return (realWrite as (...a: unknown[]) => number)(fd, ...rest);
  }) as typeof fs.writeSync);
  return () => {
    open.mockRestore();
    write.mockRestore();
  };
}

async function loraModel(seed: number) {
  manualSeed(seed);
  const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
  prepareModel(model, 'lora', { rank: 2, alpha: 4, trainHead: true });
  // The Trainer's two groups (decaying, not decaying), so that a Trainer can resume what these tests save.
  const optimizer = new optim.AdamW(weightDecayGroups(model, 0.01), { lr: 1e-2 });
  return { model, optimizer };
}

const trainableValues = (model: DistilBertForSequenceClassification) =>
  [...model.namedParameters()].filter(([, p]) => p.requiresGrad).map(([n, p]) => [n, Array.from(p.dataSync())]);

/** Names in `dir`'s parent that an interrupted write would leave behind. */
const leftovers = (dir: string) =>
  fs.readdirSync(path.dirname(dir)).filter((n) => n.startsWith(`.${path.basename(dir)}.`));

describe('checkpoints are whole or nothing', () => {
  it('a save that runs out of disk keeps the previous checkpoint intact and loadable, names the file, and leaves nothing behind', async () => {
    const dir = path.join(tmp('ckpt-'), 'checkpoint');
    const { model, optimizer } = await loraModel(1);
    saveTrainingCheckpoint(dir, model, optimizer, { epoch: 0, globalStep: 1, bestMetric: null, bestEpoch: null });
    const saved = trainableValues(model);
    noGrad(() =>
      model
        .parameters()
        .filter((p) => p.requiresGrad)
        .forEach((p) => p.add_(1)),
    );
    const restore = diskFullFor(/optimizer\.safetensors/);
    try {
      expect(() =>
        saveTrainingCheckpoint(dir, model, optimizer, { epoch: 0, globalStep: 2, bestMetric: null, bestEpoch: null }),
      ).toThrow(/cannot write .*optimizer\.safetensors.*ENOSPC/);
    } finally {
      restore();
    }
    expect(leftovers(dir)).toEqual([]);
    expect(loadTrainingCheckpoint(dir, model, optimizer)).toMatchObject({ globalStep: 1 });
    expect(trainableValues(model)).toEqual(saved);
    model.dispose();
  });

  it('resume refuses a checkpoint mixed from two saves, or one without hashes, naming the file', async () => {
    const parent = tmp('ckpt-mixed-');
    const [a, b] = [path.join(parent, 'a'), path.join(parent, 'b')];
    const { model, optimizer } = await loraModel(2);
    saveTrainingCheckpoint(a, model, optimizer, { epoch: 0, globalStep: 1, bestMetric: null, bestEpoch: null });
    noGrad(() =>
      model
        .parameters()
        .filter((p) => p.requiresGrad)
        .forEach((p) => p.add_(1)),
    );
    saveTrainingCheckpoint(b, model, optimizer, { epoch: 0, globalStep: 2, bestMetric: null, bestEpoch: null });
    // New weights beside the old trainer state: what a disk filling up between per-file saves used to leave.
    fs.copyFileSync(path.join(b, 'trainable.safetensors'), path.join(a, 'trainable.safetensors'));
    expect(() => loadTrainingCheckpoint(a, model, optimizer)).toThrow(
      /inconsistent checkpoint in .*a: trainable\.safetensors is not the file trainer_state\.json was saved with/,
    );
    fs.rmSync(path.join(b, 'optimizer.safetensors'));
    expect(() => loadTrainingCheckpoint(b, model, optimizer)).toThrow(
      /inconsistent checkpoint in .*b: optimizer\.safetensors is missing/,
    );
    const state = path.join(a, 'trainer_state.json');
    const { files: _files, ...legacy } = JSON.parse(fs.readFileSync(state, 'utf8'));
    fs.writeFileSync(state, JSON.stringify(legacy));
    expect(() => loadTrainingCheckpoint(a, model, optimizer)).toThrow(/trainer_state\.json: no file hashes/);
    model.dispose();
  });

  it('a save interrupted between its two renames is put back by the next resume', async () => {
    const out = tmp('ckpt-renames-');
    const dir = path.join(out, 'checkpoint');
    const { model, optimizer } = await loraModel(3);
    saveTrainingCheckpoint(dir, model, optimizer, { epoch: 1, globalStep: 6, bestMetric: null, bestEpoch: null });
    // The old folder moved aside, the new one not yet in place (a kill at that moment), plus a half-written new one.
    fs.renameSync(dir, path.join(out, `.checkpoint.123.0123456789ab.old`));
    fs.mkdirSync(path.join(out, `.checkpoint.123.ba9876543210.tmp`));
    const tokenizer = BertTokenizer.fromPretrained(TINY_MODEL);
    const train = datasets.subsample(datasets.loadSst2(path.join(SHARED, 'data', 'sst2')).train, 16, 1);
    const trainer = new Trainer({
      model,
      tokenizer,
      train,
      epochs: 1,
      batchSize: 8,
      maxLength: 16,
      outputDir: out,
      resume: true,
      progress: false,
      log: () => undefined,
    });
    const result = await trainer.train(); // epoch 1 of 1 is done: nothing left to train
    expect(result.epochs).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'trainer_state.json'))).toBe(true);
    expect(leftovers(dir)).toEqual([]);
    trainer.dispose();
    model.dispose();
  });
});

describe('saveAdapter and savePretrained folders are whole or nothing', () => {
  it('a full disk leaves no folder (new) or the old one (existing); files beside it are kept; a folder with subfolders is refused', async () => {
    const { model } = await loraModel(4);
    const parent = tmp('adapter-atomic-');
    const fresh = path.join(parent, 'fresh');
    let restore = diskFullFor(/adapter_config\.json/);
    try {
      expect(() => saveAdapter(model, fresh)).toThrow(/cannot write .*adapter_config\.json.*ENOSPC/);
    } finally {
      restore();
    }
    expect(fs.existsSync(fresh)).toBe(false);
    expect(leftovers(fresh)).toEqual([]);

    const existing = path.join(parent, 'existing');
    saveAdapter(model, existing);
    fs.writeFileSync(path.join(existing, 'README.md'), 'my notes');
    const before = fs.readFileSync(path.join(existing, 'adapter_model.safetensors'));
    noGrad(() =>
      model
        .parameters()
        .filter((p) => p.requiresGrad)
        .forEach((p) => p.add_(1)),
    );
    restore = diskFullFor(/adapter_model\.safetensors/);
    try {
      expect(() => saveAdapter(model, existing)).toThrow(/adapter_model\.safetensors.*ENOSPC/);
    } finally {
      restore();
    }
    expect(fs.readFileSync(path.join(existing, 'adapter_model.safetensors'))).toEqual(before);
    saveAdapter(model, existing);
    expect(fs.readFileSync(path.join(existing, 'adapter_model.safetensors'))).not.toEqual(before);
    expect(fs.readFileSync(path.join(existing, 'README.md'), 'utf8')).toBe('my notes');
    expect(leftovers(existing)).toEqual([]);

    fs.mkdirSync(path.join(existing, 'runs'));
    expect(() => saveAdapter(model, existing)).toThrow(/holds 'runs', which is not a plain file/);
    expect(fs.existsSync(path.join(existing, 'runs'))).toBe(true);

    const base = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
    const pretrained = path.join(parent, 'pretrained');
    restore = diskFullFor(/model\.safetensors/);
    try {
      expect(() => base.savePretrained(pretrained)).toThrow(/cannot write .*model\.safetensors.*ENOSPC/);
    } finally {
      restore();
    }
    expect(fs.existsSync(pretrained)).toBe(false);
    base.savePretrained(pretrained);
    expect(fs.readdirSync(pretrained).sort()).toEqual(['config.json', 'model.safetensors']);
    base.dispose();
    model.dispose();
  });

  it('the metrics log and the plot name the file when the disk is full', () => {
    const dir = tmp('metrics-full-');
    const restore = diskFullFor(/metrics/);
    const logger = new MetricsLogger(path.join(dir, 'metrics.jsonl'));
    try {
      expect(() => logger.log({ step: 1, epoch: 1, split: 'train', loss: 1 })).toThrow(
        /cannot write .*metrics\.jsonl.*ENOSPC/,
      );
      expect(() => writePlot(path.join(dir, 'metrics.svg'), '<svg/>')).toThrow(/cannot write .*metrics\.svg.*ENOSPC/);
    } finally {
      restore();
      logger.close();
    }
    expect(fs.readdirSync(dir)).toEqual(['metrics.jsonl']);
  });
});

describe('metrics.jsonl after SIGKILL and resume', () => {
  beforeAll(() => {
    ensureCompiled(path.join(ROOT, 'dist', 'lib', 'index.js'));
  }, 300_000);

  /** Trains in a child process (dist/), which SIGKILLs itself right after writing the train record of step `killAt`. */
  function run(out: string, killAt: number, resume: boolean) {
    const script = `
      const lib = require(${JSON.stringify(path.join(ROOT, 'dist', 'lib'))});
      (async () => {
        lib.manualSeed(4);
        const model = await lib.DistilBertForSequenceClassification.fromPretrained(${JSON.stringify(TINY_MODEL)});
        lib.prepareModel(model, 'lora', { rank: 2, alpha: 4, trainHead: true });
        const sst2 = lib.data.loadSst2(${JSON.stringify(path.join(SHARED, 'data', 'sst2'))});
        const trainer = new lib.Trainer({
          model, tokenizer: lib.BertTokenizer.fromPretrained(${JSON.stringify(TINY_MODEL)}),
          train: lib.data.subsample(sst2.train, 48, 5), validation: lib.data.subsample(sst2.train, 16, 6),
          epochs: 2, batchSize: 8, lr: 2e-2, maxLength: 32, outputDir: ${JSON.stringify(out)}, logEvery: 1, saveEvery: 2,
          resume: ${resume}, progress: false, log: () => {},
          onMetrics: (r) => { if (r.split === 'train' && r.step === ${killAt} && r.lr !== undefined) process.kill(process.pid, 'SIGKILL'); },
        });
        await trainer.train();
      })().catch((e) => { console.error(e); process.exit(1); });`;
    return spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000 });
  }
  const summary = (file: string) =>
    readMetrics(file).map((r) => `${r.split} e${r.epoch} s${r.step} loss=${r.loss} acc=${r.accuracy}`);

  it('holds every record once, exactly as an uninterrupted run writes them', () => {
    const whole = tmp('metrics-whole-');
    expect(run(whole, -1, false).status).toBe(0);
    const killed = tmp('metrics-killed-');
    // 6 steps an epoch; checkpoints at steps 8 and 10 (saveEvery 2); killed just after logging step 9.
    const first = run(killed, 9, false);
    expect(first.signal).toBe('SIGKILL');
    expect(readMetrics(path.join(killed, 'metrics.jsonl')).at(-1)).toMatchObject({ split: 'train', step: 9 });
    const second = run(killed, -1, true);
    expect(second.stderr).toBe('');
    expect(second.status).toBe(0);
    const got = summary(path.join(killed, 'metrics.jsonl'));
    expect(new Set(got).size).toBe(got.length);
    expect(got).toEqual(summary(path.join(whole, 'metrics.jsonl')));
  }, 300_000);
});
