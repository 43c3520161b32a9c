#!/usr/bin/env node
// The command line: `npx torch-lora finetune ...` with the switches of Raschka's LoRA experiments.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { Method } from '../lib';
import {
  AutoTokenizer,
  DistilBertForSequenceClassification,
  runFinetuneJob,
  loadAdapter,
  readAdapterConfig,
  readAdapterLabels,
  noGrad,
  tidy,
  cpu,
  datasetName,
  distributed,
  encodeBatchToTensors,
  LORA_DEFAULTS,
  TRAINER_DEFAULTS as D,
} from '../lib';

const { launch, parseLaunchArgs, LAUNCH_USAGE, initProcessGroup, destroyProcessGroup, isMainProcess, intSetting } =
  distributed;

// A command owns its process: the CPU tuning (no page faults per step; docs/performance.md) is on unless
// TORCH_LORA_CPU_TUNING=0.
if (process.env.TORCH_LORA_CPU_TUNING !== '0') cpu.enableTuning({ malloc: true });

const HELP = `torch-lora — LoRA fine-tuning of Hugging Face DistilBERT from Node.js

Usage:
  torch-lora finetune --model <dir|hub id> --data <imdb.tar.gz|aclImdb|sst2 dir|file.csv|file.jsonl> [options]
  torch-lora predict  --model <dir|hub id> [--adapter <dir>] "text" ["text" ...]
  torch-lora launch   --nproc-per-node N [--nnodes M --node-rank K --master-addr A --master-port P] script.js [args]
                        data-parallel: N processes with torchrun's variables (docs/distributed.md)

Fine-tuning method (default: LoRA on query and value):
  --lora-query --lora-key --lora-value --lora-projection --lora-mlp --lora-head
                        which Linear layers get LoRA adapters (Raschka's switches; none given = query + value)
  --rank <r>            LoRA rank (default ${LORA_DEFAULTS.rank})
  --alpha <a>           LoRA alpha (default ${LORA_DEFAULTS.alpha}); the update is alpha * x A B (Raschka) unless --scaling is set
  --scaling <alpha|alpha/r|rslora>
  --train-head          also train pre_classifier and classifier fully (PEFT's modules_to_save)
  --train-last-layers   baseline: only pre_classifier and classifier train
  --full                full fine-tuning: every weight trains
Data and training:
  --text-column, --label-column   for CSV/JSONL/TSV
  --train-size, --val-size, --test-size   subsample each split (class-balanced, seeded)
  --epochs (${D.epochs}) --batch-size (${D.batchSize}) --lr (${D.lr}) --weight-decay (${D.weightDecay}) --warmup-ratio (${D.warmupRatio}) --max-length (${D.maxLength})
  --grad-accum (${D.gradientAccumulation}) --seed (${D.seed}) --device (${D.device}|cuda[:N]) --bf16 --threads N --time-budget SECONDS
  --save-every N        also checkpoint every N optimizer steps (every epoch, and on Ctrl-C, always)
  --early-stopping N    stop after N epochs without a better validation accuracy
  --resume              continue from the output folder's checkpoint (also from the middle of an epoch)
  --output <dir>        metrics.jsonl, metrics.svg, checkpoint/, adapter/ (default runs/<dataset>-<method>)
  --nproc-per-node N    data-parallel on N processes (Gloo on CPU, NCCL with --device cuda); --batch-size is per
                        process; --nnodes M --node-rank K --master-addr A --master-port P as for launch
`;

type Values = Record<string, string | boolean | string[] | undefined>;

function parse(argv: string[]): { command: string; values: Values; positionals: string[] } {
  const flags = [
    'lora-query',
    'lora-key',
    'lora-value',
    'lora-projection',
    'lora-mlp',
    'lora-head',
    'train-head',
    'train-last-layers',
    'full',
    'bf16',
    'resume',
    'help',
  ];
  const strings = [
    'model',
    'data',
    'adapter',
    'rank',
    'alpha',
    'scaling',
    'text-column',
    'label-column',
    'train-size',
    'val-size',
    'test-size',
    'epochs',
    'batch-size',
    'lr',
    'weight-decay',
    'warmup-ratio',
    'max-length',
    'grad-accum',
    'seed',
    'device',
    'threads',
    'time-budget',
    'save-every',
    'early-stopping',
    'output',
    'nproc-per-node',
    'nnodes',
    'node-rank',
    'master-addr',
    'master-port',
  ];
  const options = Object.fromEntries([
    ...flags.map((f) => [f, { type: 'boolean' as const }]),
    ...strings.map((s) => [s, { type: 'string' as const }]),
  ]);
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  return { command: positionals[0] ?? 'help', values: values as Values, positionals: positionals.slice(1) };
}

const num = (v: Values, k: string, d?: number): number | undefined => {
  if (v[k] === undefined) return d;
  const n = Number(v[k]);
  if (!Number.isFinite(n)) throw new Error(`--${k} must be a number, got '${v[k]}'`);
  return n;
};

/** `finetune --nproc-per-node N`: this same command again in N processes, each joining the process group. */
async function finetuneDataParallel(v: Values, argv: string[]): Promise<boolean> {
  const nproc = intSetting('--nproc-per-node', v['nproc-per-node'] as string | undefined, 1, 1024);
  if (nproc !== undefined && process.env.WORLD_SIZE === undefined) {
    const own = ['--nproc-per-node', '--nnodes', '--node-rank', '--master-addr', '--master-port'];
    const args = argv.filter((a, i) => !own.some((f) => a === f || a.startsWith(`${f}=`) || argv[i - 1] === f));
    process.exitCode = await launch({
      nprocPerNode: nproc,
      script: __filename,
      args,
      nnodes: intSetting('--nnodes', v.nnodes as string | undefined, 1, 65536),
      nodeRank: intSetting('--node-rank', v['node-rank'] as string | undefined, 0, 65535),
      masterAddr: v['master-addr'] as string | undefined,
      masterPort: intSetting('--master-port', v['master-port'] as string | undefined, 1, 65535),
    });
    return true;
  }
  if (process.env.WORLD_SIZE !== undefined && Number(process.env.WORLD_SIZE) > 1) {
    // One GPU per local rank, as torchrun scripts do with LOCAL_RANK.
    if (v.device === 'cuda') v.device = `cuda:${process.env.LOCAL_RANK ?? 0}`;
    await initProcessGroup({ backend: String(v.device ?? 'cpu').startsWith('cuda') ? 'nccl' : 'gloo' });
  }
  return false;
}

async function finetuneCommand(v: Values): Promise<void> {
  if (!v.model || !v.data) throw new Error('finetune needs --model and --data (see --help)');
  if (await finetuneDataParallel(v, process.argv.slice(2))) return;
  try {
    await finetuneHere(v);
  } finally {
    destroyProcessGroup();
  }
}

async function finetuneHere(v: Values): Promise<void> {
  const method: Method = v.full ? 'full' : v['train-last-layers'] ? 'last-layers' : 'lora';
  const anyLora = ['lora-query', 'lora-key', 'lora-value', 'lora-projection', 'lora-mlp', 'lora-head'].some(
    (k) => v[k],
  );
  const lora = {
    query: anyLora ? !!v['lora-query'] : true,
    key: !!v['lora-key'],
    value: anyLora ? !!v['lora-value'] : true,
    projection: !!v['lora-projection'],
    mlp: !!v['lora-mlp'],
    head: !!v['lora-head'],
    rank: num(v, 'rank', LORA_DEFAULTS.rank),
    alpha: num(v, 'alpha', LORA_DEFAULTS.alpha),
    scaling: (v.scaling as typeof LORA_DEFAULTS.scaling) ?? LORA_DEFAULTS.scaling,
    trainHead: !!v['train-head'],
  };
  const data = v.data as string;
  const output = (v.output as string) ?? path.join('runs', `${datasetName(data)}-${method}`);
  // Ctrl-C stops after the current step and checkpoints it for --resume.
  const stop = new AbortController();
  const onSigint = () => {
    console.error('\nstopping after this step (Ctrl-C again quits at once)');
    process.off('SIGINT', onSigint);
    stop.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    const result = await runFinetuneJob(
      {
        model: v.model as string,
        data,
        method,
        lora,
        threads: num(v, 'threads'),
        dataOptions: {
          textColumn: v['text-column'] as string,
          labelColumn: v['label-column'] as string,
          trainSize: num(v, 'train-size'),
          validationSize: num(v, 'val-size'),
          testSize: num(v, 'test-size'),
        },
        // Unset switches stay undefined: the Trainer fills them from the one defaults table.
        epochs: num(v, 'epochs'),
        batchSize: num(v, 'batch-size'),
        lr: num(v, 'lr'),
        weightDecay: num(v, 'weight-decay'),
        warmupRatio: num(v, 'warmup-ratio'),
        maxLength: num(v, 'max-length'),
        gradientAccumulation: num(v, 'grad-accum'),
        seed: num(v, 'seed'),
        device: v.device as string | undefined,
        mixedPrecision: v.bf16 ? 'bf16' : null,
        timeBudgetSec: num(v, 'time-budget'),
        saveEvery: num(v, 'save-every'),
        earlyStoppingPatience: num(v, 'early-stopping'),
        resume: !!v.resume,
        outputDir: output,
      },
      { log: (line) => isMainProcess() && console.log(line), signal: stop.signal },
    );
    if (!isMainProcess()) return;
    console.log(
      `trainable parameters: ${result.trainable.toLocaleString('en-US')} of ${result.total.toLocaleString('en-US')} (${((100 * result.trainable) / result.total).toFixed(2)}%)`,
    );
    const last = result.epochs[result.epochs.length - 1];
    console.log(
      `train accuracy ${(100 * (last?.trainAccuracy ?? 0)).toFixed(2)}% | best validation ${(100 * (result.bestValidationAccuracy ?? 0)).toFixed(2)}% (epoch ${result.bestEpoch}) | test ${(100 * (result.test?.accuracy ?? 0)).toFixed(2)}%${result.test ? ` (macro F1 ${result.test.macroF1.toFixed(4)})` : ''}`,
    );
    console.log(
      `${result.steps} steps in ${result.seconds.toFixed(1)} s (${result.tokensPerSec.toFixed(0)} tokens/s); metrics: ${output}/metrics.jsonl, plot: ${output}/metrics.svg${result.adapterDir ? `, adapter: ${result.adapterDir}` : ''}`,
    );
  } catch (e) {
    if (stop.signal.aborted) {
      const saved = path.join(output, 'checkpoint');
      throw new Error(
        fs.existsSync(path.join(saved, 'trainer_state.json'))
          ? `stopped; the same command with --resume continues from ${saved}`
          : 'stopped before training began',
      );
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

async function predictCommand(v: Values, texts: string[]): Promise<void> {
  if (!v.model) throw new Error('predict needs --model');
  if (texts.length === 0) throw new Error('predict needs at least one text');
  const adapter = v.adapter as string | undefined;
  // An adapter that brings its own head for its own classes (say 3 where the base has 2) sizes the model's head.
  const labels = adapter ? readAdapterLabels(adapter) : null;
  const ownHead = labels !== null && (readAdapterConfig(adapter!).modules_to_save ?? []).includes('classifier');
  const model = await DistilBertForSequenceClassification.fromPretrained(
    v.model as string,
    ownHead ? { id2label: labels!, ignoreMismatchedSizes: true } : {},
  );
  if (adapter) loadAdapter(model, adapter);
  const tokenizer = AutoTokenizer.fromPretrained(v.model as string); // a folder, or the hub id fromPretrained just cached
  const probs = noGrad(() =>
    tidy(() => {
      const enc = encodeBatchToTensors(tokenizer, texts, { maxLength: 512, truncation: true });
      return model.eval().forward(enc.inputIds, enc.attentionMask).logits.softmax(-1).toArray();
    }),
  ) as number[][];
  const names = model.config.id2label;
  texts.forEach((t, i) => {
    const best = probs[i].indexOf(Math.max(...probs[i]));
    console.log(`${names[best] ?? best}\t${probs[i][best].toFixed(4)}\t${t}`);
  });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  // launch's switches end at the script; what follows belongs to the script, so it is parsed apart.
  if (argv[0] === 'launch') {
    if (argv[1] === '--help') return console.log(LAUNCH_USAGE);
    process.exitCode = await launch(parseLaunchArgs(argv.slice(1)));
    return;
  }
  const { command, values, positionals } = parse(argv);
  if (values.help || command === 'help') {
    console.log(HELP);
    return;
  }
  if (command === 'finetune') await finetuneCommand(values);
  else if (command === 'predict') await predictCommand(values, positionals);
  else throw new Error(`unknown command '${command}' (try --help)`);
}

main().catch((e: Error) => {
  console.error(`torch-lora: ${e.message}`);
  process.exitCode = 1;
});
