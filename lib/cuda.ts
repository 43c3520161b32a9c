// torch.cuda's basics. The CPU build answers isAvailable() === false.
import { N } from './native';

export const cuda = {
  isAvailable: (): boolean => N.cudaIsAvailable(),
  deviceCount: (): number => N.cudaDeviceCount(),
  /** Waits for all kernels on one device (or every device) to finish. */
  synchronize: (device?: number): void => N.cudaSynchronize(device ?? null),
};

export const backend = {
  version: (): string => N.version(),
  getNumThreads: (): number => N.getNumThreads(),
  setNumThreads: (n: number): void => N.setNumThreads(n),
  parallelInfo: (): string => N.parallelInfo(),
  hasFusedAttention: (): boolean => N.hasFusedAttention(),
};
