// What the demo prints and writes: the comparison table beside the seed's numbers, the learning-rate grid, the time
// per part, a results file and the plot of every method's validation accuracy and loss per epoch.
import * as path from 'node:path';
import { plotRunsSvg, io } from '../../lib';
import type { MethodResult } from './grid';
import { pct } from './grid';

export interface DemoReport {
  startPoint: string;
  pretrained: boolean;
  precision: string;
  sizes: { train: number; validation: number; test: number; epochs: number; batchSize: number; maxLength: number };
  results: MethodResult[];
  seconds: { startPoint: number; data: number; total: number };
  command: string;
}

export function printReport(r: DemoReport, log: (line: string) => void): void {
  log('');
  log(`Start point: ${r.startPoint}`);
  log(
    `IMDb: train ${r.sizes.train}, validation ${r.sizes.validation}, test ${r.sizes.test}; ${r.sizes.epochs} epochs, batch ${r.sizes.batchSize}, ` +
      `max ${r.sizes.maxLength} tokens; ${r.precision}`,
  );
  log('');
  log('Learning rates tried (validation accuracy, best epoch):');
  log(`| method | ${r.results[0]?.grid.map((_, i) => `rate ${i + 1}`).join(' | ')} | chosen |`);
  log(`|---|${r.results[0]?.grid.map(() => '---:').join('|')}|---:|`);
  for (const m of r.results) {
    log(
      `| ${m.method.label} | ${m.grid.map((g) => `${g.lr.toExponential(0)}: ${pct(g.bestValidation)}`).join(' | ')} | ${m.chosenLr.toExponential(0)} |`,
    );
  }
  log('');
  log(
    `| method | trainable params | lr (chosen on validation) | val acc | test acc | Raschka's test acc${r.pretrained ? '' : ' (pretrained; not comparable)'} |`,
  );
  log('|---|---:|---:|---:|---:|---:|');
  for (const m of r.results) {
    log(
      `| ${m.method.label} | ${m.trainable.toLocaleString('en-US')} | ${m.chosenLr.toExponential(0)} | ${pct(m.chosen.bestValidationAccuracy)} | ` +
        `${pct(m.test.accuracy)} | ${Number.isNaN(m.method.seed) ? '-' : `${m.method.seed.toFixed(2)}%`} |`,
    );
  }
  log('');
  log('Time per part:');
  log(`  start point ${r.seconds.startPoint.toFixed(0)} s, data ${r.seconds.data.toFixed(0)} s`);
  for (const m of r.results) {
    log(
      `  ${m.method.key}: ${m.grid.length} rates ${m.seconds.grid.toFixed(0)} s (${m.grid.map((g) => `${g.seconds.toFixed(0)}`).join(' + ')} s training), test ${m.seconds.test.toFixed(0)} s`,
    );
  }
  log(`  total ${(r.seconds.total / 60).toFixed(1)} min`);
}

/** results.json and comparison.svg in the output folder, each written whole or not at all. */
export function writeReport(r: DemoReport, outputDir: string): { json: string; svg: string } {
  const json = path.join(outputDir, 'results.json');
  const svg = path.join(outputDir, 'comparison.svg');
  const serializable = {
    ...r,
    results: r.results.map((m) => ({
      key: m.method.key,
      label: m.method.label,
      seedTestAccuracy: Number.isNaN(m.method.seed) ? null : m.method.seed / 100,
      grid: m.grid,
      chosenLr: m.chosenLr,
      validationAccuracy: m.chosen.bestValidationAccuracy,
      testAccuracy: m.test.accuracy,
      testMacroF1: m.test.macroF1,
      trainable: m.trainable,
      total: m.total,
      epochs: m.chosen.epochs.map((e) => ({
        epoch: e.epoch,
        trainLoss: e.trainLoss,
        trainAccuracy: e.trainAccuracy,
        validationLoss: e.validation?.loss,
        validationAccuracy: e.validation?.accuracy,
      })),
      seconds: m.seconds,
      adapterDir: m.adapterDir,
    })),
  };
  io.writeFileAtomic(json, `${JSON.stringify(serializable, null, 2)}\n`);
  const title = r.pretrained
    ? 'IMDb from distilbert-base-uncased: each method at its chosen learning rate'
    : 'IMDb from the stand-in encoder: each method at its chosen learning rate';
  const subtitle =
    `train ${r.sizes.train}, validation ${r.sizes.validation}; ${r.sizes.epochs} epochs, batch ${r.sizes.batchSize}, ${r.sizes.maxLength} tokens, ${r.precision}; ` +
    `rates chosen on validation (test accuracy in the legend)`;
  io.writeFileAtomic(
    svg,
    plotRunsSvg(
      r.results.map((m) => ({
        name: `${m.method.key} (lr ${m.chosenLr.toExponential(0)}): test ${pct(m.test.accuracy)}`,
        epochs: m.chosen.epochs,
      })),
      { title, subtitle },
    ),
  );
  return { json, svg };
}
