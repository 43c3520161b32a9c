#!/usr/bin/env node
'use strict';
// Dependency-free set-up for a fresh clone: system packages (as root, when missing), npm packages,
// the native addon and the TypeScript build. Each step is skipped when it is already up to date.
const { execSync, execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const args = new Set(process.argv.slice(2));
const quiet = args.has('--quiet');
const log = (msg) => { if (!quiet) console.error(`[torch-lora setup] ${msg}`); };
const run = (cmd, opts = {}) => execSync(cmd, { cwd: root, stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit', ...opts });

function dpkgInstalled(pkg) {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes('install ok installed');
  } catch { return false; }
}

function ensureSystemPackages() {
  const wanted = ['libtorch-dev', 'libopenblas0-openmp'];
  if (args.has('--with-python')) wanted.push('python3-torch');
  if (process.env.LIBTORCH || process.env.LIBTORCH_USE_PYTORCH) wanted.shift();
  let hasDpkg = true;
  try { execFileSync('dpkg-query', ['--version'], { stdio: 'ignore' }); } catch { hasDpkg = false; }
  if (!hasDpkg) return;
  const missing = wanted.filter((p) => !dpkgInstalled(p));
  if (missing.length === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    log(`missing system packages: ${missing.join(' ')}. Run: sudo apt-get install -y ${missing.join(' ')}`);
    return;
  }
  log(`installing ${missing.join(' ')} with apt-get`);
  run('apt-get update -qq', { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  run(`apt-get install -y -qq --no-install-recommends ${missing.join(' ')}`, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
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

const ADDON = 'build/Release/torch_lora.node';
function ensureNative() {
  if (!args.has('--force-build') && mtime(ADDON) >= newestMtime(['native', 'CMakeLists.txt', 'scripts/libtorch.js'])) return;
  const { locate } = require('./libtorch.js');
  const torch = locate();
  log(`building the native addon with cmake-js against libtorch (${torch.source}: ${torch.root})`);
  const jobs = process.env.JOBS || String(require('os').cpus().length);
  run(`node "${require.resolve('cmake-js/bin/cmake-js', { paths: [root] })}" compile --parallel ${jobs}`);
}

function ensureTypeScript() {
  if (!args.has('--force-build') && mtime('dist/.stamp') >= newestMtime(['lib', 'bin', 'examples', 'bench', 'tsconfig.json'])) return;
  log('compiling TypeScript');
  run(`node "${require.resolve('typescript/bin/tsc', { paths: [root] })}" -p tsconfig.json`);
  fs.writeFileSync(path.join(root, 'dist/.stamp'), new Date().toISOString());
}

try {
  if (args.has('--from-install')) {
    // `npm install torch-lora` in a user's project: the package ships dist/, only the addon is built.
    if (!fs.existsSync(path.join(root, 'native'))) process.exit(0);
    ensureNative();
  } else {
    ensureSystemPackages();
    ensureNodeModules();
    ensureNative();
    ensureTypeScript();
  }
} catch (e) {
  console.error(`[torch-lora setup] failed: ${e.message}`);
  process.exit(1);
}
