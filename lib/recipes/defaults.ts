// Defaults of the recipes and the CLI: the Trainer's table (lib/train/defaults.ts, the Trainer cannot import from
// here) and the LoRA switches used when none are given.
import type { LoraScaling } from '../lora/lora-layer';

export { TRAINER_DEFAULTS, MLM_DEFAULTS } from '../train/defaults';

/** Query and value at rank 8, alpha 16, Raschka's alpha scaling (his experiments' starting point). */
export const LORA_DEFAULTS = {
  query: true,
  value: true,
  rank: 8,
  alpha: 16,
  scaling: 'alpha' as LoraScaling,
};
