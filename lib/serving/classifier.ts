// The main-thread API: createClassifier starts model workers and batches requests to them dynamically.
// Nothing here touches tensors: tokenization and inference run in the workers, so the event loop stays free.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Batcher } from './batcher';
import { ServingError, isServingError } from './errors';
import type { LatencySummary } from './latency';
import { LatencyWindow } from './latency';
import { WorkerPool } from './worker-pool';
import { compiledWorkerScript } from '../worker-script';
import { readAdapterLabels } from '../lora/adapter-io';
import { checkAdapterFolder } from './adapter-folder';
import { placeholderLabels } from '../io/hf-labels';

export interface ClassifierOptions {
  /** A Hugging Face DistilBertForSequenceClassification folder (config.json + weights). */
  model: string;
  /** The tokenizer folder; defaults to the model folder. */
  tokenizer?: string;
  /** PEFT LoRA adapter folders by name. */
  adapters?: Record<string, string>;
  /** 'cpu' (default) or 'cuda' / 'cuda:N'. */
  device?: string;
  /** The most texts in one forward pass (default 32). */
  maxBatchSize?: number;
  /** How long a text may wait for a fuller batch (default 5 ms). */
  maxWaitMs?: number;
  /** Model worker threads (default 1); each holds its own copy of the model and adapters. */
  workers?: number;
  /** The most texts waiting for a batch; more are rejected with QUEUE_FULL (default 1024). */
  maxQueue?: number;
  /** Longer texts are truncated to this many tokens (default 512). */
  maxLength?: number;
  /** libtorch threads per worker (default: the CPU count less one, divided among the workers). */
  threadsPerWorker?: number;
  /** The compiled worker script; by default lib/serving/worker.js beside this file, or in dist/ from TypeScript sources. */
  workerScript?: string;
  /** Called when a worker crashes, hangs or fails to restart; default: console.error. */
  onWorkerError?: (message: string) => void;
  /**
   * addAdapter() folders are relative to this folder and must stay inside it once symlinks are resolved (the
   * adapters given at creation are the operator's and may be anywhere). Default: any folder.
   */
  adapterRoot?: string;
  /** The most adapters loaded at once (default 64). */
  maxAdapters?: number;
  /** The most bytes of adapter files loaded at once, a bound of the memory adapters take per worker (default 2 GiB). */
  maxAdapterBytes?: number;
  /** A classify() not answered this long after the call fails with TIMEOUT (default 60 s). */
  requestTimeoutMs?: number;
  /** A batch or adapter load running longer than this on a worker marks it hung: it is stopped and restarted (default 60 s). */
  jobTimeoutMs?: number;
  /** A worker not ready this long after its start failed to start (default 120 s). */
  startTimeoutMs?: number;
  /** Failed starts in a row after which a worker is not restarted again (default 5; the pauses double from 1 s). */
  maxRestarts?: number;
  /** How long close() lets queued and running requests finish before it rejects them with CLOSED (default 10 s). */
  closeTimeoutMs?: number;
}

export interface AddAdapterOptions {
  /** Overrides ClassifierOptions.adapterRoot for this call. */
  root?: string;
}

export interface ClassifyOptions {
  /** The adapter to run; the base model when omitted. */
  adapter?: string;
}

export interface Classification {
  /** id2label of the most probable class. */
  label: string;
  score: number;
  /** Softmax probabilities by class index. */
  scores: number[];
}

export interface BatchEvent {
  adapter: string | null;
  size: number;
  ms: number;
  ok: boolean;
}

export interface ClassifierStats {
  /**
   * 'ready' while some worker can serve; 'starting' until the first is; 'degraded' while every worker is restarting;
   * 'unavailable' once every worker failed to start maxRestarts + 1 times in a row (see `error`); 'closed'.
   */
  state: 'starting' | 'ready' | 'degraded' | 'unavailable' | 'closed';
  /** Why the state is 'unavailable'. */
  error?: string;
  workers: number;
  readyWorkers: number;
  /** Texts waiting for a batch. */
  queueDepth: number;
  /** Texts in batches running on workers. */
  inFlight: number;
  batches: number;
  meanBatchSize: number;
  requests: number;
  failedRequests: number;
  /** Per request, from classify() to its result, over the last 1024 requests. */
  latencyMs: LatencySummary;
}

const ADAPTER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const BASE_KEY = ''; // the batcher's key for the base model; never a valid adapter name

export async function createClassifier(opts: ClassifierOptions): Promise<Classifier> {
  const classifier = new Classifier(opts);
  try {
    await classifier.ready;
  } catch (e) {
    await classifier.close();
    throw e;
  }
  return classifier;
}

export class Classifier {
  /** Resolves once every worker has loaded the model and adapters. */
  readonly ready: Promise<void>;
  private labels: string[] = [];
  /** Class names an adapter was trained with, where it names them (see saveAdapter's `labels`). */
  private readonly adapterLabels = new Map<string, string[]>();
  /** Adapters workers load at (re)start: includes one being added. */
  private readonly dirs = new Map<string, string>();
  /** Bytes of each adapter's files (see checkAdapterFolder). */
  private readonly adapterBytes = new Map<string, number>();
  private readonly adapterRoot: string | undefined;
  private readonly maxAdapters: number;
  private readonly maxAdapterBytes: number;
  private readonly closeTimeoutMs: number;
  private started = false;
  /** Adapters requests may name. */
  private readonly servable = new Set<string>();
  private readonly pool: WorkerPool;
  private readonly batcher: Batcher<string, Classification>;
  private readonly latency = new LatencyWindow();
  private readonly batchListeners = new Set<(b: BatchEvent) => void>();
  private requests = 0;
  private failedRequests = 0;
  private closing: Promise<void> | null = null;

  constructor(opts: ClassifierOptions) {
    const model = path.resolve(opts.model);
    if (!fs.existsSync(path.join(model, 'config.json')))
      throw new Error(`createClassifier: no config.json in model folder ${model}`);
    this.adapterRoot = opts.adapterRoot;
    this.maxAdapters = opts.maxAdapters ?? 64;
    this.maxAdapterBytes = opts.maxAdapterBytes ?? 2 ** 31;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 10_000;
    for (const [name, dir] of Object.entries(opts.adapters ?? {})) {
      checkAdapterName(name);
      const checked = checkAdapterFolder(name, dir);
      this.dirs.set(name, checked.dir);
      this.adapterBytes.set(name, checked.bytes);
      this.readLabels(name, checked.dir);
    }
    if (this.dirs.size > this.maxAdapters)
      throw new RangeError(`${this.dirs.size} adapters given, maxAdapters is ${this.maxAdapters}`);
    const workers = opts.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1)
      throw new RangeError(`workers must be a positive integer, got ${workers}`);
    const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    // One core stays with the main thread: libtorch threads that spin on every core starve the event loop.
    const threads = opts.threadsPerWorker ?? Math.max(1, Math.floor((cpus - 1) / workers));
    const onWorkerError = opts.onWorkerError ?? ((m: string) => console.error(`torch-lora: ${m}`));

    this.batcher = new Batcher<string, Classification>({
      maxBatchSize: opts.maxBatchSize ?? 32,
      maxWaitMs: opts.maxWaitMs ?? 5,
      maxQueue: opts.maxQueue ?? 1024,
      timeoutMs: opts.requestTimeoutMs ?? 60_000,
      hasCapacity: () => this.pool.hasIdle(),
      run: (key, texts) => this.runBatch(key === BASE_KEY ? null : key, texts),
      onBatch: (b) => this.emitBatch({ adapter: b.key === BASE_KEY ? null : b.key, size: b.size, ms: b.ms, ok: b.ok }),
    });
    this.pool = new WorkerPool({
      script: opts.workerScript ?? compiledWorkerScript('serving/worker.js', 'createClassifier'),
      size: workers,
      init: () => ({
        model,
        tokenizer: path.resolve(opts.tokenizer ?? model),
        adapters: [...this.dirs],
        device: opts.device,
        maxLength: opts.maxLength ?? 512,
        threads,
      }),
      onIdle: () => this.onPoolChange(),
      onCrash: onWorkerError,
      jobTimeoutMs: opts.jobTimeoutMs,
      startTimeoutMs: opts.startTimeoutMs,
      maxRestarts: opts.maxRestarts,
    });
    this.ready = this.pool.ready().then((labels) => {
      this.started = true;
      this.labels = labels;
      this.dirs.forEach((_, name) => this.servable.add(name));
    });
    this.ready.catch(() => undefined); // createClassifier reports it
  }

  /** One result per text, in order. Rejects with a ServingError: UNKNOWN_ADAPTER, QUEUE_FULL, WORKER_CRASHED, CLOSED, ... */
  async classify(texts: string[], opts: ClassifyOptions = {}): Promise<Classification[]> {
    if (this.closing) throw new ServingError('CLOSED', 'the classifier is closed');
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) {
      throw new ServingError('INVALID_INPUT', 'texts must be an array of strings');
    }
    const adapter = opts.adapter ?? null;
    if (adapter !== null && !this.servable.has(adapter)) throw unknownAdapter(adapter, this.adapters());
    const failure = this.pool.failure();
    if (failure) throw new ServingError('UNAVAILABLE', 'no model worker can start; see the server log', failure);
    const started = performance.now();
    try {
      const results = await this.batcher.submit(adapter ?? BASE_KEY, texts);
      this.latency.add(performance.now() - started);
      this.requests++;
      return results;
    } catch (e) {
      this.failedRequests++;
      throw e;
    }
  }

  /**
   * Loads a PEFT adapter folder into every worker; requests may name it once this resolves. Error messages name only
   * `name` and `dir` as given (safe to show a remote client); ServingError.detail has the loader's own message.
   */
  async addAdapter(name: string, dir: string, opts: AddAdapterOptions = {}): Promise<void> {
    if (this.closing) throw new ServingError('CLOSED', 'the classifier is closed');
    checkAdapterName(name);
    if (this.dirs.has(name)) throw new ServingError('ADAPTER_EXISTS', `an adapter named '${name}' is already loaded`);
    const checked = checkAdapterFolder(name, dir, opts.root ?? this.adapterRoot);
    if (this.dirs.size >= this.maxAdapters) {
      throw new ServingError(
        'ADAPTER_LIMIT',
        `${this.dirs.size} adapters are loaded, the most allowed (maxAdapters); remove one first`,
      );
    }
    const total = [...this.adapterBytes.values()].reduce((a, b) => a + b, 0);
    if (total + checked.bytes > this.maxAdapterBytes) {
      throw new ServingError(
        'ADAPTER_LIMIT',
        `adapter '${name}' has ${checked.bytes} bytes of files; with the ${total} loaded that passes maxAdapterBytes (${this.maxAdapterBytes})`,
      );
    }
    this.dirs.set(name, checked.dir);
    this.adapterBytes.set(name, checked.bytes);
    try {
      await this.pool.broadcast({ type: 'addAdapter', name, dir: checked.dir });
    } catch (e) {
      this.dirs.delete(name);
      this.adapterBytes.delete(name);
      // Workers that did load it unload it again (the others answer UNKNOWN_ADAPTER, which is fine).
      await this.pool.broadcast({ type: 'removeAdapter', name }).catch(() => undefined);
      if (isServingError(e, 'ADAPTER_LOAD_FAILED')) {
        throw new ServingError(
          'ADAPTER_LOAD_FAILED',
          `cannot load adapter '${name}' from '${dir}': not a valid LoRA adapter for this model`,
          e.message,
        );
      }
      throw e;
    }
    this.readLabels(name, checked.dir);
    this.servable.add(name);
  }

  /** Stops accepting requests for the adapter, lets its queued ones finish, then unloads it from every worker. */
  async removeAdapter(name: string): Promise<void> {
    if (this.closing) throw new ServingError('CLOSED', 'the classifier is closed');
    if (!this.servable.has(name)) throw unknownAdapter(name, this.adapters());
    this.servable.delete(name);
    await this.batcher.drain(name);
    this.dirs.delete(name);
    this.adapterBytes.delete(name);
    this.adapterLabels.delete(name);
    // A worker that crashed meanwhile restarts without it, so a failure here leaves nothing behind.
    await this.pool.broadcast({ type: 'removeAdapter', name }).catch(() => undefined);
  }

  adapters(): string[] {
    return [...this.servable];
  }

  /** Label names by class index: the adapter's own when it names its classes, else config.json's id2label. */
  labelNames(adapter?: string | null): string[] {
    return [...this.namesFor(adapter ?? null)];
  }

  stats(): ClassifierStats {
    const b = this.batcher.stats();
    const readyWorkers = this.pool.readyCount();
    const failure = this.pool.failure();
    const state = this.closing
      ? 'closed'
      : failure
        ? 'unavailable'
        : readyWorkers > 0
          ? 'ready'
          : this.started
            ? 'degraded'
            : 'starting';
    return {
      state,
      ...(failure ? { error: failure } : {}),
      workers: this.pool.size,
      readyWorkers,
      queueDepth: b.queued,
      inFlight: b.inFlight,
      batches: b.batches,
      meanBatchSize: b.batches ? b.items / b.batches : 0,
      requests: this.requests,
      failedRequests: this.failedRequests,
      latencyMs: this.latency.summary(),
    };
  }

  /** Calls `listener` after every batch; returns a function that unsubscribes it. */
  onBatch(listener: (b: BatchEvent) => void): () => void {
    this.batchListeners.add(listener);
    return () => {
      this.batchListeners.delete(listener);
    };
  }

  /**
   * Rejects new requests, lets the queued and running ones finish for up to closeTimeoutMs, rejects the rest with
   * CLOSED and stops the workers. Always resolves, hung workers or not.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.closeTimeoutMs)));
      await Promise.race([this.batcher.drain(), deadline]);
      clearTimeout(timer);
      this.batcher.failQueued(new ServingError('CLOSED', 'the classifier was closed before this request ran'));
      await this.pool.close();
    })();
    return this.closing;
  }

  /** Workers came, went or were given up on: start what can start, and fail what never will. */
  private onPoolChange(): void {
    const failure = this.pool.failure();
    if (failure)
      this.batcher.failQueued(
        new ServingError('UNAVAILABLE', 'no model worker can start; see the server log', failure),
      );
    else this.batcher.pump();
  }

  private emitBatch(event: BatchEvent): void {
    for (const listener of this.batchListeners) {
      try {
        listener(event);
      } catch (e) {
        console.error('torch-lora: an onBatch listener threw:', e); // a metrics bug must not stop serving
      }
    }
  }

  private async runBatch(adapter: string | null, texts: string[]): Promise<Classification[]> {
    const probs = await this.pool.classify(adapter, texts);
    const n = probs.length / texts.length; // an adapter's head may have its own number of classes
    const names = this.namesFor(adapter, n);
    return texts.map((_, i) => {
      const scores = Array.from(probs.subarray(i * n, (i + 1) * n));
      let best = 0;
      for (let j = 1; j < n; j++) if (scores[j] > scores[best]) best = j;
      return { label: names[best], score: scores[best], scores };
    });
  }

  /** The adapter's own names, else config.json's; placeholders when neither fits `n` classes. */
  private namesFor(adapter: string | null, n?: number): string[] {
    const own = adapter === null ? undefined : this.adapterLabels.get(adapter);
    if (own && (n === undefined || own.length === n)) return own;
    if (n === undefined || this.labels.length === n) return this.labels;
    return placeholderLabels(n);
  }

  // A file that cannot be read names nothing here; the workers report an adapter they cannot load.
  private readLabels(name: string, dir: string): void {
    let labels: string[] | null = null;
    try {
      labels = readAdapterLabels(dir);
    } catch {
      labels = null;
    }
    if (labels) this.adapterLabels.set(name, labels);
    else this.adapterLabels.delete(name);
  }
}

function checkAdapterName(name: string): void {
  if (typeof name !== 'string' || !ADAPTER_NAME.test(name)) {
    throw new ServingError(
      'INVALID_INPUT',
      `invalid adapter name '${name}': use 1-128 letters, digits, '.', '_' or '-'`,
    );
  }
}

function unknownAdapter(name: string, loaded: string[]): ServingError {
  return new ServingError(
    'UNKNOWN_ADAPTER',
    `unknown adapter '${name}' (loaded: ${loaded.length ? loaded.join(', ') : 'none'})`,
  );
}
