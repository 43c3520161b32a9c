/**
 * Load test of the HTTP server (examples/server) with autocannon: requests/s and latency percentiles for the tiny
 * model and a base-size DistilBERT with random weights, each with 1 and 3 LoRA adapters (requests spread over them).
 *
 *   node scripts/bootstrap.js && node dist/bench/load-test.js [--duration 10] [--connections 16] [--workers 1]
 *        [--max-wait-ms 5] [--tiny DIR] [--base-tokenizer DIR] [--only tiny|base]
 *
 * Each scenario starts the server as a child process on 127.0.0.1 (a free port), warms it up, runs autocannon for
 * --duration seconds, reads the mean batch size from /metrics, then stops it with SIGTERM.
 * Writes bench/results/load-test.json.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import {
  DistilBertForSequenceClassification,
  LoRALayer,
  manualSeed,
  noGrad,
  replaceLinearWithLora,
  saveAdapter,
} from '../lib';
import { repoRoot } from './repo-root';

interface Scenario {
  model: 'tiny' | 'base';
  dir: string;
  adapters: Record<string, string>;
}

interface Row {
  model: string;
  adapters: number;
  workers: number;
  connections: number;
  requests: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  meanBatch: number;
  errors: number;
}

const SENTENCES = [
  'a gripping, beautifully acted story that stays with you',
  'the plot makes no sense and the dialogue is painfully bad',
  'not the best film of the year, but a pleasant evening',
  'I would happily watch it again with friends',
  'two hours of my life I will never get back',
  'the soundtrack alone is worth the ticket',
  'an uneven script rescued by a wonderful lead performance',
  'boring, predictable and far too long',
];

/** A base-size DistilBERT with random weights, beside the distilbert-base-uncased tokenizer. */
function makeBaseModel(tokenizerDir: string, dir: string): DistilBertForSequenceClassification {
  const config = JSON.parse(fs.readFileSync(path.join(tokenizerDir, 'config.json'), 'utf8'));
  const model = DistilBertForSequenceClassification.random(config, 0);
  model.savePretrained(dir);
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'vocab.txt']) {
    if (fs.existsSync(path.join(tokenizerDir, f))) fs.copyFileSync(path.join(tokenizerDir, f), path.join(dir, f));
  }
  return model;
}

/** Three PEFT adapters (r=8 on q_lin/v_lin, each with its own classifier head) for `model`, saved under `dir`. */
function makeAdapters(model: DistilBertForSequenceClassification, dir: string): Record<string, string> {
  const adapters: Record<string, string> = {};
  for (let i = 0; i < 3; i++) {
    const name = `adapter${i}`;
    replaceLinearWithLora(model, { rank: 8, alpha: 16, targets: ['q_lin', 'v_lin'], adapterName: name });
    manualSeed(100 + i);
    noGrad(() => {
      for (const m of model.modules()) if (m instanceof LoRALayer) m.B.normal_(0, 0.02);
      for (const p of model.classifier.parameters()) p.normal_(0, 0.02);
    });
    adapters[name] = path.join(dir, name);
    saveAdapter(model, adapters[name], { adapterName: name, modulesToSave: ['classifier'] });
  }
  return adapters;
}

interface Options {
  duration: number;
  connections: number;
  workers: number;
  maxWaitMs: number;
}

function startServer(
  root: string,
  s: Scenario,
  adapters: string[],
  opts: Options,
): Promise<{ child: ChildProcess; url: string }> {
  const args = [
    path.join(root, 'dist', 'examples', 'server', 'main.js'),
    '--model',
    s.dir,
    '--port',
    '0',
    '--log-level',
    'warn',
    '--workers',
    String(opts.workers),
    '--max-wait-ms',
    String(opts.maxWaitMs),
  ];
  for (const name of adapters) args.push('--adapter', `${name}=${s.adapters[name]}`);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.on('exit', (code) => reject(new Error(`the server exited (code ${code}) before listening:\n${out}`)));
  });
}

function stopServer(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.on('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function post(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
}

/** Texts and batches so far, from the server's classifier_batch_size histogram (summed over adapters). */
async function batchTotals(url: string): Promise<{ texts: number; batches: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const total = (metric: string) =>
    [...text.matchAll(new RegExp(`^${metric}\\{[^}]*\\} ([0-9.e+-]+)$`, 'gm'))].reduce((s, m) => s + Number(m[1]), 0);
  return { texts: total('classifier_batch_size_sum'), batches: total('classifier_batch_size_count') };
}

async function runScenario(root: string, s: Scenario, nAdapters: number, opts: Options): Promise<Row> {
  const names = Object.keys(s.adapters).slice(0, nAdapters);
  const { child, url } = await startServer(root, s, names, opts);
  try {
    for (const adapter of names) await post(`${url}/v1/classify`, { texts: SENTENCES, adapter }); // warm-up
    const before = await batchTotals(url);
    let n = 0;
    const result = await autocannon({
      url,
      connections: opts.connections,
      duration: opts.duration,
      timeout: 60,
      requests: [
        {
          method: 'POST',
          path: '/v1/classify',
          headers: { 'content-type': 'application/json' },
          setupRequest: (req) => {
            n++;
            return {
              ...req,
              body: JSON.stringify({ texts: [SENTENCES[n % SENTENCES.length]], adapter: names[n % names.length] }),
            };
          },
        },
      ],
    });
    const after = await batchTotals(url);
    return {
      model: s.model,
      adapters: nAdapters,
      workers: opts.workers,
      connections: opts.connections,
      requests: result.requests.total,
      reqPerSec: result.requests.average,
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      meanBatch: (after.texts - before.texts) / Math.max(1, after.batches - before.batches),
      errors: result.errors + result.timeouts + result.non2xx,
    };
  } finally {
    await stopServer(child);
  }
}

function table(rows: Row[]): string {
  const header =
    '| model | adapters | workers | connections | requests | req/s | p50 ms | p99 ms | mean batch | errors |';
  const lines = rows.map(
    (r) =>
      `| ${r.model} | ${r.adapters} | ${r.workers} | ${r.connections} | ${r.requests} | ${r.reqPerSec.toFixed(1)} | ${r.p50Ms} | ${r.p99Ms} | ${r.meanBatch.toFixed(1)} | ${r.errors} |`,
  );
  return [header, '|---|---|---|---|---|---|---|---|---|---|', ...lines].join('\n');
}

async function main(): Promise<void> {
  const root = repoRoot();
  const shared = path.resolve(root, '..', 'shared');
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '16' },
      workers: { type: 'string', default: '1' },
      'max-wait-ms': { type: 'string', default: '5' },
      tiny: { type: 'string', default: path.join(shared, 'fixtures', 'distilbert-tiny-random') },
      'base-tokenizer': { type: 'string', default: path.join(shared, 'models', 'distilbert-base-uncased') },
      only: { type: 'string' },
    },
  });
  const opts: Options = {
    duration: Number(values.duration),
    connections: Number(values.connections),
    workers: Number(values.workers),
    maxWaitMs: Number(values['max-wait-ms']),
  };
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'torch-lora-load-test-'));
  try {
    const scenarios: Scenario[] = [];
    if (values.only !== 'base') {
      const tiny = await DistilBertForSequenceClassification.fromPretrained(values.tiny!);
      scenarios.push({
        model: 'tiny',
        dir: values.tiny!,
        adapters: makeAdapters(tiny, path.join(work, 'tiny-adapters')),
      });
      tiny.dispose();
    }
    if (values.only !== 'tiny') {
      const dir = path.join(work, 'distilbert-base-random');
      const base = makeBaseModel(values['base-tokenizer']!, dir);
      scenarios.push({ model: 'base', dir, adapters: makeAdapters(base, path.join(work, 'base-adapters')) });
      base.dispose();
    }
    const rows: Row[] = [];
    for (const s of scenarios) {
      for (const n of [1, 3]) {
        console.error(
          `load test: ${s.model} model, ${n} adapter(s), ${opts.connections} connections, ${opts.duration} s`,
        );
        const row = await runScenario(root, s, n, opts);
        console.error(table([row]).split('\n')[2]);
        rows.push(row);
      }
    }
    console.log(table(rows));
    const out = path.join(root, 'bench', 'results', 'load-test.json');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const machine = {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      node: process.version,
      loadAverage: os.loadavg(),
    };
    fs.writeFileSync(
      out,
      JSON.stringify({ date: new Date().toISOString(), machine, options: opts, rows }, null, 2) + '\n',
    );
    console.error(`wrote ${out}`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
