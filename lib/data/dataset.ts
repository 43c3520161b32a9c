/** The data model every loader returns (texts with class ids, and the names those ids index), and the helpers they share. */
import { clipText } from '../io/describe';
import { MAX_CLASSES } from '../io/hf-labels';

export interface TextExample {
  text: string;
  label: number;
}

export interface TextDataset {
  name: string;
  /** labels[id] is the name of class id. */
  labels: string[];
  train: TextExample[];
  validation?: TextExample[];
  test?: TextExample[];
}

/** Examples read from one file, with the class names their ids index. */
export interface LabeledExamples {
  examples: TextExample[];
  labels: string[];
}

/** Which columns of a TSV, CSV or JSONL file hold the text and the label. */
export interface ColumnOptions {
  textColumn?: string;
  labelColumn?: string;
  /** The class names from another file of the same dataset, so both map labels to the same ids. */
  labels?: readonly string[];
}

/** A row as read from a file, before its label is turned into a class id. */
export interface RawExample {
  text: string;
  label: string;
  /** 1-based line of the row in its file, for error messages. */
  line: number;
}

const INTEGER_LABEL = /^\d+$/;

export { MAX_CLASSES } from '../io/hf-labels';

/**
 * Turns raw labels into class ids. If every label is a non-negative integer, the ids are those integers and
 * labels[i] is String(i). Otherwise each distinct label gets its index in sorted order (by code unit, so the
 * mapping does not depend on the locale).
 *
 * Files of one dataset (train, dev) must share ids even when one lacks a class: pass the first file's `labels`
 * as `known` for the others, and a label outside them is an error naming its line in `path`.
 */
export function encodeLabels(rows: RawExample[], path: string, known?: readonly string[]): LabeledExamples {
  if (known) return encodeWithKnownLabels(rows, path, known);
  if (rows.every((row) => INTEGER_LABEL.test(row.label))) return keepIntegerLabels(rows, path);
  return encodeWithKnownLabels(rows, path, distinctLabels(rows, path).sort(compareCodeUnits));
}

/**
 * The number of classes K for integer class ids 0..K-1 (ids absent from this set are allowed: a small split may lack
 * a class). Throws, naming `where(i)`, for an id that is not an integer in 0..MAX_CLASSES-1. A loop, not
 * Math.max(...ids): spreading 150,000 arguments overflows the call stack.
 */
export function classCount(ids: readonly number[], where: (index: number) => string): number {
  let count = 0;
  ids.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0)
      throw new Error(`${where(i)}: label ${clipText(String(id))} is not a class id (an integer label 0..n-1)`);
    if (id >= MAX_CLASSES)
      throw new Error(
        `${where(i)}: label ${id} is beyond the ${MAX_CLASSES} classes allowed (integer labels are class ids 0..K-1)`,
      );
    if (id >= count) count = id + 1;
  });
  return count;
}

/** The index of a named column in a header row; `where` ("file:line") prefixes the error. */
export function findColumn(header: string[], column: string, where: string): number {
  const index = header.indexOf(column);
  if (index < 0) throw new Error(`${where}: no column '${column}' (columns: ${header.join(', ')})`);
  return index;
}

function distinctLabels(rows: RawExample[], path: string): string[] {
  const seen = new Set<string>();
  for (const row of rows) {
    seen.add(row.label);
    if (seen.size > MAX_CLASSES) {
      throw new Error(
        `${path}:${row.line}: more than ${MAX_CLASSES} distinct labels (classes) by this line; is the label column the right one?`,
      );
    }
  }
  return [...seen];
}

function encodeWithKnownLabels(rows: RawExample[], path: string, known: readonly string[]): LabeledExamples {
  const ids = new Map(known.map((label, id) => [label, id]));
  const examples = rows.map((row) => {
    const label = ids.get(row.label);
    if (label === undefined)
      throw new Error(
        `${path}:${row.line}: label '${clipText(row.label)}' is not one of ${clipText(known.join(', '))}`,
      );
    return { text: row.text, label };
  });
  return { examples, labels: [...known] };
}

function keepIntegerLabels(rows: RawExample[], path: string): LabeledExamples {
  const ids = rows.map((row) => Number(row.label));
  const count = classCount(ids, (i) => `${path}:${rows[i].line}`);
  const examples = rows.map((row, i) => ({ text: row.text, label: ids[i] }));
  return { examples, labels: Array.from({ length: count }, (_, id) => String(id)) };
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
