// Model workers seen from the main thread: start-up, request/reply by id, least-busy choice, and restart after a crash.
import { Worker } from 'worker_threads';
import { ServingError } from './errors';
import type { FromWorker, ToWorker, WorkerInit } from './protocol';

/** A message to a worker before the pool gives it an id. */
type WithoutId<M> = M extends unknown ? Omit<M, 'id'> : never;
type Job = WithoutId<ToWorker>;

interface Pending {
  resolve: (msg: FromWorker) => void;
  reject: (e: Error) => void;
  texts: number;
}

export interface WorkerPoolOptions {
  script: string;
  size: number;
  /** The workerData for a new worker: read at each (re)start, so a restarted worker gets the current adapters. */
  init: () => WorkerInit;
  /** A worker became ready (or finished a batch): there is capacity again. */
  onIdle: () => void;
  /** A worker died or failed to start; it is restarted. */
  onCrash?: (message: string) => void;
}

class PoolWorker {
  ready = false;
  batches = 0;
  texts = 0;
  readonly pending = new Map<number, Pending>();
  constructor(readonly index: number, readonly thread: Worker) {}
}

const RESTART_DELAY_MS = 1000;

export class WorkerPool {
  private readonly workers: (PoolWorker | null)[];
  private nextId = 0;
  private closing = false;
  private labels: string[] | null = null;
  private readonly firstReady: Promise<string[]>;
  private settleFirst!: { resolve: (labels: string[]) => void; reject: (e: Error) => void };

  constructor(private readonly opts: WorkerPoolOptions) {
    this.firstReady = new Promise((resolve, reject) => (this.settleFirst = { resolve, reject }));
    this.workers = Array.from({ length: opts.size }, (_, i) => this.spawn(i));
  }

  /** Resolves with the model's labels once every worker has loaded; rejects if one fails to start. */
  ready(): Promise<string[]> {
    return this.firstReady;
  }

  get size(): number {
    return this.workers.length;
  }

  readyCount(): number {
    return this.workers.filter((w) => w?.ready).length;
  }

  /** Whether some worker can take a batch now: one batch per worker, so batches keep filling while all are busy. */
  hasIdle(): boolean {
    return !this.closing && this.workers.some((w) => w !== null && w.ready && w.batches === 0);
  }

  /** Probabilities [texts, labels] from the least-busy worker. */
  async classify(adapter: string | null, texts: string[]): Promise<Float32Array> {
    const idle = this.workers.filter((w): w is PoolWorker => w !== null && w.ready && w.batches === 0);
    if (idle.length === 0) throw new ServingError('WORKER_CRASHED', 'no model worker is available');
    const w = idle.reduce((a, b) => (b.texts < a.texts ? b : a));
    const reply = await this.send(w, { type: 'classify', adapter, texts }, texts.length);
    if (reply.type !== 'classified') throw new Error(`unexpected reply '${reply.type}' from worker ${w.index}`);
    return reply.probs;
  }

  /** Sends the job to every live worker (started or starting) and waits for them all. */
  async broadcast(job: Job): Promise<void> {
    const live = this.workers.filter((w): w is PoolWorker => w !== null);
    const results = await Promise.allSettled(live.map((w) => this.send(w, job, 0)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async close(): Promise<void> {
    this.closing = true;
    const live = this.workers.filter((w): w is PoolWorker => w !== null);
    this.workers.fill(null);
    for (const w of live) {
      for (const p of w.pending.values()) p.reject(new ServingError('CLOSED', 'the classifier was closed'));
      w.pending.clear();
    }
    await Promise.all(live.map((w) => w.thread.terminate()));
  }

  private send(w: PoolWorker, job: Job, texts: number): Promise<FromWorker> {
    const id = this.nextId++;
    return new Promise<FromWorker>((resolve, reject) => {
      w.pending.set(id, { resolve, reject, texts });
      if (texts > 0) {
        w.batches++;
        w.texts += texts;
      }
      w.thread.postMessage({ ...job, id } as ToWorker);
    });
  }

  private spawn(index: number): PoolWorker {
    const thread = new Worker(this.opts.script, { workerData: this.opts.init() });
    const w = new PoolWorker(index, thread);
    let lastError: Error | null = null;
    thread.on('message', (msg: FromWorker) => this.onMessage(w, msg));
    thread.on('error', (e) => (lastError = e));
    thread.on('exit', (code) => this.onExit(w, code, lastError));
    return w;
  }

  private onMessage(w: PoolWorker, msg: FromWorker): void {
    if (msg.type === 'ready') {
      w.ready = true;
      this.labels ??= msg.labels;
      if (this.workers.every((x) => x?.ready)) this.settleFirst.resolve(this.labels);
      this.opts.onIdle();
      return;
    }
    if (msg.type === 'initError') {
      this.settleFirst.reject(new Error(`a model worker failed to start: ${msg.message}`));
      void w.thread.terminate();
      return;
    }
    const p = w.pending.get(msg.id);
    if (!p) return;
    w.pending.delete(msg.id);
    if (p.texts > 0) {
      w.batches--;
      w.texts -= p.texts;
    }
    if (msg.type === 'failed') p.reject(new ServingError(msg.code, msg.message));
    else p.resolve(msg);
    if (p.texts > 0) this.opts.onIdle();
  }

  private onExit(w: PoolWorker, code: number, error: Error | null): void {
    if (this.workers[w.index] !== w) return; // closed
    this.workers[w.index] = null;
    const why = error ? `${error.name}: ${error.message}` : `exit code ${code}`;
    const message = `model worker ${w.index} ${w.ready ? 'crashed' : 'failed to start'} (${why})`;
    for (const p of w.pending.values()) {
      p.reject(new ServingError('WORKER_CRASHED', `${message}; the request was not completed, retry it`));
    }
    w.pending.clear();
    this.settleFirst.reject(new Error(message));
    this.opts.onCrash?.(message);
    if (this.closing) return;
    // A worker that never got ready would likely fail again at once: restart it after a pause.
    const restart = () => {
      if (!this.closing && this.workers[w.index] === null) this.workers[w.index] = this.spawn(w.index);
    };
    if (w.ready) restart();
    else setTimeout(restart, RESTART_DELAY_MS).unref();
  }
}
