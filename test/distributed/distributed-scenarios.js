'use strict';
// The programs every rank of test/distributed*.test.ts runs (see test/distributed/distributed-rank.js). Each returns plain
// JSON; the tests compare it with the collectives' definitions.

const values = (t) => Array.from(t.to('float64').reshape([-1]).dataSync());

module.exports = {
  // Every collective once, on inputs that depend on the rank.
  async collectives(lib) {
    const dist = lib('distributed/index');
    const { tensor, arange } = lib('creation');
    await dist.initProcessGroup({ backend: 'gloo', timeoutMs: 20000 });
    const rank = dist.getRank(),
      world = dist.getWorldSize();
    const out = { rank, world };
    const base = (dtype) =>
      tensor(
        [
          [1.5, -2, 3],
          [rank + 0.25, 10 * rank, -rank],
        ],
        { dtype },
      );
    for (const op of ['sum', 'avg', 'max', 'min']) {
      for (const dtype of ['float32', 'float64', 'bfloat16']) {
        const t = base(dtype);
        const same = await dist.allReduce(t, op);
        out[`allReduce-${op}-${dtype}`] = { values: values(t), dtype: t.dtype, shape: t.shape, same: same === t };
      }
    }
    const ints = tensor([rank + 1, 7, -3 * rank], { dtype: 'int64' });
    await dist.allReduce(ints, 'product');
    out['allReduce-product-int64'] = values(ints);
    // A non-contiguous view is reduced in place too (staged through a contiguous copy).
    const m = arange(0, 6, 1, { dtype: 'float32' }).reshape([2, 3]).add(rank);
    const view = m.t();
    await dist.allReduce(view, 'sum');
    out['allReduce-view'] = values(m);

    const b = tensor([rank, rank * 2, rank * 3, 1.25], { dtype: 'float64' });
    await dist.broadcast(b, 1);
    out.broadcast = values(b);
    const bb = tensor([rank + 0.5, -rank], { dtype: 'bfloat16' });
    await dist.broadcast(bb, 0);
    out['broadcast-bf16'] = { values: values(bb), dtype: bb.dtype };

    // Uneven shapes: rank r sends [r + 1, 3].
    const mine = arange(0, (rank + 1) * 3, 1, { dtype: 'float32' })
      .reshape([rank + 1, 3])
      .mul(rank + 1);
    out['allGather-uneven'] = (await dist.allGather(mine)).map((t) => ({
      shape: t.shape,
      values: values(t),
      dtype: t.dtype,
    }));
    const even = tensor([rank, 100 + rank], { dtype: 'int64' });
    out['allGather-even'] = (await dist.allGather(even)).map((t) => ({
      shape: t.shape,
      values: values(t),
      dtype: t.dtype,
    }));
    const scalar = tensor(rank * 1.5, { dtype: 'float64' });
    out['allGather-scalar'] = (await dist.allGather(scalar)).map((t) => ({ shape: t.shape, values: values(t) }));

    // reduceScatter: inputs[i] has i + 2 elements (uneven), values depend on the rank.
    const inputs = [...Array(world).keys()].map((i) => arange(0, i + 2, 1, { dtype: 'float64' }).add(10 * rank + i));
    const rs = await dist.reduceScatter(inputs, 'sum');
    out['reduceScatter-uneven'] = { shape: rs.shape, values: values(rs) };
    const stacked = arange(0, world * 2, 1, { dtype: 'float32' })
      .reshape([world, 2])
      .mul(rank + 1);
    const rsMax = await dist.reduceScatter(stacked, 'max');
    out['reduceScatter-tensor-max'] = { shape: rsMax.shape, values: values(rsMax) };
    const rsAvg = await dist.reduceScatter(
      [tensor([rank, 1], { dtype: 'bfloat16' }), tensor([2 * rank, 3], { dtype: 'bfloat16' })],
      'avg',
    );
    out['reduceScatter-avg-bf16'] = { values: values(rsAvg), dtype: rsAvg.dtype };

    // Several collectives in flight at once complete in call order with the right values.
    const many = [...Array(5).keys()].map((k) => tensor([k + rank], { dtype: 'float32' }));
    await Promise.all(many.map((t) => dist.allReduce(t, 'sum')));
    out.concurrent = many.map((t) => values(t)[0]);

    await dist.barrier();
    // Errors that name the problem.
    const errors = {};
    const grab = async (name, fn) => {
      try {
        await fn();
        errors[name] = null;
      } catch (e) {
        errors[name] = e.message;
      }
    };
    await grab('badOp', () => dist.allReduce(tensor([1]), 'mean'));
    await grab('badSrc', () => dist.broadcast(tensor([1]), world));
    await grab('avgInt', () => dist.allReduce(tensor([1], { dtype: 'int64' }), 'avg'));
    await grab('reduceScatterCount', () => dist.reduceScatter([tensor([1])], 'sum'));
    await grab('nccl', () => dist.initProcessGroup({ backend: 'nccl' }));
    await grab('again', () => dist.initProcessGroup({ backend: 'gloo' }));
    out.errors = errors;
    await dist.barrier();
    out.destroyed = dist.destroyProcessGroup();
    out.initializedAfter = dist.isInitialized();
    return out;
  },

  // Rank 0 waits for a rank that never arrives.
  async rendezvousTimeout(lib, { timeoutMs }) {
    const dist = lib('distributed/index');
    const t0 = Date.now();
    try {
      await dist.initProcessGroup({ backend: 'gloo', timeoutMs });
    } catch (e) {
      return { error: e.message, elapsedMs: Date.now() - t0 };
    }
    return { error: null, elapsedMs: Date.now() - t0 };
  },

  // Both ranks join; rank 1 then never calls the collective rank 0 waits in.
  async collectiveTimeout(lib, { timeoutMs, holdMs }) {
    const dist = lib('distributed/index');
    const { tensor } = lib('creation');
    await dist.initProcessGroup({ backend: 'gloo', timeoutMs });
    if (dist.getRank() === 1) {
      await new Promise((r) => setTimeout(r, holdMs));
      return { held: true };
    }
    const t0 = Date.now();
    // The event loop keeps running while the collective waits.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 50);
    try {
      await dist.allReduce(tensor([1, 2, 3]), 'sum');
      return { error: null };
    } catch (e) {
      return { error: e.message, elapsedMs: Date.now() - t0, ticks };
    } finally {
      clearInterval(timer);
    }
  },
};

// 5 AdamW steps of a small DistilBERT classifier (LoRA or full fine-tuning) on a fixed batch of 8. With a process
// group, rank r trains on rows [4r, 4r + 4) under DistributedDataParallel; without one, one process takes all 8.
// `accumulate` splits each rank's rows into two micro-batches, the first backward inside noSync().
module.exports.ddpTrain = async function ddpTrain(
  lib,
  { mode, dtype, steps = 5, accumulate = false, distributed = true },
) {
  const torch = lib('index');
  const dist = lib('distributed/index');
  if (distributed) await dist.initProcessGroup({ backend: 'gloo', timeoutMs: 30000 });
  const rank = distributed ? dist.getRank() : 0;
  const world = distributed ? dist.getWorldSize() : 1;
  const config = {
    vocab_size: 64,
    dim: 16,
    n_layers: 2,
    n_heads: 2,
    hidden_dim: 32,
    max_position_embeddings: 16,
    dropout: 0,
    attention_dropout: 0,
    seq_classif_dropout: 0,
    num_labels: 3,
  };
  // Different starting points on the two ranks where DDP must make them equal (its broadcast from rank 0).
  const model = torch.DistilBertForSequenceClassification.random(config, mode === 'full' ? 11 + rank : 11);
  if (mode === 'lora') {
    torch.manualSeed(5 + rank);
    torch.replaceLinearWithLora(model, { rank: 2, alpha: 4, targets: ['q_lin', 'v_lin'], init: 'gaussian' });
    torch.markOnlyLoraAsTrainable(model, { modulesToSave: ['pre_classifier', 'classifier'] });
  }
  model.to(dtype).eval();
  const ddp = distributed ? await dist.DistributedDataParallel.create(model, { bucketCapMB: 0.001 }) : null;
  const params = [...model.namedParameters()].filter(([, p]) => p.requiresGrad);
  const opt = new torch.optim.AdamW(
    params.map(([, p]) => p),
    { lr: 1e-3, weightDecay: 0.01 },
  );
  const B = 8,
    L = 6;
  const ids = Array.from({ length: B }, (_, i) => Array.from({ length: L }, (_, j) => (7 * i + 3 * j * j + 1) % 64));
  const labels = Array.from({ length: B }, (_, i) => (i * 5) % 3);
  const per = B / world;
  const rows = [rank * per, (rank + 1) * per];
  const micro = accumulate
    ? [
        [rows[0], rows[0] + per / 2],
        [rows[0] + per / 2, rows[1]],
      ]
    : [rows];
  const lossOf = (a, b) => {
    const x = torch.tensor(ids.slice(a, b), { dtype: 'int64' });
    const y = torch.tensor(labels.slice(a, b), { dtype: 'int64' });
    const { logits } = model.forward(x);
    return torch.F.crossEntropy(logits, y).mul(1 / micro.length);
  };
  let firstGrads = null;
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    micro.forEach(([a, b], k) => {
      const backward = () => torch.tidy(() => lossOf(a, b).backward());
      if (ddp && k < micro.length - 1) ddp.noSync(backward);
      else backward();
    });
    // The averaged gradients of the first step (Adam is nearly scale-invariant: parameters alone would hide a sum).
    if (s === 0)
      firstGrads = Object.fromEntries(
        params.map(([n, p]) => [n, Array.from(p.grad.to('float64').reshape([-1]).dataSync())]),
      );
    opt.step();
  }
  const out = {
    rank,
    firstGrads,
    params: Object.fromEntries(params.map(([n, p]) => [n, Array.from(p.to('float64').reshape([-1]).dataSync())])),
  };
  if (ddp) {
    out.stats = ddp.stats();
    // A trainable parameter left out of the graph is a clear error at the end of backward.
    try {
      torch.tidy(() =>
        model.classifier
          .forward(torch.ones([1, config.dim], { dtype }))
          .sum()
          .backward(),
      );
      out.unusedError = null;
    } catch (e) {
      out.unusedError = e.message;
    }
    ddp.dispose();
    dist.destroyProcessGroup();
  }
  return out;
};

// The Trainer under DDP: 2 epochs of LoRA on a small SST-2 sample, outputs in a shared folder.
module.exports.trainer = async function trainer(
  lib,
  { model: modelDir, sst2, outputDir, epochs = 2, resume = false, schedule = 'linear' },
) {
  const torch = lib('index');
  const dist = lib('distributed/index');
  await dist.initProcessGroup({ backend: 'gloo', timeoutMs: 60000 });
  const data = torch.data.loadSst2(sst2);
  const train = torch.data.subsample(data.train, 96, 1);
  const validation = torch.data.subsample(data.validation, 50, 2);
  torch.manualSeed(7);
  const model = await torch.DistilBertForSequenceClassification.fromPretrained(modelDir, { numLabels: 2 });
  const tokenizer = torch.AutoTokenizer.fromPretrained(modelDir);
  torch.replaceLinearWithLora(model, { rank: 2, alpha: 4, targets: ['q_lin', 'v_lin'] });
  torch.markOnlyLoraAsTrainable(model, { modulesToSave: ['pre_classifier', 'classifier'] });
  const logged = [];
  const t = new torch.Trainer({
    model,
    tokenizer,
    train,
    validation,
    epochs,
    batchSize: 8,
    lr: 5e-3,
    maxLength: 32,
    seed: 3,
    progress: false,
    outputDir,
    restoreBest: false,
    log: (l) => logged.push(l),
    resume,
    schedule,
  });
  const result = await t.train();
  // The final weights evaluated by this process alone, on the whole validation set.
  const alone = t.evaluate(validation);
  const weights = [...model.namedParameters()]
    .filter(([, p]) => p.requiresGrad)
    .map(([, p]) => Array.from(p.to('float64').reshape([-1]).dataSync()));
  dist.destroyProcessGroup();
  return { epochs: result.epochs, steps: result.steps, alone, logged: logged.length, weights };
};
