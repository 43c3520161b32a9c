/**
 * One rank of `npm run bench -- --only ddp` (started by bench/ddp.ts through `torch-lora launch`): DistilBERT-base
 * (random weights) trained on 8x128 tokens per rank with AdamW, LoRA (q, v, r = 8, heads saved) or full fine-tuning.
 * Prints one JSON line: step times, the all-reduce wait left after backward, and a standalone all-reduce of a buffer
 * the size of the synchronised gradients.
 */
import {
  DistilBertForSequenceClassification,
  F,
  manualSeed,
  markOnlyLoraAsTrainable,
  optim,
  randint,
  replaceLinearWithLora,
  tidy,
  zeros,
  distributed as dist,
} from '../lib';
import { BASE_CONFIG, TINY_CONFIG } from './workloads';

async function main(): Promise<void> {
  const mode = process.env.BENCH_MODE === 'full' ? 'full' : 'lora';
  const steps = Number(process.env.BENCH_STEPS ?? 3);
  const tiny = process.env.BENCH_TINY === '1';
  const world = Number(process.env.WORLD_SIZE ?? 1);
  if (world > 1) await dist.initProcessGroup({ backend: 'gloo', timeoutMs: 600_000 });
  const rank = world > 1 ? dist.getRank() : 0;
  const config = tiny ? TINY_CONFIG : BASE_CONFIG;
  const model = DistilBertForSequenceClassification.random(config, 1);
  if (mode === 'lora') {
    manualSeed(2);
    replaceLinearWithLora(model, { rank: 8, alpha: 16, targets: ['q_lin', 'v_lin'] });
    markOnlyLoraAsTrainable(model, { modulesToSave: ['pre_classifier', 'classifier'] });
  }
  model.train();
  const ddp = world > 1 ? await dist.DistributedDataParallel.create(model) : null;
  const params = model.parameters().filter((p) => p.requiresGrad);
  const opt = new optim.AdamW(params, { lr: 1e-4 });
  const [B, L] = tiny ? [2, 16] : [8, 128];
  manualSeed(100 + rank);
  const ids = randint(0, config.vocab_size!, [B, L], { dtype: 'int64' });
  const labels = randint(0, 2, [B], { dtype: 'int64' });
  const stepTimes: number[] = [];
  let waitBefore = 0;
  for (let s = 0; s <= steps; s++) {
    if (s === 1) waitBefore = ddp?.stats().waitMs ?? 0; // step 0 warms up
    const t0 = process.hrtime.bigint();
    opt.zeroGrad();
    tidy(() => F.crossEntropy(model.forward(ids).logits, labels).backward());
    opt.step();
    if (s > 0) stepTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const stats = ddp?.stats();
  let allReduceMs: number | null = null;
  if (ddp && stats) {
    // The same bytes all-reduced on their own, with nothing to overlap: the cost backward hides or pays.
    const buf = zeros([stats.bytesPerSync / 4]);
    await dist.allReduce(buf);
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < 3; k++) await dist.allReduce(buf);
    allReduceMs = Number(process.hrtime.bigint() - t0) / 1e6 / 3;
    buf.dispose();
  }
  const sorted = [...stepTimes].sort((a, b) => a - b);
  const stepMs = sorted[Math.floor(sorted.length / 2)];
  console.log(
    JSON.stringify({
      rank,
      world,
      mode,
      stepMs,
      stepTimes,
      tokensPerSec: (B * L) / (stepMs / 1000),
      bytesPerSync: stats?.bytesPerSync ?? params.reduce((n, p) => n + p.numel() * 4, 0),
      buckets: stats?.buckets ?? 0,
      exposedWaitMs: stats ? (stats.waitMs - waitBefore) / steps : 0,
      allReduceMs,
    }),
  );
  ddp?.dispose();
  if (world > 1) dist.destroyProcessGroup();
}

main().catch((e) => {
  console.error(`ddp bench rank ${process.env.RANK}: ${e.message}`);
  process.exit(1);
});
