// Fine-tuning off the main thread: a Node server can train without its event loop stalling for seconds per step.
import { Worker } from 'node:worker_threads';
import { compiledWorkerScript } from '../worker-script';
import { backend } from '../cuda';
import type { MetricRecord } from '../train/metrics-log';
import type { FinetuneJob, FinetuneJobHooks, FinetuneJobResult } from './finetune-job';

export type ToFinetuneWorker = { type: 'abort' };
export type FromFinetuneWorker =
  | { type: 'log'; line: string }
  | { type: 'metrics'; record: MetricRecord }
  | { type: 'done'; result: FinetuneJobResult }
  | { type: 'failed'; message: string; aborted: boolean };

export interface FinetuneInWorkerOptions extends FinetuneJobHooks {
  /** The compiled worker script (default: lib/recipes/finetune-worker.js of this package). */
  workerScript?: string;
}

/**
 * Runs `runFinetuneJob(job)` in a new worker thread and resolves with its result. `log` and `onMetrics` are called on
 * this thread as the worker reports. Aborting `signal` stops the run after the current training step (or once the
 * data and model are loaded) and rejects with the signal's reason; the worker then exits. The terminal progress bar is
 * off unless the job sets `progress: true`. The worker computes with this thread's intra-op thread count unless the job
 * sets `threads` (a new thread would otherwise start with OpenMP's and MKL's defaults, and sums could round differently).
 */
export function finetuneInWorker(job: FinetuneJob, opts: FinetuneInWorkerOptions = {}): Promise<FinetuneJobResult> {
  const { signal } = opts;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    let worker: Worker;
    try {
      worker = new Worker(opts.workerScript ?? compiledWorkerScript('recipes/finetune-worker.js', 'finetuneInWorker'), {
        workerData: { progress: false, threads: backend.getNumThreads(), ...job },
      });
    } catch (e) {
      const why =
        (e as Error).name === 'DataCloneError'
          ? `the job must be plain data (give log, onMetrics and signal as options): ${(e as Error).message}`
          : (e as Error).message;
      reject(new Error(`finetuneInWorker: ${why}`));
      return;
    }
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => worker.postMessage({ type: 'abort' } satisfies ToFinetuneWorker);
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (msg: FromFinetuneWorker) => {
      switch (msg.type) {
        case 'log':
          opts.log?.(msg.line);
          return;
        case 'metrics':
          opts.onMetrics?.(msg.record);
          return;
        case 'done':
          settle(() => resolve(msg.result));
          return;
        case 'failed':
          settle(() => reject(msg.aborted && signal ? signal.reason : new Error(`finetuneInWorker: ${msg.message}`)));
          return;
      }
    });
    worker.on('error', (e) => settle(() => reject(new Error(`finetuneInWorker: the worker failed: ${e.message}`))));
    worker.on('exit', (code) =>
      settle(() => reject(new Error(`finetuneInWorker: the worker exited (code ${code}) before it finished`))),
    );
  });
}
