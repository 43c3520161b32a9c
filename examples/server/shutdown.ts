// Graceful stop with a deadline: stop accepting connections, let the requests in flight finish for up to drainMs,
// then close whatever connections remain (a client uploading a byte a second must not keep the process alive), and
// stop the classifier (which has its own deadline, see ClassifierOptions.closeTimeoutMs).
import type { FastifyInstance } from 'fastify';
import type { Classifier } from '../../lib';

export interface ShutdownOptions {
  /** How long requests in flight may take to finish (default 10 s). */
  drainMs?: number;
}

/** Resolves once the server and the classifier are closed; never waits past the deadlines. */
export async function shutdown(
  app: FastifyInstance,
  classifier: Pick<Classifier, 'close'>,
  opts: ShutdownOptions = {},
): Promise<void> {
  const drainMs = opts.drainMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      app.server.closeAllConnections();
      resolve();
    }, drainMs);
  });
  // app.close() stops listening, closes idle keep-alive connections and waits for the busy ones.
  await Promise.race([app.close(), deadline]);
  clearTimeout(timer);
  await classifier.close();
}
