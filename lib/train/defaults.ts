// The one table of training defaults: the Trainer and MLM pretraining read them here, and finetune(), finetune jobs
// and the CLI (with its --help) through lib/recipes/defaults.ts, instead of each keeping its own copy (four before).
export const TRAINER_DEFAULTS = {
  epochs: 3,
  batchSize: 16,
  lr: 5e-4,
  weightDecay: 0.01,
  warmupRatio: 0,
  schedule: 'linear' as 'linear' | 'cosine' | 'constant',
  gradientAccumulation: 1,
  maxLength: 256,
  seed: 123,
  device: 'cpu',
  logEvery: 20,
};

/** Masked-language-model pretraining: BERT's shorter sequences, 6% warm-up and clipping at 1 (RoBERTa's recipe). */
export const MLM_DEFAULTS = {
  maxLength: 128,
  batchSize: 16,
  lr: 5e-4,
  weightDecay: 0.01,
  warmupRatio: 0.06,
  maxGradNorm: 1,
  seed: 0,
  maskProbability: 0.15,
};

/** The defaults overridden by the options that are set: an option given as undefined keeps its default. */
export function withDefaults<D extends object, O extends object>(defaults: D, options: O): D & O {
  const set = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return { ...defaults, ...set } as D & O;
}
