// PEFT's LoraConfig as adapter_config.json holds it: reading it with every field checked (a hostile or broken file
// gets an error naming the file and the field, never an allocation sized by a config value), and PEFT's rules for
// which modules an adapter targets, which ones it saves whole, and which rank and alpha each module gets.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Module } from '../nn/module';
import { pyFullmatch, pyPatternKeyMatches } from './safe-regex';

export const ADAPTER_CONFIG = 'adapter_config.json';

export type PeftBias = 'none' | 'all' | 'lora_only';

export interface PeftLoraConfig {
  peft_type: 'LORA';
  task_type: string | null;
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: string[] | string;
  exclude_modules?: string[] | string | null;
  modules_to_save: string[] | null;
  bias: PeftBias;
  lora_bias?: boolean;
  use_rslora: boolean;
  fan_in_fan_out: boolean;
  init_lora_weights: boolean | string;
  inference_mode: boolean;
  base_model_name_or_path: string | null;
  revision: string | null;
  rank_pattern: Record<string, number>;
  alpha_pattern: Record<string, number>;
  layers_to_transform: number[] | number | null;
  layers_pattern: string[] | string | null;
  use_dora: boolean;
}

/** The largest |lora_alpha| accepted: scaling = alpha / r beyond this is no adapter anyone trained (1e308 overflows float32). */
export const MAX_LORA_ALPHA = 1e6;
/** The largest rank accepted in a config before the layers are even looked at (each layer then bounds it by its size). */
export const MAX_LORA_RANK = 1 << 16;

/** PEFT adds these to modules_to_save for task_type SEQ_CLS (PeftModelForSequenceClassification). */
export const SEQ_CLS_HEADS = ['classifier', 'score'];

export function readAdapterConfig(dir: string): PeftLoraConfig {
  const file = path.join(dir, ADAPTER_CONFIG);
  if (!fs.existsSync(file)) throw new Error(`${dir}: no ${ADAPTER_CONFIG}; is this a PEFT adapter folder?`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: invalid JSON (${(e as Error).message})`);
  }
  return validateLoraConfig(raw, file);
}

/** Checks every field PEFT's LoraConfig would use; `source` names the file in errors. */
export function validateLoraConfig(raw: unknown, source: string): PeftLoraConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new Error(`${source}: expected a JSON object, got ${describe(raw)}`);
  const c = raw as Record<string, unknown>;
  const bad = (field: string, want: string): never => {
    throw new Error(`${source}: '${field}' must be ${want}, got ${describe(c[field])}`);
  };
  if (c.peft_type !== 'LORA')
    throw new Error(`${source}: peft_type is ${describe(c.peft_type)}; only LORA adapters are supported`);
  if (c.fan_in_fan_out === true) throw new Error(`${source}: fan_in_fan_out adapters (GPT-2 Conv1D) are not supported`);
  const isRank = (v: unknown) => Number.isInteger(v) && (v as number) > 0 && (v as number) <= MAX_LORA_RANK;
  const isAlpha = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= MAX_LORA_ALPHA;
  if (!isRank(c.r)) bad('r', `a positive integer up to ${MAX_LORA_RANK}`);
  if (c.lora_alpha === undefined) c.lora_alpha = 8; // PEFT's default
  if (!isAlpha(c.lora_alpha)) bad('lora_alpha', `a finite number within ±${MAX_LORA_ALPHA}`);
  c.lora_dropout ??= 0;
  if (typeof c.lora_dropout !== 'number' || !(c.lora_dropout >= 0 && c.lora_dropout < 1))
    bad('lora_dropout', 'a number in [0, 1)');
  const isStringList = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string');
  if (typeof c.target_modules !== 'string' && !isStringList(c.target_modules))
    bad('target_modules', 'a string (regular expression) or a list of names');
  c.exclude_modules ??= null;
  if (c.exclude_modules !== null && typeof c.exclude_modules !== 'string' && !isStringList(c.exclude_modules))
    bad('exclude_modules', 'null, a string or a list of names');
  c.modules_to_save ??= null;
  if (c.modules_to_save !== null && !isStringList(c.modules_to_save)) bad('modules_to_save', 'null or a list of names');
  c.task_type ??= null;
  if (c.task_type !== null && typeof c.task_type !== 'string') bad('task_type', 'null or a string');
  c.bias ??= 'none';
  if (!['none', 'all', 'lora_only'].includes(c.bias as string)) bad('bias', "'none', 'all' or 'lora_only'");
  for (const flag of ['use_rslora', 'lora_bias', 'inference_mode', 'use_dora'] as const) {
    c[flag] ??= false;
    if (typeof c[flag] !== 'boolean') bad(flag, 'true or false');
  }
  for (const [field, check, want] of [
    ['rank_pattern', isRank, 'ranks'],
    ['alpha_pattern', isAlpha, 'alphas'],
  ] as const) {
    c[field] ??= {};
    const p = c[field];
    if (typeof p !== 'object' || Array.isArray(p) || p === null) bad(field, `an object of ${want}`);
    for (const [k, v] of Object.entries(p as object))
      if (!check(v))
        throw new Error(
          `${source}: '${field}' entry '${k}' must be ${field === 'rank_pattern' ? `a positive integer up to ${MAX_LORA_RANK}` : `a finite number within ±${MAX_LORA_ALPHA}`}, got ${describe(v)}`,
        );
  }
  if (c.use_dora && c.lora_bias) throw new Error(`${source}: use_dora together with lora_bias is not supported`);
  c.layers_to_transform ??= null;
  const lt = c.layers_to_transform;
  if (lt !== null && !Number.isInteger(lt) && !(Array.isArray(lt) && lt.every((i) => Number.isInteger(i))))
    bad('layers_to_transform', 'null, an integer or a list of integers');
  c.layers_pattern ??= null;
  if (c.layers_pattern !== null && typeof c.layers_pattern !== 'string' && !isStringList(c.layers_pattern))
    bad('layers_pattern', 'null, a string or a list of strings');
  return c as unknown as PeftLoraConfig;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s === undefined ? typeof v : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** PEFT's check_target_module_exists: does `config` put a LoRA adapter on the module named `name`? */
export function peftTargets(config: PeftLoraConfig, name: string): boolean {
  const ex = config.exclude_modules;
  if (ex) {
    if (typeof ex === 'string' ? pyFullmatch(ex, name) : ex.some((e) => name === e || name.endsWith(`.${e}`)))
      return false;
  }
  // Never a module that is saved whole: PEFT refuses the conflict the same way.
  if (config.modules_to_save?.some((m) => pyFullmatch(`(?:^|.*\\.)(?:${m})(?:$|\\..*)`, name))) return false;
  const t = config.target_modules;
  if (typeof t === 'string') return pyFullmatch(t, name);
  if (t.includes(name)) return true;
  if (!t.some((e) => name.endsWith(`.${e}`))) return false;
  const layers = config.layers_to_transform;
  if (layers === null || (Array.isArray(layers) && layers.length === 0)) return true;
  const index = layerIndex(name, config.layers_pattern);
  if (index === null) return false;
  return typeof layers === 'number' ? index === layers : layers.includes(index);
}

// The first numbered segment of the name (PEFT: re.match(r".*?\.[^.]*\.(?P<idx>\d+)\.", key)), or the number after
// one of layers_pattern.
function layerIndex(name: string, layersPattern: string[] | string | null): number | null {
  const parts = name.split('.');
  const patterns =
    layersPattern === null || layersPattern.length === 0
      ? null
      : Array.isArray(layersPattern)
        ? layersPattern
        : [layersPattern];
  // The index must be followed by a dot (the last part never counts); without a pattern PEFT's regex needs two
  // parts before it.
  for (let i = patterns === null ? 2 : 1; i < parts.length - 1; i++) {
    if (!/^\d+$/.test(parts[i])) continue;
    if (patterns === null || patterns.some((p) => pyFullmatch(`(?:.*\\.)?(?:${p})`, parts.slice(0, i).join('.'))))
      return Number(parts[i]);
  }
  return null;
}

/** PEFT's get_pattern_key: the value of the first pattern key that matches the name or a dotted suffix of it. */
export function patternValue(pattern: Record<string, number> | undefined, name: string): number | undefined {
  if (!pattern) return undefined;
  for (const [k, v] of Object.entries(pattern)) if (pyPatternKeyMatches(k, name)) return v;
  return undefined;
}

/** The rank and PEFT lora_alpha a module gets. */
export function rankAndAlpha(config: PeftLoraConfig, name: string): { r: number; loraAlpha: number } {
  return {
    r: patternValue(config.rank_pattern, name) ?? config.r,
    loraAlpha: patternValue(config.alpha_pattern, name) ?? config.lora_alpha,
  };
}

/** The modules_to_save entries PEFT uses: the listed ones, plus the heads it adds for SEQ_CLS. */
export function savedModuleEntries(config: Pick<PeftLoraConfig, 'modules_to_save' | 'task_type'>): {
  listed: string[];
  implied: string[];
} {
  const listed = config.modules_to_save ?? [];
  const implied = config.task_type === 'SEQ_CLS' ? SEQ_CLS_HEADS.filter((h) => !listed.includes(h)) : [];
  return { listed, implied };
}

/**
 * The modules PEFT wraps as modules_to_save (and so trains, saves and expects in an adapter file): every module with
 * parameters whose name ends with an entry, listed or implied by SEQ_CLS, with no dot boundary ('classifier' also
 * takes DistilBERT's 'pre_classifier').
 */
export function peftSavedModules(
  model: Module,
  config: Pick<PeftLoraConfig, 'modules_to_save' | 'task_type'>,
): [string, Module][] {
  const { listed, implied } = savedModuleEntries(config);
  const entries = [...listed, ...implied];
  const out: [string, Module][] = [];
  for (const [name, m] of model.namedModules()) {
    if (!name || !entries.some((e) => name.endsWith(e))) continue;
    if (out.some(([outer]) => name.startsWith(`${outer}.`))) continue; // inside a module already saved whole
    if ([...m.namedParameters()].length) out.push([name, m]);
  }
  return out;
}
