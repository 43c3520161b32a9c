// getPeftModel: PEFT's get_peft_model(model, LoraConfig(...)) with the same field names, so that a Python user's
// LoRA config ports as is (target_modules, r, lora_alpha, lora_dropout, bias, modules_to_save, use_rslora,
// init_lora_weights, layers_to_transform, layers_pattern, rank_pattern, alpha_pattern, exclude_modules, lora_bias).
import type { Module } from '../nn/module';
import { Linear } from '../nn/layers';
import { noGrad } from '../autograd';
import * as init from '../nn/init';
import { LinearWithLoRA, DEFAULT_ADAPTER } from './linear-with-lora';
import { markPeftTrainable } from './freeze';
import { addLoraAt } from './replace';
import type { PeftLoraConfig } from './peft-config';
import { peftSavedModules, peftTargets, rankAndAlpha, validateLoraConfig } from './peft-config';

/** LoraConfig's fields, all optional but target_modules where the model has no PEFT default. */
export type LoraConfigFields = Partial<Omit<PeftLoraConfig, 'peft_type' | 'init_lora_weights'>> & {
  /** true: PEFT's default (A kaiming-uniform, B zero); 'gaussian': A ~ N(0, 1/r); false: B random too (for tests). */
  init_lora_weights?: boolean | 'gaussian';
};

/** PEFT's defaults for models it knows (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING). */
const DEFAULT_TARGETS: [RegExp, string[]][] = [[/^distilbert\./, ['q_lin', 'v_lin']]];

/**
 * Adds LoRA adapter `adapterName` where `fields` says and leaves trainable what PEFT does (the adapter, the modules to
 * save, the biases `bias` names). New layers follow the model's mode, dtype and device. Returns the adapted names.
 */
export function getPeftModel(model: Module, fields: LoraConfigFields, adapterName = DEFAULT_ADAPTER): string[] {
  const names = [...model.namedModules()].map(([n]) => n);
  const targets = fields.target_modules ?? DEFAULT_TARGETS.find(([re]) => names.some((n) => re.test(n)))?.[1];
  if (targets === undefined) throw new Error('getPeftModel: target_modules is required for this model');
  const initMode = fields.init_lora_weights ?? true;
  if (initMode !== true && initMode !== false && initMode !== 'gaussian')
    throw new Error(
      `getPeftModel: init_lora_weights ${JSON.stringify(initMode)} is not supported (true, false or 'gaussian')`,
    );
  const config = validateLoraConfig(
    { peft_type: 'LORA', r: 8, lora_alpha: 8, ...fields, target_modules: targets, init_lora_weights: initMode },
    'getPeftModel',
  );

  const saved = peftSavedModules(model, config).map(([n]) => n);
  const chosen = [...model.namedModules()].filter(
    ([n, m]) =>
      n && (m instanceof Linear || m instanceof LinearWithLoRA) && !saved.includes(n) && peftTargets(config, n),
  );
  if (chosen.length === 0)
    throw new Error(`getPeftModel: no Linear module matched target_modules ${JSON.stringify(targets)}`);
  const layers: string[] = [];
  for (const [name] of chosen) {
    const { r, loraAlpha } = rankAndAlpha(config, name);
    const a = addLoraAt(model, name, adapterName, {
      rank: r,
      alpha: loraAlpha,
      scaling: config.use_rslora ? 'rslora' : 'alpha/r',
      dropout: config.lora_dropout,
      bias: config.lora_bias,
      dora: config.use_dora,
      init: initMode === 'gaussian' ? 'gaussian' : 'peft',
    });
    if (initMode === false) {
      noGrad(() => init.uniform_(a.B, -1 / Math.sqrt(r), 1 / Math.sqrt(r))); // nn.Linear's default on lora_B
      (model.getSubmodule(name) as LinearWithLoRA).initDoraMagnitude(a);
    }
    layers.push(name);
  }
  markPeftTrainable(model, { adapterName, layers, saved, bias: config.bias });
  return layers;
}
