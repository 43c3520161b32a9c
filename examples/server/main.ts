// `npm run serve -- --model DIR [--adapter NAME=DIR ...] [--port N] [--host 127.0.0.1] [--workers N]`
// Starts the classifier and the HTTP server; SIGTERM/SIGINT drain in-flight requests, then stop the workers.
import './dependencies'; // first: a missing fastify or prom-client is one clear line
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createClassifier } from '../../lib';
import { buildServer } from './app';
import { shutdown } from './shutdown';

const USAGE = `usage: npm run serve -- --model DIR [options]
  --model DIR              DistilBertForSequenceClassification folder (config.json + weights)
  --tokenizer DIR          tokenizer folder (default: the model folder)
  --adapter NAME=DIR       PEFT LoRA adapter to load (repeatable)
  --host HOST              default 127.0.0.1
  --port N                 default 8080 (0: any free port)
  --workers N              model worker threads (default 1)
  --threads-per-worker N   libtorch threads per worker (default: (CPUs - 1) / workers)
  --device DEV             cpu (default) or cuda
  --max-batch-size N       default 32
  --max-wait-ms N          default 5
  --max-queue N            default 1024
  --max-length N           tokens per text (default 512)
  --max-batch-texts N      texts per request (default 256)
  --max-text-chars N       characters per text (default 20000)
  --log-level LEVEL        default info
  --adapter-root DIR       enables POST/DELETE /v1/adapters for folders inside DIR; needs a token in the
                           TORCH_LORA_ADMIN_TOKEN environment variable or --admin-token-file (>= 16 characters)
  --admin-token-file FILE  the admin bearer token, read from FILE
  --max-adapters N         default 64
  --max-adapter-mb N       total adapter file size, default 2048
  --request-timeout-ms N   a request must arrive whole within N ms (default 30000)
  --classify-timeout-ms N  texts not classified within N ms fail with 503 TIMEOUT (default 60000)
  --drain-timeout-ms N     on SIGTERM, requests in flight get N ms to finish (default 10000)`;

function parse() {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      tokenizer: { type: 'string' },
      adapter: { type: 'string', multiple: true },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8080' },
      workers: { type: 'string' },
      'threads-per-worker': { type: 'string' },
      device: { type: 'string' },
      'max-batch-size': { type: 'string' },
      'max-wait-ms': { type: 'string' },
      'max-queue': { type: 'string' },
      'max-length': { type: 'string' },
      'max-batch-texts': { type: 'string' },
      'max-text-chars': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      'adapter-root': { type: 'string' },
      'admin-token-file': { type: 'string' },
      'max-adapters': { type: 'string' },
      'max-adapter-mb': { type: 'string' },
      'request-timeout-ms': { type: 'string' },
      'classify-timeout-ms': { type: 'string' },
      'drain-timeout-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (!values.model) throw new Error('--model is required');
  const adapters: Record<string, string> = {};
  for (const spec of values.adapter ?? []) {
    const eq = spec.indexOf('=');
    if (eq <= 0 || eq === spec.length - 1) throw new Error(`--adapter wants NAME=DIR, got '${spec}'`);
    adapters[spec.slice(0, eq)] = spec.slice(eq + 1);
  }
  // The token never goes on the command line, where `ps` shows it to every user.
  const token = values['admin-token-file']
    ? fs.readFileSync(values['admin-token-file'], 'utf8').trim()
    : process.env.TORCH_LORA_ADMIN_TOKEN;
  if (values['adapter-root'] && !token)
    throw new Error('--adapter-root needs an admin token (TORCH_LORA_ADMIN_TOKEN or --admin-token-file)');
  if (token && !values['adapter-root']) throw new Error('an admin token was given without --adapter-root');
  const admin =
    token && values['adapter-root'] ? { token, adapterRoot: path.resolve(values['adapter-root']) } : undefined;
  return { ...values, model: values.model, adapters, admin };
}

function int(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${flag} wants a non-negative integer, got '${value}'`);
  return n;
}

async function main(): Promise<void> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse();
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  const classifier = await createClassifier({
    model: args.model,
    tokenizer: args.tokenizer,
    adapters: args.adapters,
    device: args.device,
    workers: int(args.workers, 'workers'),
    threadsPerWorker: int(args['threads-per-worker'], 'threads-per-worker'),
    maxBatchSize: int(args['max-batch-size'], 'max-batch-size'),
    maxWaitMs: int(args['max-wait-ms'], 'max-wait-ms'),
    maxQueue: int(args['max-queue'], 'max-queue'),
    maxLength: int(args['max-length'], 'max-length'),
    maxAdapters: int(args['max-adapters'], 'max-adapters'),
    maxAdapterBytes:
      args['max-adapter-mb'] === undefined ? undefined : int(args['max-adapter-mb'], 'max-adapter-mb')! * 2 ** 20,
    requestTimeoutMs: int(args['classify-timeout-ms'], 'classify-timeout-ms'),
  });
  const app = buildServer(classifier, {
    modelName: path.basename(path.resolve(args.model)),
    maxBatchTexts: int(args['max-batch-texts'], 'max-batch-texts'),
    maxTextChars: int(args['max-text-chars'], 'max-text-chars'),
    logger: { level: args['log-level'] },
    admin: args.admin,
    requestTimeoutMs: int(args['request-timeout-ms'], 'request-timeout-ms'),
  });
  await app.listen({ host: args.host, port: int(args.port, 'port') });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : args.port;
  // bench/load-test.ts waits for this line.
  console.log(
    `torch-lora server listening on http://${args.host}:${port} (adapters: ${classifier.adapters().join(', ') || 'none'})`,
  );

  let stopping = false;
  const onSignal = async (signal: string) => {
    if (stopping) {
      console.error(`${signal} again: exiting without draining`);
      process.exit(1);
    }
    stopping = true;
    console.log(`${signal}: draining in-flight requests`);
    try {
      await shutdown(app, classifier, { drainMs: int(args['drain-timeout-ms'], 'drain-timeout-ms') });
      process.exit(0);
    } catch (e) {
      console.error(e);
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void onSignal('SIGTERM'));
  process.on('SIGINT', () => void onSignal('SIGINT'));
}

main().catch((e) => {
  console.error(`torch-lora server: ${(e as Error).message}`);
  process.exit(1);
});
