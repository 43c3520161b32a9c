// Class names as Hugging Face configs hold them: id2label {"0": name, ...} and its inverse label2id.

/**
 * The most classes a classifier may have. Integer labels are class ids, so a label of 1e8 would otherwise ask for a
 * 100-million-way head (and an array of names as long); a text column taken for the labels would ask for one class
 * per row. Ten thousand is beyond any text-classification label set we know of.
 */
export const MAX_CLASSES = 10_000;

export interface LabelConfig {
  id2label?: Record<string, string>;
  label2id?: Record<string, number>;
}

/** transformers' names for classes nobody named: LABEL_0, LABEL_1, ... */
export function placeholderLabels(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `LABEL_${i}`);
}

/** The class names in index order (placeholders where id2label lacks one); at least two classes, as transformers. */
export function labelNames(config: LabelConfig): string[] {
  const n = Object.keys(config.id2label ?? {}).length || 2;
  return placeholderLabels(n).map((placeholder, i) => config.id2label?.[String(i)] ?? placeholder);
}

/** Names the classes: id2label and label2id from a list or an index-to-name map. */
export function setLabelNames(config: LabelConfig, names: Record<number, string> | string[]): void {
  const list = Array.isArray(names)
    ? names
    : Object.keys(names)
        .sort((a, b) => Number(a) - Number(b))
        .map((k) => names[Number(k)]);
  if (list.length === 0 || list.some((n) => typeof n !== 'string'))
    throw new Error(`id2label: expected class names, got ${JSON.stringify(names)}`);
  config.id2label = Object.fromEntries(list.map((n, i) => [String(i), n]));
  config.label2id = Object.fromEntries(list.map((n, i) => [n, i]));
}
