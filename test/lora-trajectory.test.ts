// Reproduces eight AdamW steps of LoRA fine-tuning computed by an independent PyTorch reference.
import * as fs from 'fs';
import {
  DistilBertForSequenceClassification, replaceLinearWithLora, markOnlyLoraAsTrainable, LinearWithLoRA,
  tensor, tidy, noGrad, optim, F, countParameters,
} from '../lib';
import { TINY_MODEL, fixture } from './helpers/paths';
import { maxAbsDiff } from './helpers/compare';

const traj = JSON.parse(fs.readFileSync(fixture('lora-trajectory.json'), 'utf8'));

describe('LoRA trajectory fixture', () => {
  it('reproduces losses, final A and B, and evaluation logits to 1e-4', async () => {
    const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
    const targets = Object.keys(traj.lora);
    const replaced = replaceLinearWithLora(model, { rank: traj.rank, alpha: traj.alpha, scaling: 'alpha', targets: targets.map((t) => t) });
    expect(replaced.sort()).toEqual([...targets].sort());
    markOnlyLoraAsTrainable(model);
    noGrad(() => {
      for (const name of targets) {
        const layer = model.getSubmodule(name) as LinearWithLoRA;
        const { A, A_shape } = traj.lora[name];
        tidy(() => layer.A.copy_(tensor(A).view(A_shape)));
      }
    });
    const { trainable } = countParameters(model);
    expect(trainable).toBe(targets.length * traj.rank * (32 + 32));

    model.eval(); // all dropouts are 0 in this checkpoint; eval keeps that explicit
    const params = model.parameters().filter((p) => p.requiresGrad);
    const opt = new optim.AdamW(params, { lr: traj.lr, weightDecay: traj.weight_decay, betas: [0.9, 0.999], eps: 1e-8 });
    const losses: number[] = [];
    for (const batch of traj.batches) {
      opt.zeroGrad();
      const loss = tidy(() => {
        const { logits } = model.forward(tensor(batch.input_ids, { dtype: 'int64' }), tensor(batch.attention_mask, { dtype: 'int64' }));
        const l = F.crossEntropy(logits, tensor(batch.labels, { dtype: 'int64' }));
        l.backward();
        return l.item() as number;
      });
      opt.step();
      losses.push(loss);
    }
    losses.forEach((l, i) => expect(Math.abs(l - traj.losses[i])).toBeLessThan(1e-4));

    for (const name of targets) {
      const layer = model.getSubmodule(name) as LinearWithLoRA;
      expect(maxAbsDiff(layer.A, traj.final[name].A)).toBeLessThan(1e-4);
      expect(maxAbsDiff(layer.B, traj.final[name].B)).toBeLessThan(1e-4);
    }
    noGrad(() => tidy(() => {
      const { logits } = model.forward(tensor(traj.eval.input_ids, { dtype: 'int64' }), tensor(traj.eval.attention_mask, { dtype: 'int64' }));
      expect(maxAbsDiff(logits, traj.eval.logits)).toBeLessThan(1e-4);
    }));
  });
});
