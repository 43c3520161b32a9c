// Worker-thread entry of finetuneInWorker: runs the job in workerData and reports logs, metrics and the result.
import { parentPort, workerData } from 'node:worker_threads';
import type { FinetuneJob } from './finetune-job';
import { runFinetuneJob } from './finetune-job';
import type { FromFinetuneWorker, ToFinetuneWorker } from './finetune-in-worker';

if (!parentPort) throw new Error('lib/recipes/finetune-worker.js runs in a worker thread (see finetuneInWorker)');
const port = parentPort;
const post = (msg: FromFinetuneWorker) => port.postMessage(msg);
const abort = new AbortController();

port.on('message', (msg: ToFinetuneWorker) => {
  if (msg.type === 'abort') abort.abort();
});

runFinetuneJob(workerData as FinetuneJob, {
  log: (line) => post({ type: 'log', line }),
  onMetrics: (record) => post({ type: 'metrics', record }),
  signal: abort.signal,
})
  .then(
    (result) => post({ type: 'done', result }),
    (e: Error) => post({ type: 'failed', message: e?.message ?? String(e), aborted: abort.signal.aborted }),
  )
  .finally(() => port.close());
