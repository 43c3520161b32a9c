// Learning-rate schedules as multipliers of each group's initial lr (torch's LambdaLR and Hugging Face's schedules).
import type { Optimizer } from './optimizer';

type AnyOptimizer = Optimizer<{ lr: number }, Record<string, never>>;

export class LambdaLR {
  private readonly baseLrs: number[];
  lastEpoch = 0;
  constructor(
    private readonly optimizer: { paramGroups: { options: { lr: number } }[] },
    private readonly lambda: (step: number) => number,
  ) {
    this.baseLrs = optimizer.paramGroups.map((g) => g.options.lr);
    this.apply();
  }
  step(): void {
    this.lastEpoch += 1;
    this.apply();
  }
  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.options.lr);
  }
  stateDict(): { last_epoch: number; base_lrs: number[] } {
    return { last_epoch: this.lastEpoch, base_lrs: [...this.baseLrs] };
  }
  loadStateDict(sd: { last_epoch: number; base_lrs: number[] }): void {
    this.lastEpoch = sd.last_epoch;
    sd.base_lrs.forEach((lr, i) => (this.baseLrs[i] = lr));
    this.apply();
  }
  private apply(): void {
    const f = this.lambda(this.lastEpoch);
    this.optimizer.paramGroups.forEach((g, i) => (g.options.lr = this.baseLrs[i] * f));
  }
}

/** Linear warm-up from 0 to the initial lr, then linear decay to 0 at numTrainingSteps (transformers' get_linear_schedule_with_warmup). */
export function linearScheduleWithWarmup(
  optimizer: AnyOptimizer | { paramGroups: { options: { lr: number } }[] },
  numWarmupSteps: number,
  numTrainingSteps: number,
): LambdaLR {
  return new LambdaLR(optimizer, (step) => {
    if (step < numWarmupSteps) return step / Math.max(1, numWarmupSteps);
    return Math.max(0, (numTrainingSteps - step) / Math.max(1, numTrainingSteps - numWarmupSteps));
  });
}

/** Linear warm-up, then cosine decay (transformers' get_cosine_schedule_with_warmup). */
export function cosineScheduleWithWarmup(
  optimizer: AnyOptimizer | { paramGroups: { options: { lr: number } }[] },
  numWarmupSteps: number,
  numTrainingSteps: number,
  numCycles = 0.5,
): LambdaLR {
  return new LambdaLR(optimizer, (step) => {
    if (step < numWarmupSteps) return step / Math.max(1, numWarmupSteps);
    const progress = (step - numWarmupSteps) / Math.max(1, numTrainingSteps - numWarmupSteps);
    return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * numCycles * 2 * progress)));
  });
}
