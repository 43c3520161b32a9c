// The CPU tuning changes the whole process, so loading the library must not turn it on (a server embedding us keeps
// libtorch's allocator and glibc's malloc settings); cpu.enableTuning() does, cpu.emptyCache() returns its cache,
// memory() reports what it keeps, and disableTuning() goes back to libtorch's allocator.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as torch from '../lib';

const { cpu } = torch;
const root = path.join(__dirname, '..');
const MiB = 1 << 20;
/** Makes two 8 MiB tensors and frees both. */
const twoBlocksFreed = () =>
  torch.tidy(() =>
    torch
      .ones([2 * MiB])
      .mul(2)
      .sum()
      .item(),
  );

test('loading the library changes nothing process-wide; TORCH_LORA_CPU_TUNING=1 opts in', () => {
  const probe = (env: NodeJS.ProcessEnv) => {
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        `process.stdout.write(JSON.stringify(require(${JSON.stringify(path.join(root, 'dist', 'lib'))}).cpu.tuningInfo()))`,
      ],
      { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout);
  };
  const { TORCH_LORA_CPU_TUNING: _, ...clean } = process.env;
  const off = probe({ ...clean, TORCH_LORA_CPU_TUNING: '' });
  expect(off).toMatchObject({ enabled: false, mallocTuned: false, cachedBytes: 0, mappedBytes: 0 });
  expect(probe({ TORCH_LORA_CPU_TUNING: '1' })).toMatchObject({ enabled: true, mallocTuned: false });
  expect(probe({ TORCH_LORA_CPU_TUNING: 'malloc' })).toMatchObject({ enabled: true, mallocTuned: true });
});

test('enabled, freed large blocks are cached for reuse; emptyCache returns them; disable goes back', () => {
  if (process.env.TORCH_LORA_CPU_TUNING) cpu.disableTuning();
  expect(cpu.tuningInfo().enabled).toBe(false);
  const before = torch.zeros([MiB]); // made by libtorch's allocator, freed after the switch: must still free cleanly
  cpu.enableTuning({ cacheMb: 64 });
  try {
    expect(cpu.tuningInfo()).toMatchObject({ enabled: true, mallocTuned: false });
    before.dispose();
    twoBlocksFreed();
    const cached = cpu.tuningInfo().cachedBytes;
    expect(cached).toBeGreaterThanOrEqual(16 * MiB);
    expect(torch.memory().cpuCachedBytes).toBe(cached);
    // The same sizes again are served from the cache: nothing new is mapped.
    const mapped = cpu.tuningInfo().mappedBytes;
    twoBlocksFreed();
    expect(cpu.tuningInfo().mappedBytes).toBe(mapped);
    cpu.emptyCache();
    expect(torch.memory().cpuCachedBytes).toBe(0);
    // The cache limit holds: 64 MiB of free blocks at most.
    torch.tidy(() => {
      Array.from({ length: 12 }, () => torch.zeros([2 * MiB]));
    });
    expect(cpu.tuningInfo().cachedBytes).toBeLessThanOrEqual(64 * MiB);
    const kept = torch.keep(torch.ones([MiB])); // made by our allocator, freed after disabling it
    cpu.disableTuning();
    expect(cpu.tuningInfo()).toMatchObject({ enabled: false, cachedBytes: 0 });
    expect(kept.sum().item()).toBe(MiB);
    kept.dispose();
    expect(cpu.tuningInfo().mappedBytes).toBe(0);
  } finally {
    cpu.disableTuning();
  }
  expect(() => cpu.enableTuning({ cacheMb: -1 })).toThrow(/cacheMb must be a whole number >= 0, got -1/);
});

test("a cast model's old weights go back to the system, not to the cache (no float32 copy kept beside the bf16 one)", () => {
  if (process.env.TORCH_LORA_CPU_TUNING) cpu.disableTuning();
  cpu.enableTuning({ cacheMb: 256 });
  try {
    // four 512x1024 float32 weights, 2 MiB each: large blocks of the caching allocator
    const m = new torch.nn.Sequential(...Array.from({ length: 4 }, () => new torch.nn.Linear(1024, 512)));
    cpu.emptyCache();
    const before = cpu.tuningInfo();
    m.to('bfloat16');
    const after = cpu.tuningInfo();
    expect(after.cachedBytes).toBe(before.cachedBytes);
    // 8 MiB of float32 blocks unmapped, 4 MiB of bf16 blocks mapped (plus size-class rounding)
    expect(before.mappedBytes - after.mappedBytes).toBeGreaterThanOrEqual(3 * MiB);
    expect(m.parameters().map((p) => p.dtype)).toEqual(Array(8).fill('bfloat16'));
    // freeing the bf16 weights later caches them as usual
    m.dispose();
    expect(cpu.tuningInfo().cachedBytes).toBeGreaterThanOrEqual(4 * MiB);
  } finally {
    cpu.disableTuning();
  }
});

describe('cpu.hasNativeBf16', () => {
  it("agrees with the kernel's CPU flags (AVX512-BF16 or AMX-BF16)", () => {
    let flags = '';
    try {
      flags = /^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'latin1'))?.[1] ?? '';
    } catch {
      // no /proc: the answer must be false
    }
    expect(torch.cpu.hasNativeBf16()).toBe(flags.split(/\s+/).some((f) => f === 'avx512_bf16' || f === 'amx_bf16'));
  });
});
