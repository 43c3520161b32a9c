// LoRA adapters on disk in PEFT's format: adapter_config.json + adapter_model.safetensors, loadable by Python PEFT.
//
// Conventions differ: here A is [in, r] and B is [r, out] (Raschka); PEFT stores lora_A.weight [r, in] and
// lora_B.weight [out, r], and scales by lora_alpha / r (or / √r with use_rslora). Saving transposes and writes the
// lora_alpha that gives the same scaling; loading does the reverse.
import * as fs from 'fs';
import * as path from 'path';
import { Module } from '../nn/module';
import { noGrad } from '../autograd';
import { tidy } from '../scope';
import { readSafetensors, readSafetensorsHeader, readSafetensorsMetadata, writeSafetensors, writeFileAtomic, writeFolderAtomic, RawTensor } from '../io';
import { rawToTensor, tensorToRaw } from '../io/tensor-bridge';
import { LinearWithLoRA, DEFAULT_ADAPTER } from './linear-with-lora';
import { LoRALayer, LoraScaling } from './lora-layer';
import { replaceLinearWithLora, loraLayers } from './replace';
import { matchesTarget, TargetSpec } from './targets';
import { LabelConfig, labelNames, placeholderLabels, setLabelNames } from '../models/labels';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
const KEY_PREFIX = 'base_model.model.';

export interface PeftLoraConfig {
  peft_type: 'LORA';
  task_type: string | null;
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: string[] | string;
  modules_to_save: string[] | null;
  bias: 'none' | 'all' | 'lora_only';
  use_rslora: boolean;
  fan_in_fan_out: boolean;
  init_lora_weights: boolean;
  inference_mode: boolean;
  base_model_name_or_path: string | null;
  revision: string | null;
  rank_pattern: Record<string, number>;
  alpha_pattern: Record<string, number>;
  layers_to_transform: number[] | null;
  layers_pattern: string | null;
  use_dora: boolean;
}

export interface SaveAdapterOptions {
  adapterName?: string;
  /** Modules whose full weights are saved with the adapter (PEFT's modules_to_save), e.g. ['pre_classifier', 'classifier']. */
  modulesToSave?: string[];
  baseModelNameOrPath?: string;
  taskType?: string;
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
  const tensors = new Map<string, RawTensor>();
  const ranks = new Map<string, number>();
  const alphas = new Map<string, number>();
  let rslora = false;
  for (const [name, l] of layers) {
    const a = l.adapter(adapterName);
    if (l.mergedAdapter === adapterName) throw new Error(`saveAdapter: '${name}' has the adapter merged; unmerge it first`);
    tidy(() => {
      tensors.set(`${KEY_PREFIX}${name}.lora_A.weight`, tensorToRaw(a.A.t().contiguous()));
      tensors.set(`${KEY_PREFIX}${name}.lora_B.weight`, tensorToRaw(a.B.t().contiguous()));
    });
    const { loraAlpha, useRslora } = toPeftAlpha(a);
    ranks.set(name, a.rank);
    alphas.set(name, loraAlpha);
    rslora ||= useRslora;
  }
  const modulesToSave = opts.modulesToSave ?? [];
  for (const [name, m] of model.namedModules()) {
    if (!name || !matchesTarget(modulesToSave, name, m)) continue;
    for (const [pn, p] of m.namedParameters()) tensors.set(`${KEY_PREFIX}${name}.${pn}`, tensorToRaw(p));
  }
  const [r, rankPattern] = commonValue(ranks);
  const [loraAlpha, alphaPattern] = commonValue(alphas);
  const first = layers[0][1].adapter(adapterName);
  const config: PeftLoraConfig = {
    peft_type: 'LORA',
    task_type: opts.taskType ?? 'SEQ_CLS',
    r,
    lora_alpha: loraAlpha,
    lora_dropout: first.dropoutP,
    target_modules: [...new Set(layers.map(([n]) => n.split('.').pop()!))].sort(),
    modules_to_save: modulesToSave.length ? modulesToSave : null,
    bias: 'none',
    use_rslora: rslora,
    fan_in_fan_out: false,
    init_lora_weights: true,
    inference_mode: true,
    base_model_name_or_path: opts.baseModelNameOrPath ?? null,
    revision: null,
    rank_pattern: rankPattern,
    alpha_pattern: alphaPattern,
    layers_to_transform: null,
    layers_pattern: null,
    use_dora: false,
  };
  const metadata: Record<string, string> = { format: 'pt', 'torch_lora.scaling': first.scalingMode };
  const labels = opts.labels ?? configLabels(model);
  if (labels) metadata[LABELS_KEY] = JSON.stringify(labels);
  writeFolderAtomic(dir, (temp) => {
    writeSafetensors(path.join(temp, ADAPTER_WEIGHTS), tensors, metadata);
    writeFileAtomic(path.join(temp, ADAPTER_CONFIG), [Buffer.from(JSON.stringify(config, null, 2) + '\n')]);
  });
}

const LABELS_KEY = 'torch_lora.labels';

interface WithLabelConfig { config?: LabelConfig }

function configLabels(model: Module): string[] | null {
  const config = (model as WithLabelConfig).config;
  if (!config?.id2label || Object.keys(config.id2label).length === 0) return null;
  const names = labelNames(config);
  const placeholders = placeholderLabels(names.length);
  return names.every((n, i) => n === placeholders[i]) ? null : names; // transformers' placeholders name nothing
}

/** The class names an adapter was trained with (saveAdapter's `labels`), or null when it has none. */
export function readAdapterLabels(dir: string): string[] | null {
  return parseLabels(readSafetensorsMetadata(path.join(dir, ADAPTER_WEIGHTS))[LABELS_KEY], dir);
}

function parseLabels(text: string | undefined, dir: string): string[] | null {
  if (text === undefined) return null;
  let labels: unknown;
  try {
    labels = JSON.parse(text);
  } catch {
    labels = null;
  }
  if (!Array.isArray(labels) || labels.some((l) => typeof l !== 'string')) throw new Error(`${dir}: ${LABELS_KEY} in ${ADAPTER_WEIGHTS} is not a list of names`);
  return labels as string[];
}

// The most common value, plus a per-module pattern for the modules that differ (PEFT's rank_pattern / alpha_pattern).
function commonValue(values: Map<string, number>): [number, Record<string, number>] {
  const counts = new Map<number, number>();
  for (const v of values.values()) counts.set(v, (counts.get(v) ?? 0) + 1);
  const common = [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0];
  const pattern: Record<string, number> = {};
  for (const [k, v] of values) if (v !== common) pattern[k] = v;
  return [common, pattern];
}

export function readAdapterConfig(dir: string): PeftLoraConfig {
  const file = path.join(dir, ADAPTER_CONFIG);
  if (!fs.existsSync(file)) throw new Error(`${dir}: no ${ADAPTER_CONFIG}; is this a PEFT adapter folder?`);
  let config: PeftLoraConfig;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: invalid JSON (${(e as Error).message})`);
  }
  if (config.peft_type !== 'LORA') throw new Error(`${file}: peft_type is '${config.peft_type}'; only LORA adapters are supported`);
  if (config.fan_in_fan_out) throw new Error(`${file}: fan_in_fan_out adapters (GPT-2 Conv1D) are not supported`);
  if (config.use_dora) throw new Error(`${file}: DoRA adapters are not supported`);
  return config;
}

export interface LoadAdapterOptions {
  adapterName?: string;
  /** Keep the adapter (and modules to save) trainable; by default an adapter loads for inference. */
  isTrainable?: boolean;
  /** Make it the active adapter (default true). */
  activate?: boolean;
}

/**
 * Adds the adapter in `dir` to the model (wrapping the target Linear layers where needed) and copies its weights;
 * also copies the saved modules (e.g. the classifier head). Returns the adapted module names.
 */
export function loadAdapter(model: Module, dir: string, opts: LoadAdapterOptions = {}): string[] {
  const adapterName = opts.adapterName ?? DEFAULT_ADAPTER;
  const config = readAdapterConfig(dir);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS);
  if (!fs.existsSync(weightsFile)) throw new Error(`${dir}: no ${ADAPTER_WEIGHTS}`);
  const { tensors, metadata } = readSafetensors(weightsFile);
  const weights = stripAdapterName(tensors, adapterName);
  const targets: TargetSpec = config.target_modules;
  const scaling: LoraScaling = config.use_rslora ? 'rslora' : 'alpha/r';
  const wantAlpha = metadata['torch_lora.scaling'] === 'alpha' && !config.use_rslora;

  // Only modules the file has weights for: a target list can match more layers than were trained (layers_to_transform).
  const hasWeights = (name: string) => weights.has(`${KEY_PREFIX}${name}.lora_A.weight`);
  const adapted = replaceLinearWithLora(model, {
    targets: (name, m) => matchesTarget(targets, name, m) && hasWeights(name),
    rank: config.r,
    alpha: config.lora_alpha,
    scaling,
    dropout: config.lora_dropout,
    adapterName,
  });
  for (const name of adapted) {
    const layer = model.getSubmodule(name) as LinearWithLoRA;
    let a = layer.adapter(adapterName);
    const r = patternValue(config.rank_pattern, name) ?? config.r;
    const peftAlpha = patternValue(config.alpha_pattern, name) ?? config.lora_alpha;
    const alpha = wantAlpha ? peftAlpha / r : peftAlpha;
    if (a.rank !== r || a.alpha !== alpha || (wantAlpha && a.scalingMode !== 'alpha')) {
      layer.lora.delete(adapterName);
      a.dispose();
      a = layer.addAdapter(adapterName, { rank: r, alpha, scaling: wantAlpha ? 'alpha' : scaling, dropout: config.lora_dropout });
    }
    copyInto(a.A, weights, `${KEY_PREFIX}${name}.lora_A.weight`, true);
    copyInto(a.B, weights, `${KEY_PREFIX}${name}.lora_B.weight`, true);
    for (const p of a.parameters()) p.requiresGrad_(opts.isTrainable ?? false);
    if (opts.activate ?? true) layer.setAdapter(adapterName);
  }
  const missing = [...weights.keys()].filter((k) => k.includes('.lora_A.') && !adapted.some((n) => k === `${KEY_PREFIX}${n}.lora_A.weight`));
  if (missing.length) throw new Error(`${weightsFile}: no matching Linear module for ${missing.slice(0, 5).join(', ')}`);
  for (const [name, m] of savedModules(model, config.modules_to_save ?? [], weights, weightsFile)) {
    for (const [pn, p] of m.namedParameters()) {
      copyInto(p, weights, `${KEY_PREFIX}${name}.${pn}`, false);
      p.requiresGrad_(opts.isTrainable ?? false);
    }
  }
  // The adapter's class names become the model's, like its head, when it is the active one and the counts agree.
  const labels = parseLabels(metadata[LABELS_KEY], dir);
  const modelConfig = (model as WithLabelConfig).config;
  if (labels && (opts.activate ?? true) && modelConfig?.id2label && Object.keys(modelConfig.id2label).length === labels.length) {
    setLabelNames(modelConfig, labels);
  }
  return adapted;
}

/**
 * The modules whose full weights the adapter in `dir` carries (PEFT's modules_to_save) and loadAdapter copies into the
 * model, by dotted name. See savedModules for PEFT's matching rule (which, for DistilBERT, includes pre_classifier when
 * modules_to_save lists 'classifier').
 */
export function adapterSavedModules(model: Module, dir: string): string[] {
  return [...savedParameterShapes(model, dir).keys()];
}

/**
 * The shape of every parameter of those modules in the adapter's file, by module name then parameter name. A head
 * saved for other classes than the model's has another shape than the model's own.
 */
export function savedParameterShapes(model: Module, dir: string): Map<string, Map<string, number[]>> {
  const config = readAdapterConfig(dir);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS);
  if (!fs.existsSync(weightsFile)) throw new Error(`${dir}: no ${ADAPTER_WEIGHTS}`);
  const weights = stripAdapterName(readSafetensorsHeader(weightsFile).tensors, DEFAULT_ADAPTER); // shapes: the header is enough
  const out = new Map<string, Map<string, number[]>>();
  for (const [n, m] of savedModules(model, config.modules_to_save ?? [], weights, weightsFile)) {
    out.set(n, new Map([...m.namedParameters()].map(([pn]) => [pn, weights.get(`${KEY_PREFIX}${n}.${pn}`)!.shape])));
  }
  return out;
}

// PEFT writes keys without the adapter name; accept files that kept it ('lora_A.default.weight').
function stripAdapterName<T>(tensors: Map<string, T>, adapterName: string): Map<string, T> {
  const out = new Map<string, T>();
  for (const [k, v] of tensors) {
    const key = k.startsWith(KEY_PREFIX) ? k : KEY_PREFIX + k;
    out.set(key.replace(`.lora_A.${adapterName}.`, '.lora_A.').replace(`.lora_B.${adapterName}.`, '.lora_B.').replace(`.modules_to_save.${adapterName}.`, '.'), v);
  }
  return out;
}

// PEFT's lookup: the first key that, as a regular expression, matches the whole module name or a dotted suffix of it
// (re.match(rf'(.*\.)?({key})$', name)); a key that is not a valid JS RegExp is compared literally.
function patternValue(pattern: Record<string, number> | undefined, name: string): number | undefined {
  if (!pattern) return undefined;
  for (const [k, v] of Object.entries(pattern)) {
    let re: RegExp | null = null;
    try {
      re = new RegExp(`^(?:.*\\.)?(?:${k})$`);
    } catch {
      re = null;
    }
    if (re ? re.test(name) : name === k || name.endsWith('.' + k)) return v;
  }
  return undefined;
}

function copyInto(target: import('../tensor').Tensor, weights: Map<string, RawTensor>, key: string, transpose: boolean): void {
  const raw = weights.get(key);
  if (!raw) throw new Error(`adapter file has no tensor '${key}'`);
  const want = target.shape;
  const got = transpose ? [...raw.shape].reverse() : raw.shape;
  if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
    throw new Error(`'${key}' has shape [${raw.shape}], which does not fit [${transpose ? [...want].reverse() : want}]`);
  }
  tidy(() => noGrad(() => {
    const t = rawToTensor(raw);
    target.copy_(transpose ? t.t() : t);
  }));
}

// PEFT (0.13 and earlier at least) wraps every module whose name ends with a modules_to_save entry, with no dot
// boundary ('classifier' also wraps, trains and saves DistilBERT's 'pre_classifier'), and for SEQ_CLS it appends
// 'classifier' and 'score' to the list. So: a module named by an entry (exactly or as a dotted suffix) must have its
// weights in the file; a module matched only by PEFT's plain suffix rule is loaded when the file has its weights.
function savedModules(model: Module, entries: string[], weights: Map<string, unknown>, file: string): [string, Module][] {
  const out: [string, Module][] = [];
  if (entries.length === 0) return out;
  for (const [n, m] of model.namedModules()) {
    if (!n || !entries.some((e) => n.endsWith(e))) continue;
    const keys = [...m.namedParameters()].map(([pn]) => `${KEY_PREFIX}${n}.${pn}`);
    if (keys.length === 0) continue;
    const present = keys.filter((k) => weights.has(k));
    const named = matchesTarget(entries, n, m);
    if (present.length === keys.length) out.push([n, m]);
    else if (named || present.length > 0) {
      const entry = entries.find((e) => n.endsWith(e));
      throw new Error(`${file}: modules_to_save lists '${entry}' but '${keys.find((k) => !weights.has(k))}' is missing`);
    }
  }
  return out;
}
