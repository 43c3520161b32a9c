// Which trainable parameters get weight decay: all but biases and LayerNorm weights, as transformers' Trainer
// (get_decay_parameter_names) and nanoGPT group them; decaying a LayerNorm's gain pulls it towards 0, not towards 1.
import type { Tensor } from '../tensor';
import type { Module } from '../nn/module';
import { LayerNorm } from '../nn/layers';

/** transformers' forbidden_name_patterns, searched in the lower-cased full parameter name. */
const NO_DECAY_NAMES = [/bias/, /layernorm/, /rmsnorm/, /(?:^|\.)norm(?:$|\.)/, /_norm(?:$|\.)/];

/** The names of the trainable parameters that decay: not a LayerNorm's own, and no name pattern above. */
export function decayParameterNames(model: Module): Set<string> {
  const inNorm = new Set<Tensor>();
  for (const [, m] of model.namedModules())
    if (m instanceof LayerNorm) for (const p of m.parameters(false)) inNorm.add(p);
  const names = new Set<string>();
  for (const [name, p] of model.namedParameters()) {
    if (p.requiresGrad && !inNorm.has(p) && !NO_DECAY_NAMES.some((re) => re.test(name.toLowerCase()))) names.add(name);
  }
  return names;
}

export interface DecayGroup {
  params: Tensor[];
  weightDecay: number;
}

/**
 * The trainable parameters as two optimizer groups, [decaying, not decaying] (weight decay 0), in the model's order;
 * both are always there (one may be empty), so that a checkpoint's groups do not depend on the model.
 */
export function weightDecayGroups(model: Module, weightDecay: number): [DecayGroup, DecayGroup] {
  const decay = decayParameterNames(model);
  const groups: [DecayGroup, DecayGroup] = [
    { params: [], weightDecay },
    { params: [], weightDecay: 0 },
  ];
  for (const [name, p] of model.namedParameters()) if (p.requiresGrad) groups[decay.has(name) ? 0 : 1].params.push(p);
  return groups;
}
