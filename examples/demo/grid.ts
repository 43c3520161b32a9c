// Tunes one method's learning rate on validation, then tests the chosen model once.
import * as path from 'node:path';
import { DistilBertForSequenceClassification, finetune, manualSeed, evaluateAsync } from '../../lib';
import type { data, TokenizerLike, EvalResult, FinetuneResult } from '../../lib';
import type { DemoMethod } from './methods';

type TextExample = data.TextExample;

export interface GridPoint {
  lr: number;
  /** Validation accuracy per epoch, and the best of them (the selection criterion). */
  validation: number[];
  bestValidation: number;
  seconds: number;
}

export interface MethodResult {
  method: DemoMethod;
  grid: GridPoint[];
  chosenLr: number;
  /** The chosen rate's run (its epochs feed the plot). */
  chosen: FinetuneResult;
  test: EvalResult;
  trainable: number;
  total: number;
  seconds: { grid: number; test: number };
  adapterDir?: string;
}

export interface RunSettings {
  modelDir: string;
  tokenizer: TokenizerLike;
  train: readonly TextExample[];
  validation: readonly TextExample[];
  test: readonly TextExample[];
  epochs: number;
  batchSize: number;
  maxLength: number;
  precision: 'bf16' | 'fp32';
  device: string;
  outputDir: string;
  log: (line: string) => void;
}

/**
 * Trains the method once per rate (same seed, same data order, same number of steps), keeps the model of the rate
 * with the best validation accuracy (its best epoch's weights, as the Trainer restores them), and only then
 * evaluates that one model on the test set. The test set plays no part in any choice.
 */
export async function tuneAndTest(m: DemoMethod & { lrs: number[] }, s: RunSettings): Promise<MethodResult> {
  const grid: GridPoint[] = [];
  let best: { lr: number; model: DistilBertForSequenceClassification; result: FinetuneResult } | null = null;
  const started = Date.now();
  try {
    for (const lr of m.lrs) {
      manualSeed(123);
      const model = await DistilBertForSequenceClassification.fromPretrained(s.modelDir, {
        numLabels: 2,
        quiet: true,
        device: s.device,
      });
      let result: FinetuneResult;
      try {
        result = await finetune({
          model,
          tokenizer: s.tokenizer,
          method: m.method,
          lora: m.lora,
          keepFrozen: m.keepFrozen,
          train: s.train,
          validation: s.validation,
          epochs: s.epochs,
          batchSize: s.batchSize,
          lr,
          maxLength: s.maxLength,
          warmupRatio: 0.06,
          seed: 123,
          device: s.device,
          mixedPrecision: s.precision === 'bf16' ? 'bf16' : null,
          outputDir: path.join(s.outputDir, m.key, `lr-${lr}`),
          baseModelName: s.modelDir,
          progress: false,
          log: () => undefined,
        });
      } catch (e) {
        model.dispose();
        throw e;
      }
      const point: GridPoint = {
        lr,
        validation: result.epochs.map((e) => e.validation?.accuracy ?? NaN),
        bestValidation: result.bestValidationAccuracy ?? NaN,
        seconds: result.seconds,
      };
      grid.push(point);
      s.log(
        `  ${m.key} lr ${lr.toExponential(0)}: validation accuracy per epoch ${point.validation.map(pct).join(' ')} (${point.seconds.toFixed(0)} s)`,
      );
      // Strictly better only: on a tie the smaller rate (tried first) stays.
      if (!best || point.bestValidation > (best.result.bestValidationAccuracy ?? -1)) {
        best?.model.dispose();
        best = { lr, model, result };
      } else {
        model.dispose();
      }
    }
    if (!best) throw new Error(`${m.key}: no learning rate to try`);
    const gridSeconds = (Date.now() - started) / 1000;
    const testStarted = Date.now();
    const test = await evaluate(best.model, s, s.test);
    // A best rate at either end of the grid means the optimum may lie outside it: say so rather than hide it.
    const edge = m.lrs.length > 1 && (best.lr === Math.min(...m.lrs) || best.lr === Math.max(...m.lrs));
    if (edge)
      s.log(
        `  ${m.key}: the best rate is at the edge of the grid; a wider grid (--lr ${m.key}=...) may find a better one`,
      );
    s.log(
      `  ${m.key}: chose lr ${best.lr.toExponential(0)} (validation ${pct(best.result.bestValidationAccuracy ?? NaN)}); test accuracy ${pct(test.accuracy)}`,
    );
    return {
      method: m,
      grid,
      chosenLr: best.lr,
      chosen: best.result,
      test,
      trainable: best.result.trainable,
      total: best.result.total,
      seconds: { grid: gridSeconds, test: (Date.now() - testStarted) / 1000 },
      adapterDir: best.result.adapterDir,
    };
  } finally {
    best?.model.dispose();
  }
}

/** Accuracy and loss of a trained model on a split, batched and bucketed as the Trainer evaluates. */
export function evaluate(
  model: DistilBertForSequenceClassification,
  s: Pick<RunSettings, 'tokenizer' | 'maxLength' | 'batchSize' | 'device' | 'precision'>,
  examples: readonly TextExample[],
): Promise<EvalResult> {
  return evaluateAsync(model, s.tokenizer, examples, {
    maxLength: s.maxLength,
    batchSize: s.batchSize * 2,
    device: s.device,
    mixedPrecision: s.precision === 'bf16' ? 'bf16' : null,
  });
}

export const pct = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(2)}%`;
