// Worker-thread entry: loads the model and adapters named in workerData, then answers the main thread's messages
// one at a time. Inference blocks this thread only, never the main thread's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { ModelHost } from './model-host';
import { isServingError } from './errors';
import type { FromWorker, ToWorker, WorkerInit } from './protocol';

if (!parentPort) throw new Error('lib/serving/worker.js runs in a worker thread (see createClassifier)');
const port = parentPort;
const post = (msg: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);

const host = ModelHost.load(workerData as WorkerInit);
host.then(
  (h) => post({ type: 'ready', labels: h.labels, adapters: h.adapters() }),
  (e: Error) => post({ type: 'initError', message: e.message }),
);

port.on('message', (msg: ToWorker) => {
  host.then(
    (h) => handle(h, msg),
    () => undefined,
  );
});

function handle(h: ModelHost, msg: ToWorker): void {
  try {
    switch (msg.type) {
      case 'classify': {
        const probs = h.classify(msg.texts, msg.adapter);
        post({ type: 'classified', id: msg.id, probs }, [probs.buffer as ArrayBuffer]);
        return;
      }
      case 'addAdapter':
        h.addAdapter(msg.name, msg.dir);
        post({ type: 'done', id: msg.id });
        return;
      case 'removeAdapter':
        h.removeAdapter(msg.name);
        post({ type: 'done', id: msg.id });
        return;
    }
  } catch (e) {
    const code = isServingError(e) ? e.code : 'INFERENCE_FAILED';
    post({ type: 'failed', id: msg.id, code, message: (e as Error).message });
  }
}
