'use strict';
// A data-parallel training script for test/distributed/distributed-launch.test.ts, started by `torch-lora launch`: every step
// rank 0 checkpoints the LoRA weights (atomically); rank KILL_RANK kills itself at step KILL_STEP.
const path = require('node:path');
const lib = (name) => require(path.join(process.env.DIST_LIB_DIR, name));

(async () => {
  const torch = lib('index');
  const dist = lib('distributed/index');
  const { N } = lib('native');
  const started = Date.now();
  await dist.initProcessGroup({ backend: 'gloo', timeoutMs: Number(process.env.TIMEOUT_MS) });
  const rank = dist.getRank();
  console.log(`rank ${rank}: threads ${N.getNumThreads()} local ${dist.getLocalRank()}/${dist.getLocalWorldSize()}`);
  const config = {
    vocab_size: 64,
    dim: 16,
    n_layers: 1,
    n_heads: 2,
    hidden_dim: 32,
    max_position_embeddings: 16,
    num_labels: 2,
  };
  const model = torch.DistilBertForSequenceClassification.random(config, 3);
  torch.replaceLinearWithLora(model, { rank: 2, alpha: 4, targets: ['q_lin', 'v_lin'] });
  torch.markOnlyLoraAsTrainable(model);
  const ddp = await dist.DistributedDataParallel.create(model);
  const trainable = [...model.namedParameters()].filter(([, p]) => p.requiresGrad);
  const opt = new torch.optim.AdamW(
    trainable.map(([, p]) => p),
    { lr: 1e-3 },
  );
  let step = 0;
  try {
    for (; step < 1000; step++) {
      if (rank === Number(process.env.KILL_RANK) && step === Number(process.env.KILL_STEP))
        process.kill(process.pid, 'SIGKILL');
      opt.zeroGrad();
      torch.tidy(() => {
        const x = torch.tensor([[1 + rank, 2, 3, 4]], { dtype: 'int64' });
        torch.F.crossEntropy(ddp.forward(x).logits, torch.tensor([rank % 2], { dtype: 'int64' })).backward();
      });
      opt.step();
      if (rank === 0) {
        const sd = Object.fromEntries(trainable.map(([n, p]) => [n, p]));
        torch.io.writeSafetensors(process.env.CKPT, lib('io/tensor-bridge').stateDictToRaw(sd), {
          step: String(step + 1),
        });
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch (e) {
    console.error(`rank ${rank}: training stopped at step ${step} after ${Date.now() - started} ms: ${e.message}`);
    process.exit(2);
  }
})().catch((e) => {
  console.error(`fatal: ${e.message}`);
  process.exit(3);
});
