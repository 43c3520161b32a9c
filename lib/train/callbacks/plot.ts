// metrics.svg on rank 0, redrawn from metrics.jsonl after every epoch and at the end of the run.
import { readMetrics } from '../metrics-log';
import { plotMetricsSvg, writePlot } from '../plot';
import type { TrainerCallback } from './callback';

export class PlotCallback implements TrainerCallback {
  constructor(
    private readonly metricsFile: string,
    private readonly svgFile: string,
    private readonly title = 'torch-lora fine-tuning',
  ) {}

  private draw(): void {
    writePlot(this.svgFile, plotMetricsSvg(readMetrics(this.metricsFile), { title: this.title }));
  }

  onEpochEnd(): void {
    this.draw();
  }

  onTrainEnd(): void {
    this.draw();
  }

  /** Again with the test record. */
  onPredict(): void {
    this.draw();
  }
}
