// Live-tensor counts that other tests' garbage cannot disturb. Tensors dropped without dispose() are freed by GC
// finalizers, which may run at any await; a test that compares counts across awaits first lets that garbage go.
import { memory } from '../../lib';

export const gc: () => void = (() => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('node:v8').setFlagsFromString('--expose-gc');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('node:vm').runInNewContext('gc');
})();

export const turn = () => new Promise((resolve) => setImmediate(resolve));
export const liveTensors = () => memory().numTensors;

/** Collects until the live count holds still for three rounds; returns it. */
export async function settledLiveTensors(): Promise<number> {
  let last = -1;
  for (let i = 0, stable = 0; i < 50 && stable < 3; i++) {
    stable = liveTensors() === last ? stable + 1 : 0;
    last = liveTensors();
    gc();
    await turn();
  }
  return liveTensors();
}
