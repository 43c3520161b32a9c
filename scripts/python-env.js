'use strict';
// The project's Python environment (.venv, git-ignored): PyTorch 2.x, whose libtorch the addon builds against by
// default, plus transformers, peft, safetensors and tokenizers, which the benchmarks and the interop tests compare
// with. Dependency-free, used by scripts/bootstrap.js.
//
// pip is used as the machine configures it. One adjustment: when pip's configuration names local package sources
// (file:// indexes, find-links folders), only those are used, because with the default index unreachable pip would
// first wait on it for minutes (offline build machines are set up exactly this way).
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const venvDir = path.join(root, '.venv');
const venvPython = path.join(venvDir, 'bin', 'python');
const readyStamp = path.join(venvDir, 'torch-lora-ready');

// The PyTorch the venv gets: the CPU wheel where no NVIDIA driver is present, the CUDA wheel otherwise. Override with
// TORCH_LORA_TORCH_SPEC (any pip requirement, e.g. 'torch==2.11.0').
const TORCH_CPU = 'torch==2.13.0+cpu';
const TORCH_CUDA = 'torch==2.14.1';
const COMPANIONS = ['transformers', 'peft', 'safetensors', 'tokenizers'];

function hasNvidiaDriver() {
  return fs.existsSync('/proc/driver/nvidia/version');
}

/** pip's configured sources, split into local ones (usable offline) and the rest. */
function pipSources(python) {
  let text = '';
  try {
    text = execFileSync(python, ['-m', 'pip', 'config', 'list'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 60000,
    });
  } catch {
    return { indexes: [], findLinks: [] };
  }
  const values = (key) => {
    const out = [];
    for (const line of text.split('\n')) {
      const m = line.match(/^[^=]*\.([a-z-]+)='(.*)'$/);
      if (m && m[1] === key) out.push(...m[2].split(/\s+/).filter(Boolean));
    }
    return out;
  };
  const isLocal = (u) => u.startsWith('file://') || u.startsWith('/');
  const exists = (u) => fs.existsSync(u.replace(/^file:\/\//, ''));
  return {
    indexes: [...values('index-url'), ...values('extra-index-url')].filter((u) => isLocal(u) && exists(u)),
    findLinks: values('find-links').filter((u) => isLocal(u) && exists(u)),
  };
}

function pipArgs(python) {
  const { indexes, findLinks } = pipSources(python);
  if (indexes.length === 0 && findLinks.length === 0) return [];
  const args = [];
  if (indexes.length)
    args.push('--index-url', indexes[0], ...indexes.slice(1).flatMap((u) => ['--extra-index-url', u]));
  else args.push('--no-index');
  for (const f of findLinks) args.push('--find-links', f);
  return args;
}

function importsAll(python, modules) {
  return spawnSync(python, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore', timeout: 120000 }).status === 0;
}

/**
 * Makes .venv when it is missing or incomplete. Returns { python, made } or null when there is no python3 with
 * venv and pip (the bootstrap then falls back to Debian's libtorch).
 */
function ensureVenv(log, run) {
  // Written after a complete install, so that an up-to-date `npm test` does not import PyTorch and transformers (~3 s)
  // to find out; a venv without it (made by hand, or interrupted) is checked by importing.
  if (fs.existsSync(venvPython) && (fs.existsSync(readyStamp) || importsAll(venvPython, ['torch', ...COMPANIONS]))) {
    if (!fs.existsSync(readyStamp)) fs.writeFileSync(readyStamp, 'checked\n');
    return { python: venvPython, made: false };
  }
  const base = process.env.TORCH_LORA_BASE_PYTHON || 'python3';
  // A python3 that already has PyTorch 2.x and the companions needs no venv (scripts/libtorch.js takes it first).
  if (
    spawnSync(
      base,
      ['-c', `import torch, ${COMPANIONS.join(', ')}; assert int(torch.__version__.split('.')[0]) >= 2`],
      { stdio: 'ignore', timeout: 120000 },
    ).status === 0
  ) {
    return { python: base, made: false };
  }
  if (spawnSync(base, ['-c', 'import venv, ensurepip'], { stdio: 'ignore' }).status !== 0) {
    log(`no ${base} with venv and pip: cannot make the project's PyTorch venv`);
    return null;
  }
  const torchSpec = process.env.TORCH_LORA_TORCH_SPEC || (hasNvidiaDriver() ? TORCH_CUDA : TORCH_CPU);
  log(
    `making .venv with ${torchSpec} and ${COMPANIONS.join(', ')} (${hasNvidiaDriver() ? 'NVIDIA driver found' : 'no NVIDIA driver: CPU wheel'})`,
  );
  if (!fs.existsSync(venvPython)) run(`"${base}" -m venv "${venvDir}"`);
  const args = pipArgs(venvPython)
    .map((a) => `"${a}"`)
    .join(' ');
  run(`"${venvPython}" -m pip install -q --disable-pip-version-check ${args} "${torchSpec}" ${COMPANIONS.join(' ')}`);
  fs.writeFileSync(readyStamp, `${torchSpec} ${COMPANIONS.join(' ')}\n`);
  return { python: venvPython, made: true };
}

module.exports = { ensureVenv, venvPython, pipArgs, importsAll };
