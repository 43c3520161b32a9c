// Reproduces eight AdamW steps of LoRA fine-tuning computed by an independent PyTorch reference.
import * as fs from 'node:fs';
import type { LinearWithLoRA } from '../../lib';
import {
  DistilBertForSequenceClassification,
  replaceLinearWithLora,
  markOnlyLoraAsTrainable,
  tensor,
  tidy,
  noGrad,
  optim,
  F,
  countParameters,
} from '../../lib';
import { TINY_MODEL, fixture } from '../helpers/paths';
import { maxAbsDiff } from '../helpers/compare';
import { otherDevice, skippedWithoutGpu } from '../helpers/devices';

const traj = JSON.parse(fs.readFileSync(fixture('lora-trajectory.json'), 'utf8'));

describe('LoRA trajectory fixture', () => {
  // On the CPU, and on a GPU where there is one.
  if (otherDevice === null) skippedWithoutGpu('the trajectory');

  it.each(['cpu', ...(otherDevice ? [otherDevice] : [])])(
    'reproduces losses, final A and B, and evaluation logits to 1e-4 on %s',
    async (device) => {
      const ids = (v: number[][]) => tensor(v, { dtype: 'int64', device });
      const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
      if (device !== 'cpu') model.to(device);
      const targets = Object.keys(traj.lora);
      const replaced = replaceLinearWithLora(model, {
        rank: traj.rank,
        alpha: traj.alpha,
        scaling: 'alpha',
        targets: targets.map((t) => t),
      });
      expect(replaced.sort()).toEqual([...targets].sort());
      markOnlyLoraAsTrainable(model);
      noGrad(() => {
        for (const name of targets) {
          const layer = model.getSubmodule(name) as LinearWithLoRA;
          const { A, A_shape } = traj.lora[name];
          tidy(() => layer.A.copy_(tensor(A).view(A_shape))); // copy_ moves it to A's device
        }
      });
      const { trainable } = countParameters(model);
      expect(trainable).toBe(targets.length * traj.rank * (32 + 32));

      model.eval(); // all dropouts are 0 in this checkpoint; eval keeps that explicit
      const params = model.parameters().filter((p) => p.requiresGrad);
      const opt = new optim.AdamW(params, {
        lr: traj.lr,
        weightDecay: traj.weight_decay,
        betas: [0.9, 0.999],
        eps: 1e-8,
      });
      const losses: number[] = [];
      for (const batch of traj.batches) {
        opt.zeroGrad();
        const loss = tidy(() => {
          const { logits } = model.forward(ids(batch.input_ids), ids(batch.attention_mask));
          const l = F.crossEntropy(logits, tensor(batch.labels, { dtype: 'int64', device }));
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
      noGrad(() =>
        tidy(() => {
          const { logits } = model.forward(ids(traj.eval.input_ids), ids(traj.eval.attention_mask));
          expect(maxAbsDiff(logits, traj.eval.logits)).toBeLessThan(1e-4);
        }),
      );
    },
  );
});
