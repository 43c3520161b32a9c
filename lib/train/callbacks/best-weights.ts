// Keeps the trainable weights of the best validation epoch: in memory (put back at the end when `restore`) and, with a
// folder, on disk (rank 0) so that a resumed run still ends with them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RawTensor } from '../../io';
import { readSafetensors, writeSafetensors, writeFileAtomic, writeFolderAtomic, recoverFolder } from '../../io';
import { rawToTensor, tensorToRaw } from '../../io/tensor-bridge';
import type { Tensor } from '../../tensor';
import { keep, tidy } from '../../scope';
import { noGrad } from '../../autograd';
import type { TrainerState } from '../state';
import type { CallbackContext, EvaluateInfo, TrainerCallback } from './callback';

export class BestWeightsCallback implements TrainerCallback {
  private best: Map<Tensor, Tensor> | null = null;

  /** dir: where the best weights are written (outputDir/best), if anywhere. */
  constructor(private readonly o: { restore: boolean; dir?: string }) {}

  onTrainBegin(ctx: CallbackContext, { resumed }: { resumed: TrainerState | null }): void {
    if (resumed && resumed.bestEpoch !== null && this.o.dir) this.set(this.load(ctx));
  }

  onEvaluate(ctx: CallbackContext, { isBest, epoch, result }: EvaluateInfo): void {
    if (!isBest) return;
    this.set(snapshot(ctx));
    if (this.o.dir && ctx.isMainProcess) this.save(ctx, epoch, result);
  }

  onTrainEnd(): void {
    if (this.best && this.o.restore) noGrad(() => this.best!.forEach((v, p) => p.copy_(v)));
    this.set(null);
  }

  onTrainError(): void {
    this.set(null);
  }

  private set(snap: Map<Tensor, Tensor> | null): void {
    this.best?.forEach((v) => v.dispose());
    this.best = snap;
  }

  /** Every trainable tensor by name, plus which epoch and score they come from. */
  private save(ctx: CallbackContext, epoch: number, validation: EvaluateInfo['result']): void {
    const weights = new Map<string, RawTensor>();
    for (const [n, p] of ctx.model.namedParameters()) if (p.requiresGrad) weights.set(n, tensorToRaw(p));
    writeFolderAtomic(this.o.dir!, (temp) => {
      writeSafetensors(path.join(temp, 'trainable.safetensors'), weights, { format: 'pt', epoch: String(epoch) });
      writeFileAtomic(path.join(temp, 'best.json'), [
        Buffer.from(JSON.stringify({ epoch, validation }, null, 2) + '\n'),
      ]);
    });
  }

  /** What save wrote, for the trainable parameters; null when it is missing or does not fit. */
  private load(ctx: CallbackContext): Map<Tensor, Tensor> | null {
    recoverFolder(this.o.dir!);
    const file = path.join(this.o.dir!, 'trainable.safetensors');
    if (!fs.existsSync(file)) return null;
    const saved = readSafetensors(file).tensors;
    const trainable = [...ctx.model.namedParameters()].filter(([, p]) => p.requiresGrad);
    if (trainable.some(([n]) => !saved.has(n))) return null;
    return new Map(trainable.map(([n, p]) => [p, tidy(() => keep(rawToTensor(saved.get(n)!).to(p.device)))]));
  }
}

function snapshot(ctx: CallbackContext): Map<Tensor, Tensor> {
  const snap = new Map<Tensor, Tensor>();
  noGrad(() => {
    for (const g of ctx.optimizer.paramGroups)
      for (const p of g.params)
        snap.set(
          p,
          tidy(() => keep(p.detach().clone())),
        );
  });
  return snap;
}
