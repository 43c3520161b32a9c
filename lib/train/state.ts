// Resumable training checkpoints: trainable weights, optimizer state and trainer state. The folder is written whole
// (a temporary folder renamed into place), and trainer_state.json, written last, holds the other files' SHA-256, so a
// checkpoint put together from different saves is refused on resume instead of silently mixing them.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Module } from '../nn/module';
import { Tensor } from '../tensor';
import { noGrad } from '../autograd';
import { tidy } from '../scope';
import type { RawTensor } from '../io';
import { readSafetensors, writeSafetensors, writeFileAtomic, writeFolderAtomic, recoverFolder } from '../io';
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
  /** Records metrics.jsonl held that a resumed run does not write again (later ones it does: they are dropped). */
  metricsRecords?: number;
  [extra: string]: unknown;
}

const WEIGHTS = 'trainable.safetensors';
const OPTIMIZER = 'optimizer.safetensors';
const STATE = 'trainer_state.json';

export function saveTrainingCheckpoint(
  dir: string,
  model: Module,
  optimizer: Optimizer<{ lr: number }, Record<string, Tensor | number>>,
  state: TrainerState,
): void {
  writeFolderAtomic(dir, (temp) => {
    const weights = new Map<string, RawTensor>();
    for (const [n, p] of model.namedParameters()) if (p.requiresGrad) weights.set(n, tensorToRaw(p));
    writeSafetensors(path.join(temp, WEIGHTS), weights, { format: 'pt' });

    const sd = optimizer.stateDict();
    const tensors = new Map<string, RawTensor>();
    const scalars: Record<string, Record<string, number>> = {};
    for (const [id, s] of Object.entries(sd.state)) {
      for (const [k, v] of Object.entries(s)) {
        if (v instanceof Tensor) tensors.set(`state.${id}.${k}`, tensorToRaw(v));
        else (scalars[id] ??= {})[k] = v;
      }
    }
    writeSafetensors(path.join(temp, OPTIMIZER), tensors, { format: 'pt' });
    const files = { [WEIGHTS]: sha256(path.join(temp, WEIGHTS)), [OPTIMIZER]: sha256(path.join(temp, OPTIMIZER)) };
    const json = { ...state, optimizer: { param_groups: sd.param_groups, scalars }, files };
    writeFileAtomic(path.join(temp, STATE), [Buffer.from(JSON.stringify(json, null, 2) + '\n')]);
  });
}

/** Whether `dir` holds a checkpoint (after undoing a save interrupted between its renames). */
export function hasTrainingCheckpoint(dir: string): boolean {
  recoverFolder(dir);
  return fs.existsSync(path.join(dir, STATE));
}

/** Restores what saveTrainingCheckpoint wrote into an identically built model and optimizer. */
export function loadTrainingCheckpoint(
  dir: string,
  model: Module,
  optimizer: Optimizer<{ lr: number }, Record<string, Tensor | number>>,
): TrainerState {
  const stateFile = path.join(dir, STATE);
  if (!fs.existsSync(stateFile)) throw new Error(`${dir}: no ${STATE}; not a training checkpoint`);
  let json;
  try {
    json = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  } catch (e) {
    throw new Error(`${stateFile}: not a readable trainer state (${(e as Error).message.slice(0, 200)})`);
  }
  checkConsistent(dir, json.files);
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
  for (const [id, s] of Object.entries(json.optimizer.scalars as Record<string, Record<string, number>>))
    state[Number(id)] = { ...s };
  const created: Tensor[] = [];
  for (const [k, raw] of optTensors) {
    const [, id, key] = k.split('.');
    const t = rawToTensor(raw);
    created.push(t);
    (state[Number(id)] ??= {})[key] = t;
  }
  const groups = json.optimizer?.param_groups?.length;
  if (groups !== optimizer.paramGroups.length) {
    created.forEach((t) => t.dispose());
    // Before issue 13 every trainable parameter decayed, in a single group; now biases and LayerNorm weights do not.
    throw new Error(
      `${stateFile}: the optimizer state has ${groups} parameter group(s), this optimizer ${optimizer.paramGroups.length}` +
        (groups === 1
          ? ' (a checkpoint from before weight decay was split into decaying and non-decaying groups); start again without resume'
          : ''),
    );
  }
  optimizer.loadStateDict({ state, param_groups: json.optimizer.param_groups });
  created.forEach((t) => t.dispose());
  const { optimizer: _o, files: _f, ...trainerState } = json;
  return trainerState as TrainerState;
}

/** Refuses a checkpoint whose files are not the ones its trainer_state.json was written with. */
function checkConsistent(dir: string, files: unknown): void {
  if (typeof files !== 'object' || files === null) {
    throw new Error(
      `${path.join(dir, STATE)}: no file hashes, so the checkpoint cannot be checked for consistency (an older or torn save); start again or remove 'resume'`,
    );
  }
  for (const name of [WEIGHTS, OPTIMIZER]) {
    const want = (files as Record<string, unknown>)[name];
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) throw new Error(`inconsistent checkpoint in ${dir}: ${name} is missing`);
    if (want !== sha256(file))
      throw new Error(`inconsistent checkpoint in ${dir}: ${name} is not the file ${STATE} was saved with`);
  }
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}
