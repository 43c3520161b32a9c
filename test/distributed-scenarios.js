'use strict';
// The programs every rank of test/distributed*.test.ts runs (see test/distributed-rank.js). Each returns plain
// JSON; the tests compare it with the collectives' definitions.

const values = (t) => Array.from(t.to('float64').reshape([-1]).dataSync());

module.exports = {
  // Every collective once, on inputs that depend on the rank.
  async collectives(lib) {
    const dist = lib('distributed/index');
    const { tensor, arange } = lib('creation');
    await dist.initProcessGroup({ backend: 'gloo', timeoutMs: 20000 });
    const rank = dist.getRank(), world = dist.getWorldSize();
    const out = { rank, world };
    const base = (dtype) => tensor([[1.5, -2, 3], [rank + 0.25, 10 * rank, -rank]], { dtype });
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
    const mine = arange(0, (rank + 1) * 3, 1, { dtype: 'float32' }).reshape([rank + 1, 3]).mul(rank + 1);
    out['allGather-uneven'] = (await dist.allGather(mine)).map((t) => ({ shape: t.shape, values: values(t), dtype: t.dtype }));
    const even = tensor([rank, 100 + rank], { dtype: 'int64' });
    out['allGather-even'] = (await dist.allGather(even)).map((t) => ({ shape: t.shape, values: values(t), dtype: t.dtype }));
    const scalar = tensor(rank * 1.5, { dtype: 'float64' });
    out['allGather-scalar'] = (await dist.allGather(scalar)).map((t) => ({ shape: t.shape, values: values(t) }));

    // reduceScatter: inputs[i] has i + 2 elements (uneven), values depend on the rank.
    const inputs = [...Array(world).keys()].map((i) => arange(0, i + 2, 1, { dtype: 'float64' }).add(10 * rank + i));
    const rs = await dist.reduceScatter(inputs, 'sum');
    out['reduceScatter-uneven'] = { shape: rs.shape, values: values(rs) };
    const stacked = arange(0, world * 2, 1, { dtype: 'float32' }).reshape([world, 2]).mul(rank + 1);
    const rsMax = await dist.reduceScatter(stacked, 'max');
    out['reduceScatter-tensor-max'] = { shape: rsMax.shape, values: values(rsMax) };
    const rsAvg = await dist.reduceScatter([tensor([rank, 1], { dtype: 'bfloat16' }), tensor([2 * rank, 3], { dtype: 'bfloat16' })], 'avg');
    out['reduceScatter-avg-bf16'] = { values: values(rsAvg), dtype: rsAvg.dtype };

    // Several collectives in flight at once complete in call order with the right values.
    const many = [...Array(5).keys()].map((k) => tensor([k + rank], { dtype: 'float32' }));
    await Promise.all(many.map((t) => dist.allReduce(t, 'sum')));
    out.concurrent = many.map((t) => values(t)[0]);

    await dist.barrier();
    // Errors that name the problem.
    const errors = {};
    const grab = async (name, fn) => { try { await fn(); errors[name] = null; } catch (e) { errors[name] = e.message; } };
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
