// Messages between the main thread (classifier.ts) and a model worker (worker.ts).
import type { ServingErrorCode } from './errors';

/** What a worker loads at start-up (its workerData). */
export interface WorkerInit {
  model: string;
  tokenizer: string;
  /** [name, folder] of every adapter to load. */
  adapters: [string, string][];
  device?: string;
  maxLength: number;
  threads?: number;
}

export type ToWorker =
  | { type: 'classify'; id: number; adapter: string | null; texts: string[] }
  | { type: 'addAdapter'; id: number; name: string; dir: string }
  | { type: 'removeAdapter'; id: number; name: string };

export type FromWorker =
  | { type: 'ready'; labels: string[]; adapters: string[] }
  | { type: 'initError'; message: string }
  /** Softmax probabilities, row-major [texts, labels]. */
  | { type: 'classified'; id: number; probs: Float32Array }
  | { type: 'done'; id: number }
  | { type: 'failed'; id: number; code: ServingErrorCode; message: string };
