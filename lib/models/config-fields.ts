// Checks for the fields of a model's config.json: each one's type and range, with messages that name the file and the
// field. transformers trusts its configs; we do not, because a wrong value does not fail where it is written:
// `n_layers: "2"` built one layer and dropped the checkpoint's second, `n_heads: -4` failed only at forward.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { clipText, describeValue } from '../io/describe';
import { findDuplicateKey } from '../io/json-keys';

export class ConfigChecker {
  constructor(
    private readonly config: Record<string, unknown>,
    private readonly source: string,
  ) {}

  private fail(field: string, expected: string): never {
    throw new Error(
      `${this.source}: field "${field}" must be ${expected}, got ${describeValue(this.config[field], 80)}`,
    );
  }

  integer(field: string, min: number, max: number): number {
    const v = this.config[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      this.fail(field, `an integer from ${min} to ${max}`);
    return v as number;
  }

  number(field: string, min: number, max: number): number {
    const v = this.config[field];
    if (typeof v !== 'number' || !(v >= min && v <= max)) this.fail(field, `a number from ${min} to ${max}`);
    return v as number;
  }

  boolean(field: string): boolean {
    const v = this.config[field];
    if (typeof v !== 'boolean') this.fail(field, 'true or false');
    return v as boolean;
  }

  oneOf<T extends string>(field: string, values: readonly T[]): T {
    const v = this.config[field];
    if (!values.includes(v as T)) this.fail(field, `one of ${values.map((x) => `"${x}"`).join(', ')}`);
    return v as T;
  }

  /** A relation between fields, e.g. dim divisible by n_heads. */
  require(ok: boolean, field: string, expected: string): void {
    if (!ok) this.fail(field, expected);
  }
}

/** The parsed config.json must be an object (not null, an array or a number). */
export function assertConfigObject(value: unknown, source: string): asserts value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${source}: expected a JSON object of config fields, got ${describeValue(value, 80)}`);
  }
}

/** A model folder's config.json, parsed: an object, or an error naming the file. */
export function readConfigJson(dir: string): Record<string, unknown> {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) throw new Error(`${dir}: no config.json; is this a Hugging Face model folder?`);
  const text = fs.readFileSync(file, 'utf8');
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: invalid JSON (${(e as Error).message})`);
  }
  assertConfigObject(config, file);
  // JSON.parse keeps the last of two values silently; a file that says two things about a field is refused.
  const duplicate = findDuplicateKey(text);
  if (duplicate !== undefined)
    throw new Error(`${file}: field ${JSON.stringify(clipText(duplicate, 80))} appears twice`);
  return config;
}
