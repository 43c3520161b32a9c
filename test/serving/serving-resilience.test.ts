// Issue 14, items 11 and 12: a hung or unstartable worker, slow clients and shutdown. Every wait here is bounded:
// the point of each test is that the server answers (or exits) within a deadline instead of waiting for ever.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { ClassifierOptions } from '../../lib';
import { Classifier, ServingError, createClassifier } from '../../lib';
import type { ClassifierLike } from '../../examples/server/app';
import { buildServer } from '../../examples/server/app';
import { shutdown } from '../../examples/server/shutdown';
import { TINY_MODEL } from '../helpers/paths';
import { ensureCompiled, ROOT } from '../helpers/compiled';

jest.mock('cookie', () => {
  const nodeModule = (
    process as unknown as { getBuiltinModule(id: string): typeof import('node:module') }
  ).getBuiltinModule('module');
  return nodeModule.createRequire(__filename)('cookie');
});

const tmp = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(() => {
  // Worker threads and the server's main.js run the compiled JavaScript in dist/.
  ensureCompiled(path.join(ROOT, 'dist', 'lib', 'serving', 'worker.js'));
}, 300_000);

/** Resolves with how long `p` took to settle (either way). */
async function timed(p: Promise<unknown>): Promise<number> {
  const t = Date.now();
  await p.catch(() => undefined);
  return Date.now() - t;
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await sleep(20);
  }
}

/**
 * A stand-in model worker speaking the pool's protocol: it answers 'ready', classifies with uniform scores, and
 * loops for ever on a text 'HANG' (as a pathological regex would) or, with `hangAtStart`, before it is ready.
 */
function stubWorker(hangAtStart = false): string {
  const file = path.join(tmp('stub-worker-'), 'worker.js');
  fs.writeFileSync(
    file,
    `
    const { parentPort, workerData } = require('node:worker_threads');
    ${hangAtStart ? 'for (;;) {}' : ''}
    // An adapter named 'evil' hangs its loader (as a catastrophic regex in its target_modules would).
    if (workerData.adapters.some(([name]) => name === 'evil')) for (;;) {}
    parentPort.postMessage({ type: 'ready', labels: ['NEG', 'POS'], adapters: [] });
    parentPort.on('message', (msg) => {
      if (msg.type === 'addAdapter' && msg.name === 'evil') for (;;) {}
      if (msg.type !== 'classify') return parentPort.postMessage({ type: 'done', id: msg.id });
      if (msg.texts.includes('HANG')) for (;;) {}
      const probs = new Float32Array(msg.texts.length * 2).fill(0.5);
      parentPort.postMessage({ type: 'classified', id: msg.id, probs }, [probs.buffer]);
    });`,
  );
  return file;
}

const stubOptions = (extra: Partial<ClassifierOptions> = {}): ClassifierOptions => ({
  model: TINY_MODEL,
  workers: 1,
  onWorkerError: () => undefined,
  workerScript: stubWorker(),
  maxWaitMs: 1,
  ...extra,
});

describe('readiness tells the truth (item 12)', () => {
  it('a worker that hangs on a batch is stopped after jobTimeoutMs: its request fails with 503, /health says not ready, then it is back', async () => {
    const c = await createClassifier(stubOptions({ jobTimeoutMs: 400 }));
    const app = buildServer(c);
    try {
      await app.ready();
      expect((await c.classify(['fine'])).map((r) => r.label)).toEqual(['NEG']);
      const hung = app.inject({ method: 'POST', url: '/v1/classify', payload: { texts: ['HANG'] } });
      await until(() => c.stats().inFlight === 1, 2000);
      const queued = c.classify(['queued behind the hung batch']);
      queued.catch(() => undefined); // awaited below
      const res = await hung;
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({
        error: 'WORKER_CRASHED',
        message: expect.stringMatching(/model worker 0 crashed; .*retry/),
      });
      expect(res.json().message).not.toMatch(/hung|ms/); // the detail (why) is for the log
      const health = await app.inject({ method: 'GET', url: '/health' });
      expect(health.statusCode).toBe(503);
      expect(health.json()).toMatchObject({ status: 'unavailable', readyWorkers: 0 });
      // The replacement serves the request that waited, and /health is ok again.
      expect(await queued).toHaveLength(1);
      expect((await app.inject({ method: 'GET', url: '/health' })).json()).toMatchObject({
        status: 'ok',
        state: 'ready',
      });
    } finally {
      await app.close();
      expect(await timed(c.close())).toBeLessThan(3000);
    }
  }, 30_000);

  it('an adapter whose loading hangs the worker fails after jobTimeoutMs; the worker restarts without it and serves', async () => {
    const c = await createClassifier(stubOptions({ jobTimeoutMs: 400 }));
    try {
      const dir = tmp('evil-adapter-');
      fs.writeFileSync(path.join(dir, 'adapter_config.json'), '{}');
      fs.writeFileSync(path.join(dir, 'adapter_model.safetensors'), '');
      const started = Date.now();
      await expect(c.addAdapter('evil', dir)).rejects.toMatchObject({ code: 'WORKER_CRASHED' });
      expect(Date.now() - started).toBeLessThan(3000);
      await until(() => c.stats().state === 'ready', 10_000); // the restarted worker did not get 'evil'
      expect(c.adapters()).toEqual([]);
      expect(await c.classify(['fine'])).toHaveLength(1);
    } finally {
      expect(await timed(c.close())).toBeLessThan(3000);
    }
  }, 30_000);

  it('requests queued while no worker can start fail with 503 TIMEOUT within requestTimeoutMs, and close() resolves', async () => {
    const c = new Classifier(
      stubOptions({
        workerScript: stubWorker(true),
        requestTimeoutMs: 300,
        startTimeoutMs: 60_000,
        closeTimeoutMs: 200,
      }),
    );
    c.ready.catch(() => undefined);
    const app = buildServer(c);
    try {
      const started = Date.now();
      const res = await app.inject({ method: 'POST', url: '/v1/classify', payload: { texts: ['a', 'b'] } });
      expect(Date.now() - started).toBeLessThan(2000);
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ error: 'TIMEOUT' });
      expect(res.headers['retry-after']).toBe('1');
      const health = await app.inject({ method: 'GET', url: '/health' });
      expect(health.statusCode).toBe(503);
      expect(health.json()).toMatchObject({ state: 'starting', readyWorkers: 0 });
      expect(c.stats().queueDepth).toBe(0); // the timed-out texts left the queue
      const pending = c.classify(['still queued at close']);
      const rejected = expect(pending).rejects.toMatchObject({ code: 'CLOSED' });
      expect(await timed(c.close())).toBeLessThan(3000); // the worker spins in JavaScript: terminate() stops it
      await rejected;
    } finally {
      await app.close();
    }
  }, 30_000);

  it('a worker that cannot restart (model folder gone) backs off, gives up with a clear state, and close() resolves', async () => {
    const model = tmp('model-that-goes-');
    fs.cpSync(TINY_MODEL, model, { recursive: true });
    const errors: string[] = [];
    const c = await createClassifier({ model, workers: 1, maxRestarts: 2, onWorkerError: (m) => errors.push(m) });
    const app = buildServer(c);
    try {
      fs.rmSync(model, { recursive: true, force: true });
      const waiting = c.classify(['queued while the worker restarts']);
      waiting.catch(() => undefined); // awaited below
      await (c as unknown as { pool: { workers: { thread: Worker }[] } }).pool.workers[0].thread.terminate();
      const started = Date.now();
      await until(() => c.stats().state === 'unavailable', 10_000);
      // 3 failed starts after pauses of 1 s and 2 s: no tight restart loop.
      expect(Date.now() - started).toBeGreaterThan(2500);
      await expect(waiting).rejects.toBeInstanceOf(ServingError);
      expect(c.stats().error).toMatch(/failed to start 3 times in a row/);
      expect(errors.filter((m) => /failed to start \(/.test(m))).toHaveLength(3);
      await sleep(1500);
      expect(errors.filter((m) => /failed to start \(/.test(m))).toHaveLength(3); // and no more
      const res = await app.inject({ method: 'POST', url: '/v1/classify', payload: { texts: ['a'] } });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ error: 'UNAVAILABLE' });
      const health = await app.inject({ method: 'GET', url: '/health' });
      expect(health.statusCode).toBe(503);
      expect(health.json()).toMatchObject({ status: 'failed', state: 'unavailable' });
    } finally {
      await app.close();
      expect(await timed(c.close())).toBeLessThan(3000);
    }
  }, 60_000);
});

// ------------------------------------------------------------------------------------------------ slow clients

/** Opens a connection that announces a 1,000-byte JSON body and sends one byte every 100 ms. */
function slowUploader(port: number): { socket: net.Socket; closed: Promise<string>; stop(): void } {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (d) => (received += d.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(received)));
  socket.write(
    'POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
  );
  const timer = setInterval(() => socket.writable && socket.write(' '), 100);
  closed.then(() => clearInterval(timer));
  return {
    socket,
    closed,
    stop: () => {
      clearInterval(timer);
      socket.destroy();
    },
  };
}

const okClassifier = (delayMs = 0): ClassifierLike & { close(): Promise<void> } => ({
  classify: async (texts) => {
    await sleep(delayMs);
    return texts.map(() => ({ label: 'NEG', score: 0.5, scores: [0.5, 0.5] }));
  },
  addAdapter: async () => undefined,
  removeAdapter: async () => undefined,
  adapters: () => [],
  stats: () => ({
    state: 'ready',
    workers: 1,
    readyWorkers: 1,
    queueDepth: 0,
    inFlight: 0,
    batches: 0,
    meanBatchSize: 0,
    requests: 0,
    failedRequests: 0,
    latencyMs: { mean: 0, p50: 0, p99: 0, max: 0 },
  }),
  onBatch: () => () => undefined,
  close: async () => undefined,
});

describe('timeouts and shutdown (item 11)', () => {
  it('a client sending a byte every 100 ms gets 408 and is disconnected after requestTimeoutMs', async () => {
    const app = buildServer(okClassifier(), { requestTimeoutMs: 1000 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const slow = slowUploader((app.server.address() as net.AddressInfo).port);
    try {
      const started = Date.now();
      const reply = await slow.closed;
      expect(Date.now() - started).toBeLessThan(3500); // 1 s, checked every second
      expect(reply).toMatch(/^HTTP\/1.1 408/);
    } finally {
      slow.stop();
      await app.close();
    }
  }, 20_000);

  it('a client sending its headers a byte every 100 ms gets 408 after headersTimeoutMs; an idle keep-alive connection is closed', async () => {
    const app = buildServer(okClassifier(), {
      requestTimeoutMs: 60_000,
      headersTimeoutMs: 1000,
      keepAliveTimeoutMs: 500,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as net.AddressInfo).port;
    const slow = net.connect(port, '127.0.0.1');
    let reply = '';
    slow.on('data', (d) => (reply += d));
    slow.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => slow.on('close', () => resolve()));
    const header = 'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'y'.repeat(100);
    let sent = 0;
    const timer = setInterval(() => slow.writable && sent < header.length && slow.write(header[sent++]), 100);
    const idle = net.connect(port, '127.0.0.1');
    idle.on('error', () => undefined);
    idle.resume(); // read the answer, so that the server's close shows up here
    const idleClosed = new Promise<number>((resolve) => {
      const t = Date.now();
      idle.on('close', () => resolve(Date.now() - t));
    });
    idle.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'); // keep-alive by default in HTTP/1.1
    try {
      const started = Date.now();
      await closed;
      expect(Date.now() - started).toBeLessThan(3500);
      expect(reply).toMatch(/^HTTP\/1.1 408/);
      expect(await idleClosed).toBeLessThan(3000);
    } finally {
      clearInterval(timer);
      slow.destroy();
      idle.destroy();
      await app.close();
    }
  }, 20_000);

  it('shutdown() lets a request in flight finish, then closes a slow uploader at the drain deadline', async () => {
    // Shutdown starts once the request is inside the classifier (a fixed sleep raced with a loaded CI machine).
    const base = okClassifier(300);
    let markEntered!: () => void;
    const entered = new Promise<void>((resolve) => {
      markEntered = resolve;
    });
    const classifier: typeof base = {
      ...base,
      classify: (...args: Parameters<typeof base.classify>) => {
        markEntered();
        return base.classify(...args);
      },
    };
    const app = buildServer(classifier, { requestTimeoutMs: 60_000 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as net.AddressInfo).port;
    const slow = slowUploader(port);
    try {
      const inFlight = fetch(`http://127.0.0.1:${port}/v1/classify`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ texts: ['a'] }),
      });
      await entered;
      const took = await timed(shutdown(app, okClassifier(), { drainMs: 800 }));
      expect((await inFlight).status).toBe(200);
      expect(took).toBeGreaterThanOrEqual(700);
      expect(took).toBeLessThan(2500);
      expect(await Promise.race([slow.closed.then(() => 'closed'), sleep(1000).then(() => 'open')])).toBe('closed');
    } finally {
      slow.stop();
    }
  }, 20_000);

  it('SIGTERM: the server process exits within the drain deadline although a client uploads a byte every 100 ms', async () => {
    const child: ChildProcess = spawn(
      process.execPath,
      [
        path.join(ROOT, 'dist', 'examples', 'server', 'main.js'),
        '--model',
        TINY_MODEL,
        '--port',
        '0',
        '--workers',
        '1',
        '--drain-timeout-ms',
        '1000',
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (out += d));
      await until(() => /listening on http:\/\/127.0.0.1:(\d+)/.test(out), 60_000);
      const port = Number(/listening on http:\/\/127.0.0.1:(\d+)/.exec(out)![1]);
      const slow = slowUploader(port);
      await sleep(300);
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const started = Date.now();
      child.kill('SIGTERM');
      const code = await Promise.race([exited, sleep(10_000).then(() => 'still running')]);
      slow.stop();
      expect(code).toBe(0);
      expect(Date.now() - started).toBeLessThan(6000);
    } finally {
      child.kill('SIGKILL');
    }
  }, 90_000);
});
