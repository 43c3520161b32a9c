#!/usr/bin/env node
'use strict';
// Locates libtorch the way tch-rs does and describes it for both build files, so that neither needs TorchConfig.cmake
// (which insists on a CUDA toolkit for pip's CUDA wheels, and whose find_library(c10) picks Debian's libc10 over the
// wheel's when both are installed: the addon then loaded two libc10s and aborted in DispatchKeySet.cpp).
//
// Order: LIBTORCH=/path -> LIBTORCH_USE_PYTORCH=1 (asks $PYTHON or python3) -> LIBTORCH_USE_SYSTEM=1 (Debian's) ->
// PYTHON -> an importable PyTorch >= 2.0 (python3) -> the project's own venv (.venv, made by scripts/bootstrap.js) ->
// Debian's libtorch-dev (1.13), the fallback.
//
// Prints JSON, or one of: --cmake (a CMake script that sets TL_TORCH_*, TL_WITH_GLOO, TL_WITH_NCCL), --include,
// --libdir, --libs (full paths), --cxx-std, --abi, --gloo (1 when Gloo's headers exist: torch.distributed), --nccl (1
// when ProcessGroupNCCL can be compiled too), --nccl-include, --nccl-defines, --version, --source.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const SYSTEM_CMAKE_DIRS = [
  '/usr/lib/x86_64-linux-gnu/cmake/Torch',
  '/usr/lib/aarch64-linux-gnu/cmake/Torch',
  '/usr/local/share/cmake/Torch',
];
const venvPython = () => path.join(root, '.venv', 'bin', 'python');

const read = (f) => {
  try {
    return fs.readFileSync(f, 'utf8');
  } catch {
    return '';
  }
};

/** libtorch's version from its headers: { major, minor, patch, text }. */
function headerVersion(includeDirs) {
  for (const dir of includeDirs) {
    for (const rel of ['torch/headeronly/version.h', 'torch/version.h', 'torch/csrc/api/include/torch/version.h']) {
      const src = read(path.join(dir, rel));
      const num = (k) => {
        const m = src.match(new RegExp(`#define\\s+TORCH_VERSION_${k}\\s+(\\d+)`));
        return m ? Number(m[1]) : null;
      };
      if (num('MAJOR') !== null) {
        const v = { major: num('MAJOR'), minor: num('MINOR') ?? 0, patch: num('PATCH') ?? 0 };
        return { ...v, text: `${v.major}.${v.minor}.${v.patch}` };
      }
    }
  }
  return null;
}

/** A libtorch laid out as an unpacked archive or a wheel's torch/ folder: include/, lib/, share/cmake/Torch. */
function fromRoot(torchRoot, source, why) {
  const cmakeDir = path.join(torchRoot, 'share', 'cmake', 'Torch');
  const include = [path.join(torchRoot, 'include'), path.join(torchRoot, 'include', 'torch', 'csrc', 'api', 'include')];
  return describe({ source, why, root: torchRoot, cmakeDir, include, libdir: path.join(torchRoot, 'lib') });
}

function describe(t) {
  const config = read(path.join(t.cmakeDir, 'TorchConfig.cmake'));
  const std = config.match(/CXX_STANDARD\s+(\d+)/);
  const abi = config.match(/_GLIBCXX_USE_CXX11_ABI=(\d)/);
  const version = headerVersion(t.include);
  // The C++ standard libtorch declares for its users (20 from 2.x's newer headers), never below 17 (our sources).
  const cxxStd = Math.max(17, std ? Number(std[1]) : 17);
  // Gloo's headers (c10d's ProcessGroupGloo.hpp includes them; neither Debian's libtorch-dev nor the wheels ship them).
  const gloo = [...t.include, '/usr/include', '/usr/local/include'].some((d) =>
    fs.existsSync(path.join(d, 'gloo', 'algorithm.h')),
  );
  return {
    ...t,
    version: version ? version.text : 'unknown',
    cxxStd,
    abi: abi ? Number(abi[1]) : 1,
    gloo,
    ...nccl(t, gloo),
  };
}

// The headers ProcessGroupNCCL.hpp pulls in beyond libtorch's own: the CUDA runtime and the libraries
// ATen/cuda/CUDAContext.h includes, NCCL's, and CCCL's nv/target (which cuda_fp16.h includes; pip has no wheel of it).
const NCCL_HEADERS = ['cuda_runtime_api.h', 'cublas_v2.h', 'cusparse.h', 'cusolverDn.h', 'nccl.h', 'nv/target'];

/**
 * Whether ProcessGroupNCCL can be compiled: libtorch was built with it (libtorch_cuda and USE_C10D_NCCL among its
 * exported definitions), Gloo is there (the c10d code holds both), and every header in NCCL_HEADERS is found in the
 * CUDA wheels beside a pip libtorch (site-packages/nvidia/<name>/include), $CUDA_HOME or $CUDA_PATH, /usr/local/cuda
 * or /usr/include. No toolkit is required: without the headers the addon builds without NCCL and
 * initProcessGroup({ backend: 'nccl' }) says why. TORCH_LORA_NCCL=0 turns it off, =1 makes a missing piece an error.
 */
function nccl(t, gloo) {
  const mode = process.env.TORCH_LORA_NCCL ?? 'auto';
  const off = (why) => {
    if (mode === '1') throw new Error(`TORCH_LORA_NCCL=1 but NCCL cannot be compiled: ${why}`);
    return { nccl: false, ncclWhy: why, ncclInclude: [] };
  };
  if (mode === '0') return off('TORCH_LORA_NCCL=0');
  if (!fs.existsSync(path.join(t.libdir, 'libtorch_cuda.so')))
    return off('this libtorch has no CUDA (no libtorch_cuda.so)');
  if (!/USE_C10D_NCCL/.test(read(path.join(t.cmakeDir, '..', 'Caffe2', 'Caffe2Targets.cmake'))))
    return off('this libtorch was built without NCCL (no USE_C10D_NCCL)');
  if (!gloo) return off("Gloo's headers are missing (the c10d code needs them for every backend)");
  const wheels = path.join(t.root, '..', 'nvidia');
  const candidates = [
    ...(fs.existsSync(wheels)
      ? fs
          .readdirSync(wheels)
          .sort()
          .map((d) => path.join(wheels, d, 'include'))
      : []),
    ...[process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda']
      .filter(Boolean)
      .map((d) => path.join(d, 'include')),
  ]
    .map((d) => path.resolve(d))
    .filter((d, i, all) => fs.existsSync(d) && all.indexOf(d) === i);
  const has = (d, h) => fs.existsSync(path.join(d, h));
  const missing = NCCL_HEADERS.filter((h) => ![...candidates, '/usr/include'].some((d) => has(d, h)));
  if (missing.length)
    return off(
      `headers not found: ${missing.join(', ')} (looked in ${[...candidates, '/usr/include'].join(', ')}; set CUDA_HOME)`,
    );
  return { nccl: true, ncclWhy: 'found', ncclInclude: candidates.filter((d) => NCCL_HEADERS.some((h) => has(d, h))) };
}

function pythonTorchRoot(py) {
  const out = execFileSync(
    py,
    ['-c', 'import torch, os; print(torch.__version__); print(os.path.dirname(torch.__file__))'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60000 },
  )
    .trim()
    .split('\n');
  return { version: out[0], root: out[1] };
}

function fromPython(py, source, why, minMajor = 0) {
  let found;
  try {
    found = pythonTorchRoot(py);
  } catch {
    return null;
  }
  if (Number(found.version.split('.')[0]) < minMajor) return null;
  if (!fs.existsSync(path.join(found.root, 'include', 'ATen'))) return null; // a PyTorch without C++ headers
  return fromRoot(found.root, source, `${why} (PyTorch ${found.version})`);
}

function systemLibtorch(why) {
  for (const dir of SYSTEM_CMAKE_DIRS) {
    if (fs.existsSync(path.join(dir, 'TorchConfig.cmake'))) {
      const libdir = path.resolve(dir, '..', '..');
      return describe({
        source: 'system',
        why,
        root: '/usr',
        cmakeDir: dir,
        include: ['/usr/include', '/usr/include/torch/csrc/api/include'],
        libdir,
      });
    }
  }
  return null;
}

function fail(message) {
  throw new Error(message);
}

function locate() {
  if (process.env.LIBTORCH) {
    const dir = path.resolve(process.env.LIBTORCH);
    if (!fs.existsSync(path.join(dir, 'include', 'ATen')) || !fs.existsSync(path.join(dir, 'lib'))) {
      throw new Error(
        `LIBTORCH=${dir} is not a libtorch folder (no include/ATen and lib/). Point it at an unpacked libtorch.`,
      );
    }
    return fromRoot(dir, 'LIBTORCH', 'LIBTORCH is set');
  }
  if (process.env.LIBTORCH_USE_PYTORCH && process.env.LIBTORCH_USE_PYTORCH !== '0') {
    const py = process.env.PYTHON || 'python3';
    const t = fromPython(py, 'LIBTORCH_USE_PYTORCH', `LIBTORCH_USE_PYTORCH is set: the PyTorch of ${py}`);
    if (!t)
      throw new Error(
        `LIBTORCH_USE_PYTORCH=1 but '${py} -c "import torch"' failed (or that PyTorch has no C++ headers): install PyTorch for ${py} or set PYTHON.`,
      );
    return t;
  }
  if (process.env.LIBTORCH_USE_SYSTEM === '1')
    return (
      systemLibtorch('LIBTORCH_USE_SYSTEM=1') ??
      fail("LIBTORCH_USE_SYSTEM=1 but Debian's libtorch-dev is not installed")
    );
  if (process.env.PYTHON) {
    const t = fromPython(process.env.PYTHON, 'PYTHON', `PYTHON=${process.env.PYTHON}`);
    if (t) return t;
  }
  if (process.env.TORCH_LORA_SKIP_SYSTEM_PYTORCH !== '1') {
    const t = fromPython('python3', 'python3', 'an importable PyTorch >= 2.0 (python3)', 2);
    if (t) return t;
  }
  if (fs.existsSync(venvPython())) {
    const t = fromPython(venvPython(), 'venv', "the project's venv (.venv, made by the bootstrap)", 2);
    if (t) return t;
  }
  const system = systemLibtorch("Debian's libtorch-dev (the fallback: no PyTorch >= 2.0 found)");
  if (system) return system;
  throw new Error(
    'libtorch not found. Run `node scripts/bootstrap.js` (it makes a venv with PyTorch), or set LIBTORCH=/path/to/libtorch, ' +
      "or LIBTORCH_USE_PYTORCH=1 to use the PyTorch installed for python3, or install Debian's libtorch-dev libopenblas0-openmp.",
  );
}

// The libraries to link, as full paths inside the chosen libtorch only (no search path can substitute another
// install's copy); the CUDA ones where this libtorch has them.
function libs(t) {
  const names = ['torch', 'torch_cpu', 'c10'];
  for (const cuda of ['torch_cuda', 'c10_cuda']) {
    if (fs.existsSync(path.join(t.libdir, `lib${cuda}.so`))) names.push(cuda);
  }
  return names.map((n) => path.join(t.libdir, `lib${n}.so`));
}

/** A CMake script for CMakeLists.txt to include. */
function cmakeScript(t) {
  const q = (s) => `"${s.replace(/\\/g, '/').replace(/"/g, '\\"')}"`;
  return [
    `set(TL_TORCH_INCLUDE_DIRS ${t.include.map(q).join(' ')})`,
    `set(TL_TORCH_LIBRARIES ${libs(t).map(q).join(' ')})`,
    `set(TL_TORCH_LIBDIR ${q(t.libdir)})`,
    `set(TL_TORCH_CXX_STANDARD ${t.cxxStd})`,
    `set(TL_TORCH_ABI ${t.abi})`,
    `set(TL_WITH_GLOO ${t.gloo ? 1 : 0})`,
    `set(TL_WITH_NCCL ${t.nccl ? 1 : 0})`,
    `set(TL_NCCL_WHY ${q(t.ncclWhy)})`,
    `set(TL_NCCL_INCLUDE_DIRS ${t.ncclInclude.map(q).join(' ')})`,
    `set(TL_TORCH_VERSION ${q(t.version)})`,
    `set(TL_TORCH_SOURCE ${q(`${t.source}: ${t.root}`)})`,
    '',
  ].join('\n');
}

module.exports = { locate, libs, cmakeScript };

if (require.main === module) {
  try {
    const t = locate();
    const arg = process.argv[2];
    if (arg === '--cmake') {
      const out = process.argv[3];
      if (out) fs.writeFileSync(out, cmakeScript(t));
      else process.stdout.write(cmakeScript(t));
    } else if (arg === '--include') console.log(t.include.join(' '));
    else if (arg === '--libdir') console.log(t.libdir);
    else if (arg === '--libs') console.log(libs(t).join(' '));
    else if (arg === '--cxx-std') console.log(t.cxxStd);
    else if (arg === '--abi') console.log(t.abi);
    else if (arg === '--gloo') console.log(t.gloo ? 1 : 0);
    else if (arg === '--nccl') console.log(t.nccl ? 1 : 0);
    else if (arg === '--nccl-include') console.log(t.ncclInclude.join(' '));
    else if (arg === '--nccl-defines') console.log(t.nccl ? 'TL_WITH_NCCL=1 USE_C10D_NCCL' : '');
    else if (arg === '--version') console.log(t.version);
    else if (arg === '--source') console.log(`${t.source}: ${t.root} (${t.why})`);
    else console.log(JSON.stringify({ ...t, libs: libs(t) }, null, 2));
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
