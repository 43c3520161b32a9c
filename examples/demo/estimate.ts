// How long the seed's protocol takes here with real weights: each method's training step and evaluation measured on a
// distilbert-base-sized model (random weights: the time of a step does not depend on the values), then multiplied out.
import * as fs from 'node:fs';
import { DistilBertForSequenceClassification, finetune, manualSeed } from '../../lib';
import { evaluate } from './grid';
import type { data, TokenizerLike } from '../../lib';
import type { DemoMethod } from './methods';

type TextExample = data.TextExample;

export interface Protocol {
  train: number;
  validation: number;
  test: number;
  epochs: number;
  batchSize: number;
  maxLength: number;
}

/** The seed's protocol: IMDb's 50k reviews split 35k / 5k / 10k, 3 epochs. */
export const SEED_PROTOCOL: Protocol = {
  train: 35_000,
  validation: 5_000,
  test: 10_000,
  epochs: 3,
  batchSize: 16,
  maxLength: 256,
};

export interface Estimate {
  key: string;
  secondsPerStep: number;
  secondsPerEvalExample: number;
  /** One training run of the protocol (all epochs, validation each epoch), and the whole grid plus one test pass. */
  runMinutes: number;
  gridHours: number;
}

export async function estimateProtocol(
  methods: readonly (DemoMethod & { lrs: number[] })[],
  o: {
    configPath: string;
    tokenizer: TokenizerLike;
    texts: readonly TextExample[];
    precision: 'bf16' | 'fp32';
    device: string;
    protocol: Protocol;
    log: (l: string) => void;
  },
): Promise<Estimate[]> {
  const config = JSON.parse(fs.readFileSync(o.configPath, 'utf8'));
  const p = o.protocol;
  // 6 steps: the first (allocations, kernel selection) is dropped by timing 2 runs of different length.
  const [short, long] = [2, 6];
  const out: Estimate[] = [];
  for (const m of methods) {
    const time = async (steps: number): Promise<{ train: number; evalPerExample: number }> => {
      manualSeed(123);
      const model = DistilBertForSequenceClassification.random({ ...config, num_labels: 2 }, 1);
      if (o.device !== 'cpu') model.to(o.device);
      try {
        const r = await finetune({
          model,
          tokenizer: o.tokenizer,
          method: m.method,
          lora: m.lora,
          train: o.texts.slice(0, steps * p.batchSize),
          epochs: 1,
          batchSize: p.batchSize,
          lr: m.lrs[0],
          maxLength: p.maxLength,
          mixedPrecision: o.precision === 'bf16' ? 'bf16' : null,
          device: o.device,
          progress: false,
          log: () => undefined,
        });
        const examples = o.texts.slice(0, 2 * p.batchSize);
        const t0 = Date.now();
        await evaluate(
          model,
          {
            tokenizer: o.tokenizer,
            batchSize: p.batchSize,
            maxLength: p.maxLength,
            precision: o.precision,
            device: o.device,
          },
          examples,
        );
        return { train: r.seconds, evalPerExample: (Date.now() - t0) / 1000 / examples.length };
      } finally {
        model.dispose();
      }
    };
    const a = await time(short);
    const b = await time(long);
    const secondsPerStep = Math.max(1e-6, (b.train - a.train) / (long - short));
    const secondsPerEvalExample = b.evalPerExample;
    const steps = Math.ceil(p.train / p.batchSize) * p.epochs;
    const runSeconds = steps * secondsPerStep + p.epochs * p.validation * secondsPerEvalExample;
    const gridSeconds = m.lrs.length * runSeconds + p.test * secondsPerEvalExample;
    const e = {
      key: m.key,
      secondsPerStep,
      secondsPerEvalExample,
      runMinutes: runSeconds / 60,
      gridHours: gridSeconds / 3600,
    };
    o.log(
      `  ${m.key}: ${secondsPerStep.toFixed(2)} s per training step, ${(1000 * secondsPerEvalExample).toFixed(0)} ms per evaluated review -> ` +
        `${e.runMinutes.toFixed(0)} min per run, ${e.gridHours.toFixed(1)} h for ${m.lrs.length} rates and the test`,
    );
    out.push(e);
  }
  return out;
}
