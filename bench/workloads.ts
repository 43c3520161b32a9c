/**
 * The torch-lora side of `npm run bench`: the workloads that bench/pytorch_bench.py runs in PyTorch, the same work
 * op for op. Every workload is a function (the smoke test calls them at tiny sizes); run as a script, this file
 * runs one workload in this process and prints its result as JSON, so that the peak memory is per workload:
 *
 *   node dist/bench/workloads.js --workload train-lora --json [--quick] [--tiny] [--device cuda] [--dtype bf16] [--threads N]
 */
import * as fs from 'node:fs';

import {
  DistilBertForSequenceClassification,
  backend,
  cuda,
  eye,
  manualSeed,
  mergeAndUnload,
  markOnlyLoraAsTrainable,
  noGrad,
  ones,
  optim,
  rand,
  randint,
  randn,
  replaceLinearWithLora,
  tidy,
  LinearWithLoRA,
  autocast,
} from '../lib';
import type { DistilBertConfig, Tensor } from '../lib';
import { N } from '../lib/native';
import type { DType } from '../lib';

export type ModelConfig = Partial<DistilBertConfig> & { num_labels?: number };

/** DistilBERT-base (distilbert-base-uncased's shape) with random weights. */
export const BASE_CONFIG: ModelConfig = {
  vocab_size: 30522,
  max_position_embeddings: 512,
  n_layers: 6,
  n_heads: 12,
  dim: 768,
  hidden_dim: 3072,
  dropout: 0.1,
  attention_dropout: 0.1,
  seq_classif_dropout: 0.2,
  num_labels: 2,
};
/** A toy model for smoke tests (the same as pytorch_bench.py's TINY_CONFIG). */
export const TINY_CONFIG: ModelConfig = {
  ...BASE_CONFIG,
  vocab_size: 128,
  max_position_embeddings: 64,
  n_layers: 2,
  n_heads: 2,
  dim: 32,
  hidden_dim: 64,
};

export interface Metric {
  name: string;
  unit: string;
  median: number;
  samples: number[];
  /** Whether a smaller (time) or larger (rate) number is better. */
  better: 'lower' | 'higher';
  [extra: string]: unknown;
}

export interface BenchContext {
  device: string;
  /** amp: a float32 model whose forward runs under bfloat16 autocast (mixed-precision training); bf16: the model cast. */
  dtype: 'fp32' | 'bf16' | 'amp';
  /** Fewer repetitions (a smoke run). */
  quick: boolean;
  config: ModelConfig;
  /** Overrides every repetition count (tests use 1). */
  reps?: number;
  warmup?: number;
}

export function makeContext(opts: Partial<BenchContext> = {}): BenchContext {
  return { device: 'cpu', dtype: 'fp32', quick: false, config: BASE_CONFIG, ...opts };
}

const torchDType = (ctx: BenchContext): DType => (ctx.dtype === 'bf16' ? 'bfloat16' : 'float32');
/** Runs a forward pass under bfloat16 autocast in amp mode (backward stays outside, as in PyTorch). */
const amp = <T>(ctx: BenchContext, fn: () => T): T =>
  ctx.dtype === 'amp' ? autocast(isCuda(ctx) ? 'cuda' : 'cpu', fn, { dtype: 'bfloat16' }) : fn();
const isCuda = (ctx: BenchContext) => ctx.device.startsWith('cuda');

function sync(ctx: BenchContext): void {
  if (isCuda(ctx)) cuda.synchronize();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface Timing {
  /** Median wall-clock seconds per call. */
  seconds: number;
  samples: number[];
  /** The same in CPU seconds of this process (all its threads): steadier than wall time on a shared machine. */
  cpuSeconds: number;
  cpuSamples: number[];
}

/** Seconds per call of fn: the median over `reps` timed calls after `warmup` untimed ones, and every sample. */
export function timeIt(ctx: BenchContext, fn: () => void, reps: number, warmup: number): Timing {
  const r = ctx.reps ?? reps;
  const w = ctx.warmup ?? warmup;
  for (let i = 0; i < w; i++) fn();
  const samples: number[] = [];
  const cpuSamples: number[] = [];
  for (let i = 0; i < r; i++) {
    sync(ctx);
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    fn();
    sync(ctx);
    samples.push(Number(process.hrtime.bigint() - t0) / 1e9);
    const c = process.cpuUsage(c0);
    cpuSamples.push((c.user + c.system) / 1e6);
  }
  return { seconds: median(samples), samples, cpuSeconds: median(cpuSamples), cpuSamples };
}

const pick = (ctx: BenchContext, full: number, quick: number) => (ctx.quick ? quick : full);

/** A Metric from a Timing; `scale` turns seconds into the unit (1e3 for ms; for a rate, the count per call). */
function metric(
  name: string,
  unit: string,
  t: Timing,
  scale: number,
  better: 'lower' | 'higher' = 'lower',
  extra: Record<string, unknown> = {},
): Metric {
  const value = better === 'higher' ? (s: number) => scale / s : (s: number) => s * scale;
  return {
    name,
    unit,
    median: value(t.seconds),
    samples: t.samples.map(value),
    better,
    cpu_median: value(t.cpuSeconds),
    cpu_samples: t.cpuSamples.map(value),
    ...extra,
  };
}

function inputs(ctx: BenchContext, batch: number, seqLen: number): { ids: Tensor; mask: Tensor; labels: Tensor } {
  manualSeed(1234);
  const vocab = ctx.config.vocab_size ?? 30522;
  const ids = randint(1, vocab, [batch, seqLen], { device: ctx.device });
  const mask = ones([batch, seqLen], { dtype: 'int64', device: ctx.device });
  const labels = randint(0, ctx.config.num_labels ?? 2, [batch], { device: ctx.device });
  return { ids, mask, labels };
}

function model(ctx: BenchContext, lora = false, seed = 0): DistilBertForSequenceClassification {
  const m = DistilBertForSequenceClassification.random(ctx.config, seed);
  if (lora) {
    replaceLinearWithLora(m, { rank: 8, alpha: 16, targets: ['q_lin', 'v_lin'] });
    markOnlyLoraAsTrainable(m);
  }
  if (isCuda(ctx)) m.to(ctx.device);
  if (ctx.dtype !== 'fp32') m.to(torchDType(ctx));
  return m;
}

function release(...things: { dispose(): void }[]): void {
  for (const t of things) t.dispose();
}

// ------------------------------------------------------------------------------------------------ (1) per-op overhead
/** Chains of `chain` dependent small ops (add, mul, matmul on n×n): microseconds per op, and ops/s. */
export function opOverhead(ctx: BenchContext, sizes: number[] = [8, 64], chain = 1000): Metric[] {
  const reps = pick(ctx, 15, 3);
  const warmup = pick(ctx, 3, 1);
  // The metric names are "<op> NxN"; "mul by a number" multiplies by a JavaScript/Python number.
  const ops = ['add', 'mul', 'matmul', 'mul by a number'] as const;
  type Op = (typeof ops)[number];
  const apply: Record<Op, (x: Tensor, b: Tensor | number) => Tensor> = {
    add: (x, b) => x.add(b as Tensor),
    mul: (x, b) => x.mul(b as Tensor),
    matmul: (x, b) => x.matmul(b as Tensor),
    'mul by a number': (x, s) => x.mul(s as number),
  };
  const cases = sizes.map((n) => {
    manualSeed(n);
    const a = randn([n, n], { device: ctx.device });
    const operands: Record<Op, Tensor | number> = {
      add: tidy(() => randn([n, n]).mul(0.01).to(ctx.device)),
      // near 1 so that a chain of products stays clear of denormals and infinities
      mul: tidy(() => rand([n, n]).mul(0.002).add(0.999).to(ctx.device)),
      matmul: eye(n, { device: ctx.device }),
      'mul by a number': 1.0001,
    };
    return { n, a, operands };
  });
  // The idiom: one tidy around the chain, which frees the 1,000 intermediates when it ends.
  const chainOf = (a: Tensor, op: Op, b: Tensor | number) => () =>
    tidy(() => {
      let x = a;
      for (let i = 0; i < chain; i++) x = apply[op](x, b);
    });
  // The same chain freeing each intermediate once the next exists, as Python's reference counting does.
  const disposingChainOf = (a: Tensor, op: Op, b: Tensor | number) => () =>
    tidy(() => {
      let x = a;
      for (let i = 0; i < chain; i++) {
        const y = apply[op](x, b);
        if (x !== a) x.dispose();
        x = y;
      }
    });
  // Every chain once before any is timed, so that V8 has compiled the loop (and the Tensor methods) for all of them.
  for (const { a, operands } of cases) {
    for (const op of ops) {
      for (let i = 0; i < warmup; i++) {
        chainOf(a, op, operands[op])();
        disposingChainOf(a, op, operands[op])();
      }
    }
  }
  const out: Metric[] = [];
  for (const [make, suffix] of [
    [chainOf, ''],
    [disposingChainOf, ', dispose as it goes'],
  ] as const) {
    for (const { n, a, operands } of cases) {
      for (const op of ops) {
        const t = timeIt(ctx, make(a, op, operands[op]), reps, warmup);
        // compare_to: the PyTorch measurement this one is compared with (PyTorch always frees as it goes)
        out.push(
          metric(`${op} ${n}x${n}${suffix}`, 'us/op', t, 1e6 / chain, 'lower', {
            ops_per_s: chain / t.seconds,
            compare_to: `${op} ${n}x${n}`,
          }),
        );
      }
    }
  }
  for (const { a, operands } of cases)
    release(a, ...Object.values(operands).filter((o): o is Tensor => typeof o !== 'number'));
  return out;
}

// ------------------------------------------------------------------------------------------------ (2) inference
/** One no-grad forward pass of DistilBertForSequenceClassification: latency in ms, or sequences/s when `rate`. */
export function inference(ctx: BenchContext, batch: number, seqLen: number, rate = false): Metric[] {
  const m = model(ctx).eval();
  const { ids, mask, labels } = inputs(ctx, batch, seqLen);
  const forward = () =>
    noGrad(() =>
      tidy(() => {
        amp(ctx, () => m.forward(ids, mask));
      }),
    );
  const big = batch * seqLen >= 1024;
  const t = isCuda(ctx)
    ? timeIt(ctx, forward, pick(ctx, 30, 5), pick(ctx, 5, 2))
    : big
      ? timeIt(ctx, forward, pick(ctx, 3, 2), 1)
      : timeIt(ctx, forward, pick(ctx, 30, 5), pick(ctx, 5, 2));
  release(m, ids, mask, labels);
  const name = `inference ${batch}x${seqLen}`;
  return rate ? [metric(name, 'seq/s', t, batch, 'higher', { ms: t.seconds * 1e3 })] : [metric(name, 'ms', t, 1e3)];
}

// ------------------------------------------------------------------------------------------------ (3) training step
/** zero_grad + forward + cross-entropy + backward + AdamW step; LoRA (q_lin, v_lin, r 8, alpha 16) or full fine-tuning. */
export function trainStep(ctx: BenchContext, batch: number, seqLen: number, lora = true, name?: string): Metric[] {
  const m = model(ctx, lora).train();
  const params = m.parameters().filter((p) => p.requiresGrad);
  const opt = new optim.AdamW(params, { lr: 1e-4 });
  const { ids, mask, labels } = inputs(ctx, batch, seqLen);
  const step = () => {
    opt.zeroGrad();
    tidy(() => {
      amp(ctx, () => m.forward(ids, mask, labels)).loss!.backward();
    });
    opt.step();
  };
  const big = batch * seqLen >= 2048;
  let [reps, warmup] = big ? [pick(ctx, 3, 1), 1] : [pick(ctx, 5, 2), pick(ctx, 2, 1)];
  if (isCuda(ctx)) [reps, warmup] = [pick(ctx, 20, 3), 3];
  const t = timeIt(ctx, step, reps, warmup);
  const trainable = params.reduce((n, p) => n + p.numel(), 0);
  for (const s of opt.state.values()) release(s.expAvg, s.expAvgSq);
  release(m, ids, mask, labels);
  const label = name ?? `${lora ? 'LoRA' : 'full'} train step ${batch}x${seqLen}`;
  return [metric(label, 'ms', t, 1e3, 'lower', { tokens_per_s: (batch * seqLen) / t.seconds, trainable })];
}

// ------------------------------------------------------------------------------------------------ (4) merged LoRA
/**
 * One model timed three ways: as the base model, with LoRA adapters on q_lin and v_lin (unmerged), and with them
 * merged into the weights (mergeAndUnload). Merged inference must cost what the base model costs.
 */
export function mergedInference(ctx: BenchContext, batch: number, seqLen: number): Metric[] {
  const { ids, mask, labels } = inputs(ctx, batch, seqLen);
  const reps = isCuda(ctx) ? pick(ctx, 30, 5) : pick(ctx, 3, 2);
  const out: Metric[] = [];
  const m = model(ctx).eval();
  const timeForward = (name: string) => {
    const t = timeIt(
      ctx,
      () =>
        noGrad(() =>
          tidy(() => {
            amp(ctx, () => m.forward(ids, mask));
          }),
        ),
      reps,
      1,
    );
    out.push(metric(`${name} inference ${batch}x${seqLen}`, 'ms', t, 1e3));
  };
  timeForward('base');
  replaceLinearWithLora(m, { rank: 8, alpha: 16, targets: ['q_lin', 'v_lin'] });
  noGrad(() => {
    for (const [, l] of m.namedModules()) {
      if (!(l instanceof LinearWithLoRA)) continue;
      if (ctx.dtype !== 'fp32') l.to(torchDType(ctx));
      l.B.normal_(0, 0.02); // a trained adapter: B is not zero
    }
  });
  timeForward('LoRA unmerged');
  mergeAndUnload(m);
  timeForward('LoRA merged');
  release(m, ids, mask, labels);
  return out;
}

// ------------------------------------------------------------------------------------------------ the table of workloads
export type Workload = (ctx: BenchContext) => Metric[];

/** Workloads by name (the same names as pytorch_bench.py). At --tiny sizes sequences are at most 16 tokens. */
export function workloads(ctx: BenchContext): Record<string, () => Metric[]> {
  const tiny = ctx.config === TINY_CONFIG || (ctx.config.dim ?? 768) < 128;
  const s = (n: number) => (tiny ? Math.min(n, 16) : n);
  const b = (n: number) => (tiny ? Math.min(n, 2) : n);
  const w: Record<string, () => Metric[]> = {
    'op-overhead': () => opOverhead(ctx, [8, 64], tiny ? 100 : 1000),
    'infer-b1': () => inference(ctx, 1, s(32)),
    'infer-b32': () => inference(ctx, b(32), s(128), true),
    'train-lora': () => trainStep(ctx, b(8), s(128), true),
    'train-full': () => trainStep(ctx, b(8), s(128), false),
    merged: () => mergedInference(ctx, b(8), s(128)),
  };
  for (const n of [64, 128, 256, 512])
    w[`scale-${n}`] = () => trainStep(ctx, b(8), s(n), true, `LoRA train step 8x${n}`);
  return w;
}

export const WORKLOAD_NAMES = Object.keys(workloads(makeContext()));

// ------------------------------------------------------------------------------------------------ memory and the CLI
/** The RSS high-water mark of this process (VmHWM), in bytes; null where /proc is missing. */
export function peakRssBytes(): number | null {
  try {
    const m = /VmHWM:\s*(\d+)\s*kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return process.resourceUsage ? process.resourceUsage().maxRSS * 1024 : null;
  }
}

/** What either side of the benchmark reports for one workload (the Python side writes the same JSON fields). */
export interface MeasuredWorkload {
  workload: string;
  device: string;
  dtype: string;
  threads: number;
  metrics: Metric[];
  wall_s: number;
  peak_rss_bytes: number | null;
  peak_device_bytes: number | null;
}

export interface WorkloadResult extends MeasuredWorkload {
  side: 'torch-lora';
  /** The allocator's peak on CUDA: torch-lora has no CUDA memory-statistics API yet, so always null. */
  peak_device_bytes: number | null;
  versions: { libtorch: string; node: string };
  /** The opt-in process-wide CPU settings in force (lib/cpu.ts; the runner passes --cpu-tuning) and OpenBLAS's kernel set. */
  cpuTuning: Record<string, unknown> | null;
  skipped?: string;
}

function cpuTuning(): Record<string, unknown> | null {
  return typeof N.cpuTuning === 'function' ? N.cpuTuning() : null;
}

export function runWorkload(name: string, ctx: BenchContext): WorkloadResult {
  const table = workloads(ctx);
  const fn = table[name];
  if (!fn) throw new Error(`unknown workload '${name}' (have: ${Object.keys(table).join(', ')})`);
  const base = {
    workload: name,
    side: 'torch-lora' as const,
    device: ctx.device,
    dtype: ctx.dtype,
    threads: backend.getNumThreads(),
    versions: { libtorch: backend.version(), node: process.version },
    peak_device_bytes: null,
  };
  if (isCuda(ctx) && !cuda.isAvailable()) {
    return {
      ...base,
      metrics: [],
      wall_s: 0,
      peak_rss_bytes: null,
      cpuTuning: null,
      skipped: 'this build of libtorch has no CUDA',
    };
  }
  const t0 = process.hrtime.bigint();
  const metrics = fn();
  return {
    ...base,
    metrics,
    wall_s: Number(process.hrtime.bigint() - t0) / 1e9,
    peak_rss_bytes: peakRssBytes(),
    cpuTuning: cpuTuning(),
  };
}

function parseArgs(argv: string[]): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const [k, v] = a.slice(2).split('=', 2);
    if (v !== undefined) out[k] = v;
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[k] = argv[++i];
    else out[k] = true;
  }
  return out;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  if (args.list) {
    console.log(JSON.stringify(WORKLOAD_NAMES));
    return;
  }
  if (typeof args.workload !== 'string')
    throw new Error(
      'usage: node dist/bench/workloads.js --workload NAME [--json] [--quick] [--tiny] [--device cuda] [--dtype bf16] [--threads N]',
    );
  if (typeof args.threads === 'string' && Number(args.threads) > 0) backend.setNumThreads(Number(args.threads));
  const dtype = args.dtype === 'bf16' || args.dtype === 'amp' ? args.dtype : 'fp32';
  const ctx = makeContext({
    device: typeof args.device === 'string' ? args.device : 'cpu',
    dtype,
    quick: !!args.quick,
    config: args.tiny ? TINY_CONFIG : BASE_CONFIG,
  });
  const result = runWorkload(args.workload, ctx);
  if (args.json) console.log(JSON.stringify(result));
  else {
    for (const m of result.metrics)
      console.log(
        `${m.name.padEnd(40)} ${m.median.toFixed(3).padStart(12)} ${m.unit}  (cpu ${(m.cpu_median as number).toFixed(3)})`,
      );
    console.log(`peak RSS ${((result.peak_rss_bytes ?? 0) / 2 ** 20).toFixed(0)} MiB, threads ${result.threads}`);
  }
}

if (require.main === module) main();
