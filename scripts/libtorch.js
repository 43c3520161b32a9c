#!/usr/bin/env node
'use strict';
// Locates libtorch the way tch-rs does: LIBTORCH=/path, LIBTORCH_USE_PYTORCH=1 (ask python3), or the system install.
// Prints a JSON description, or one of --cmake-prefix / --include / --libdir / --libs for build files.
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const SYSTEM_PREFIXES = ['/usr/lib/x86_64-linux-gnu/cmake/Torch', '/usr/lib/aarch64-linux-gnu/cmake/Torch', '/usr/local/share/cmake/Torch'];

function fromRoot(root, source) {
  const cmakeDir = path.join(root, 'share', 'cmake', 'Torch');
  const include = [path.join(root, 'include'), path.join(root, 'include', 'torch', 'csrc', 'api', 'include')];
  return { source, root, cmakePrefix: path.join(root, 'share', 'cmake'), cmakeDir, include, libdir: path.join(root, 'lib') };
}

function locate() {
  if (process.env.LIBTORCH) {
    const root = path.resolve(process.env.LIBTORCH);
    if (!fs.existsSync(path.join(root, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'))) {
      throw new Error(`LIBTORCH=${root} is not a libtorch folder (no share/cmake/Torch/TorchConfig.cmake). Point it at an unpacked libtorch.`);
    }
    return fromRoot(root, 'LIBTORCH');
  }
  if (process.env.LIBTORCH_USE_PYTORCH && process.env.LIBTORCH_USE_PYTORCH !== '0') {
    const py = process.env.PYTHON || 'python3';
    let prefix;
    try {
      prefix = execFileSync(py, ['-c', 'import torch.utils; print(torch.utils.cmake_prefix_path)'], { encoding: 'utf8' }).trim();
    } catch (e) {
      throw new Error(`LIBTORCH_USE_PYTORCH=1 but '${py} -c "import torch"' failed: install PyTorch for ${py} or set PYTHON.`);
    }
    return fromRoot(path.resolve(prefix, '..', '..'), 'LIBTORCH_USE_PYTORCH');
  }
  for (const dir of SYSTEM_PREFIXES) {
    if (fs.existsSync(path.join(dir, 'TorchConfig.cmake'))) {
      const libdir = path.resolve(dir, '..', '..');
      return { source: 'system', root: '/usr', cmakePrefix: path.dirname(dir), cmakeDir: dir, include: ['/usr/include', '/usr/include/torch/csrc/api/include'], libdir };
    }
  }
  throw new Error('libtorch not found. Install it (Debian/Ubuntu: `sudo apt-get install libtorch-dev libopenblas0-openmp`), ' +
    'or set LIBTORCH=/path/to/libtorch, or LIBTORCH_USE_PYTORCH=1 to use the PyTorch installed for python3.');
}

// The libraries to link; the CUDA ones only where this libtorch has them.
function libs(t) {
  const names = ['torch', 'torch_cpu', 'c10'];
  for (const cuda of ['torch_cuda', 'c10_cuda']) {
    if (fs.existsSync(path.join(t.libdir, `lib${cuda}.so`))) names.push(cuda);
  }
  return names;
}

module.exports = { locate, libs };

if (require.main === module) {
  try {
    const t = locate();
    const arg = process.argv[2];
    if (arg === '--cmake-prefix') console.log(t.cmakePrefix);
    else if (arg === '--include') console.log(t.include.join(' '));
    else if (arg === '--libdir') console.log(t.libdir);
    else if (arg === '--libs') console.log(libs(t).map((l) => '-l' + l).join(' '));
    else console.log(JSON.stringify(t, null, 2));
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
