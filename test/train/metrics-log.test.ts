// metrics.jsonl: the records the Trainer's metrics callback appends, and reading them back.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetricsLogger, readMetrics } from '../../lib/train/metrics-log';

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'torch-lora-train-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function scratchFile(name: string, content: string): string {
  const path = join(scratch, name);
  writeFileSync(path, content);
  return path;
}

describe('metrics log', () => {
  it('round-trips records, NaN included, and appends across loggers', () => {
    const path = join(scratch, 'runs', 'metrics.jsonl');
    const first = new MetricsLogger(path);
    const written = [
      first.log({ step: 1, epoch: 1, split: 'train', loss: 0.69, accuracy: 0.5, lr: 1e-4, tokensPerSec: 12_345 }),
      first.log({ step: 2, epoch: 1, split: 'train', loss: NaN, time: '2024-05-01T12:00:00.000Z' }),
    ];
    first.close();
    const second = new MetricsLogger(path);
    written.push(second.log({ step: 2, epoch: 1, split: 'validation', accuracy: 0.75 }));
    second.close();
    expect(written[0].time).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(readMetrics(path)).toEqual(written);
    expect(Number.isNaN(readMetrics(path)[1].loss)).toBe(true);
  });

  it('ignores a torn last line but reports a bad line elsewhere', () => {
    const torn = scratchFile('torn.jsonl', '{"step":1,"epoch":1,"split":"train","time":"t"}\n{"step":2,"ep');
    expect(readMetrics(torn)).toHaveLength(1);
    const bad = scratchFile('bad-metrics.jsonl', '{"step":1\n{"step":2,"epoch":1,"split":"train","time":"t"}\n');
    expect(() => readMetrics(bad)).toThrow(`${bad}:1: invalid JSON`);
  });
});
