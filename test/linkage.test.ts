// The addon links exactly one libtorch: the one scripts/libtorch.js chose for the build (a second libc10 from
// another install aborts at load in DispatchKeySet.cpp, and mixing versions is never safe). Checked on the file
// (its dynamic section, as the loader resolves it) and in this very process (what is mapped).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backend } from '../lib';

const root = path.join(__dirname, '..');
const addon = process.env.TORCH_LORA_ADDON ?? path.join(root, 'build', 'Release', 'torch_lora.node');
// What the bootstrap built against (build/libtorch.json), else what the locator picks now.
function chosenLibdir(): string {
  const stamp = path.join(path.dirname(path.dirname(addon)), 'libtorch.json');
  if (fs.existsSync(stamp)) return JSON.parse(fs.readFileSync(stamp, 'utf8')).libdir;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(root, 'scripts', 'libtorch.js')).locate().libdir;
}
const libdir = fs.realpathSync(chosenLibdir());
const isTorchLib = (name: string) => /^lib(torch|torch_cpu|torch_cuda|c10|c10_cuda)\.so/.test(name);

test('the dynamic section names libtorch, libtorch_cpu and libc10 (and the CUDA ones where this libtorch has them)', () => {
  const dyn = execFileSync('readelf', ['-d', addon], { encoding: 'utf8' });
  const needed = [...dyn.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]).filter(isTorchLib);
  const expected = ['torch', 'torch_cpu', 'c10', 'torch_cuda', 'c10_cuda'].filter((n) =>
    fs.existsSync(path.join(libdir, `lib${n}.so`)),
  );
  expect(needed.map((n) => n.replace(/^lib/, '').replace(/\.so.*$/, '')).sort()).toEqual(expected.sort());
});

test('the loader resolves every libtorch library inside the chosen libtorch, and one libc10 only', () => {
  const ldd = execFileSync('ldd', [addon], { encoding: 'utf8' });
  const resolved = [...ldd.matchAll(/^\s*(\S+) => (\S+)/gm)].filter((m) => isTorchLib(m[1]));
  expect(resolved.length).toBeGreaterThanOrEqual(3);
  for (const [, name, file] of resolved) {
    expect(`${name} -> ${path.dirname(fs.realpathSync(file))}`).toBe(`${name} -> ${libdir}`);
  }
  expect(resolved.filter(([, name]) => name.startsWith('libc10.so'))).toHaveLength(1);
});

test('this process has exactly one libc10 and one libtorch_cpu mapped, both from the chosen libtorch', () => {
  expect(backend.version()).toMatch(/^\d+\.\d+/); // the addon is loaded
  const maps = fs.readFileSync('/proc/self/maps', 'utf8');
  const files = new Set([...maps.matchAll(/\s(\/\S+)$/gm)].map((m) => m[1]));
  for (const lib of ['libc10.so', 'libtorch_cpu.so']) {
    const mapped = [...files].filter((f) => path.basename(f).startsWith(lib));
    expect(mapped).toHaveLength(1);
    expect(path.dirname(fs.realpathSync(mapped[0]))).toBe(libdir);
  }
});
