// loadAdapter: a PEFT adapter folder into a model, every tensor of the file accounted for.
//
// PEFT stores lora_A.weight [r, in] and lora_B.weight [out, r] and scales by lora_alpha / r (or / √r with
// use_rslora); here A is [in, r] and B [r, out], so loading transposes. The whole file is planned first (which
// module each tensor goes to, with its shape checked against the config and the layer) and nothing is allocated
// until the plan holds: a config cannot make us allocate more than the file's own tensors (issue 14 item 7).
import * as path from 'node:path';
import type { Module } from '../nn/module';
import { Linear } from '../nn/layers';
import { noGrad } from '../autograd';
import { tidy } from '../scope';
import type { Tensor } from '../tensor';
import type { RawTensor } from '../io';
import { rawToTensor } from '../io/tensor-bridge';
import { LinearWithLoRA, DEFAULT_ADAPTER } from './linear-with-lora';
import type { LoraScaling } from './lora-layer';
import { markPeftTrainable, setAdapterTrainable } from './freeze';
import { addLoraAt } from './replace';
import { ModulesToSaveWrapper } from './modules-to-save';
import type { PeftLoraConfig } from './peft-config';
import { ADAPTER_CONFIG, peftTargets, rankAndAlpha, readAdapterConfig, savedModuleEntries } from './peft-config';
import {
  KEY_PREFIX,
  LABELS_KEY,
  SCALING_KEY,
  readAdapterShapes,
  readAdapterWeights,
  readAdapterMetadata,
} from './adapter-files';
import type { LabelConfig } from '../io/hf-labels';
import { setLabelNames } from '../io/hf-labels';

export interface LoadAdapterOptions {
  adapterName?: string;
  /**
   * Train the adapter (PEFT's is_trainable): only its A and B, its modules_to_save and the biases its `bias` setting
   * names stay trainable; the rest of the model is frozen. By default an adapter loads frozen, for inference.
   */
  isTrainable?: boolean;
  /** Make it the active adapter (default true). */
  activate?: boolean;
}

interface LayerPlan {
  name: string;
  r: number;
  loraAlpha: number;
}
interface AdapterPlan {
  layers: LayerPlan[];
  saved: [string, Module][];
  /** Model parameter name (after wrapping) -> file key, for PEFT's bias = 'lora_only' / 'all'. */
  biases: Map<string, string>;
}

type Shapes = Map<string, { shape: number[] }>;

/**
 * Adds the adapter in `dir` to the model (wrapping the targeted Linear layers) and copies its weights, its saved
 * modules (e.g. the classifier head) and its biases. New layers follow the model's train/eval mode. Returns the
 * adapted module names.
 */
export function loadAdapter(model: Module, dir: string, opts: LoadAdapterOptions = {}): string[] {
  const adapterName = opts.adapterName ?? DEFAULT_ADAPTER;
  const config = readAdapterConfig(dir);
  const { file, tensors, metadata } = readAdapterWeights(dir, adapterName);
  const plan = planAdapter(model, config, tensors, file, adapterName);

  // Adapters saved by torch-lora with Raschka's scaling come back with it (the numbers are the same either way).
  const raschka = metadata[SCALING_KEY] === 'alpha' && !config.use_rslora;
  const scaling: LoraScaling = config.use_rslora ? 'rslora' : raschka ? 'alpha' : 'alpha/r';
  for (const { name, r, loraAlpha } of plan.layers) {
    const loraOpts = {
      rank: r,
      alpha: raschka ? loraAlpha / r : loraAlpha,
      scaling,
      dropout: config.lora_dropout,
      bias: config.lora_bias,
      dora: config.use_dora,
    };
    const a = addLoraAt(model, name, adapterName, loraOpts);
    const key = `${KEY_PREFIX}${name}.lora_`;
    copyInto(a.A, tensors.get(`${key}A.weight`)!, `${key}A.weight`, file, true);
    copyInto(a.B, tensors.get(`${key}B.weight`)!, `${key}B.weight`, file, true);
    if (a.bias) copyInto(a.bias, tensors.get(`${key}B.bias`)!, `${key}B.bias`, file, false);
    if (a.magnitude)
      copyInto(a.magnitude, tensors.get(`${key}magnitude_vector`)!, `${key}magnitude_vector`, file, false);
    if (opts.activate ?? true) (model.getSubmodule(name) as LinearWithLoRA).setAdapter(adapterName);
  }
  // The saved modules (the head) get this adapter's own copies, as PEFT's ModulesToSaveWrapper: loading a second
  // adapter must not overwrite the first one's head, nor the base model's.
  if (plan.saved.length) {
    const wrapper = ModulesToSaveWrapper.of(model);
    const own = wrapper.add(adapterName, savedShapes(plan.saved, tensors), opts.isTrainable ?? false);
    try {
      for (const [name, m] of plan.saved) {
        for (const [pn] of m.namedParameters())
          copyInto(
            own.get(`${name}.${pn}`)!,
            tensors.get(`${KEY_PREFIX}${name}.${pn}`)!,
            `${KEY_PREFIX}${name}.${pn}`,
            file,
            false,
          );
      }
    } catch (e) {
      wrapper.remove(adapterName);
      throw e;
    }
    if (opts.activate ?? true) wrapper.use(adapterName);
  }
  const params = new Map(model.namedParameters());
  for (const [param, key] of plan.biases) copyInto(params.get(param)!, tensors.get(key)!, key, file, false);

  const trainable = opts.isTrainable ?? false;
  const layers = plan.layers.map((l) => l.name);
  if (trainable)
    markPeftTrainable(model, { adapterName, layers, saved: plan.saved.map(([n]) => n), bias: config.bias });
  else
    setAdapterTrainable(
      model,
      adapterName,
      layers,
      plan.saved.map(([n]) => n),
      false,
    );
  // The adapter's class names become the model's, like its head, when it is the active one and the counts agree.
  const labels = parseLabels(metadata[LABELS_KEY], dir);
  const modelConfig = (model as { config?: LabelConfig }).config;
  if (
    labels &&
    (opts.activate ?? true) &&
    modelConfig?.id2label &&
    Object.keys(modelConfig.id2label).length === labels.length
  ) {
    setLabelNames(modelConfig, labels);
  }
  return plan.layers.map((l) => l.name);
}

function hasSubmodule(model: Module, name: string): boolean {
  try {
    model.getSubmodule(name);
    return true;
  } catch {
    return false;
  }
}

/** Decides where every tensor of the file goes and checks its shape; throws naming the file and key otherwise. */
function planAdapter(
  model: Module,
  config: PeftLoraConfig,
  tensors: Shapes,
  file: string,
  adapterName: string,
): AdapterPlan {
  const left = new Set(tensors.keys());
  const shapeOf = (key: string) => tensors.get(key)?.shape;
  const expectShape = (key: string, want: number[], why: string) => {
    const got = shapeOf(key);
    if (!got) throw new Error(`${file}: no tensor '${key}' (${why})`);
    if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
      throw new Error(`${file}: '${key}' has shape [${got}] but ${why} needs [${want}]`);
    }
    left.delete(key);
  };
  const configFile = path.join(path.dirname(file), ADAPTER_CONFIG);
  const layers: LayerPlan[] = [];
  const adapted = new Set<string>();
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof Linear || m instanceof LinearWithLoRA)) continue;
    const key = `${KEY_PREFIX}${name}.lora_`;
    // A targeted module without weights in the file is what PEFT leaves at lora_B = 0: no effect, so not added.
    if (!tensors.has(`${key}A.weight`)) continue;
    if (!peftTargets(config, name))
      throw new Error(`${file}: has '${key}A.weight' but ${configFile} does not target '${name}'`);
    if (m instanceof LinearWithLoRA && m.lora.has(adapterName))
      throw new Error(`'${name}' already has an adapter named '${adapterName}'`);
    const { r, loraAlpha } = rankAndAlpha(config, name);
    const linear = m instanceof LinearWithLoRA ? m.linear : m;
    const [inF, outF] = [linear.inFeatures, linear.outFeatures];
    if (r > Math.max(inF, outF))
      throw new Error(`${configFile}: rank ${r} for '${name}' exceeds the layer's size (${inF} -> ${outF})`);
    expectShape(`${key}A.weight`, [r, inF], `rank ${r} of ${configFile} on '${name}' (${inF} -> ${outF})`);
    expectShape(`${key}B.weight`, [outF, r], `rank ${r} of ${configFile} on '${name}' (${inF} -> ${outF})`);
    if (config.lora_bias) {
      if (!linear.bias) throw new Error(`${configFile}: lora_bias is true but '${name}' has no bias`);
      expectShape(`${key}B.bias`, [outF], `lora_bias of ${configFile}`);
    } else if (tensors.has(`${key}B.bias`)) {
      throw new Error(`${file}: has '${key}B.bias' but ${configFile} says lora_bias is false`);
    }
    if (config.use_dora) expectShape(`${key}magnitude_vector`, [outF], `use_dora of ${configFile}`);
    else if (tensors.has(`${key}magnitude_vector`))
      throw new Error(`${file}: has '${key}magnitude_vector' but ${configFile} says use_dora is false`);
    layers.push({ name, r, loraAlpha });
    adapted.add(name);
  }
  const strays = [...left].filter((k) => /\.lora_([AB]\.|magnitude_vector$)/.test(k));
  if (strays.length) throw new Error(`${file}: no Linear module of the model for ${strays.slice(0, 5).join(', ')}`);

  const saved = savedModules(model, config, tensors, file);
  for (const [n, m] of saved) for (const [pn] of m.namedParameters()) left.delete(`${KEY_PREFIX}${n}.${pn}`);

  const biases = new Map<string, string>();
  const params = new Map(model.namedParameters());
  for (const key of [...left]) {
    if (config.bias === 'none' || !key.endsWith('.bias')) continue;
    let module = key.slice(KEY_PREFIX.length, -'.bias'.length);
    const viaBaseLayer = module.endsWith('.base_layer');
    if (viaBaseLayer) module = module.slice(0, -'.base_layer'.length);
    const isWrapper = hasSubmodule(model, module) && model.getSubmodule(module) instanceof LinearWithLoRA;
    const wrapped = isWrapper || adapted.has(module);
    if (config.bias === 'lora_only' && !adapted.has(module))
      throw new Error(`${file}: '${key}' is the bias of a module this adapter does not adapt (bias is 'lora_only')`);
    if (viaBaseLayer && !wrapped)
      throw new Error(`${file}: '${key}' names the base layer of '${module}', which this adapter does not adapt`);
    const target = params.get(isWrapper ? `${module}.linear.bias` : `${module}.bias`);
    if (!target) throw new Error(`${file}: '${key}' has no bias parameter in the model`);
    expectShape(key, target.shape, `the model's bias of '${module}'`);
    biases.set(wrapped ? `${module}.linear.bias` : `${module}.bias`, key); // its name once the layer is wrapped
  }
  if (left.size) {
    throw new Error(
      `${file}: unknown tensor${left.size > 1 ? 's' : ''} ${[...left]
        .slice(0, 5)
        .map((k) => `'${k}'`)
        .join(
          ', ',
        )} (not a LoRA weight of a targeted module, a module to save or a bias the config's bias setting names)`,
    );
  }
  return { layers, saved, biases };
}

// PEFT wraps every module whose name ends with a modules_to_save entry, with no dot boundary ('classifier' also
// wraps, trains and saves DistilBERT's 'pre_classifier'), and for SEQ_CLS it adds 'classifier' and 'score'. So: a
// module named by a listed entry (exactly or as a dotted suffix) must have its weights in the file; a module matched
// only by the plain suffix rule or by an implied SEQ_CLS head is loaded when the file has its weights.
function savedModules(
  model: Module,
  config: Pick<PeftLoraConfig, 'modules_to_save' | 'task_type'>,
  weights: Map<string, unknown>,
  file: string,
): [string, Module][] {
  const { listed, implied } = savedModuleEntries(config);
  const entries = [...listed, ...implied];
  const out: [string, Module][] = [];
  if (entries.length === 0) return out;
  for (const [n, m] of model.namedModules()) {
    if (!n || !entries.some((e) => n.endsWith(e))) continue;
    const keys = [...m.namedParameters()].map(([pn]) => `${KEY_PREFIX}${n}.${pn}`);
    if (keys.length === 0) continue;
    const present = keys.filter((k) => weights.has(k));
    const named = listed.some((e) => n === e || n.endsWith(`.${e}`));
    if (present.length === keys.length) out.push([n, m]);
    else if (named || present.length > 0) {
      const entry = entries.find((e) => n.endsWith(e));
      throw new Error(
        `${file}: modules_to_save lists '${entry}' but '${keys.find((k) => !weights.has(k))}' is missing`,
      );
    }
  }
  return out;
}

/**
 * The modules whose full weights the adapter in `dir` carries (PEFT's modules_to_save) and loadAdapter copies into the
 * model, by dotted name (for DistilBERT, pre_classifier too when modules_to_save lists 'classifier').
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
  const { file, tensors } = readAdapterShapes(dir, DEFAULT_ADAPTER); // shapes: a safetensors header is enough
  return savedShapes(savedModules(model, config, tensors, file), tensors);
}

function savedShapes(saved: [string, Module][], tensors: Shapes): Map<string, Map<string, number[]>> {
  const out = new Map<string, Map<string, number[]>>();
  for (const [n, m] of saved) {
    out.set(n, new Map([...m.namedParameters()].map(([pn]) => [pn, tensors.get(`${KEY_PREFIX}${n}.${pn}`)!.shape])));
  }
  return out;
}

/** The class names an adapter was trained with (saveAdapter's `labels`), or null when it has none. */
export function readAdapterLabels(dir: string): string[] | null {
  return parseLabels(readAdapterMetadata(dir)[LABELS_KEY], dir);
}

function parseLabels(text: string | undefined, dir: string): string[] | null {
  if (text === undefined) return null;
  let labels: unknown;
  try {
    labels = JSON.parse(text);
  } catch {
    labels = null;
  }
  if (!Array.isArray(labels) || labels.some((l) => typeof l !== 'string'))
    throw new Error(`${dir}: ${LABELS_KEY} in the adapter's weights file is not a list of names`);
  return labels as string[];
}

function copyInto(target: Tensor, raw: RawTensor, key: string, file: string, transpose: boolean): void {
  const want = target.shape;
  const got = transpose ? [...raw.shape].reverse() : raw.shape;
  if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
    throw new Error(
      `${file}: '${key}' has shape [${raw.shape}], which does not fit [${transpose ? [...want].reverse() : want}]`,
    );
  }
  tidy(() =>
    noGrad(() => {
      const t = rawToTensor(raw);
      target.copy_(transpose ? t.t() : t);
    }),
  );
}
