// The HTTP API over a Classifier: classify, manage adapters, health and Prometheus metrics.
// Every failure becomes a JSON `{error, message}` with a 4xx/5xx status; nothing a client sends can stop the server.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import Fastify, { LogController } from 'fastify';
import type { Classifier, ServingErrorCode } from '../../lib';
import { ServingError } from '../../lib';
import { createMetrics } from './metrics';
import type { Limits } from './schemas';
import { addAdapterSchema, classifySchema, listAdaptersSchema, removeAdapterSchema } from './schemas';

export type ClassifierLike = Pick<
  Classifier,
  'classify' | 'addAdapter' | 'removeAdapter' | 'adapters' | 'stats' | 'onBatch'
>;

/** Adapter management over HTTP: off unless given. */
export interface AdminOptions {
  /** Clients send `Authorization: Bearer <token>`; at least 16 characters. */
  token: string;
  /** POST /v1/adapters paths are relative to this folder and must stay inside it (symlinks resolved). */
  adapterRoot: string;
}

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
  /** Enables POST and DELETE /v1/adapters (otherwise they answer 403). */
  admin?: AdminOptions;
  /** A request must arrive whole within this time, else 408 and the connection closes (default 30 s). */
  requestTimeoutMs?: number;
  /** Its headers within this time (default 10 s). */
  headersTimeoutMs?: number;
  /** An idle keep-alive connection closes after this time (default 5 s). */
  keepAliveTimeoutMs?: number;
  /** A socket with no traffic at all closes after this time (default 60 s). */
  connectionTimeoutMs?: number;
  /** The most open connections; more are refused (default 1024). */
  maxConnections?: number;
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
  TIMEOUT: 503,
  UNAVAILABLE: 503,
  CLOSED: 503,
  ADAPTER_LIMIT: 409,
};

/** Node checks request and header deadlines on this period (its default, 30 s, would let a slow client linger). */
const TIMEOUT_CHECK_MS = 1000;

export function buildServer(classifier: ClassifierLike, opts: ServerOptions = {}): FastifyInstance {
  const limits: Limits = { maxBatchTexts: opts.maxBatchTexts ?? 256, maxTextChars: opts.maxTextChars ?? 20_000 };
  const modelName = opts.modelName ?? 'model';
  const requestTimeout = opts.requestTimeoutMs ?? 30_000;
  const headersTimeout = Math.min(opts.headersTimeoutMs ?? 10_000, requestTimeout); // Node wants headers <= request
  const authorized = opts.admin ? bearerCheck(opts.admin.token) : null;
  const app = Fastify({
    logger: opts.logger ?? false,
    logController: new LogController({ disableRequestLogging: true }),
    // A UTF-8 character of a JSON string takes at most 3 bytes (outside escapes); 1 MiB covers the rest.
    bodyLimit: opts.bodyLimit ?? limits.maxBatchTexts * limits.maxTextChars * 3 + (1 << 20),
    // Fastify coerces types by default ("texts": 5 would pass as a string); the API should reject them.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
    // Fastify's defaults are no request or connection deadline: a client sending a byte a second would hold a
    // connection (and shutdown) for ever.
    requestTimeout,
    connectionTimeout: opts.connectionTimeoutMs ?? 60_000,
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? 5_000,
    // Without a Host header Node would answer a bare 400 itself; this way the routes answer with a JSON error.
    http: {
      headersTimeout,
      connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_MS, requestTimeout),
      requireHostHeader: false,
    },
  });
  app.server.maxConnections = opts.maxConnections ?? 1024;
  // Only JSON bodies: Fastify also parses text/plain by default, which the routes would then reject as 400.
  app.removeContentTypeParser('text/plain');
  const metrics = createMetrics(classifier);

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.observeRequest(req.method, route, reply.statusCode, reply.elapsedTime / 1000);
    // Answered before its body arrived whole (415, 413, 401...): Node would keep reading the rest for as long as
    // the client cares to send it (the request deadline no longer applies). Close the connection instead.
    if (!req.raw.complete) req.raw.socket?.end();
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

  // Runs before the body is parsed, so an unauthenticated client cannot even make the server read its upload.
  const admin = {
    onRequest: async (req: FastifyRequest, reply: FastifyReply) => {
      if (!authorized) {
        return reply.status(403).send({ error: 'ADMIN_DISABLED', message: 'adapter management is off on this server' });
      }
      if (!authorized(req.headers.authorization)) {
        reply.header('www-authenticate', 'Bearer realm="torch-lora"');
        return reply
          .status(401)
          .send({ error: 'UNAUTHORIZED', message: 'adapter management needs a valid bearer token' });
      }
    },
  };

  app.post<{ Body: { name: string; path: string } }>(
    '/v1/adapters',
    { schema: addAdapterSchema, ...admin },
    async (req, reply) => {
      await classifier.addAdapter(req.body.name, req.body.path, { root: opts.admin!.adapterRoot });
      reply.status(201);
      return { adapters: classifier.adapters() };
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/v1/adapters/:name',
    { schema: removeAdapterSchema, ...admin },
    async (req) => {
      await classifier.removeAdapter(req.params.name);
      return { adapters: classifier.adapters() };
    },
  );

  app.get('/health', async (req, reply) => {
    const s = classifier.stats();
    const ok = s.state === 'ready';
    reply.status(ok ? 200 : 503);
    return {
      status: ok ? 'ok' : s.state === 'unavailable' ? 'failed' : 'unavailable',
      state: s.state,
      workers: s.workers,
      readyWorkers: s.readyWorkers,
      queueDepth: s.queueDepth,
    };
  });

  app.get('/metrics', async (req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  return app;
}

/** A constant-time check of `Authorization: Bearer <token>`. */
function bearerCheck(token: string): (header: string | undefined) => boolean {
  if (typeof token !== 'string' || token.length < 16)
    throw new RangeError('the admin token must have at least 16 characters');
  const want = createHash('sha256').update(token).digest();
  return (header) => {
    const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
    return m !== null && timingSafeEqual(createHash('sha256').update(m[1]).digest(), want);
  };
}

function sendError(err: FastifyError, req: FastifyRequest, reply: FastifyReply, retryAfter: number): void {
  const [status, error] = describe(err);
  if (status >= 500) req.log.error(err);
  // The client gets the message, which names only what it sent; the log gets the rest (paths, the loader's words).
  else if (err instanceof ServingError && err.detail) req.log.warn({ code: err.code, detail: err.detail }, err.message);
  if (status === 503) reply.header('retry-after', String(retryAfter));
  // A 500 may carry libtorch's or the loader's words (paths, values): those stay in the log.
  const message =
    error === 'INTERNAL'
      ? 'internal server error'
      : status === 500
        ? `${error.toLowerCase().replace(/_/g, ' ')}; see the server log`
        : err.message;
  reply.status(status).send({ error, message });
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
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return [400, 'BAD_REQUEST'];
  }
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) return [status, 'BAD_REQUEST'];
  return [500, 'INTERNAL'];
}
