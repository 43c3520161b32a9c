// The second device that the GPU blocks of the suite run on: cuda where this machine has a GPU.
// TORCH_LORA_TEST_DEVICE picks another one (cuda:1), or cpu to exercise those blocks without a GPU.
import { cuda } from '../../lib';

export const otherDevice: string | null = process.env.TORCH_LORA_TEST_DEVICE ?? (cuda.isAvailable() ? 'cuda' : null);

/** The one placeholder a GPU block leaves where there is no GPU (and only then). */
export function skippedWithoutGpu(what: string): void {
  test.skip(`${what} on cuda: needs a GPU, cuda.isAvailable() is false here (scripts/gpu-test.sh runs this suite on the GPU machine)`, () => {});
}
