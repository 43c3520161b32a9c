// Resumable training checkpoints: trainable weights, optimizer state and trainer state, each file written atomically.
import * as fs from 'fs';
import * as path from 'path';
import { Module } from '../nn/module';
import { Tensor } from '../tensor';
import { noGrad } from '../autograd';
import { tidy } from '../scope';
import { readSafetensors, writeSafetensors, writeFileAtomic, RawTensor } from '../io';
import { rawToTensor, tensorToRaw } from '../io/tensor-bridge';
import type { Optimizer, OptimizerStateDict } from '../optim/optimizer';

export interface TrainerState {
  epoch: number;
  globalStep: number;
  bestMetric: number | null;
  bestEpoch: number | null;
  scheduler?: { last_epoch: number; base_lrs: number[] };
  /** Set when the checkpoint is from within epoch `epoch + 1`: batches done (of how many) and the epoch's running totals. */
  inEpoch?: { batches: number; of?: number; lossSum: number; correct: number; seen: number };
  [extra: string]: unknown;
}

const WEIGHTS = 'trainable.safetensors';
const OPTIMIZER = 'optimizer.safetensors';
const STATE = 'trainer_state.json';

export function saveTrainingCheckpoint(dir: string, model: Module, optimizer: Optimizer<{ lr: number }, Record<string, Tensor | number>>, state: TrainerState): void {
  fs.mkdirSync(dir, { recursive: true });
  const weights = new Map<string, RawTensor>();
  for (const [n, p] of model.namedParameters()) if (p.requiresGrad) weights.set(n, tensorToRaw(p));
  writeSafetensors(path.join(dir, WEIGHTS), weights, { format: 'pt' });

  const sd = optimizer.stateDict();
  const tensors = new Map<string, RawTensor>();
  const scalars: Record<string, Record<string, number>> = {};
  for (const [id, s] of Object.entries(sd.state)) {
    for (const [k, v] of Object.entries(s)) {
      if (v instanceof Tensor) tensors.set(`state.${id}.${k}`, tensorToRaw(v));
      else (scalars[id] ??= {})[k] = v;
    }
  }
  writeSafetensors(path.join(dir, OPTIMIZER), tensors, { format: 'pt' });
  const json = { ...state, optimizer: { param_groups: sd.param_groups, scalars } };
  writeFileAtomic(path.join(dir, STATE), [Buffer.from(JSON.stringify(json, null, 2) + '\n')]);
}

/** Restores what saveTrainingCheckpoint wrote into an identically built model and optimizer. */
export function loadTrainingCheckpoint(dir: string, model: Module, optimizer: Optimizer<{ lr: number }, Record<string, Tensor | number>>): TrainerState {
  const stateFile = path.join(dir, STATE);
  if (!fs.existsSync(stateFile)) throw new Error(`${dir}: no ${STATE}; not a training checkpoint`);
  const json = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  const weights = readSafetensors(path.join(dir, WEIGHTS)).tensors;
  const params = new Map(model.namedParameters());
  noGrad(() => {
    for (const [n, raw] of weights) {
      const p = params.get(n);
      if (!p) throw new Error(`${dir}: checkpoint has weight '${n}' that the model lacks`);
      tidy(() => p.copy_(rawToTensor(raw)));
    }
  });
  const optTensors = readSafetensors(path.join(dir, OPTIMIZER)).tensors;
  const state: OptimizerStateDict['state'] = {};
  for (const [id, s] of Object.entries(json.optimizer.scalars as Record<string, Record<string, number>>)) state[Number(id)] = { ...s };
  const created: Tensor[] = [];
  for (const [k, raw] of optTensors) {
    const [, id, key] = k.split('.');
    const t = rawToTensor(raw);
    created.push(t);
    (state[Number(id)] ??= {})[key] = t;
  }
  optimizer.loadStateDict({ state, param_groups: json.optimizer.param_groups });
  created.forEach((t) => t.dispose());
  const { optimizer: _o, ...trainerState } = json;
  return trainerState as TrainerState;
}
