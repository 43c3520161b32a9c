/** Training metrics as JSON Lines: one record per line, appended as training goes, readable while it runs. */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorNamingFile, writeFileAtomic } from '../io/fs-atomic';

export type MetricSplit = 'train' | 'validation' | 'test';

export interface MetricRecord {
  step: number;
  epoch: number;
  split: MetricSplit;
  loss?: number;
  /** A fraction in [0, 1]. */
  accuracy?: number;
  /** Macro-averaged F1, in [0, 1] (validation and test). */
  f1?: number;
  lr?: number;
  tokensPerSec?: number;
  /** ISO 8601 timestamp. */
  time: string;
}

export type MetricInput = Omit<MetricRecord, 'time'> & { time?: string };

const NUMBER_FIELDS = new Set(['step', 'epoch', 'loss', 'accuracy', 'f1', 'lr', 'tokensPerSec']);
const NON_FINITE = new Set(['NaN', 'Infinity', '-Infinity']);

/** Appends records to a .jsonl file (created with its folder if missing; existing records are kept). */
export class MetricsLogger {
  private fd: number | null;
  private records: number;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.records = existsSync(path) ? readMetrics(path).length : 0;
    this.fd = openSync(path, 'a');
  }

  /** Records in the file. */
  get count(): number {
    return this.records;
  }

  /** Writes one record as one line in a single write, so a crash leaves at most the last line torn. */
  log(input: MetricInput): MetricRecord {
    if (this.fd === null) throw new Error(`metrics log ${this.path} is closed`);
    const record: MetricRecord = { ...input, time: input.time ?? new Date().toISOString() };
    try {
      writeSync(this.fd, `${JSON.stringify(record, encodeNonFinite)}\n`);
    } catch (e) {
      throw errorNamingFile(this.path, e);
    }
    this.records++;
    return record;
  }

  /**
   * Keeps the first `n` records and drops the rest (and a torn last line): a run resumed from a checkpoint writes
   * again what came after it, so without this, the records between the checkpoint and a crash would appear twice.
   */
  keepFirst(n: number): void {
    if (this.fd === null) throw new Error(`metrics log ${this.path} is closed`);
    const kept = readFileSync(this.path, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .slice(0, n);
    const complete = kept.filter((line) => {
      try {
        JSON.parse(line);
        return true;
      } catch {
        return false; // the torn last line of a killed run
      }
    });
    closeSync(this.fd);
    this.fd = null;
    writeFileAtomic(this.path, complete.map((line) => `${line}\n`).join(''));
    this.fd = openSync(this.path, 'a');
    this.records = complete.length;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Reads a metrics log back. A last line without its newline is the torn write of an interrupted run and is
 * ignored if it does not parse; any other bad line is an error naming the line.
 */
export function readMetrics(path: string): MetricRecord[] {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  const records: MetricRecord[] = [];
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    try {
      records.push(JSON.parse(line, decodeNonFinite) as MetricRecord);
    } catch (error) {
      const tornLastLine = index === lines.length - 1;
      if (!tornLastLine) throw new Error(`${path}:${index + 1}: invalid JSON: ${(error as Error).message}`);
    }
  });
  return records;
}

// JSON has no NaN or Infinity, and a NaN loss is exactly what a log must not lose: write them as strings.
function encodeNonFinite(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}

function decodeNonFinite(key: string, value: unknown): unknown {
  return NUMBER_FIELDS.has(key) && typeof value === 'string' && NON_FINITE.has(value) ? Number(value) : value;
}
