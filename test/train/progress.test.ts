// The progress bar the Trainer's progress callback draws: plain lines in logs, one redrawn line on a terminal.
import { ProgressBar } from '../../lib/train/progress';

describe('progress bar', () => {
  function fakeStream(isTTY: boolean) {
    const writes: string[] = [];
    return { writes, stream: { isTTY, columns: 200, write: (chunk: string) => writes.push(chunk) } };
  }

  it('prints one plain line every N percent when not on a terminal', () => {
    const { writes, stream } = fakeStream(false);
    let clock = 0;
    const bar = new ProgressBar({ stream, everyPercent: 25, label: 'epoch 1/1', now: () => (clock += 1000) });
    for (let step = 0; step <= 100; step++)
      bar.update({ step, total: 100, loss: 0.5, acc: 0.875, tokensPerSec: 5000.4 });
    bar.done();
    expect(writes).toHaveLength(5);
    expect(writes.every((line) => line.endsWith('\n') && !line.includes('\r'))).toBe(true);
    expect(writes[0]).toMatch(/^epoch 1\/1 0\/100 +0%/);
    expect(writes[2]).toContain('50/100  50% | loss 0.5000 | acc 87.5% | 5000 tok/s | ETA 50s');
    expect(writes[4]).toContain('100/100 100%');
  });

  it('redraws one line in place on a terminal', () => {
    const { writes, stream } = fakeStream(true);
    let clock = 0;
    const bar = new ProgressBar({ stream, now: () => (clock += 50), redrawMs: 100 });
    for (let step = 1; step <= 10; step++) bar.update({ step, total: 10 });
    bar.done();
    expect(writes.slice(0, -1).every((w) => w.startsWith('\r'))).toBe(true);
    expect(writes.length).toBeLessThan(10);
    expect(writes[writes.length - 2]).toContain('[##############################] 10/10 100%');
    expect(writes[writes.length - 1]).toBe('\n');
  });
});
