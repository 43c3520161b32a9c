// `npm run serve -- --model DIR [--adapter NAME=DIR ...] [--port N] [--host 127.0.0.1] [--workers N]`
// Starts the classifier and the HTTP server; SIGTERM/SIGINT drain in-flight requests, then stop the workers.
import * as path from 'path';
import { parseArgs } from 'util';
import { createClassifier } from '../../lib/serving';
import { buildServer } from './app';

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
  --log-level LEVEL        default info`;

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
  return { ...values, model: values.model, adapters };
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
  });
  const app = buildServer(classifier, {
    modelName: path.basename(path.resolve(args.model)),
    maxBatchTexts: int(args['max-batch-texts'], 'max-batch-texts'),
    maxTextChars: int(args['max-text-chars'], 'max-text-chars'),
    logger: { level: args['log-level'] },
  });
  await app.listen({ host: args.host, port: int(args.port, 'port') });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : args.port;
  // bench/load-test.ts waits for this line.
  console.log(`torch-lora server listening on http://${args.host}:${port} (adapters: ${classifier.adapters().join(', ') || 'none'})`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      console.error(`${signal} again: exiting without draining`);
      process.exit(1);
    }
    stopping = true;
    console.log(`${signal}: draining in-flight requests`);
    try {
      await app.close(); // stops accepting connections and waits for the requests in flight
      await classifier.close();
      process.exit(0);
    } catch (e) {
      console.error(e);
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((e) => {
  console.error(`torch-lora server: ${(e as Error).message}`);
  process.exit(1);
});
