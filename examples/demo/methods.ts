// The methods the demo compares, the seed's number for each, and the learning rates each is tuned over.
import type { LoraSwitches, Method } from '../../lib';

export interface DemoMethod {
  key: string;
  label: string;
  method: Method;
  lora?: LoraSwitches;
  /** Raschka's test accuracy for this method on IMDb from pretrained distilbert-base-uncased ("Code LoRA from scratch"). */
  seed: number;
  /** Submodules kept frozen (the ablation below). */
  keepFrozen?: string[];
  /** Run only when asked for with --only (a check, not one of the seed's methods). */
  extra?: boolean;
  /** Learning rates tried, on validation only: from the stand-in, and from pretrained weights. */
  grid: { standIn: number[]; pretrained: number[] };
}

// Grids are three rates a factor ~3 apart, bracketing where each method is known to work. They differ by method as
// practice says they should: the head alone takes the largest rates; LoRA with alpha 1 needs ~10x the rate of alpha 16
// (the update is alpha · x A B, and Adam moves A and B by about the rate each step whatever alpha is); full fine-tuning
// of pretrained weights the smallest (transformers' examples use 2e-5 to 5e-5). On the stand-in encoder, which was
// trained here a minute ago with rate 5e-4, full fine-tuning takes larger rates than from pretrained weights.
export const METHODS: readonly DemoMethod[] = [
  {
    key: 'lora-qv',
    label: 'LoRA q+v (r 8, alpha 16) + head',
    method: 'lora',
    // The seed's default; the fresh classification head trains fully, as PEFT's SEQ_CLS task type does (modules_to_save).
    lora: { query: true, value: true, rank: 8, alpha: 16, trainHead: true },
    seed: 89.44,
    grid: { standIn: [3e-4, 1e-3, 3e-3], pretrained: [1e-4, 3e-4, 1e-3] },
  },
  {
    key: 'lora-wide',
    label: 'LoRA q+v+FFN+head (r 8, alpha 1)',
    method: 'lora',
    // The seed's best: LoRA on query, value, both FFN layers and the two head layers (about 535k trainable parameters at
    // distilbert-base size), alpha 1.
    lora: { query: true, value: true, mlp: true, head: true, rank: 8, alpha: 1 },
    seed: 92.39,
    grid: { standIn: [1e-3, 3e-3, 1e-2], pretrained: [1e-3, 3e-3, 1e-2] },
  },
  {
    key: 'last-layers',
    label: 'last layers only (pre_classifier, classifier)',
    method: 'last-layers',
    seed: 86.22,
    grid: { standIn: [3e-3, 1e-2, 3e-2], pretrained: [1e-3, 3e-3, 1e-2] },
  },
  {
    key: 'full',
    label: 'full fine-tuning',
    method: 'full',
    seed: 92.31,
    grid: { standIn: [3e-4, 1e-3, 3e-3], pretrained: [1e-5, 3e-5, 1e-4] },
  },
  {
    // Not the seed's: full fine-tuning with the word and position embeddings frozen, which tells how much of full
    // fine-tuning's lead on the stand-in comes from the embeddings (90% of its weights; LoRA and the head cannot move them).
    key: 'full-frozen-embeddings',
    label: 'full fine-tuning, embeddings frozen',
    method: 'full',
    keepFrozen: ['distilbert.embeddings'],
    seed: NaN,
    extra: true,
    grid: { standIn: [3e-4, 1e-3, 3e-3], pretrained: [1e-5, 3e-5, 1e-4] },
  },
];

/** `--lr key=rate,rate` overrides a method's grid; `--only key,key` picks methods. */
export function selectMethods(
  only: string | undefined,
  lrOverrides: readonly string[],
  pretrained: boolean,
): (DemoMethod & { lrs: number[] })[] {
  const keys = only ? only.split(',').map((k) => k.trim()) : METHODS.filter((m) => !m.extra).map((m) => m.key);
  for (const k of keys)
    if (!METHODS.some((m) => m.key === k))
      throw new Error(`--only: no method '${k}' (the methods: ${METHODS.map((m) => m.key).join(', ')})`);
  const overrides = new Map<string, number[]>();
  for (const o of lrOverrides) {
    const match = /^([a-z-]+)=(.+)$/.exec(o);
    if (!match || !METHODS.some((m) => m.key === match[1]))
      throw new Error(
        `--lr: expected METHOD=RATE[,RATE...] with METHOD one of ${METHODS.map((m) => m.key).join(', ')}, got '${o}'`,
      );
    const rates = match[2].split(',').map(Number);
    if (rates.some((r) => !Number.isFinite(r) || r <= 0 || r > 1))
      throw new Error(`--lr ${match[1]}: rates must be numbers in (0, 1], got '${match[2]}'`);
    overrides.set(match[1], rates);
  }
  return METHODS.filter((m) => keys.includes(m.key)).map((m) => ({
    ...m,
    lrs: overrides.get(m.key) ?? (pretrained ? m.grid.pretrained : m.grid.standIn),
  }));
}
