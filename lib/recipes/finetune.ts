// The seed's experiment as a function: which layers get LoRA (Raschka's switches), what trains, then the Trainer.
import * as path from 'node:path';
import type { Module } from '../nn/module';
import type { DistilBertForSequenceClassification } from '../models/distilbert/modeling';
import { replaceLinearWithLora } from '../lora/replace';
import { freeze, markOnlyLoraAsTrainable, countParameters } from '../lora/freeze';
import { saveAdapter } from '../lora/adapter-io';
import { isMainProcess } from '../distributed/process-group';
import type { TrainerOptions, TrainResult } from '../train/trainer';
import { Trainer } from '../train/trainer';
import type { LoraScaling } from '../lora/lora-layer';
import { LORA_DEFAULTS } from './defaults';

export type Method = 'lora' | 'last-layers' | 'full';

export interface LoraSwitches {
  query?: boolean;
  key?: boolean;
  value?: boolean;
  projection?: boolean;
  mlp?: boolean;
  head?: boolean;
  rank?: number;
  alpha?: number;
  scaling?: LoraScaling;
  /** Also train pre_classifier and classifier fully (PEFT's modules_to_save). */
  trainHead?: boolean;
}

/** Raschka's --lora_query ... --lora_head switches as module-name targets. */
export function loraTargets(s: LoraSwitches): string[] {
  const t: string[] = [];
  if (s.query ?? LORA_DEFAULTS.query) t.push('q_lin');
  if (s.key) t.push('k_lin');
  if (s.value ?? LORA_DEFAULTS.value) t.push('v_lin');
  if (s.projection) t.push('out_lin');
  if (s.mlp) t.push('lin1', 'lin2');
  if (s.head) t.push('pre_classifier', 'classifier');
  return t;
}

/** Applies the method to the model: LoRA layers and freezing, last two layers only, or everything. */
export function prepareModel(
  model: Module,
  method: Method,
  lora: LoraSwitches = {},
): { trainable: number; total: number; targets: string[] } {
  let targets: string[] = [];
  if (method === 'lora') {
    targets = loraTargets(lora);
    replaceLinearWithLora(model, {
      rank: lora.rank ?? LORA_DEFAULTS.rank,
      alpha: lora.alpha ?? LORA_DEFAULTS.alpha,
      scaling: lora.scaling ?? LORA_DEFAULTS.scaling,
      targets,
    });
    markOnlyLoraAsTrainable(model, { modulesToSave: lora.trainHead ? ['pre_classifier', 'classifier'] : undefined });
  } else if (method === 'last-layers') {
    freeze(model);
    for (const name of ['pre_classifier', 'classifier'])
      for (const p of model.getSubmodule(name).parameters()) p.requiresGrad_(true);
  } else {
    for (const p of model.parameters()) p.requiresGrad_(true);
  }
  return { ...countParameters(model), targets };
}

export interface FinetuneOptions extends Omit<TrainerOptions, 'model'> {
  model: DistilBertForSequenceClassification;
  method: Method;
  lora?: LoraSwitches;
  baseModelName?: string;
  /** Submodules kept frozen whatever the method trains, by name (e.g. ['distilbert.embeddings']). */
  keepFrozen?: string[];
}

export interface FinetuneResult extends TrainResult {
  method: Method;
  trainable: number;
  total: number;
  adapterDir?: string;
}

/** Prepares, trains and evaluates; with an outputDir, the LoRA adapter (PEFT format) is written to outputDir/adapter. */
export async function finetune(o: FinetuneOptions): Promise<FinetuneResult> {
  const { method, lora, baseModelName, model, keepFrozen, ...trainerOpts } = o;
  prepareModel(model, method, lora);
  for (const name of keepFrozen ?? []) for (const p of model.getSubmodule(name).parameters()) p.requiresGrad_(false);
  const counts = countParameters(model);
  const trainer = new Trainer({ ...trainerOpts, model });
  let result: TrainResult;
  try {
    result = await trainer.train();
  } finally {
    trainer.dispose();
  }
  let adapterDir: string | undefined;
  if (o.outputDir && method === 'lora') {
    adapterDir = path.join(o.outputDir, 'adapter');
    // Under DDP every rank holds the same weights; rank 0 writes them.
    // With LoRA on the head itself, the classifier is adapted, not saved whole: no SEQ_CLS task type, whose implied
    // modules_to_save (the classifier) PEFT would refuse beside a LoRA on the same layer.
    if (isMainProcess()) {
      saveAdapter(model, adapterDir, {
        modulesToSave: lora?.trainHead ? ['pre_classifier', 'classifier'] : [],
        baseModelNameOrPath: baseModelName,
        ...(lora?.head ? { taskType: null } : {}),
      });
    }
  }
  return { ...result, method, trainable: counts.trainable, total: counts.total, adapterDir };
}
