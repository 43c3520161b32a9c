// Every benchmark workload runs once at toy sizes and returns well-formed, finite measurements.
// No timing assertions: speed targets live in bench/ (npm run bench), never in unit tests.
import { TINY_CONFIG, WORKLOAD_NAMES, makeContext, peakRssBytes, runWorkload, workloads } from '../bench/workloads';
import { memory } from '../lib';

const ctx = makeContext({ config: TINY_CONFIG, quick: true, reps: 1, warmup: 0 });

describe('bench workloads at tiny sizes', () => {
  it('has the workloads that bench/pytorch_bench.py has', () => {
    expect(WORKLOAD_NAMES).toEqual([
      'op-overhead',
      'infer-b1',
      'infer-b32',
      'train-lora',
      'train-full',
      'merged',
      'scale-64',
      'scale-128',
      'scale-256',
      'scale-512',
    ]);
    expect(Object.keys(workloads(ctx))).toEqual(WORKLOAD_NAMES);
  });

  it.each(WORKLOAD_NAMES)('%s runs once and reports sane numbers', (name) => {
    const before = memory().numTensors;
    const result = runWorkload(name, ctx);
    expect(result.workload).toBe(name);
    expect(result.side).toBe('torch-lora');
    expect(result.threads).toBeGreaterThanOrEqual(1);
    expect(result.metrics.length).toBeGreaterThan(0);
    for (const m of result.metrics) {
      expect(typeof m.name).toBe('string');
      expect(['us/op', 'ms', 'seq/s']).toContain(m.unit);
      expect(Number.isFinite(m.median)).toBe(true);
      expect(m.median).toBeGreaterThan(0);
      expect(m.samples).toHaveLength(1);
      expect(Number.isFinite(m.cpu_median as number)).toBe(true);
      expect(m.better).toBe(m.unit === 'seq/s' ? 'higher' : 'lower');
    }
    // the workload frees what it made (models, inputs, optimizer state); building a model leaves one or two
    // temporaries to the garbage collector, hence the slack
    expect(memory().numTensors - before).toBeLessThanOrEqual(6);
    expect(result.peak_rss_bytes === null || result.peak_rss_bytes > 0).toBe(true);
  });

  it.each(['bf16', 'amp'] as const)('the model workloads run in %s too (the model cast, or bf16 autocast)', (dtype) => {
    const c = makeContext({ config: TINY_CONFIG, quick: true, reps: 1, warmup: 0, dtype });
    for (const name of ['infer-b1', 'train-lora', 'merged']) {
      const result = runWorkload(name, c);
      expect(result.dtype).toBe(dtype);
      for (const m of result.metrics) expect(Number.isFinite(m.median) && m.median > 0).toBe(true);
    }
  });

  it('op-overhead measures add, mul, matmul and mul by a number at both sizes, with ops/s', () => {
    const metrics = runWorkload('op-overhead', ctx).metrics;
    const ops = ['add', 'mul', 'matmul', 'mul by a number'];
    const plain = [8, 64].flatMap((n) => ops.map((op) => `${op} ${n}x${n}`));
    expect(metrics.map((m) => m.name)).toEqual([...plain, ...plain.map((n) => `${n}, dispose as it goes`)]);
    for (const m of metrics) {
      expect(m.ops_per_s as number).toBeCloseTo(1e6 / m.median, 0);
      expect(plain).toContain(m.compare_to);
    }
  });

  it('train steps report tokens/s and the trainable parameter count (LoRA: q and v only)', () => {
    const [lora] = runWorkload('train-lora', ctx).metrics;
    const [full] = runWorkload('train-full', ctx).metrics;
    expect(lora.tokens_per_s as number).toBeGreaterThan(0);
    const { dim = 0, n_layers = 0 } = TINY_CONFIG;
    expect(lora.trainable).toBe(n_layers * 2 * 8 * (dim + dim)); // rank 8: A [dim, 8] and B [8, dim] per adapted layer
    expect(full.trainable as number).toBeGreaterThan(lora.trainable as number);
  });

  it('merged reports the base, unmerged and merged forward passes', () => {
    const names = runWorkload('merged', ctx).metrics.map((m) => m.name);
    expect(names).toEqual(['base inference 2x16', 'LoRA unmerged inference 2x16', 'LoRA merged inference 2x16']);
  });

  it('reads the peak RSS of the process', () => {
    const peak = peakRssBytes();
    if (process.platform === 'linux') expect(peak).toBeGreaterThan(10 * 2 ** 20);
  });
});
