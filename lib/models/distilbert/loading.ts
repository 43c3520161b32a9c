// Building DistilBERT models: transformers' weight initialisation, fromPretrained, random weights, savePretrained.
import type { DistilBertConfig } from './config';
import { distilBertConfig, numLabels, readDistilBertConfig, setLabelNames } from './config';
import type { FromPretrainedOptions, LoadingInfo } from '../pretrained';
import { loadCheckpointInto, resolveCheckpointDir, savePretrained } from '../pretrained';
import type { Module } from '../../nn/module';
import { Embedding, LayerNorm, Linear } from '../../nn/layers';
import * as init from '../../nn/init';
import { tidy } from '../../scope';
import { manualSeed } from '../../creation';

/**
 * transformers' _init_weights: N(0, initializer_range) for Linear and Embedding weights, zero biases and padding rows,
 * unit LayerNorm scales. For every parameter, or with `only` just those named (the ones a checkpoint lacked).
 */
export function initDistilBertWeights(model: Module, config: DistilBertConfig, only?: string[]): void {
  const wanted = only && new Set(only);
  for (const [moduleName, m] of model.namedModules()) {
    for (const [pn, p] of m.namedParameters('', false)) {
      if (wanted && !wanted.has(moduleName ? `${moduleName}.${pn}` : pn)) continue;
      if (m instanceof Linear) {
        if (pn === 'weight') init.normal_(p, 0, config.initializer_range);
        else init.zeros_(p);
      } else if (m instanceof Embedding) {
        if (p.requiresGrad) init.normal_(p, 0, config.initializer_range);
        if (m.paddingIdx !== undefined)
          tidy(() => {
            init.zeros_(p.select(0, m.paddingIdx!));
          });
      } else if (m instanceof LayerNorm) {
        if (pn === 'weight') init.ones_(p);
        else init.zeros_(p);
      } else if (wanted) {
        throw new Error(`no initialisation rule for ${moduleName}.${pn}, which the checkpoint lacks`);
      }
    }
  }
}

type DistilBertClass<M> = new (config: DistilBertConfig) => M;

/** A model with HF-style weights initialised from a seed, for tests and benchmarks (no checkpoint needed). */
export function randomDistilBert<M extends Module>(
  cls: DistilBertClass<M>,
  config: Partial<DistilBertConfig> & { num_labels?: number } = {},
  seed?: number,
): M {
  const cfg = distilBertConfig(config);
  if (seed !== undefined) manualSeed(seed);
  const model = new cls(cfg);
  initDistilBertWeights(model, cfg);
  return model;
}

/** Builds the model from a folder's config.json and loads its weights; keys the checkpoint lacks are initialised as transformers does. */
export async function fromPretrained<M extends Module>(
  cls: DistilBertClass<M>,
  pathOrId: string,
  opts: FromPretrainedOptions = {},
): Promise<M & { loadingInfo: LoadingInfo }> {
  const dir = await resolveCheckpointDir(pathOrId, opts);
  const config = readDistilBertConfig(dir, opts.numLabels);
  if (opts.id2label) setLabelNames(config, opts.id2label);
  if (opts.numLabels !== undefined && numLabels(config) !== opts.numLabels)
    throw new Error(`fromPretrained: numLabels ${opts.numLabels} but ${numLabels(config)} names in id2label`);
  // Parameters start uninitialised and only what the checkpoint lacks is initialised after loading, as transformers'
  // fast init does: random-initialising 66M weights only to overwrite them cost about a third of a load.
  const model = init.withoutInit(() => new cls(config));
  const info = loadCheckpointInto(model, dir, 'distilbert.', opts);
  initDistilBertWeights(model, config, [...info.missingKeys, ...info.mismatchedKeys]);
  if (info.missingKeys.length && !opts.quiet) {
    console.warn(
      `Some weights of ${cls.name} were not in the checkpoint at ${dir} and are newly initialized: ${info.missingKeys.join(', ')}`,
    );
  }
  if (opts.dtype) model.to(opts.dtype);
  if (opts.device) model.to(opts.device);
  return Object.assign(model, { loadingInfo: info });
}

export function saveDistilBert(model: Module & { config: DistilBertConfig }, dir: string): void {
  savePretrained(model, dir, { ...model.config, num_labels: undefined });
}
