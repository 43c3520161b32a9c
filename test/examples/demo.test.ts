// The main job end to end at toy size: the learning rate is chosen on validation only, the test set is evaluated once
// per method (at the chosen rate), and the run writes its results file, its comparison plot and a PEFT adapter.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readMetrics } from '../../lib';
import { ensureCompiled, ROOT } from '../helpers/compiled';

const DEMO = path.join(ROOT, 'dist', 'examples', 'demo.js');
const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));

function demo(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [DEMO, ...args], {
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, TORCH_LORA_MODEL: '', ...env },
  });
}

beforeAll(() => {
  // The demo runs as users run it: compiled (dist/). The bootstrap rebuilds what is out of date, quietly.
  ensureCompiled(DEMO);
}, 300_000);

describe('demo (toy sizes)', () => {
  const out = tmp('demo-out-');
  const cache = tmp('demo-cache-');
  let run: ReturnType<typeof demo>;
  let results: {
    precision: string;
    results: {
      key: string;
      grid: { lr: number; bestValidation: number; validation: number[] }[];
      chosenLr: number;
      validationAccuracy: number;
      testAccuracy: number;
      epochs: { validationAccuracy: number }[];
      adapterDir?: string;
    }[];
  };

  beforeAll(() => {
    run = demo(
      [
        '--output',
        out,
        '--threads',
        '1',
        '--sst2-sentences',
        '256',
        '--train-size',
        '48',
        '--validation-size',
        '32',
        '--test-size',
        '32',
        '--epochs',
        '2',
        '--max-length',
        '32',
        '--only',
        'lora-qv,last-layers',
        '--lr',
        'lora-qv=1e-3,3e-2',
        '--lr',
        'last-layers=1e-2,3e-3',
      ],
      { XDG_CACHE_HOME: cache },
    );
    if (run.status !== 0) throw new Error(`demo exited ${run.status}: ${run.stderr}\n${run.stdout}`);
    results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
  }, 300_000);

  it('says which precision it chose and why', () => {
    expect(run.stdout).toMatch(/^device cpu, (bf16|fp32) \(.+\), 1 threads$/m);
    expect(results.precision).toMatch(/^(bf16|fp32) on cpu$/);
  });

  it('tries every rate asked for and chooses the best validation accuracy (the first on a tie)', () => {
    expect(results.results.map((r) => r.key)).toEqual(['lora-qv', 'last-layers']);
    expect(results.results[0].grid.map((g) => g.lr)).toEqual([1e-3, 3e-2]);
    expect(results.results[1].grid.map((g) => g.lr)).toEqual([1e-2, 3e-3]);
    for (const r of results.results) {
      for (const g of r.grid) {
        expect(g.validation).toHaveLength(2);
        expect(g.bestValidation).toBe(Math.max(...g.validation));
      }
      const best = Math.max(...r.grid.map((g) => g.bestValidation));
      expect(r.chosenLr).toBe(r.grid.find((g) => g.bestValidation === best)!.lr);
      expect(r.validationAccuracy).toBe(best);
      expect(r.testAccuracy).toBeGreaterThanOrEqual(0);
      expect(r.testAccuracy).toBeLessThanOrEqual(1);
    }
  });

  it('never evaluates the test set during the grid', () => {
    for (const r of results.results) {
      for (const g of r.grid) {
        const records = readMetrics(path.join(out, r.key, `lr-${g.lr}`, 'metrics.jsonl'));
        expect(records.some((x) => x.split === 'validation')).toBe(true);
        expect(records.some((x) => x.split === 'test')).toBe(false);
      }
    }
  });

  it('prints the table beside the seed and the time per part', () => {
    expect(run.stdout).toContain(
      "| method | trainable params | lr (chosen on validation) | val acc | test acc | Raschka's test acc (pretrained; not comparable) |",
    );
    expect(run.stdout).toMatch(/^\| LoRA q\+v \(r 8, alpha 16\) \+ head \| [\d,]+ \| (1e-3|3e-2) \|/m);
    expect(run.stdout).toContain('89.44%');
    expect(run.stdout).toMatch(/^ {2}lora-qv: 2 rates \d+ s/m);
    expect(run.stdout).toMatch(/^ {2}total \d+\.\d min$/m);
  });

  it('draws every method in each of the three panels, with no missing point', () => {
    const svg = fs.readFileSync(path.join(out, 'comparison.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/data-series="lora-qv/g)).toHaveLength(3);
    expect(svg.match(/data-series="last-layers/g)).toHaveLength(3);
    expect(svg).not.toMatch(/NaN|undefined/);
  });

  it("writes the chosen LoRA run's adapter in PEFT's format", () => {
    const dir = results.results[0].adapterDir!;
    expect(dir).toBe(path.join(out, 'lora-qv', `lr-${results.results[0].chosenLr}`, 'adapter'));
    expect(fs.existsSync(path.join(dir, 'adapter_model.safetensors'))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')).r).toBe(8);
  });

  it('caches the stand-in encoder for the next run', () => {
    expect(run.stdout).toContain('training the stand-in');
    const again = demo(
      [
        '--output',
        tmp('demo-out2-'),
        '--threads',
        '1',
        '--sst2-sentences',
        '256',
        '--train-size',
        '16',
        '--validation-size',
        '16',
        '--test-size',
        '16',
        '--epochs',
        '1',
        '--max-length',
        '16',
        '--only',
        'last-layers',
        '--lr',
        'last-layers=1e-2',
      ],
      { XDG_CACHE_HOME: cache },
    );
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('using the cached stand-in encoder');
  }, 120_000);
});

describe('demo arguments', () => {
  it.each([
    [
      ['--lr', 'nope=1e-3'],
      /--lr: expected METHOD=RATE\[,RATE\.\.\.\] with METHOD one of lora-qv, lora-wide, last-layers, full, full-frozen-embeddings, got 'nope=1e-3'/,
    ],
    [['--lr', 'full=2'], /--lr full: rates must be numbers in \(0, 1\], got '2'/],
    [['--only', 'lora'], /--only: no method 'lora'/],
    [['--precision', 'fp8'], /--precision must be auto, bf16 or fp32, got 'fp8'/],
    [['--epochs', '0'], /--epochs must be a whole number > 0, got '0'/],
    [['--model', '/nonexistent/distilbert'], /--model \/nonexistent\/distilbert: no DistilBERT weights there/],
  ])(
    '%j is refused with a clear message',
    (args, message) => {
      const r = demo(args as string[], { XDG_CACHE_HOME: tmp('demo-cache-') });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(message as RegExp);
    },
    60_000,
  );
});
