// The main job: LoRA fine-tuning of DistilBERT for IMDb sentiment beside the seed's other methods (training the last
// layers only, full fine-tuning), each tuned fairly: a small learning-rate grid per method, chosen on validation, the
// test set used once per method at the end. With pretrained distilbert-base-uncased weights (--model DIR,
// TORCH_LORA_MODEL, or the Hugging Face cache) it runs the seed's protocol (35k/5k/10k, 3 epochs); without them it says
// so and runs the same comparison from a stand-in encoder trained here on SST-2 (cached), in under 10 minutes on a
// 2-core CPU. Writes results.json and comparison.svg (validation accuracy and loss per epoch of every method).
//
//   node dist/examples/demo.js [--model DIR] [--only lora-qv,full] [--lr full=1e-5,3e-5] [--precision auto|bf16|fp32]
//                              [--device cpu|cuda] [--estimate] [--output DIR] [--threads N] [--no-cache]
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { AutoTokenizer, loadTextDataset, backend, cpu, cuda } from '../lib';
import { selectMethods } from './demo/methods';
import { findPretrained, standInStartPoint } from './demo/start-point';
import type { MethodResult } from './demo/grid';
import { tuneAndTest } from './demo/grid';
import { printReport, writeReport } from './demo/report';
import type { Protocol } from './demo/estimate';
import { estimateProtocol, SEED_PROTOCOL } from './demo/estimate';

// The demo owns its process: the CPU tuning (docs/performance.md) is on unless TORCH_LORA_CPU_TUNING=0.
if (process.env.TORCH_LORA_CPU_TUNING !== '0') cpu.enableTuning({ malloc: true });

const REPO = path.resolve(__dirname, '..', '..');
const SHARED = path.resolve(REPO, '..', 'shared');

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    data: { type: 'string' },
    output: { type: 'string' },
    threads: { type: 'string' },
    'no-cache': { type: 'boolean' },
    only: { type: 'string' },
    lr: { type: 'string', multiple: true },
    precision: { type: 'string', default: 'auto' },
    device: { type: 'string' },
    estimate: { type: 'boolean' },
    // Smaller runs (the tests use them): sizes of the IMDb subsets and of the stand-in's SST-2 epoch.
    'train-size': { type: 'string' },
    'validation-size': { type: 'string' },
    'test-size': { type: 'string' },
    epochs: { type: 'string' },
    'max-length': { type: 'string' },
    'sst2-sentences': { type: 'string' },
  },
});

const log = (line: string) => console.log(line);

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a whole number > 0, got '${value}'`);
  return n;
}

/** bf16 autocast where the hardware computes bf16 natively (a CUDA GPU, or a CPU with AVX512-BF16 / AMX), else fp32. */
function choosePrecision(device: string): { precision: 'bf16' | 'fp32'; why: string } {
  const asked = args.precision;
  if (asked === 'bf16' || asked === 'fp32') return { precision: asked, why: '--precision' };
  if (asked !== 'auto') throw new Error(`--precision must be auto, bf16 or fp32, got '${asked}'`);
  if (device.startsWith('cuda')) return { precision: 'bf16', why: 'a CUDA device' };
  return cpu.hasNativeBf16()
    ? { precision: 'bf16', why: 'this CPU has native bf16 (AVX512-BF16/AMX): bf16 autocast' }
    : { precision: 'fp32', why: 'this CPU has no native bf16 (it would be emulated, slower than float32)' };
}

async function main(): Promise<void> {
  const started = Date.now();
  backend.setNumThreads(positiveInt('threads', args.threads, os.cpus().length));
  const device = args.device ?? (cuda.isAvailable() ? 'cuda' : 'cpu');
  const { precision, why } = choosePrecision(device);
  log(`device ${device}, ${precision} (${why}), ${backend.getNumThreads()} threads`);
  const output = path.resolve(args.output ?? path.join(REPO, 'runs', 'demo'));
  const dataPath = args.data ?? path.join(SHARED, 'data', 'aclImdb_v1.tar.gz');
  const pretrained = await findPretrained(args.model);
  const methods = selectMethods(args.only, args.lr ?? [], !!pretrained);
  // From pretrained weights: the seed's protocol. From the stand-in: subsets sized for 10 minutes on 2 cores.
  const base: Protocol = pretrained
    ? SEED_PROTOCOL
    : { train: 4000, validation: 1000, test: 2000, epochs: 3, batchSize: 16, maxLength: 128 };
  const sizes: Protocol = {
    ...base,
    train: positiveInt('train-size', args['train-size'], base.train),
    validation: positiveInt('validation-size', args['validation-size'], base.validation),
    test: positiveInt('test-size', args['test-size'], base.test),
    epochs: positiveInt('epochs', args.epochs, base.epochs),
    maxLength: positiveInt('max-length', args['max-length'], base.maxLength),
  };
  if (pretrained) {
    log(`pretrained weights: ${pretrained}`);
  } else {
    log(
      'NO PRETRAINED WEIGHTS: distilbert-base-uncased was not found (no --model, no TORCH_LORA_MODEL, nothing in the Hugging Face cache),',
    );
    log(
      'and this machine cannot download it. The whole comparison still runs, from a stand-in: a small DistilBERT encoder trained',
    );
    log(
      "here on SST-2. Its accuracies are NOT comparable to Raschka's 86-92%, which start from the pretrained weights.",
    );
  }

  const dataStarted = Date.now();
  const data = await loadTextDataset(dataPath, {
    seed: 42,
    trainSize: sizes.train,
    validationSize: sizes.validation,
    testSize: sizes.test,
  });
  const dataSeconds = (Date.now() - dataStarted) / 1000;
  log(
    `IMDb (Raschka's 35k/5k/10k split${pretrained ? '' : ', subsampled'}): train ${data.train.length}, validation ${data.validation.length}, test ${data.test.length}`,
  );

  if (args.estimate) {
    log(
      `\nEstimating the seed's protocol with pretrained weights (35k/5k/10k, ${SEED_PROTOCOL.epochs} epochs, batch ${SEED_PROTOCOL.batchSize}, ${SEED_PROTOCOL.maxLength} tokens) on this machine:`,
    );
    const tokenizerDir = path.join(SHARED, 'models', 'distilbert-base-uncased');
    const all = selectMethods(args.only, args.lr ?? [], true);
    const estimates = await estimateProtocol(all, {
      configPath: path.join(tokenizerDir, 'config.json'),
      tokenizer: AutoTokenizer.fromPretrained(tokenizerDir),
      texts: data.train,
      precision,
      device,
      protocol: SEED_PROTOCOL,
      log,
    });
    log(`  all methods: ${estimates.reduce((s, e) => s + e.gridHours, 0).toFixed(1)} h`);
    return;
  }

  const standInStarted = Date.now();
  const modelDir =
    pretrained ??
    (await standInStartPoint({
      tokenizerDir: path.join(SHARED, 'models', 'distilbert-base-uncased'),
      sst2Dir: path.join(SHARED, 'data', 'sst2'),
      cacheRoot: path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'torch-lora'),
      precision,
      useCache: !args['no-cache'],
      sentences: args['sst2-sentences'] ? positiveInt('sst2-sentences', args['sst2-sentences'], 0) : undefined,
      log,
    }));
  const startPointSeconds = (Date.now() - standInStarted) / 1000;
  const tokenizer = AutoTokenizer.fromPretrained(modelDir);

  const results: MethodResult[] = [];
  for (const m of methods) {
    log(`\n== ${m.label}: learning rates ${m.lrs.map((lr) => lr.toExponential(0)).join(', ')} ==`);
    results.push(
      await tuneAndTest(m, {
        modelDir,
        tokenizer,
        train: data.train,
        validation: data.validation,
        test: data.test,
        epochs: sizes.epochs,
        batchSize: sizes.batchSize,
        maxLength: sizes.maxLength,
        precision,
        device,
        outputDir: output,
        log,
      }),
    );
  }
  const report = {
    startPoint: pretrained
      ? `pretrained weights at ${pretrained}`
      : `stand-in encoder trained on SST-2 here (${modelDir})`,
    pretrained: !!pretrained,
    precision: `${precision} on ${device}`,
    sizes: {
      train: data.train.length,
      validation: data.validation.length,
      test: data.test.length,
      epochs: sizes.epochs,
      batchSize: sizes.batchSize,
      maxLength: sizes.maxLength,
    },
    results,
    seconds: { startPoint: startPointSeconds, data: dataSeconds, total: (Date.now() - started) / 1000 },
    command: `node dist/examples/demo.js ${process.argv.slice(2).join(' ')}`.trim(),
  };
  printReport(report, log);
  const files = writeReport(report, output);
  log(`\nwrote ${files.svg} and ${files.json}; each method's runs (metrics, plots, LoRA adapters) under ${output}`);
}

main().catch((e: Error) => {
  console.error(`demo failed: ${e.stack ?? e.message}`);
  process.exitCode = 1;
});
