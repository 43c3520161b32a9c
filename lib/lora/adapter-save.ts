// saveAdapter: an adapter folder (adapter_config.json + adapter_model.safetensors) that PEFT's
// PeftModel.from_pretrained loads as written and that computes what this model computes.
//
// Saving transposes A and B into PEFT's layout and writes the lora_alpha that gives the same scaling. The config
// and the file agree with what PEFT will do with them: the modules it wraps as modules_to_save (for task_type
// SEQ_CLS it adds 'classifier' and 'score', and matches by plain name suffix, so DistilBERT's 'pre_classifier' too)
// are all in the file; the target list selects exactly the adapted modules; biases are written as `bias` says.
import * as path from 'node:path';
import type { Module } from '../nn/module';
import { tidy } from '../scope';
import type { RawTensor } from '../io';
import { writeSafetensors, writeFileAtomic, writeFolderAtomic } from '../io';
import { tensorToRaw } from '../io/tensor-bridge';
import { LinearWithLoRA, DEFAULT_ADAPTER } from './linear-with-lora';
import type { LoRALayer } from './lora-layer';
import { loraLayers } from './replace';
import type { PeftBias, PeftLoraConfig } from './peft-config';
import { ADAPTER_CONFIG, SEQ_CLS_HEADS, peftSavedModules } from './peft-config';
import { pyPatternKeyMatches } from './safe-regex';
import { ADAPTER_WEIGHTS, KEY_PREFIX, LABELS_KEY, SCALING_KEY } from './adapter-files';
import type { LabelConfig } from '../io/hf-labels';
import { labelNames, placeholderLabels } from '../io/hf-labels';

export interface SaveAdapterOptions {
  adapterName?: string;
  /** Modules whose full weights are saved with the adapter (PEFT's modules_to_save), e.g. ['pre_classifier', 'classifier']. */
  modulesToSave?: string[];
  baseModelNameOrPath?: string;
  /**
   * PEFT's task_type. Default: 'SEQ_CLS' for a model with a 'classifier' or 'score' head, else null. With 'SEQ_CLS'
   * PEFT also restores the heads it adds to modules_to_save, so their weights are saved too.
   */
  taskType?: string | null;
  /**
   * Which biases are saved (PEFT's bias). By default, when the base weights are frozen, the biases that train: 'all' when a bias
   * outside the adapted layers trains, 'lora_only' when only adapted layers' biases do, else 'none'.
   */
  bias?: PeftBias;
  /**
   * Class names by index, stored in the weights file's metadata (PEFT ignores it) so that loadAdapter, the CLI and
   * the server name the classes; by default the model's `config.id2label` when it has one.
   */
  labels?: string[];
}

/** PEFT's lora_alpha and use_rslora for an adapter whose scaling is computed in `mode`. */
export function toPeftAlpha(layer: LoRALayer): { loraAlpha: number; useRslora: boolean } {
  if (layer.scalingMode === 'rslora') return { loraAlpha: layer.alpha, useRslora: true };
  if (layer.scalingMode === 'alpha') return { loraAlpha: layer.alpha * layer.rank, useRslora: false };
  return { loraAlpha: layer.alpha, useRslora: false };
}

/** Writes the adapter (and the modules to save) into `dir`, which appears whole or not at all. */
export function saveAdapter(model: Module, dir: string, opts: SaveAdapterOptions = {}): void {
  const adapterName = opts.adapterName ?? DEFAULT_ADAPTER;
  const layers = loraLayers(model).filter(([, l]) => l.lora.has(adapterName));
  if (layers.length === 0) throw new Error(`saveAdapter: the model has no LoRA adapter named '${adapterName}'`);
  const adapters = layers.map(([name, l]) => [name, l.adapter(adapterName)] as const);
  const scalingModes = new Set(adapters.map(([, a]) => a.scalingMode === 'rslora'));
  if (scalingModes.size > 1)
    throw new Error(
      `saveAdapter: adapter '${adapterName}' mixes rsLoRA and plain scaling across layers, which PEFT's one use_rslora cannot express`,
    );
  const loraBias = new Set(adapters.map(([, a]) => a.bias !== null));
  if (loraBias.size > 1)
    throw new Error(
      `saveAdapter: adapter '${adapterName}' has lora_bias on some layers only, which PEFT's one lora_bias cannot express`,
    );
  if (new Set(adapters.map(([, a]) => a.magnitude !== null)).size > 1)
    throw new Error(
      `saveAdapter: adapter '${adapterName}' uses DoRA on some layers only, which PEFT's one use_dora cannot express`,
    );
  const dropouts = new Set(adapters.map(([, a]) => a.dropoutP));
  if (dropouts.size > 1)
    throw new Error(
      `saveAdapter: adapter '${adapterName}' has different dropouts across layers, which PEFT's one lora_dropout cannot express`,
    );

  const tensors = new Map<string, RawTensor>();
  const ranks = new Map<string, number>();
  const alphas = new Map<string, number>();
  for (const [name, a] of adapters) {
    if (layers.find(([n]) => n === name)![1].mergedAdapter === adapterName)
      throw new Error(`saveAdapter: '${name}' has the adapter merged; unmerge it first`);
    tidy(() => {
      tensors.set(`${KEY_PREFIX}${name}.lora_A.weight`, tensorToRaw(a.A.t().contiguous()));
      tensors.set(`${KEY_PREFIX}${name}.lora_B.weight`, tensorToRaw(a.B.t().contiguous()));
      if (a.bias) tensors.set(`${KEY_PREFIX}${name}.lora_B.bias`, tensorToRaw(a.bias));
      if (a.magnitude) tensors.set(`${KEY_PREFIX}${name}.lora_magnitude_vector`, tensorToRaw(a.magnitude));
    });
    ranks.set(name, a.rank);
    alphas.set(name, toPeftAlpha(a).loraAlpha);
  }

  const taskType = opts.taskType === undefined ? defaultTaskType(model) : opts.taskType;
  const modulesToSave = opts.modulesToSave ?? [];
  const saved = peftSavedModules(model, { modules_to_save: modulesToSave, task_type: taskType });
  for (const [name, m] of saved) {
    if (m instanceof LinearWithLoRA)
      throw new Error(`saveAdapter: '${name}' is both adapted and a module to save; PEFT refuses that combination`);
    for (const [pn, p] of m.namedParameters()) tensors.set(`${KEY_PREFIX}${name}.${pn}`, tensorToRaw(p));
  }
  const adapted = new Set(layers.map(([n]) => n));
  const bias = opts.bias ?? trainedBias(model, adapted, saved);
  for (const [param, key] of biasKeys(model, adapted, saved, bias)) tensors.set(key, tensorToRaw(param));

  const [r, rankPattern] = commonValue(ranks);
  const [loraAlpha, alphaPattern] = commonValue(alphas);
  const first = adapters[0][1];
  const config: PeftLoraConfig = {
    peft_type: 'LORA',
    task_type: taskType,
    r,
    lora_alpha: loraAlpha,
    lora_dropout: first.dropoutP,
    target_modules: targetList(model, adapted),
    exclude_modules: null,
    modules_to_save: modulesToSave.length ? modulesToSave : null,
    bias,
    lora_bias: first.bias !== null,
    use_rslora: first.scalingMode === 'rslora',
    fan_in_fan_out: false,
    init_lora_weights: true,
    inference_mode: true,
    base_model_name_or_path: opts.baseModelNameOrPath ?? null,
    revision: null,
    rank_pattern: rankPattern,
    alpha_pattern: alphaPattern,
    layers_to_transform: null,
    layers_pattern: null,
    use_dora: first.magnitude !== null,
  };
  const metadata: Record<string, string> = { format: 'pt', [SCALING_KEY]: first.scalingMode };
  const labels = opts.labels ?? configLabels(model);
  if (labels) metadata[LABELS_KEY] = JSON.stringify(labels);
  // The folder appears whole or not at all (lib/io/fs-atomic.ts): never new weights beside an old config.
  writeFolderAtomic(dir, (temp) => {
    writeSafetensors(path.join(temp, ADAPTER_WEIGHTS), tensors, metadata);
    writeFileAtomic(path.join(temp, ADAPTER_CONFIG), [Buffer.from(JSON.stringify(config, null, 2) + '\n')]);
  });
}

function defaultTaskType(model: Module): string | null {
  return [...model.namedModules()].some(([n]) => SEQ_CLS_HEADS.includes(n)) ? 'SEQ_CLS' : null;
}

// PEFT's target_modules: the last names ('q_lin') when they select exactly the adapted modules by its suffix rule,
// else the full names (an adapter on some layers only).
function targetList(model: Module, adapted: Set<string>): string[] {
  const suffixes = [...new Set([...adapted].map((n) => n.split('.').pop()!))].sort();
  const selected = [...model.namedModules()].filter(([n]) => n && suffixes.some((s) => n === s || n.endsWith(`.${s}`)));
  return selected.every(([n]) => adapted.has(n)) ? suffixes : [...adapted];
}

function isSaved(param: string, saved: [string, Module][]): boolean {
  return saved.some(([n]) => param.startsWith(`${n}.`));
}

// The bias setting that matches what trains: any bias outside the adapted layers and saved modules -> 'all'. Only
// for a model set up for LoRA training (markOnlyLoraAsTrainable, loadAdapter with isTrainable), where the base
// weights are frozen; otherwise 'none'.
function trainedBias(model: Module, adapted: Set<string>, saved: [string, Module][]): PeftBias {
  const baseWeightTrains = [...model.namedParameters()].some(
    ([n, p]) => p.requiresGrad && !n.endsWith('bias') && !n.includes('.lora.') && !isSaved(n, saved),
  );
  if (baseWeightTrains) return 'none';
  let mode: PeftBias = 'none';
  for (const [n, p] of model.namedParameters()) {
    if (!p.requiresGrad || !n.endsWith('.bias') || n.includes('.lora.') || isSaved(n, saved)) continue;
    const owner = n.slice(0, -'.linear.bias'.length);
    if (n.endsWith('.linear.bias') && adapted.has(owner)) mode = 'lora_only';
    else return 'all';
  }
  return mode;
}

// Each bias to write, under PEFT's key: an adapted layer's bias is its base_layer's.
function biasKeys(
  model: Module,
  adapted: Set<string>,
  saved: [string, Module][],
  bias: PeftBias,
): [import('../tensor').Tensor, string][] {
  if (bias === 'none') return [];
  const out: [import('../tensor').Tensor, string][] = [];
  for (const [n, p] of model.namedParameters()) {
    if (!n.endsWith('.bias') || n.includes('.lora.') || isSaved(n, saved)) continue;
    const owner = n.slice(0, -'.linear.bias'.length);
    const ofAdapted = n.endsWith('.linear.bias') && adapted.has(owner);
    if (ofAdapted) out.push([p, `${KEY_PREFIX}${owner}.base_layer.bias`]);
    else if (bias === 'all') out.push([p, `${KEY_PREFIX}${n.replace(/\.linear\.bias$/, '.bias')}`]);
  }
  return out;
}

interface WithLabelConfig {
  config?: LabelConfig;
}

function configLabels(model: Module): string[] | null {
  const config = (model as WithLabelConfig).config;
  if (!config?.id2label || Object.keys(config.id2label).length === 0) return null;
  const names = labelNames(config);
  const placeholders = placeholderLabels(names.length);
  return names.every((n, i) => n === placeholders[i]) ? null : names; // transformers' placeholders name nothing
}

// The most common value, plus a per-module pattern for the modules that differ (PEFT's rank_pattern / alpha_pattern).
// PEFT reads the keys as regular expressions matched against a dotted suffix of the name (0.21:
// (.*\.)?(key)$; 0.13: .*\.key$, which needs a dot before the key), so a key is the name without its first part,
// dots escaped: it selects that one module in both.
function commonValue(values: Map<string, number>): [number, Record<string, number>] {
  const counts = new Map<number, number>();
  for (const v of values.values()) counts.set(v, (counts.get(v) ?? 0) + 1);
  const common = [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0];
  const pattern: Record<string, number> = {};
  for (const [k, v] of values) if (v !== common) pattern[patternKey(k, [...values.keys()])] = v;
  return [common, pattern];
}

function patternKey(name: string, all: string[]): string {
  const escape = (s: string) => s.replace(/\./g, '\\.');
  const dot = name.indexOf('.');
  const short = escape(dot < 0 ? name : name.slice(dot + 1));
  // Another module with the same suffix ('a.x.y' beside 'b.x.y'): the full name, for PEFT 0.21's rule.
  return all.some((other) => other !== name && pyPatternKeyMatches(short, other)) ? escape(name) : short;
}
