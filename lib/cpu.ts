// CPU memory tuning, opt-in because it changes the whole process (native/cpu_tuning.cc says what and why):
// a caching allocator for tensor data (no page faults for the activations of every step: the LoRA step at 8x512
// tokens took 1.2 million faults without it) and, if asked, glibc malloc thresholds. Our CLI, demo and benchmarks
// turn it on; a library user does with `cpu.enableTuning()` or TORCH_LORA_CPU_TUNING=1.
import * as fs from 'node:fs';
import { N } from './native';

export interface CpuTuningInfo {
  /** The caching allocator is installed. */
  enabled: boolean;
  /** glibc malloc thresholds were changed (M_MMAP_THRESHOLD 32 MiB, M_TRIM_THRESHOLD 256 MiB). */
  mallocTuned: boolean;
  /** Free blocks kept for reuse. */
  cachedBytes: number;
  /** Blocks mapped by the allocator, in use or cached. */
  mappedBytes: number;
  /** OpenBLAS's kernel set in use, or null (another BLAS: MKL in PyTorch's wheels). */
  blasCore: string | null;
}

export interface CpuTuningOptions {
  /** Most free memory the cache keeps, in MiB (default 4096, or TORCH_LORA_CPU_CACHE_MB). */
  cacheMb?: number;
  /** Also tune glibc malloc (default false; explicit GLIBC_TUNABLES / MALLOC_*_ settings always win). */
  malloc?: boolean;
}

function envCacheMb(): number {
  const v = process.env.TORCH_LORA_CPU_CACHE_MB;
  if (v === undefined || v === '') return 4096;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`TORCH_LORA_CPU_CACHE_MB must be a whole number of MiB, got '${v}'`);
  return n;
}

export const cpu = {
  /** Installs the caching allocator (again: a new cache limit). Process-wide, for every thread. */
  enableTuning(opts: CpuTuningOptions = {}): void {
    const cacheMb = opts.cacheMb ?? envCacheMb();
    if (!Number.isInteger(cacheMb) || cacheMb < 0)
      throw new Error(`cpu.enableTuning: cacheMb must be a whole number >= 0, got ${cacheMb}`);
    N.enableCpuTuning(cacheMb, opts.malloc ?? false);
  },
  /** Back to libtorch's allocator; cached blocks are returned to the system. (Malloc settings stay: glibc has no undo.) */
  disableTuning(): void {
    N.disableCpuTuning();
  },
  /** Returns the allocator's cached free blocks to the system, as torch.cuda.empty_cache() does on a GPU. */
  emptyCache(): void {
    N.emptyCpuCache();
  },
  tuningInfo(): CpuTuningInfo {
    return N.cpuTuning();
  },
  /**
   * Whether this CPU computes bf16 natively (AVX512-BF16 or AMX-BF16), the case where bf16 autocast beats float32
   * on CPU (the demo's LoRA step: 8.8 s vs 13.1 s an epoch on an AVX512-BF16 EPYC); elsewhere bf16 is emulated and
   * slower. Read from the kernel's CPU flags (Linux); false where they cannot be read.
   */
  hasNativeBf16(): boolean {
    return nativeBf16();
  },
};

let bf16Flags: boolean | undefined;
function nativeBf16(): boolean {
  if (bf16Flags === undefined) {
    let flags = '';
    try {
      // The first processor's flags line; every core of one machine has the same set.
      const info = fs.readFileSync('/proc/cpuinfo', 'latin1');
      flags = /^flags\s*:(.*)$/m.exec(info)?.[1] ?? '';
    } catch {
      // not Linux, or /proc hidden: assume no native bf16 (float32 is the safe choice)
    }
    bf16Flags = /\b(avx512_bf16|amx_bf16)\b/.test(flags);
  }
  return bf16Flags;
}

// TORCH_LORA_CPU_TUNING=1 (or "malloc": with malloc tuning too) turns it on when the library loads.
const requested = process.env.TORCH_LORA_CPU_TUNING;
if (requested === '1' || requested === 'on' || requested === 'true' || requested === 'malloc')
  cpu.enableTuning({ malloc: requested === 'malloc' });
