/**
 * The per-op floor for the op-overhead rows: bench/aten-floor.cc, the same op chains in C++ against the same
 * libtorch. Compiled here with the system C++ compiler (into build/bench/) the first time, and whenever the
 * source is newer than the program.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface AtenFloor {
  threads: number;
  /** "add dispatcher 8x8", "add cpu kernel 8x8", ... */
  us_per_op: Record<string, number>;
}

export function measureAtenFloor(root: string, threads: number, reps: number): AtenFloor | { error: string } {
  const src = path.join(root, 'bench', 'aten-floor.cc');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const libtorch = require(path.join(root, 'scripts', 'libtorch.js')) as {
    locate(): { include: string[]; libdir: string; cxxStd: number; abi: number; version: string };
    libs(t: unknown): string[];
  };
  // Rebuilt when the source changes or the located libtorch is another one (its version is in the file name).
  const t = libtorch.locate();
  const exe = path.join(root, 'build', 'bench', `aten-floor-${t.version}`);
  if (!fs.existsSync(exe) || fs.statSync(exe).mtimeMs < fs.statSync(src).mtimeMs) {
    fs.mkdirSync(path.dirname(exe), { recursive: true });
    const cxx = process.env.CXX || 'g++';
    // The same standard, ABI and libraries (full paths) as the addon's build (scripts/libtorch.js).
    const args = [
      '-O2',
      `-std=c++${t.cxxStd}`,
      `-D_GLIBCXX_USE_CXX11_ABI=${t.abi}`,
      src,
      '-o',
      exe,
      ...t.include.map((i) => `-I${i}`),
      `-Wl,-rpath,${t.libdir}`,
      '-Wl,--no-as-needed',
      ...libtorch.libs(t),
      '-Wl,--allow-shlib-undefined',
    ];
    const c = spawnSync(cxx, args, { encoding: 'utf8' });
    if (c.status !== 0)
      return {
        error: `${cxx} could not build bench/aten-floor.cc: ${(c.stderr || c.error?.message || '').split('\n')[0]}`,
      };
  }
  const r = spawnSync(exe, [String(threads), String(reps)], { encoding: 'utf8', timeout: 10 * 60_000 });
  if (r.status !== 0)
    return { error: `bench/aten-floor failed: ${(r.stderr || r.error?.message || '').split('\n')[0]}` };
  return JSON.parse(r.stdout) as AtenFloor;
}
