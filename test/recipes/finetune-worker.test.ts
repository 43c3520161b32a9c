// Fine-tuning described as a job: the same run in this thread and in a worker thread, the event loop free while the
// worker trains, progress reported back, abort, clear errors, and no tensors left behind.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FinetuneJob, MetricRecord } from '../../lib';
import { createClassifier, finetuneInWorker, runFinetuneJob, readAdapterLabels, data as datasets } from '../../lib';
import { TINY_MODEL, SHARED } from '../helpers/paths';
import { liveTensors, settledLiveTensors } from '../helpers/gc';

const sst2 = datasets.loadSst2(path.join(SHARED, 'data', 'sst2'));
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'finetune-job-'));

function job(trainSize: number, outputDir?: string, extra: Partial<FinetuneJob> = {}): FinetuneJob {
  return {
    model: TINY_MODEL,
    data: {
      name: 'sst2-small',
      labels: ['negative', 'positive'],
      train: datasets.subsample(sst2.train, trainSize, 1),
      validation: datasets.subsample(sst2.validation, 32, 2),
      test: datasets.subsample(sst2.validation, 48, 3),
    },
    lora: { rank: 2, alpha: 4 },
    epochs: 2,
    batchSize: 16,
    lr: 2e-3,
    maxLength: 32,
    seed: 7,
    progress: false,
    outputDir,
    ...extra,
  };
}

describe('runFinetuneJob and finetuneInWorker', () => {
  test('a worker thread gives the same run as this thread: losses, accuracies and the adapter file', async () => {
    const here = tmp(),
      there = tmp();
    const before = await settledLiveTensors();
    const a = await runFinetuneJob(job(96, here));
    expect(liveTensors()).toBe(before); // the job frees its model
    const lines: string[] = [];
    const b = await finetuneInWorker(job(96, there), { log: (l) => lines.push(l) });

    expect(a.method).toBe('lora');
    expect(a.data).toEqual({
      name: 'sst2-small',
      labels: ['negative', 'positive'],
      train: 96,
      validation: 32,
      test: 48,
    });
    expect(b.data).toEqual(a.data);
    expect(b.trainable).toBe(a.trainable);
    expect(b.epochs.map((e) => e.trainLoss)).toEqual(a.epochs.map((e) => e.trainLoss));
    expect(b.epochs.map((e) => e.validation?.accuracy)).toEqual(a.epochs.map((e) => e.validation?.accuracy));
    expect(b.test).toEqual(a.test);
    const adapter = (dir: string) => fs.readFileSync(path.join(dir, 'adapter', 'adapter_model.safetensors'));
    expect(adapter(there).equals(adapter(here))).toBe(true);
    expect(readAdapterLabels(path.join(there, 'adapter'))).toEqual(['negative', 'positive']);
    expect(lines[0]).toMatch(/^data: sst2-small — train 96, validation 32, test 48; labels negative, positive$/);
    expect(lines.filter((l) => /^epoch [12]: train loss/.test(l))).toHaveLength(2);
  });

  test("a job trained in a worker is served at once by a running classifier, with the dataset's class names", async () => {
    const classifier = await createClassifier({
      model: TINY_MODEL,
      workers: 1,
      maxLength: 32,
      onWorkerError: () => undefined,
    });
    try {
      const trained = await finetuneInWorker(job(96, tmp(), { lora: { rank: 2, alpha: 4, trainHead: true } }));
      await classifier.addAdapter('sst2', trained.adapterDir!);
      const [viaServer] = await classifier.classify(['a fine film'], { adapter: 'sst2' });
      const [base] = await classifier.classify(['a fine film']);
      expect(['negative', 'positive']).toContain(viaServer.label);
      expect(['LABEL_0', 'LABEL_1']).toContain(base.label);
      expect(viaServer.scores).not.toEqual(base.scores); // the adapter's LoRA weights and head are in use
    } finally {
      await classifier.close();
    }
  });

  test('the main thread stays responsive while the worker trains, and metrics arrive as they are made', async () => {
    const metrics: MetricRecord[] = [];
    let maxGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 5);
    const started = performance.now();
    try {
      await finetuneInWorker(job(2000, undefined, { epochs: 1, maxLength: 64, logEvery: 5 }), {
        onMetrics: (r) => metrics.push(r),
      });
    } finally {
      clearInterval(timer);
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `event loop during ${seconds.toFixed(1)} s of training in a worker: longest gap between 5 ms ticks ${maxGap.toFixed(1)} ms`,
    );
    expect(maxGap).toBeLessThan(250);
    const steps = metrics.filter((m) => m.split === 'train' && m.lr !== undefined).map((m) => m.step);
    expect(steps).toEqual(Array.from({ length: 25 }, (_, i) => 5 * (i + 1))); // 2,000 examples in batches of 16: 125 steps
    expect(metrics.map((m) => m.split)).toEqual([...steps.map(() => 'train'), 'train', 'validation', 'test']);
  });

  test('aborting stops the worker after the current step and rejects with the AbortError', async () => {
    const stop = new AbortController();
    const steps: number[] = [];
    const run = finetuneInWorker(job(800, undefined, { epochs: 1, logEvery: 1 }), {
      signal: stop.signal,
      onMetrics: (r) => {
        steps.push(r.step);
        if (r.step === 3) stop.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(steps[steps.length - 1]).toBeLessThan(10); // 50 steps were planned
    await expect(finetuneInWorker(job(96), { signal: stop.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  test('an aborted run in this thread rejects too and frees its model', async () => {
    const stop = new AbortController();
    const before = await settledLiveTensors();
    const run = runFinetuneJob(job(400, undefined, { logEvery: 1 }), {
      signal: stop.signal,
      onMetrics: (r) => r.step === 2 && stop.abort(),
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(liveTensors()).toBe(before);
  });

  test('bad jobs fail with a clear error, in the worker as here', async () => {
    await expect(finetuneInWorker({ ...job(96), data: '/nonexistent/reviews.txt' })).rejects.toThrow(
      /not a dataset I know/,
    );
    await expect(finetuneInWorker({ ...job(96), model: path.join(SHARED, 'no-such-model') })).rejects.toThrow(
      /no-such-model/,
    );
    await expect(runFinetuneJob({ ...job(96), data: { train: [{ text: 'fine', label: -1 }] } })).rejects.toThrow(
      /label 0\.\.n-1/,
    );
    await expect(runFinetuneJob({ ...job(96), data: { train: [] } })).rejects.toThrow(/non-empty array/);
    await expect(finetuneInWorker({ ...job(96), log: () => undefined } as FinetuneJob)).rejects.toThrow(
      /must be plain data/,
    );
  });
});
