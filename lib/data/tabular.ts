/** Text-classification examples from CSV (RFC 4180) and JSON Lines files. */
import { readFileSync } from 'node:fs';

import { encodeLabels, findColumn, type ColumnOptions, type LabeledExamples, type RawExample } from './dataset';

export interface CsvRecord {
  fields: string[];
  /** 1-based line on which the record starts. */
  line: number;
}

/** Reads a CSV whose first record names the columns. */
export function loadCsv(
  path: string,
  { textColumn = 'text', labelColumn = 'label', labels }: ColumnOptions = {},
): LabeledExamples {
  const [header, ...records] = parseCsv(readText(path), path);
  if (!header) throw new Error(`${path}: empty file, expected a header row`);
  const textIndex = findColumn(header.fields, textColumn, `${path}:${header.line}`);
  const labelIndex = findColumn(header.fields, labelColumn, `${path}:${header.line}`);
  const rows = records.map(({ fields, line }): RawExample => {
    const text = fields[textIndex];
    const label = fields[labelIndex];
    if (text === undefined) throw new Error(`${path}:${line}: missing column '${textColumn}'`);
    if (!label) throw new Error(`${path}:${line}: missing or empty label column '${labelColumn}'`);
    return { text, label, line };
  });
  return encodeLabels(rows, path, labels);
}

/** Reads one JSON object per line; blank lines are skipped. */
export function loadJsonl(
  path: string,
  { textColumn = 'text', labelColumn = 'label', labels }: ColumnOptions = {},
): LabeledExamples {
  const rows: RawExample[] = [];
  readText(path)
    .split('\n')
    .forEach((source, index) => {
      if (source.trim() !== '') rows.push(jsonlRow(source, { path, line: index + 1, textColumn, labelColumn }));
    });
  return encodeLabels(rows, path, labels);
}

/**
 * RFC 4180: fields separated by commas, records by CRLF (LF and lone CR accepted too); a field in double quotes
 * may hold commas, line breaks and doubled quotes (""). Blank lines are skipped. `source` names the input in errors.
 */
export function parseCsv(text: string, source = 'csv'): CsvRecord[] {
  return new CsvReader(text, source).readAll();
}

class CsvReader {
  private pos = 0;
  private line = 1;

  constructor(
    private readonly text: string,
    private readonly source: string,
  ) {}

  readAll(): CsvRecord[] {
    const records: CsvRecord[] = [];
    while (this.pos < this.text.length) {
      const line = this.line;
      const fields = this.readRecord();
      const blank = fields.length === 1 && fields[0] === '';
      if (!blank) records.push({ fields, line });
    }
    return records;
  }

  private readRecord(): string[] {
    const fields: string[] = [];
    for (;;) {
      fields.push(this.text[this.pos] === '"' ? this.readQuoted() : this.readUnquoted());
      if (this.text[this.pos] !== ',') break;
      this.pos++;
    }
    this.skipLineBreak();
    return fields;
  }

  private readUnquoted(): string {
    const start = this.pos;
    while (this.pos < this.text.length && !isFieldEnd(this.text[this.pos])) this.pos++;
    return this.text.slice(start, this.pos);
  }

  private readQuoted(): string {
    const openedOn = this.line;
    let value = '';
    this.pos++;
    for (;;) {
      const close = this.text.indexOf('"', this.pos);
      if (close < 0) throw new Error(`${this.source}:${openedOn}: quoted field is never closed`);
      const piece = this.text.slice(this.pos, close);
      this.countLineBreaks(piece);
      value += piece;
      this.pos = close + 1;
      if (this.text[this.pos] !== '"') break;
      value += '"';
      this.pos++;
    }
    if (this.pos < this.text.length && !isFieldEnd(this.text[this.pos])) {
      throw new Error(`${this.source}:${this.line}: unexpected '${this.text[this.pos]}' after a closing quote`);
    }
    return value;
  }

  private countLineBreaks(piece: string): void {
    for (let i = piece.indexOf('\n'); i >= 0; i = piece.indexOf('\n', i + 1)) this.line++;
  }

  private skipLineBreak(): void {
    if (this.text[this.pos] === '\r') this.pos++;
    if (this.text[this.pos] === '\n') this.pos++;
    this.line++;
  }
}

function isFieldEnd(char: string): boolean {
  return char === ',' || char === '\n' || char === '\r';
}

interface JsonlContext {
  path: string;
  line: number;
  textColumn: string;
  labelColumn: string;
}

function jsonlRow(source: string, { path, line, textColumn, labelColumn }: JsonlContext): RawExample {
  const where = `${path}:${line}`;
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch (error) {
    throw new Error(`${where}: invalid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`${where}: expected a JSON object`);
  const record = value as Record<string, unknown>;
  const text = record[textColumn];
  const label = record[labelColumn];
  if (typeof text !== 'string') throw new Error(`${where}: missing column '${textColumn}' (or it is not a string)`);
  if (!isLabelValue(label))
    throw new Error(`${where}: missing column '${labelColumn}' (or it is not a string, number or boolean)`);
  return { text, label: String(label), line };
}

function isLabelValue(label: unknown): label is string | number | boolean {
  return (typeof label === 'string' && label !== '') || typeof label === 'number' || typeof label === 'boolean';
}

function readText(path: string): string {
  return readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
}
