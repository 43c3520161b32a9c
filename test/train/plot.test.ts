// metrics.svg: the loss and accuracy plot the Trainer's plot callback draws.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type MetricRecord } from '../../lib/train/metrics-log';
import { plotMetricsSvg, writePlot } from '../../lib/train/plot';

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'torch-lora-train-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function sampleRun(): MetricRecord[] {
  const records: MetricRecord[] = [];
  for (let step = 1; step <= 60; step++) {
    const epoch = Math.ceil(step / 20);
    records.push({
      step,
      epoch,
      split: 'train',
      loss: 0.7 / Math.sqrt(step),
      lr: 1e-3,
      time: '2024-01-01T00:00:00.000Z',
    });
    if (step % 20 === 0) {
      records.push({ step, epoch, split: 'train', accuracy: 0.7 + epoch / 20, time: '2024-01-01T00:00:00.000Z' });
      records.push({
        step,
        epoch,
        split: 'validation',
        loss: 0.5,
        accuracy: 0.72 + epoch / 25,
        time: '2024-01-01T00:00:00.000Z',
      });
    }
  }
  return records;
}

describe('plot', () => {
  it('draws both panels with their series and an escaped title', () => {
    const svg = plotMetricsSvg(sampleRun(), { title: 'LoRA <r=8> & friends' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('LoRA &lt;r=8&gt; &amp; friends');
    for (const series of ['train (per step)', 'train (smoothed)', 'validation', 'train']) {
      expect(svg).toContain(`data-series="${series}"`);
    }
    expect(svg).toContain('Accuracy per epoch');
    expect(svg).not.toContain('NaN');
    // 60 steps of train loss: one point per step in the raw line.
    const raw = /data-series="train \(per step\)">\n<polyline points="([^"]+)"/.exec(svg)!;
    expect(raw[1].split(' ')).toHaveLength(60);
  });

  it('shows an empty run without failing', () => {
    const svg = plotMetricsSvg([], { title: 'nothing yet' });
    expect(svg.match(/no data/g)).toHaveLength(2);
  });

  it('writes atomically, leaving no temporary file', () => {
    const dir = join(scratch, 'plots');
    const path = join(dir, 'run.svg');
    writePlot(path, '<svg/>');
    writePlot(path, plotMetricsSvg(sampleRun(), { title: 'run' }));
    expect(existsSync(path)).toBe(true);
    expect(readdirSync(dir)).toEqual(['run.svg']);
  });
});
