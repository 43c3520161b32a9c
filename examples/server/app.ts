// The HTTP API over a Classifier: classify, manage adapters, health and Prometheus metrics.
// Every failure becomes a JSON `{error, message}` with a 4xx/5xx status; nothing a client sends can stop the server.
import Fastify, { LogController, FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { Classifier, ServingError, ServingErrorCode } from '../../lib/serving';
import { createMetrics } from './metrics';
import { Limits, addAdapterSchema, classifySchema, listAdaptersSchema, removeAdapterSchema } from './schemas';

export type ClassifierLike = Pick<Classifier, 'classify' | 'addAdapter' | 'removeAdapter' | 'adapters' | 'stats' | 'onBatch'>;

export interface ServerOptions {
  /** The model name reported with every classification. */
  modelName?: string;
  /** The most texts in one request (default 256). */
  maxBatchTexts?: number;
  /** The longest text, in characters (default 20,000). */
  maxTextChars?: number;
  /** Retry-After, in seconds, when the queue is full (default 1). */
  retryAfterSeconds?: number;
  /** Request body limit in bytes; by default enough for maxBatchTexts texts of maxTextChars characters. */
  bodyLimit?: number;
  logger?: FastifyServerOptions['logger'];
}

interface ClassifyBody {
  texts: string[];
  adapter?: string;
}

const STATUS_BY_CODE: Record<ServingErrorCode, number> = {
  QUEUE_FULL: 503,
  UNKNOWN_ADAPTER: 404,
  ADAPTER_EXISTS: 409,
  ADAPTER_LOAD_FAILED: 400,
  INVALID_INPUT: 400,
  INFERENCE_FAILED: 500,
  WORKER_CRASHED: 503,
  CLOSED: 503,
};

export function buildServer(classifier: ClassifierLike, opts: ServerOptions = {}): FastifyInstance {
  const limits: Limits = { maxBatchTexts: opts.maxBatchTexts ?? 256, maxTextChars: opts.maxTextChars ?? 20_000 };
  const modelName = opts.modelName ?? 'model';
  const app = Fastify({
    logger: opts.logger ?? false,
    logController: new LogController({ disableRequestLogging: true }),
    // A UTF-8 character of a JSON string takes at most 3 bytes (outside escapes); 1 MiB covers the rest.
    bodyLimit: opts.bodyLimit ?? limits.maxBatchTexts * limits.maxTextChars * 3 + (1 << 20),
    // Fastify coerces types by default ("texts": 5 would pass as a string); the API should reject them.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
  });
  const metrics = createMetrics(classifier);

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.observeRequest(req.method, route, reply.statusCode, reply.elapsedTime / 1000);
  });
  app.addHook('onClose', async () => metrics.stop());
  app.setErrorHandler((err: FastifyError, req, reply) => sendError(err, req, reply, opts.retryAfterSeconds ?? 1));
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ error: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });

  app.post<{ Body: ClassifyBody }>('/v1/classify', { schema: classifySchema(limits) }, async (req) => {
    const { texts, adapter } = req.body;
    const results = await classifier.classify(texts, { adapter });
    return { results, adapter: adapter ?? null, model: modelName };
  });

  app.get('/v1/adapters', { schema: listAdaptersSchema }, async () => ({ adapters: classifier.adapters() }));

  app.post<{ Body: { name: string; path: string } }>('/v1/adapters', { schema: addAdapterSchema }, async (req, reply) => {
    await classifier.addAdapter(req.body.name, req.body.path);
    reply.status(201);
    return { adapters: classifier.adapters() };
  });

  app.delete<{ Params: { name: string } }>('/v1/adapters/:name', { schema: removeAdapterSchema }, async (req) => {
    await classifier.removeAdapter(req.params.name);
    return { adapters: classifier.adapters() };
  });

  app.get('/health', async (req, reply) => {
    const s = classifier.stats();
    const ok = s.readyWorkers > 0;
    reply.status(ok ? 200 : 503);
    return { status: ok ? 'ok' : 'unavailable', workers: s.workers, readyWorkers: s.readyWorkers, queueDepth: s.queueDepth };
  });

  app.get('/metrics', async (req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  return app;
}

function sendError(err: FastifyError, req: FastifyRequest, reply: FastifyReply, retryAfter: number): void {
  const [status, error] = describe(err);
  if (status >= 500) req.log.error(err);
  if (status === 503) reply.header('retry-after', String(retryAfter));
  reply.status(status).send({ error, message: error === 'INTERNAL' ? 'internal server error' : err.message });
}

function describe(err: FastifyError): [number, string] {
  if (err instanceof ServingError) return [STATUS_BY_CODE[err.code] ?? 500, err.code];
  if (err.validation) return [400, 'BAD_REQUEST'];
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return [400, 'INVALID_JSON'];
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return [413, 'PAYLOAD_TOO_LARGE'];
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return [415, 'UNSUPPORTED_MEDIA_TYPE'];
  }
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) return [status, 'BAD_REQUEST'];
  return [500, 'INTERNAL'];
}
