// Model workers seen from the main thread: start-up, request/reply by id, least-busy choice, and restart after a crash.
// Every job has a deadline: a worker that does not answer in time (a pathological regex, a blocked read) is treated as
// hung, stopped and replaced. A worker that keeps failing to start is restarted with a doubling pause and, after
// maxRestarts failures in a row, given up on, so that callers get a clear "unavailable" instead of waiting forever.
import { Worker } from 'node:worker_threads';
import { ServingError } from './errors';
import type { FromWorker, ToWorker, WorkerInit } from './protocol';

/** A message to a worker before the pool gives it an id. */
type WithoutId<M> = M extends unknown ? Omit<M, 'id'> : never;
type Job = WithoutId<ToWorker>;

interface Pending {
  resolve: (msg: FromWorker) => void;
  reject: (e: Error) => void;
  texts: number;
  timer: NodeJS.Timeout;
}

export interface WorkerPoolOptions {
  script: string;
  size: number;
  /** The workerData for a new worker: read at each (re)start, so a restarted worker gets the current adapters. */
  init: () => WorkerInit;
  /** A worker became ready (or finished a batch, or was given up on): capacity or availability changed. */
  onIdle: () => void;
  /** A worker died, hung or failed to start; it is restarted unless the pool gave up on it. */
  onCrash?: (message: string) => void;
  /** A job running longer than this marks its worker hung (default 60 s). */
  jobTimeoutMs?: number;
  /** A worker not ready after this long failed to start (default 120 s). */
  startTimeoutMs?: number;
  /** Failed starts in a row after which a worker is given up on (default 5). */
  maxRestarts?: number;
  /** The pause before the first restart after a failed start; it doubles with each further failure (default 1 s). */
  restartDelayMs?: number;
}

class PoolWorker {
  ready = false;
  batches = 0;
  texts = 0;
  readonly pending = new Map<number, Pending>();
  startTimer: NodeJS.Timeout | null = null;
  constructor(
    readonly index: number,
    readonly thread: Worker,
  ) {}
}

/** How long close() waits for a worker thread to stop: one blocked in a system call may never (see checkAdapterFolder). */
const TERMINATE_WAIT_MS = 2000;

export class WorkerPool {
  private readonly workers: (PoolWorker | null)[];
  /** Failed starts in a row, per worker slot. */
  private readonly failures: number[];
  /** Why a slot was given up on; null while it is live or restarting. */
  private readonly givenUp: (string | null)[];
  private readonly jobTimeoutMs: number;
  private readonly startTimeoutMs: number;
  private readonly maxRestarts: number;
  private readonly restartDelayMs: number;
  private nextId = 0;
  private closing = false;
  private labels: string[] | null = null;
  private readonly firstReady: Promise<string[]>;
  private settleFirst!: { resolve: (labels: string[]) => void; reject: (e: Error) => void };

  constructor(private readonly opts: WorkerPoolOptions) {
    this.jobTimeoutMs = positive(opts.jobTimeoutMs ?? 60_000, 'jobTimeoutMs');
    this.startTimeoutMs = positive(opts.startTimeoutMs ?? 120_000, 'startTimeoutMs');
    this.maxRestarts = nonNegativeInteger(opts.maxRestarts ?? 5, 'maxRestarts');
    this.restartDelayMs = positive(opts.restartDelayMs ?? 1000, 'restartDelayMs');
    this.firstReady = new Promise((resolve, reject) => (this.settleFirst = { resolve, reject }));
    this.failures = new Array<number>(opts.size).fill(0);
    this.givenUp = new Array<string | null>(opts.size).fill(null);
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

  /** Why no worker will ever serve again (every one was given up on), else null. */
  failure(): string | null {
    if (this.closing || this.givenUp.some((g) => g === null)) return null;
    return `every model worker failed to start ${this.maxRestarts + 1} times in a row (last: ${this.givenUp[0]})`;
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
    const reply = await this.send(w, { type: 'classify', adapter, texts }, texts.length, this.jobTimeoutMs);
    if (reply.type !== 'classified') throw new Error(`unexpected reply '${reply.type}' from worker ${w.index}`);
    return reply.probs;
  }

  /** Sends the job to every live worker (started or starting) and waits for them all. */
  async broadcast(job: Job): Promise<void> {
    const live = this.workers.filter((w): w is PoolWorker => w !== null);
    // A starting worker handles the job once it has loaded the model.
    const results = await Promise.allSettled(
      live.map((w) => this.send(w, job, 0, this.jobTimeoutMs + (w.ready ? 0 : this.startTimeoutMs))),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Rejects what is pending and stops the threads; resolves even when a thread cannot be stopped. */
  async close(): Promise<void> {
    this.closing = true;
    const live = this.workers.filter((w): w is PoolWorker => w !== null);
    this.workers.fill(null);
    for (const w of live) this.rejectAll(w, new ServingError('CLOSED', 'the classifier was closed'));
    await Promise.all(live.map((w) => terminateWithin(w.thread, TERMINATE_WAIT_MS)));
  }

  private send(w: PoolWorker, job: Job, texts: number, timeoutMs: number): Promise<FromWorker> {
    const id = this.nextId++;
    return new Promise<FromWorker>((resolve, reject) => {
      const timer = setTimeout(() => this.hung(w, job.type, timeoutMs), timeoutMs);
      timer.unref();
      w.pending.set(id, { resolve, reject, texts, timer });
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
    thread.on('exit', (code) =>
      this.retire(w, lastError ? `${lastError.name}: ${lastError.message}` : `exit code ${code}`),
    );
    w.startTimer = setTimeout(() => this.retire(w, `not ready after ${this.startTimeoutMs} ms`), this.startTimeoutMs);
    w.startTimer.unref();
    return w;
  }

  private onMessage(w: PoolWorker, msg: FromWorker): void {
    if (this.workers[w.index] !== w) return; // retired
    if (msg.type === 'ready') {
      w.ready = true;
      this.clearStartTimer(w);
      this.failures[w.index] = 0;
      this.labels ??= msg.labels;
      if (this.workers.every((x) => x?.ready)) this.settleFirst.resolve(this.labels);
      this.opts.onIdle();
      return;
    }
    if (msg.type === 'initError') {
      this.retire(w, msg.message);
      return;
    }
    const p = w.pending.get(msg.id);
    if (!p) return;
    w.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (p.texts > 0) {
      w.batches--;
      w.texts -= p.texts;
    }
    if (msg.type === 'failed') p.reject(new ServingError(msg.code, msg.message));
    else p.resolve(msg);
    if (p.texts > 0) this.opts.onIdle();
  }

  private hung(w: PoolWorker, what: string, ms: number): void {
    this.retire(w, `no answer to '${what}' within ${ms} ms (hung)`);
  }

  /** Takes the worker out of service (crashed, hung or failed to start), rejects its jobs and plans its restart. */
  private retire(w: PoolWorker, why: string): void {
    if (this.workers[w.index] !== w) return; // already retired, or closed
    this.workers[w.index] = null;
    this.clearStartTimer(w);
    void terminateWithin(w.thread, TERMINATE_WAIT_MS);
    const wasReady = w.ready;
    const message = `model worker ${w.index} ${wasReady ? 'crashed' : 'failed to start'}`;
    this.rejectAll(
      w,
      new ServingError('WORKER_CRASHED', `${message}; the request was not completed, retry it`, `${message} (${why})`),
    );
    this.settleFirst.reject(new Error(`a model worker failed to start: ${why}`));
    this.opts.onCrash?.(`${message} (${why})`);
    if (this.closing) return;
    if (!wasReady) this.failures[w.index]++;
    const failures = this.failures[w.index];
    if (failures > this.maxRestarts) {
      this.givenUp[w.index] = why;
      this.opts.onCrash?.(`model worker ${w.index} failed to start ${failures} times in a row: not restarting it`);
      this.opts.onIdle();
      return;
    }
    // A crash after a good start restarts at once; repeated failed starts back off (1 s, 2 s, 4 s, ...). Always on a
    // timer, so that callers see their rejection (and e.g. forget a poisonous adapter) before the new worker starts.
    const delay = failures === 0 ? 0 : this.restartDelayMs * 2 ** (failures - 1);
    setTimeout(() => {
      if (!this.closing && this.workers[w.index] === null) this.workers[w.index] = this.spawn(w.index);
    }, delay).unref();
    this.opts.onIdle();
  }

  private rejectAll(w: PoolWorker, e: Error): void {
    for (const p of w.pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    w.pending.clear();
    w.batches = 0;
    w.texts = 0;
  }

  private clearStartTimer(w: PoolWorker): void {
    if (w.startTimer) clearTimeout(w.startTimer);
    w.startTimer = null;
  }
}

function terminateWithin(thread: Worker, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    thread
      .terminate()
      .then(
        () => resolve(),
        () => resolve(),
      )
      .finally(() => clearTimeout(timer));
  });
}

function positive(n: number, name: string): number {
  if (!(typeof n === 'number' && n > 0 && Number.isFinite(n)))
    throw new RangeError(`${name} must be a positive number, got ${n}`);
  return n;
}

function nonNegativeInteger(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer, got ${n}`);
  return n;
}
