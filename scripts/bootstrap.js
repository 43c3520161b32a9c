#!/usr/bin/env node
'use strict';
// Dependency-free set-up for a fresh clone: system packages (as root, when missing), npm packages,
// the native addon and the TypeScript build. Each step is skipped when it is already up to date.
const { execSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const argv = process.argv.slice(2);
const args = new Set(argv);
// --out DIR: build the addon into another folder (CI builds Debian's 1.13 and pip's CUDA libtorch beside the default).
const outIndex = argv.indexOf('--out');
const BUILD_DIR = outIndex >= 0 ? argv[outIndex + 1] : 'build';
const quiet = args.has('--quiet');
const log = (msg) => {
  if (!quiet) console.error(`[torch-lora setup] ${msg}`);
};
const run = (cmd, opts = {}) =>
  execSync(cmd, { cwd: root, stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit', ...opts });

function dpkgInstalled(pkg) {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Status}', pkg], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).includes('install ok installed');
  } catch {
    return false;
  }
}

// Debian's libtorch 1.13 is the fallback (no python3 with venv and pip), and what `--with-debian-libtorch` asks for
// (CI runs the suite on it too). OpenBLAS: without it Debian's libtorch falls back to the reference BLAS, 20x slower.
function ensureSystemPackages(wanted, optional = []) {
  let hasDpkg = true;
  try {
    execFileSync('dpkg-query', ['--version'], { stdio: 'ignore' });
  } catch {
    hasDpkg = false;
  }
  const missing = [...wanted, ...optional].filter((p) => !dpkgInstalled(p));
  if (!hasDpkg || missing.length === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const required = missing.filter((p) => wanted.includes(p));
  if (!isRoot) {
    log(`missing system packages: ${missing.join(' ')}. Run: sudo apt-get install -y ${missing.join(' ')}`);
    return;
  }
  log(`installing ${missing.join(' ')} with apt-get`);
  try {
    run('apt-get update -qq', { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    run(`apt-get install -y -qq --no-install-recommends ${missing.join(' ')}`, {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch (e) {
    if (required.length) throw e;
    // Optional packages (Gloo's headers for torch.distributed): build without them rather than fail.
    log(`could not install ${missing.join(' ')} (${e.message.split('\n')[0]}); building without them`);
  }
}

// libtorch 2.x by default: unless LIBTORCH / LIBTORCH_USE_PYTORCH / PYTHON choose one, the project's venv gets
// PyTorch (scripts/python-env.js); the same venv is the Python the benchmarks and interop tests compare with.
function ensureLibtorch() {
  const explicit =
    process.env.LIBTORCH || (process.env.LIBTORCH_USE_PYTORCH && process.env.LIBTORCH_USE_PYTORCH !== '0');
  // A libtorch chosen explicitly (e.g. a GPU machine's own PyTorch, offline) needs no venv; --with-venv makes it anyway.
  const wantVenv = process.env.TORCH_LORA_NO_VENV !== '1' && (!explicit || args.has('--with-venv'));
  const venv = wantVenv ? require('./python-env.js').ensureVenv(log, run) : null;
  const debian = args.has('--with-debian-libtorch') || (!explicit && !venv);
  // libgloo-dev: Gloo's headers, which c10d's ProcessGroupGloo.hpp includes (torch.distributed); the wheels lack them.
  ensureSystemPackages(
    [
      ...(debian ? ['libtorch-dev', 'libopenblas0-openmp'] : []),
      ...(args.has('--with-python') ? ['python3-torch'] : []),
    ],
    ['libgloo-dev'],
  );
}

function newestMtime(paths) {
  let newest = 0;
  const visit = (p) => {
    if (!fs.existsSync(p)) return;
    const st = fs.statSync(p);
    if (st.isDirectory()) {
      for (const e of fs.readdirSync(p)) if (e !== 'node_modules' && e !== 'results') visit(path.join(p, e));
    } else newest = Math.max(newest, st.mtimeMs);
  };
  paths.forEach((p) => visit(path.join(root, p)));
  return newest;
}
const mtime = (p) => (fs.existsSync(path.join(root, p)) ? fs.statSync(path.join(root, p)).mtimeMs : -1);

function ensureNodeModules() {
  const stamp = 'node_modules/.package-lock.json';
  if (mtime(stamp) >= Math.max(mtime('package-lock.json'), mtime('package.json'))) return;
  log('installing npm packages (npm ci)');
  run('npm ci --ignore-scripts --no-audit --no-fund');
}

const ADDON = `${BUILD_DIR}/Release/torch_lora.node`;
const TORCH_STAMP = `${BUILD_DIR}/libtorch.json`;
// Rebuilt when a source changed or when the libtorch the locator picks is not the one the addon was built against.
function ensureNative() {
  const { locate } = require('./libtorch.js');
  const torch = locate();
  // With NCCL or without is part of the build's identity (TORCH_LORA_NCCL, a toolkit installed since); the key is
  // absent without it, so that existing CPU builds keep their stamp.
  const chosen = JSON.stringify({
    root: torch.root,
    version: torch.version,
    libdir: torch.libdir,
    ...(torch.nccl ? { nccl: true } : {}),
  });
  const built = fs.existsSync(path.join(root, TORCH_STAMP))
    ? fs.readFileSync(path.join(root, TORCH_STAMP), 'utf8')
    : '';
  if (
    !args.has('--force-build') &&
    built === chosen &&
    mtime(ADDON) >= newestMtime(['native', 'CMakeLists.txt', 'scripts/libtorch.js'])
  )
    return;
  log(
    `building the native addon with cmake-js against libtorch ${torch.version} (${torch.source}: ${torch.root}; ${torch.why}; NCCL: ${torch.nccl ? 'yes' : `no, ${torch.ncclWhy}`})`,
  );
  const jobs = process.env.JOBS || String(require('node:os').cpus().length);
  const cmakeJs = `node "${require.resolve('cmake-js/bin/cmake-js', { paths: [root] })}"`;
  // CMakeLists.txt asks the locator at configure time only, and `compile` configures only a new folder: another libtorch
  // (or NCCL turned on or off) in an existing build folder must configure again, or ninja finds "no work to do".
  if (built !== chosen && fs.existsSync(path.join(root, BUILD_DIR, 'CMakeCache.txt')))
    run(`${cmakeJs} configure --out "${BUILD_DIR}"`);
  run(`${cmakeJs} compile --out "${BUILD_DIR}" --parallel ${jobs}`);
  fs.writeFileSync(path.join(root, TORCH_STAMP), chosen);
}

function ensureTypeScript() {
  if (
    !args.has('--force-build') &&
    mtime('dist/.stamp') >= newestMtime(['lib', 'bin', 'examples', 'bench', 'tsconfig.json'])
  )
    return;
  log('compiling TypeScript');
  run(`node "${require.resolve('typescript/bin/tsc', { paths: [root] })}" -p tsconfig.json`);
  fs.writeFileSync(path.join(root, 'dist/.stamp'), new Date().toISOString());
}

try {
  if (args.has('--native-only')) {
    ensureNative();
  } else if (args.has('--from-install')) {
    // `npm install torch-lora` in a user's project: the package ships dist/, only the addon is built.
    if (!fs.existsSync(path.join(root, 'native'))) process.exit(0);
    ensureNative();
  } else {
    ensureLibtorch();
    ensureNodeModules();
    ensureNative();
    ensureTypeScript();
  }
} catch (e) {
  console.error(`[torch-lora setup] failed: ${e.message}`);
  process.exit(1);
}
