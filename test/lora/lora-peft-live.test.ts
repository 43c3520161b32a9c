// Live round trip with PEFT: every adapter saveAdapter writes, for every combination of its options, loads in real
// PEFT (PeftModel.from_pretrained) and gives the logits torch-lora gives (1e-5 relative). Python: TORCH_LORA_PYTHON or .venv;
// under CI a missing Python fails this test, elsewhere it is skipped with the reason printed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { LoraScaling, SaveAdapterOptions } from '../../lib';
import {
  DistilBertForSequenceClassification,
  replaceLinearWithLora,
  markOnlyLoraAsTrainable,
  saveAdapter,
  tensor,
  tidy,
  noGrad,
  manualSeed,
  randnLike,
} from '../../lib';
import { TINY_MODEL, fixture } from '../helpers/paths';
import { describeWithPython } from '../helpers/python';

const inputs = JSON.parse(fs.readFileSync(fixture('distilbert-tiny-expected.json'), 'utf8'));
const ROUNDTRIP = path.resolve(__dirname, '..', '..', 'tools', 'peft_roundtrip.py');

interface Combo {
  taskType: SaveAdapterOptions['taskType'];
  modulesToSave: string[] | undefined;
  scaling: LoraScaling;
  bias: 'none' | 'lora_only' | 'all';
  loraBias: boolean;
  partial: boolean;
  dora: boolean;
}

function combos(): Combo[] {
  const out: Combo[] = [];
  let i = 0;
  for (const taskType of [undefined, null, 'SEQ_CLS'] as const) {
    for (const modulesToSave of [undefined, ['classifier'], ['pre_classifier', 'classifier']]) {
      for (const scaling of ['alpha', 'alpha/r', 'rslora'] as const) {
        out.push({
          taskType,
          modulesToSave,
          scaling,
          bias: (['none', 'lora_only', 'all'] as const)[i % 3],
          loraBias: i % 2 === 1,
          partial: i % 4 >= 2,
          dora: i % 4 === 0,
        });
        i++;
      }
    }
  }
  return out;
}

async function build(
  c: Combo,
  seed: number,
): Promise<{ model: DistilBertForSequenceClassification; logits: number[][] }> {
  const model = (await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL)).eval();
  const common = { alpha: 8, scaling: c.scaling, bias: c.loraBias, dora: c.dora, dropout: 0.1 };
  if (c.partial) {
    // Some layers only, and two ranks: the config needs full names and a rank_pattern.
    replaceLinearWithLora(model, { ...common, rank: 4, targets: ['layer.0.attention.q_lin', 'layer.1.ffn.lin1'] });
    replaceLinearWithLora(model, { ...common, rank: 2, targets: ['v_lin'] });
  } else {
    replaceLinearWithLora(model, { ...common, rank: 4, targets: ['q_lin', 'v_lin', 'lin1'] });
  }
  markOnlyLoraAsTrainable(model, { bias: c.bias, modulesToSave: c.modulesToSave });
  manualSeed(seed);
  noGrad(() => {
    for (const p of model.parameters()) if (p.requiresGrad) tidy(() => p.add_(randnLike(p).mul(0.3)));
  });
  const logits = noGrad(() =>
    tidy(
      () =>
        model
          .forward(tensor(inputs.input_ids, { dtype: 'int64' }), tensor(inputs.attention_mask, { dtype: 'int64' }))
          .logits.toArray() as number[][],
    ),
  );
  return { model, logits };
}

describeWithPython(
  'saveAdapter output loads in live PEFT with the same logits',
  ['torch', 'transformers', 'peft'],
  (python) => {
    it('for all 27 combinations of task type, modules to save, scaling (with bias, lora_bias, DoRA, partial layers and ranks)', async () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-live-'));
      const all = combos();
      const ours = new Map<string, { combo: Combo; logits: number[][] }>();
      for (const [i, combo] of all.entries()) {
        const { model, logits } = await build(combo, 100 + i);
        const dir = path.join(root, `combo-${i}`);
        saveAdapter(model, dir, { taskType: combo.taskType, modulesToSave: combo.modulesToSave });
        ours.set(dir, { combo, logits });
        model.dispose();
      }
      const job = path.join(root, 'job.json');
      fs.writeFileSync(
        job,
        JSON.stringify({
          model: TINY_MODEL,
          input_ids: inputs.input_ids,
          attention_mask: inputs.attention_mask,
          adapters: [...ours.keys()],
        }),
      );
      const theirs = JSON.parse(
        execFileSync(python, [ROUNDTRIP, job], {
          timeout: 300_000,
          maxBuffer: 1 << 26,
          stdio: ['ignore', 'pipe', 'pipe'],
        }).toString(),
      );
      const failures: string[] = [];
      let worst = 0;
      for (const [dir, { combo, logits }] of ours) {
        const r = theirs[dir];
        if (r.error) {
          failures.push(`${JSON.stringify(combo)}: PEFT raised ${r.error}`);
          continue;
        }
        const d = Math.max(...logits.flatMap((row, i) => row.map((v, j) => Math.abs(v - r.logits[i][j]))));
        // float32 through two libraries: 1e-5 of the logits' size (Raschka's scaling alpha = 8 makes them large).
        const scale = Math.max(1, ...logits.flat().map(Math.abs));
        worst = Math.max(worst, d / scale);
        if (!(d <= 1e-5 * scale))
          failures.push(`${JSON.stringify(combo)}: max |logits difference| ${d} (logits up to ${scale})`);
      }
      if (process.env.PEFT_LIVE_VERBOSE)
        console.log(
          `${ours.size} adapters loaded by PEFT; max |logits difference| / max(1, |logits|) ${worst.toExponential(2)}`,
        );
      expect(failures).toEqual([]);
    }, 600_000);
  },
);
