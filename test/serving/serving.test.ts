import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';
import type { BatchInfo, Classification, Classifier, ClassifierOptions } from '../../lib';
import {
  Batcher,
  createClassifier,
  DistilBertForSequenceClassification,
  LoRALayer,
  ServingError,
  loadAdapter,
  manualSeed,
  noGrad,
  replaceLinearWithLora,
  saveAdapter,
  tensor,
  tidy,
} from '../../lib';
import { AutoTokenizer } from '../../lib/tokenizer';
import type { ClassifierLike } from '../../examples/server/app';
import { buildServer } from '../../examples/server/app';
import { BASE_MODEL_FILES, TINY_MODEL } from '../helpers/paths';
import { ensureCompiled, ROOT } from '../helpers/compiled';

// fastify's inject() needs the 'cookie' package, which is ESM-only: jest's module loader cannot require it, but
// Node's own require can (Node >= 20.19), so jest is handed Node's copy. (jest wraps `module`, hence getBuiltinModule.)
jest.mock('cookie', () => {
  const nodeModule = (
    process as unknown as { getBuiltinModule(id: string): typeof import('node:module') }
  ).getBuiltinModule('module');
  return nodeModule.createRequire(__filename)('cookie');
});

const WORKER = path.join(ROOT, 'dist', 'lib', 'serving', 'worker.js');
const tmp = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

// Worker threads run the compiled JavaScript in dist/.
function buildDist(): void {
  ensureCompiled(WORKER);
}

/** Rejects with a ServingError whose code is `code`. */
async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toBeInstanceOf(ServingError);
  await expect(p).rejects.toMatchObject({ code });
}

// ------------------------------------------------------------------------------------------------ batcher

describe('Batcher', () => {
  type Run = { key: string; items: number[] };
  function make(opts: { maxBatchSize?: number; maxWaitMs?: number; maxQueue?: number; capacity?: () => boolean } = {}) {
    const runs: Run[] = [];
    const batches: BatchInfo[] = [];
    const batcher = new Batcher<number, number>({
      maxBatchSize: opts.maxBatchSize ?? 4,
      maxWaitMs: opts.maxWaitMs ?? 10,
      maxQueue: opts.maxQueue ?? 100,
      hasCapacity: opts.capacity,
      run: async (key, items) => {
        runs.push({ key, items });
        return items.map((x) => x * 10);
      },
      onBatch: (b) => batches.push(b),
    });
    return { batcher, runs, batches };
  }

  beforeEach(() => jest.useFakeTimers());
  afterEach(() => {
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  it('coalesces requests up to maxBatchSize and starts a full batch at once', async () => {
    const { batcher, runs } = make({ maxBatchSize: 4 });
    const a = batcher.submit('x', [1, 2]);
    const b = batcher.submit('x', [3]);
    expect(runs).toHaveLength(0);
    const c = batcher.submit('x', [4, 5]); // fills the batch: 1 2 3 4 run now, 5 waits
    expect(runs).toEqual([{ key: 'x', items: [1, 2, 3, 4] }]);
    await expect(a).resolves.toEqual([10, 20]);
    await expect(b).resolves.toEqual([30]);
    jest.advanceTimersByTime(10);
    expect(runs[1]).toEqual({ key: 'x', items: [5] });
    await expect(c).resolves.toEqual([40, 50]);
  });

  it('flushes a partial batch after maxWaitMs', async () => {
    const { batcher, runs } = make({ maxWaitMs: 25 });
    const p = batcher.submit('x', [1]);
    jest.advanceTimersByTime(24);
    expect(runs).toHaveLength(0);
    jest.advanceTimersByTime(1);
    expect(runs).toEqual([{ key: 'x', items: [1] }]);
    await expect(p).resolves.toEqual([10]);
  });

  it('keeps one queue per key (adapter) and never mixes keys in a batch', async () => {
    const { batcher, runs } = make({ maxBatchSize: 3 });
    const ps = [
      batcher.submit('a', [1]),
      batcher.submit('b', [2]),
      batcher.submit('a', [3]),
      batcher.submit('b', [4, 5]),
    ];
    expect(runs).toEqual([{ key: 'b', items: [2, 4, 5] }]);
    jest.advanceTimersByTime(10);
    expect(runs[1]).toEqual({ key: 'a', items: [1, 3] });
    expect(await Promise.all(ps)).toEqual([[10], [20], [30], [40, 50]]);
  });

  it('splits a request larger than maxBatchSize and reassembles its results in order', async () => {
    const { batcher, runs } = make({ maxBatchSize: 4 });
    const p = batcher.submit('x', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    jest.advanceTimersByTime(10);
    expect(runs.map((r) => r.items)).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
      [9, 10],
    ]);
    await expect(p).resolves.toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
  });

  it('waits for capacity, filling batches meanwhile, and serves the oldest due queue first', async () => {
    let free = false;
    const { batcher, runs } = make({ maxBatchSize: 8, capacity: () => free });
    const ps = [batcher.submit('b', [1]), batcher.submit('a', [2]), batcher.submit('b', [3]), batcher.submit('a', [4])];
    jest.advanceTimersByTime(50);
    expect(runs).toHaveLength(0);
    expect(batcher.stats().queued).toBe(4);
    free = true;
    batcher.pump();
    expect(runs).toEqual([
      { key: 'b', items: [1, 3] },
      { key: 'a', items: [2, 4] },
    ]);
    await Promise.all(ps);
  });

  it('starts a queue that turns due between two reads of the clock', async () => {
    // A clock that moves 5 ms per read: pump() sees the request 5 ms old, the next check 10 ms old (= maxWaitMs).
    let t = Date.now();
    jest.spyOn(Date, 'now').mockImplementation(() => (t += 5));
    const { batcher, runs } = make({ maxWaitMs: 10 });
    const p = batcher.submit('x', [1]);
    jest.advanceTimersByTime(10);
    expect(runs).toEqual([{ key: 'x', items: [1] }]);
    await expect(p).resolves.toEqual([10]);
  });

  it('rejects with QUEUE_FULL past maxQueue waiting items, and accepts again once there is room', async () => {
    const { batcher } = make({ maxBatchSize: 100, maxQueue: 5 });
    const first = batcher.submit('x', [1, 2, 3, 4]);
    await expectCode(batcher.submit('y', [5, 6]), 'QUEUE_FULL');
    await expect(batcher.submit('y', [5, 6])).rejects.toThrow(/queue is full \(4 of 5 texts waiting/);
    const second = batcher.submit('y', [5]);
    jest.advanceTimersByTime(10);
    await expect(first).resolves.toHaveLength(4);
    await expect(second).resolves.toEqual([50]);
    const third = batcher.submit('x', [1, 2, 3, 4, 5]);
    jest.advanceTimersByTime(10);
    await expect(third).resolves.toHaveLength(5);
  });

  it('rejects every request in a failed batch and reports batches', async () => {
    const failing = new Batcher<number, number>({
      maxBatchSize: 2,
      maxWaitMs: 0,
      maxQueue: 10,
      run: async () => {
        throw new Error('boom');
      },
    });
    await expect(failing.submit('x', [1])).rejects.toThrow('boom');
    const { batcher, batches } = make({ maxBatchSize: 2 });
    await batcher.submit('x', [1, 2]);
    expect(batches).toMatchObject([{ key: 'x', size: 2, ok: true }]);
    expect(batcher.stats()).toMatchObject({ queued: 0, inFlight: 0, batches: 1, items: 2 });
  });

  it('drain() flushes waiting batches without waiting for maxWaitMs', async () => {
    const { batcher, runs } = make({ maxWaitMs: 10_000 });
    const p = batcher.submit('x', [1]);
    const drained = batcher.drain();
    expect(runs).toHaveLength(1);
    await drained;
    await expect(p).resolves.toEqual([10]);
  });
});

// ------------------------------------------------------------------------------------------------ fixtures

const TEXTS = [
  'the movie was wonderful',
  'a dull, lifeless and far too long film',
  '',
  'Unicode: café naïve 東京 ✓',
  'long '.repeat(200), // past maxLength: truncated
];
const MAX_LENGTH = 64;

/** A PEFT adapter folder over the tiny model, with its own LoRA weights and its own trained-looking head. */
async function makeAdapter(
  dir: string,
  seed: number,
  targets: string[],
  modulesToSave: string[],
  labels?: string[],
  ownClasses = false,
): Promise<string> {
  const m = (
    await DistilBertForSequenceClassification.fromPretrained(
      TINY_MODEL,
      ownClasses ? { id2label: labels, ignoreMismatchedSizes: true } : {},
    )
  ).eval();
  replaceLinearWithLora(m, { rank: 4, alpha: 8, targets });
  manualSeed(seed);
  noGrad(() => {
    for (const l of m.modules()) if (l instanceof LoRALayer) l.B.normal_(0, 0.5);
    for (const name of modulesToSave) for (const p of m.getSubmodule(name).parameters()) p.normal_(0, 0.5);
  });
  saveAdapter(m, dir, { modulesToSave, labels });
  m.dispose();
  return dir;
}

/** Softmax probabilities from the model in this process, with an adapter loaded the usual way. */
async function expectedScores(texts: string[], adapterDir?: string, classes?: string[]): Promise<number[][]> {
  const m = (
    await DistilBertForSequenceClassification.fromPretrained(
      TINY_MODEL,
      classes ? { id2label: classes, ignoreMismatchedSizes: true } : {},
    )
  ).eval();
  if (adapterDir) loadAdapter(m, adapterDir);
  const enc = AutoTokenizer.fromPretrained(TINY_MODEL).encodeBatch(texts, {
    maxLength: MAX_LENGTH,
    truncation: true,
    padding: 'longest',
  });
  const probs = noGrad(() =>
    tidy(() => {
      const logits = m.forward(
        tensor(enc.inputIds, { dtype: 'int64' }),
        tensor(enc.attentionMask, { dtype: 'int64' }),
      ).logits;
      return logits.softmax(-1).toArray() as number[][];
    }),
  );
  m.dispose();
  return probs;
}

// Adapter b names its classes (saveAdapter's labels); the base model and adapter a have config.json's LABEL_i.
const B_LABELS = ['bad', 'good'];

function expectClose(got: Classification[], want: number[][], names = ['LABEL_0', 'LABEL_1']): void {
  expect(got).toHaveLength(want.length);
  got.forEach((g, i) => {
    want[i].forEach((p, j) => expect(Math.abs(g.scores[j] - p)).toBeLessThan(1e-4));
    const best = want[i].indexOf(Math.max(...want[i]));
    expect(g.label).toBe(names[best]);
    expect(g.score).toBe(g.scores[best]);
  });
}

let adapterA: string;
let adapterB: string;
let want: { base: number[][]; a: number[][]; b: number[][] };

beforeAll(async () => {
  buildDist();
  const dir = tmp('serving-adapters-');
  adapterA = await makeAdapter(path.join(dir, 'a'), 11, ['q_lin', 'v_lin'], ['classifier']);
  adapterB = await makeAdapter(
    path.join(dir, 'b'),
    22,
    ['q_lin', 'k_lin', 'v_lin', 'out_lin', 'lin1', 'lin2'],
    ['pre_classifier', 'classifier'],
    B_LABELS,
  );
  want = {
    base: await expectedScores(TEXTS),
    a: await expectedScores(TEXTS, adapterA),
    b: await expectedScores(TEXTS, adapterB),
  };
  // The adapters differ from the base and from each other, so mixing them up would show.
  expect(Math.abs(want.a[0][0] - want.base[0][0])).toBeGreaterThan(1e-3);
  expect(Math.abs(want.b[0][0] - want.a[0][0])).toBeGreaterThan(1e-3);
}, 300_000);

const tinyOptions = (extra: Partial<ClassifierOptions> = {}): ClassifierOptions => ({
  model: TINY_MODEL,
  workers: 1,
  maxLength: MAX_LENGTH,
  onWorkerError: () => undefined,
  ...extra,
});

// ------------------------------------------------------------------------------------------------ classifier

describe('createClassifier (tiny model, 1 worker)', () => {
  let c: Classifier;
  beforeAll(async () => {
    c = await createClassifier(tinyOptions({ adapters: { a: adapterA } }));
  }, 120_000);
  afterAll(() => c?.close());

  it('gives the in-process results (softmax of logits), one request per text coalesced into one batch', async () => {
    const before = c.stats().batches;
    const results = await Promise.all(TEXTS.map((t) => c.classify([t])));
    expectClose(results.flat(), want.base);
    expect(c.stats().batches - before).toBeLessThan(TEXTS.length);
    expectClose(await c.classify(TEXTS), want.base);
  });

  it('serves each adapter with its own LoRA weights and head; hot-added adapters too; the base stays the base', async () => {
    await c.addAdapter('b', adapterB);
    expect(c.adapters()).toEqual(['a', 'b']);
    const [a, base, b, a2] = await Promise.all([
      c.classify(TEXTS, { adapter: 'a' }),
      c.classify(TEXTS),
      c.classify(TEXTS, { adapter: 'b' }),
      c.classify(TEXTS, { adapter: 'a' }),
    ]);
    expectClose(a, want.a);
    expectClose(a2, want.a);
    expectClose(b, want.b, B_LABELS);
    expect([c.labelNames('b'), c.labelNames('a'), c.labelNames()]).toEqual([
      B_LABELS,
      ['LABEL_0', 'LABEL_1'],
      ['LABEL_0', 'LABEL_1'],
    ]);
    expectClose(base, want.base);
  });

  it('serves an adapter whose head has its own classes (3 over a 2-class base) next to the others', async () => {
    const classes = ['neg', 'neutral', 'pos'];
    const dir = await makeAdapter(
      tmp('three-classes-'),
      33,
      ['q_lin', 'v_lin'],
      ['pre_classifier', 'classifier'],
      classes,
      true,
    );
    const want3 = await expectedScores(TEXTS, dir, classes);
    await c.addAdapter('three', dir);
    const [three, base, a] = await Promise.all([
      c.classify(TEXTS, { adapter: 'three' }),
      c.classify(TEXTS),
      c.classify(TEXTS, { adapter: 'a' }),
    ]);
    expect(three.every((r) => r.scores.length === 3)).toBe(true);
    expectClose(three, want3, classes);
    expectClose(base, want.base);
    expectClose(a, want.a);
    expect(c.labelNames('three')).toEqual(classes);
    await c.removeAdapter('three');
  });

  it('removes an adapter at run time and can load it again', async () => {
    const pending = c.classify(TEXTS, { adapter: 'b' });
    await c.removeAdapter('b');
    expectClose(await pending, want.b, B_LABELS); // queued before the removal: still served
    expect(c.adapters()).toEqual(['a']);
    await expectCode(c.classify(['x'], { adapter: 'b' }), 'UNKNOWN_ADAPTER');
    await expectCode(c.removeAdapter('b'), 'UNKNOWN_ADAPTER');
    expectClose(await c.classify(TEXTS, { adapter: 'a' }), want.a);
    await c.addAdapter('b', adapterB);
    expectClose(await c.classify(TEXTS, { adapter: 'b' }), want.b, B_LABELS);
  });

  it('rejects unknown adapters, duplicate or bad adapter folders and bad input with clear codes', async () => {
    await expectCode(c.classify(['x'], { adapter: 'nope' }), 'UNKNOWN_ADAPTER');
    await expect(c.classify(['x'], { adapter: 'nope' })).rejects.toThrow("unknown adapter 'nope' (loaded: a, b)");
    await expectCode(c.addAdapter('a', adapterB), 'ADAPTER_EXISTS');
    await expectCode(c.addAdapter('broken', tmp('not-an-adapter-')), 'ADAPTER_LOAD_FAILED');
    await expect(c.addAdapter('broken', tmp('not-an-adapter-'))).rejects.toThrow(/adapter_config.json/);
    await expectCode(c.addAdapter('bad name!', adapterA), 'INVALID_INPUT');
    expect(c.adapters()).toEqual(['a', 'b']);
    await expectCode(c.classify([3 as unknown as string]), 'INVALID_INPUT');
    await expect(c.classify([])).resolves.toEqual([]);
  });

  it('reports stats', () => {
    const s = c.stats();
    expect(s).toMatchObject({ workers: 1, readyWorkers: 1, queueDepth: 0, inFlight: 0 });
    expect(s.batches).toBeGreaterThan(0);
    expect(s.meanBatchSize).toBeGreaterThan(1);
    expect(s.requests).toBeGreaterThan(0);
    expect(s.latencyMs.p99).toBeGreaterThanOrEqual(s.latencyMs.p50);
  });

  it('rejects the requests of a crashed worker, restarts it with the current adapters, and serves again', async () => {
    const workers = (c as unknown as { pool: { workers: { thread: Worker }[] } }).pool.workers;
    const pending = c.classify(Array(64).fill('long '.repeat(200)), { adapter: 'b' }); // dispatched at once: a full batch
    await workers[0].thread.terminate();
    await expectCode(pending, 'WORKER_CRASHED');
    await expect(pending).rejects.toThrow(/model worker 0 crashed; .*retry/);
    await expect(pending).rejects.toMatchObject({
      detail: expect.stringMatching(/model worker 0 crashed \(exit code 1\)/),
    });
    expectClose(await c.classify(TEXTS, { adapter: 'b' }), want.b, B_LABELS);
    expect(c.stats().readyWorkers).toBe(1);
  });
});

describe('createClassifier: queue bound and close()', () => {
  it('fails clearly when the model folder is wrong', async () => {
    await expect(createClassifier(tinyOptions({ model: tmp('no-model-') }))).rejects.toThrow(/no config.json/);
    await expect(createClassifier(tinyOptions({ adapters: { x: tmp('no-adapter-') } }))).rejects.toThrow(
      /adapter_config.json/,
    );
  });

  it('rejects with QUEUE_FULL when the queue is full, then drains everything on close()', async () => {
    const c = await createClassifier(tinyOptions({ maxQueue: 8, maxWaitMs: 200, maxBatchSize: 64 }));
    const queued = c.classify(TEXTS.slice(0, 4));
    const more = c.classify(TEXTS.slice(0, 4));
    await expectCode(c.classify(['one too many']), 'QUEUE_FULL');
    expect(c.stats().queueDepth).toBe(8);
    const closing = c.close(); // does not wait the 200 ms for a fuller batch
    await expectCode(c.classify(['after close']), 'CLOSED');
    expectClose(await queued, want.base.slice(0, 4));
    expectClose(await more, want.base.slice(0, 4));
    await closing;
    expect(c.stats().readyWorkers).toBe(0);
  });
});

// ------------------------------------------------------------------------------------------------ HTTP API

describe('HTTP API (fastify inject)', () => {
  let c: Classifier;
  let app: ReturnType<typeof buildServer>;
  const post = (url: string, payload: unknown) => app.inject({ method: 'POST', url, payload: payload as object });
  const classify = (payload: unknown) => post('/v1/classify', payload);
  const expectError = (
    res: { statusCode: number; json(): unknown },
    status: number,
    error: string,
    message?: RegExp,
  ) => {
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ error });
    expect((res.json() as { message: string }).message).toMatch(message ?? /./);
  };

  const TOKEN = 'test-admin-token-0123456789';
  const admin = { authorization: `Bearer ${TOKEN}` };
  const postAdmin = (url: string, payload: unknown, headers: Record<string, string> = admin) =>
    app.inject({ method: 'POST', url, payload: payload as object, headers });
  const deleteAdmin = (url: string, headers: Record<string, string> = admin) =>
    app.inject({ method: 'DELETE', url, headers });
  let root: string;

  beforeAll(async () => {
    c = await createClassifier(tinyOptions({ adapters: { a: adapterA } }));
    root = path.dirname(adapterB); // holds a/ and b/
    app = buildServer(c, {
      modelName: 'tiny',
      maxBatchTexts: 256,
      maxTextChars: 20_000,
      admin: { token: TOKEN, adapterRoot: root },
    });
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    await c?.close();
  });

  it('POST /v1/classify gives results, the adapter and the model', async () => {
    const res = await classify({ texts: TEXTS });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ adapter: null, model: 'tiny' });
    expectClose(body.results, want.base);
    const withA = await classify({ texts: TEXTS, adapter: 'a' });
    expect(withA.json().adapter).toBe('a');
    expectClose(withA.json().results, want.a);
  });

  it('rejects malformed JSON, wrong types, empty or oversized input and unknown adapters with 4xx {error, message}', async () => {
    const raw = (payload: string, contentType = 'application/json') =>
      app.inject({ method: 'POST', url: '/v1/classify', payload, headers: { 'content-type': contentType } });
    expectError(await raw('{"texts": ["a"'), 400, 'INVALID_JSON', /not valid JSON/);
    expectError(await raw(''), 400, 'INVALID_JSON');
    expectError(await raw('texts=a', 'application/x-www-form-urlencoded'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await raw('{"texts": ["a"]}', 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE'); // as docs/serving.md says
    expectError(await raw('{"texts": ["a"]}', 'text/plain; charset=utf-8'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await classify({}), 400, 'BAD_REQUEST', /must have required property 'texts'/);
    expectError(await classify({ texts: 'a' }), 400, 'BAD_REQUEST', /texts must be array/);
    expectError(await classify({ texts: [1] }), 400, 'BAD_REQUEST', /texts\/0 must be string/);
    expectError(await classify({ texts: ['a'], adapter: 5 }), 400, 'BAD_REQUEST', /adapter must be string/);
    expectError(await classify({ texts: ['a'], extra: true }), 400, 'BAD_REQUEST', /additional properties/);
    expectError(await classify({ texts: [] }), 400, 'BAD_REQUEST', /fewer than 1 items/);
    expectError(await classify({ texts: Array(257).fill('a') }), 400, 'BAD_REQUEST', /more than 256 items/);
    expectError(await classify({ texts: ['x'.repeat(20_001)] }), 400, 'BAD_REQUEST', /more than 20000 characters/);
    expectError(await classify({ texts: ['a'], adapter: 'nope' }), 404, 'UNKNOWN_ADAPTER', /unknown adapter 'nope'/);
    // Still serving.
    expect((await classify({ texts: Array(256).fill('x'.repeat(20_000)) })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });

  it('GET/POST/DELETE /v1/adapters list, load and unload adapters (folders relative to the adapter root)', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/adapters' })).json()).toEqual({ adapters: ['a'] });
    const added = await postAdmin('/v1/adapters', { name: 'b', path: 'b' });
    expect(added.statusCode).toBe(201);
    expect(added.json()).toEqual({ adapters: ['a', 'b'] });
    expectClose((await classify({ texts: TEXTS, adapter: 'b' })).json().results, want.b, B_LABELS);
    expectError(await postAdmin('/v1/adapters', { name: 'b', path: 'b' }), 409, 'ADAPTER_EXISTS');
    fs.mkdirSync(path.join(root, 'empty'), { recursive: true });
    expectError(
      await postAdmin('/v1/adapters', { name: 'c', path: 'empty' }),
      400,
      'ADAPTER_LOAD_FAILED',
      /^cannot load adapter 'c' from 'empty': no adapter_config.json$/,
    );
    expectError(await postAdmin('/v1/adapters', { name: 'bad name', path: 'b' }), 400, 'BAD_REQUEST', /pattern/);
    expectError(await postAdmin('/v1/adapters', { name: 'c' }), 400, 'BAD_REQUEST', /path/);
    const removed = await deleteAdmin('/v1/adapters/b');
    expect(removed.statusCode).toBe(200);
    expect(removed.json()).toEqual({ adapters: ['a'] });
    expectError(await deleteAdmin('/v1/adapters/b'), 404, 'UNKNOWN_ADAPTER');
    expectError(await classify({ texts: ['a'], adapter: 'b' }), 404, 'UNKNOWN_ADAPTER');
  });

  it('GET /health, GET /metrics and unknown routes', async () => {
    const health = await app.inject({ method: 'GET', url: '/health' });
    expect(health.json()).toMatchObject({ status: 'ok', workers: 1, readyWorkers: 1 });
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/text\/plain/);
    expect(metrics.body).toMatch(/http_requests_total\{method="POST",route="\/v1\/classify",status="200"\} \d+/);
    expect(metrics.body).toMatch(/http_requests_total\{method="POST",route="\/v1\/classify",status="400"\} \d+/);
    expect(metrics.body).toMatch(/http_request_duration_seconds_bucket\{.*route="\/v1\/classify".*\} \d+/);
    expect(metrics.body).toMatch(/classifier_batch_size_count\{adapter="a"\} \d+/);
    expect(metrics.body).toMatch(/classifier_queue_depth 0/);
    expectError(await app.inject({ method: 'GET', url: '/nope' }), 404, 'NOT_FOUND');
  });

  it('answers 503 with Retry-After on QUEUE_FULL, 413 on huge bodies, 500 on unexpected errors, and keeps serving', async () => {
    let fail: Error | null = new ServingError('QUEUE_FULL', 'the queue is full');
    const stub: ClassifierLike = {
      classify: async (texts) => {
        if (fail) throw fail;
        return texts.map(() => ({ label: 'LABEL_0', score: 1, scores: [1, 0] }));
      },
      addAdapter: async () => undefined,
      removeAdapter: async () => undefined,
      adapters: () => [],
      stats: () => c.stats(),
      onBatch: () => () => undefined,
    };
    const server = buildServer(stub, { bodyLimit: 1000 });
    const send = (payload: unknown) =>
      server.inject({ method: 'POST', url: '/v1/classify', payload: payload as object });
    const full = await send({ texts: ['a'] });
    expectError(full, 503, 'QUEUE_FULL');
    expect(full.headers['retry-after']).toBe('1');
    fail = new Error('secret internals');
    const broken = await send({ texts: ['a'] });
    expectError(broken, 500, 'INTERNAL');
    expect(broken.json().message).toBe('internal server error');
    expectError(await send({ texts: ['x'.repeat(2000)] }), 413, 'PAYLOAD_TOO_LARGE');
    fail = null;
    expect((await send({ texts: ['a'] })).statusCode).toBe(200);
    await server.close();
  });
});

describe('HTTP API: hostile admin requests (issue 14, items 10 and 13)', () => {
  const TOKEN = 'another-admin-token-abcdefghij';
  const auth = { authorization: `Bearer ${TOKEN}` };
  let c: Classifier;
  let app: ReturnType<typeof buildServer>;
  let root: string;
  const outside = tmp('outside-root-');
  const bytesOf = (dir: string) =>
    ['adapter_config.json', 'adapter_model.safetensors'].reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
  const add = (name: string, p: string, headers: Record<string, string> = auth) =>
    app.inject({ method: 'POST', url: '/v1/adapters', payload: { name, path: p }, headers });
  /** A copy of adapter a under the root with its adapter_config.json changed by `edit`. */
  const crafted = (name: string, edit: (config: Record<string, unknown>) => unknown) => {
    const dir = path.join(root, name);
    fs.cpSync(adapterA, dir, { recursive: true });
    const file = path.join(dir, 'adapter_config.json');
    const config = JSON.parse(fs.readFileSync(file, 'utf8'));
    fs.writeFileSync(file, typeof edit(config) === 'string' ? (edit(config) as string) : JSON.stringify(config));
    return name;
  };
  /** 400 ADAPTER_LOAD_FAILED whose message names the request's path and neither an absolute path nor file contents. */
  const expectRefused = (res: { statusCode: number; json(): { error: string; message: string } }, why: RegExp) => {
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('ADAPTER_LOAD_FAILED');
    expect(res.json().message).toMatch(why);
    expect(res.json().message).not.toMatch(/\/(tmp|etc|work|root|home)\b|root:x|secret-bytes/);
  };

  beforeAll(async () => {
    root = tmp('adapter-root-');
    fs.cpSync(adapterA, path.join(root, 'a'), { recursive: true });
    fs.cpSync(adapterA, path.join(root, 'a2'), { recursive: true });
    fs.cpSync(adapterB, path.join(root, 'b'), { recursive: true });
    fs.cpSync(adapterA, path.join(outside, 'elsewhere'), { recursive: true });
    // One adapter (a) loaded at start; room for one more, and for a second copy of a but not for b.
    c = await createClassifier(
      tinyOptions({
        adapters: { a: adapterA },
        maxAdapters: 2,
        maxAdapterBytes: bytesOf(adapterA) + bytesOf(adapterB) - 1,
      }),
    );
    app = buildServer(c, { admin: { token: TOKEN, adapterRoot: root } });
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    await c?.close();
  });

  it('is off unless enabled: 403 without admin options, and the body is not even read', async () => {
    const closed = buildServer(c);
    for (const res of [
      await closed.inject({ method: 'POST', url: '/v1/adapters', payload: { name: 'x', path: 'a' }, headers: auth }),
      await closed.inject({ method: 'DELETE', url: '/v1/adapters/a', headers: auth }),
      await closed.inject({
        method: 'POST',
        url: '/v1/adapters',
        payload: 'not json',
        headers: { 'content-type': 'application/json' },
      }),
    ]) {
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ error: 'ADMIN_DISABLED' });
    }
    expect(c.adapters()).toEqual(['a']);
    await closed.close();
    expect(() => buildServer(c, { admin: { token: 'short', adapterRoot: root } })).toThrow(/at least 16 characters/);
  });

  it('wants the bearer token: 401 with WWW-Authenticate for none, a wrong one or another scheme', async () => {
    for (const headers of [
      {},
      { authorization: 'Bearer wrong-token-wrong-token' },
      { authorization: `Basic ${TOKEN}` },
      { authorization: `Bearer ${TOKEN}x` },
    ]) {
      const res = await add('x', 'a2', headers);
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ error: 'UNAUTHORIZED' });
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      const del = await app.inject({ method: 'DELETE', url: '/v1/adapters/a', headers });
      expect(del.statusCode).toBe(401);
    }
    expect(c.adapters()).toEqual(['a']);
  });

  it('loads only folders inside the adapter root: no .., absolute paths or symlinks out, and says so without paths', async () => {
    fs.symlinkSync(path.join(outside, 'elsewhere'), path.join(root, 'link-out'));
    fs.mkdirSync(path.join(root, 'config-link'));
    fs.symlinkSync('/etc/passwd', path.join(root, 'config-link', 'adapter_config.json'));
    fs.copyFileSync(
      path.join(adapterA, 'adapter_model.safetensors'),
      path.join(root, 'config-link', 'adapter_model.safetensors'),
    );
    expectRefused(await add('x', '../' + path.basename(outside) + '/elsewhere'), /outside the adapter root/);
    expectRefused(await add('x', path.join(outside, 'elsewhere')), /relative to the adapter root/);
    expectRefused(await add('x', 'link-out'), /outside the adapter root/);
    expectRefused(await add('x', 'config-link'), /adapter_config.json is outside the adapter root/);
    expectRefused(await add('x', 'no-such-folder'), /no such folder/);
    expectRefused(await add('x', 'a2/adapter_config.json'), /not a folder/);
    expect(c.adapters()).toEqual(['a']);
  });

  it('refuses a FIFO as weights file at once, and the worker keeps serving', async () => {
    const dir = path.join(root, 'fifo');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(adapterA, 'adapter_config.json'), path.join(dir, 'adapter_config.json'));
    execFileSync('mkfifo', [path.join(dir, 'adapter_model.safetensors')]);
    const started = Date.now();
    expectRefused(await add('x', 'fifo'), /adapter_model.safetensors is not a regular file/);
    expect(Date.now() - started).toBeLessThan(2000);
    expectClose(await c.classify(TEXTS, { adapter: 'a' }), want.a);
  });

  it('never quotes file contents: a config holding secret bytes is refused with a generic message', async () => {
    const dir = crafted('secret', () => 'secret-bytes root:x:0:0:root:/root:/bin/bash');
    const res = await add('x', dir);
    expectRefused(res, /^cannot load adapter 'x' from 'secret': not a valid LoRA adapter for this model$/);
  });

  it('refuses at POST (400) an adapter whose lora_alpha is not a usable number, and serves on', async () => {
    for (const [name, alpha] of [
      ['alpha-lots', 'lots'],
      ['alpha-huge', 1e308],
    ] as const) {
      expectRefused(
        await add(
          name,
          crafted(name, (cfg) => (cfg.lora_alpha = alpha)),
        ),
        new RegExp(`^cannot load adapter '${name}' from '${name}'`),
      );
    }
    expect(c.adapters()).toEqual(['a']);
    expectClose(await c.classify(TEXTS), want.base);
    expectClose(await c.classify(TEXTS, { adapter: 'a' }), want.a);
  });

  it('caps the adapter count and their total size (409 ADAPTER_LIMIT)', async () => {
    const tooBig = await add('b', 'b');
    expect(tooBig.statusCode).toBe(409);
    expect(tooBig.json()).toMatchObject({ error: 'ADAPTER_LIMIT', message: expect.stringMatching(/maxAdapterBytes/) });
    expect((await add('a2', 'a2')).statusCode).toBe(201);
    const tooMany = await add('a3', 'a');
    expect(tooMany.statusCode).toBe(409);
    expect(tooMany.json().message).toMatch(/2 adapters are loaded/);
    expect(c.adapters()).toEqual(['a', 'a2']);
    expect((await app.inject({ method: 'DELETE', url: '/v1/adapters/a2', headers: auth })).statusCode).toBe(200);
  });
});

// ------------------------------------------------------------------------------------------------ event loop

describe('event loop stays responsive during inference', () => {
  let dir: string;
  beforeAll(() => {
    // A base-size DistilBERT (66M parameters) with random weights beside the real distilbert-base-uncased tokenizer.
    dir = tmp('distilbert-base-random-');
    const config = JSON.parse(fs.readFileSync(path.join(BASE_MODEL_FILES, 'config.json'), 'utf8'));
    const model = DistilBertForSequenceClassification.random(config, 0);
    model.savePretrained(dir);
    model.dispose();
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'vocab.txt'])
      fs.copyFileSync(path.join(BASE_MODEL_FILES, f), path.join(dir, f));
  }, 300_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('keeps p99 event-loop delay under 20 ms while a > 1 s batch of long texts runs', async () => {
    // One libtorch thread, so that the worker leaves a core to the main thread on small machines.
    const c = await createClassifier({ model: dir, workers: 1, threadsPerWorker: 1, maxLength: 32, maxBatchSize: 32 });
    try {
      const texts = Array.from(
        { length: 64 },
        (_, i) => `review ${i}: ` + 'an unexpectedly moving and beautifully shot film. '.repeat(40),
      );
      await c.classify(texts.slice(0, 2)); // warm-up
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      const started = Date.now();
      const results = await c.classify(texts);
      const elapsed = Date.now() - started;
      delay.disable();
      const p99 = delay.percentile(99) / 1e6;
      console.log(
        `event loop during ${elapsed} ms of inference: p50 ${(delay.percentile(50) / 1e6).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${(delay.max / 1e6).toFixed(2)} ms`,
      );
      expect(results).toHaveLength(64);
      expect(elapsed).toBeGreaterThan(1000);
      expect(p99).toBeLessThan(20);
    } finally {
      await c.close();
    }
  }, 300_000);
});
