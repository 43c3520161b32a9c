// Dynamic batching: requests are queued per key (the adapter), and a key's queue becomes a batch once it holds
// maxBatchSize items or its oldest request has waited maxWaitMs. Batches start only while `hasCapacity()` says so;
// until then the queue keeps growing towards full batches. A request larger than maxBatchSize is split across
// batches and resolves once every part is back.
import { ServingError } from './errors';

export interface BatcherOptions<T, R> {
  maxBatchSize: number;
  maxWaitMs: number;
  /** The most items waiting (not yet in a batch); a request that would go past it is rejected with QUEUE_FULL. */
  maxQueue: number;
  /** Runs one batch; resolves with one result per item, in order. */
  run: (key: string, items: T[]) => Promise<R[]>;
  /**
   * A request not answered this long after submit() is rejected with TIMEOUT and its waiting items dropped (default:
   * no deadline). Bounds the wait when no batch can start (every worker hung or gone).
   */
  timeoutMs?: number;
  /** Whether a batch may start now (e.g. a worker is idle). Call pump() when this turns true. */
  hasCapacity?: () => boolean;
  onBatch?: (info: BatchInfo) => void;
}

export interface BatchInfo {
  key: string;
  size: number;
  ms: number;
  ok: boolean;
}

export interface BatcherStats {
  /** Items waiting for a batch. */
  queued: number;
  /** Items in batches that are running. */
  inFlight: number;
  batches: number;
  items: number;
}

interface Request<T, R> {
  seq: number;
  enqueuedAt: number;
  items: T[];
  /** Items already put into a batch. */
  taken: number;
  results: R[];
  outstanding: number;
  failed: boolean;
  timer: NodeJS.Timeout | null;
  resolve: (results: R[]) => void;
  reject: (e: Error) => void;
}

interface Slice<T, R> {
  request: Request<T, R>;
  start: number;
  end: number;
}

class KeyQueue<T, R> {
  requests: Request<T, R>[] = [];
  /** Items not yet taken. */
  size = 0;
  inFlight = 0;
  timer: NodeJS.Timeout | null = null;
  flushing = false;
}

export class Batcher<T, R> {
  private readonly queues = new Map<string, KeyQueue<T, R>>();
  private readonly idleWaiters: { key?: string; resolve: () => void }[] = [];
  private seq = 0;
  private queued = 0;
  private inFlight = 0;
  private batches = 0;
  private itemsRun = 0;
  private flushingAll = false;

  constructor(private readonly opts: BatcherOptions<T, R>) {
    if (!(opts.maxBatchSize >= 1)) throw new RangeError(`maxBatchSize must be at least 1, got ${opts.maxBatchSize}`);
    if (!(opts.maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be non-negative, got ${opts.maxWaitMs}`);
    if (!(opts.maxQueue >= 1)) throw new RangeError(`maxQueue must be at least 1, got ${opts.maxQueue}`);
    if (opts.timeoutMs !== undefined && !(opts.timeoutMs > 0))
      throw new RangeError(`timeoutMs must be positive, got ${opts.timeoutMs}`);
  }

  submit(key: string, items: T[]): Promise<R[]> {
    if (items.length === 0) return Promise.resolve([]);
    const { maxQueue } = this.opts;
    if (this.queued + items.length > maxQueue) {
      return Promise.reject(
        new ServingError(
          'QUEUE_FULL',
          `the queue is full (${this.queued} of ${maxQueue} texts waiting, this request has ${items.length}); retry later`,
        ),
      );
    }
    return new Promise<R[]>((resolve, reject) => {
      const q = this.queue(key);
      const request: Request<T, R> = {
        seq: this.seq++,
        enqueuedAt: Date.now(),
        items,
        taken: 0,
        results: new Array<R>(items.length),
        outstanding: items.length,
        failed: false,
        timer: null,
        resolve,
        reject,
      };
      const { timeoutMs } = this.opts;
      if (timeoutMs !== undefined) {
        request.timer = setTimeout(
          () => this.fail(request, new ServingError('TIMEOUT', `no result within ${timeoutMs} ms; retry later`)),
          timeoutMs,
        );
        request.timer.unref();
      }
      q.requests.push(request);
      q.size += items.length;
      this.queued += items.length;
      this.pump();
      this.arm(q);
    });
  }

  /** Starts every batch that is due, while there is capacity. */
  pump(): void {
    while (this.hasCapacity()) {
      const next = this.dueQueue();
      if (!next) return;
      this.start(next[0], next[1]);
    }
  }

  /** Stops waiting for fuller batches (for `key`, or every key) and resolves once that work has finished. */
  drain(key?: string): Promise<void> {
    if (key === undefined) this.flushingAll = true;
    else if (this.queues.has(key)) this.queues.get(key)!.flushing = true;
    this.pump();
    return this.whenIdle(key);
  }

  /** Rejects every request that still has items waiting (running batches finish, their results are dropped). */
  failQueued(error: Error): void {
    for (const q of [...this.queues.values()]) for (const r of [...q.requests]) this.fail(r, error);
  }

  stats(): BatcherStats {
    return { queued: this.queued, inFlight: this.inFlight, batches: this.batches, items: this.itemsRun };
  }

  private queue(key: string): KeyQueue<T, R> {
    let q = this.queues.get(key);
    if (!q) this.queues.set(key, (q = new KeyQueue<T, R>()));
    return q;
  }

  private isDue(q: KeyQueue<T, R>): boolean {
    if (q.size === 0) return false;
    if (q.size >= this.opts.maxBatchSize || q.flushing || this.flushingAll) return true;
    return Date.now() - q.requests[0].enqueuedAt >= this.opts.maxWaitMs;
  }

  /** The due queue whose oldest request has waited longest, so that no adapter starves. */
  private dueQueue(): [string, KeyQueue<T, R>] | null {
    let best: [string, KeyQueue<T, R>] | null = null;
    for (const entry of this.queues) {
      const q = entry[1];
      if (this.isDue(q) && (!best || q.requests[0].seq < best[1].requests[0].seq)) best = entry;
    }
    return best;
  }

  /**
   * Makes sure a waiting queue will start: a timer for when its oldest request reaches maxWaitMs (at once if it is
   * already past, since the clock may have moved on since the last pump). A queue that is due while there is no
   * capacity needs none: pump() follows every change in capacity.
   */
  private arm(q: KeyQueue<T, R>): void {
    if (q.timer || q.size === 0) return;
    const wait = q.requests[0].enqueuedAt + this.opts.maxWaitMs - Date.now();
    if (wait <= 0 && !this.hasCapacity()) return;
    q.timer = setTimeout(
      () => {
        q.timer = null;
        this.pump();
        this.arm(q);
      },
      Math.max(0, wait),
    );
  }

  private hasCapacity(): boolean {
    return this.opts.hasCapacity ? this.opts.hasCapacity() : true;
  }

  private take(q: KeyQueue<T, R>): Slice<T, R>[] {
    const slices: Slice<T, R>[] = [];
    let room = this.opts.maxBatchSize;
    while (room > 0 && q.requests.length) {
      const request = q.requests[0];
      const start = request.taken;
      const end = Math.min(request.items.length, start + room);
      slices.push({ request, start, end });
      request.taken = end;
      room -= end - start;
      if (end === request.items.length) q.requests.shift();
    }
    return slices;
  }

  private start(key: string, q: KeyQueue<T, R>): void {
    const slices = this.take(q);
    const items = slices.flatMap((s) => s.request.items.slice(s.start, s.end));
    q.size -= items.length;
    this.queued -= items.length;
    q.inFlight += items.length;
    this.inFlight += items.length;
    this.batches++;
    this.itemsRun += items.length;
    if (q.timer && q.size === 0) {
      clearTimeout(q.timer);
      q.timer = null;
    }
    this.arm(q);
    const started = Date.now();
    let run: Promise<R[]>;
    try {
      run = this.opts.run(key, items);
    } catch (e) {
      run = Promise.reject(e);
    }
    run.then(
      (results) => this.finish(key, q, slices, started, results, null),
      (e: unknown) => this.finish(key, q, slices, started, null, e instanceof Error ? e : new Error(String(e))),
    );
  }

  private finish(
    key: string,
    q: KeyQueue<T, R>,
    slices: Slice<T, R>[],
    started: number,
    results: R[] | null,
    error: Error | null,
  ): void {
    const size = slices.reduce((n, s) => n + s.end - s.start, 0);
    if (!error && (!Array.isArray(results) || results.length !== size)) {
      error = new Error(`a batch of ${size} items returned ${Array.isArray(results) ? results.length : 'no'} results`);
    }
    q.inFlight -= size;
    this.inFlight -= size;
    let offset = 0;
    for (const s of slices) {
      if (!error) for (let i = s.start; i < s.end; i++) s.request.results[i] = results![offset++];
      this.settle(q, s, error);
    }
    if (q.size === 0 && q.inFlight === 0 && this.queues.get(key) === q) this.queues.delete(key);
    this.pump();
    this.arm(q);
    this.wakeIdleWaiters();
    this.opts.onBatch?.({ key, size, ms: Date.now() - started, ok: !error });
  }

  private settle(q: KeyQueue<T, R>, s: Slice<T, R>, error: Error | null): void {
    const r = s.request;
    if (r.failed) return;
    if (error) {
      this.fail(r, error);
      return;
    }
    r.outstanding -= s.end - s.start;
    if (r.outstanding === 0) {
      if (r.timer) clearTimeout(r.timer);
      r.resolve(r.results);
    }
  }

  /** Rejects the request once; its parts still waiting would be wasted work, so they leave the queue. */
  private fail(r: Request<T, R>, error: Error): void {
    if (r.failed || r.outstanding === 0) return;
    r.failed = true;
    if (r.timer) clearTimeout(r.timer);
    for (const [key, q] of this.queues) {
      const i = q.requests.indexOf(r);
      if (i < 0) continue;
      const left = r.items.length - r.taken;
      q.requests.splice(i, 1);
      q.size -= left;
      this.queued -= left;
      if (q.size === 0 && q.inFlight === 0) {
        if (q.timer) clearTimeout(q.timer);
        q.timer = null;
        this.queues.delete(key);
      }
      break;
    }
    r.reject(error);
    this.wakeIdleWaiters();
  }

  private whenIdle(key?: string): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push({ key, resolve });
      this.wakeIdleWaiters();
    });
  }

  private wakeIdleWaiters(): void {
    for (let i = this.idleWaiters.length - 1; i >= 0; i--) {
      const { key, resolve } = this.idleWaiters[i];
      const idle = key === undefined ? this.queued === 0 && this.inFlight === 0 : !this.queues.has(key);
      if (idle) {
        this.idleWaiters.splice(i, 1);
        resolve();
      }
    }
  }
}
