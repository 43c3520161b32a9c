// Classification scores from a confusion matrix (rows: true class, columns: predicted class).

export function confusionMatrix(
  truth: ArrayLike<number>,
  predicted: ArrayLike<number>,
  numClasses: number,
): number[][] {
  if (truth.length !== predicted.length)
    throw new Error(`confusionMatrix: ${truth.length} labels but ${predicted.length} predictions`);
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < truth.length; i++) m[truth[i]][predicted[i]]++;
  return m;
}

/**
 * The unweighted mean of per-class F1 = 2·TP / (2·TP + FP + FN) over the classes that occur as a label or a
 * prediction (scikit-learn's f1_score(average='macro')).
 */
export function macroF1(confusion: number[][]): number {
  let sum = 0,
    classes = 0;
  for (let c = 0; c < confusion.length; c++) {
    const tp = confusion[c][c];
    const fn = confusion[c].reduce((a, b) => a + b, 0) - tp;
    const fp = confusion.reduce((a, row) => a + row[c], 0) - tp;
    if (tp + fn + fp === 0) continue;
    sum += (2 * tp) / (2 * tp + fp + fn);
    classes++;
  }
  return classes ? sum / classes : 0;
}
