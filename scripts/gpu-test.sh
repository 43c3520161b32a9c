#!/usr/bin/env bash
# The whole suite on a GPU machine that has PyTorch with CUDA but no Node: unpack the Node packed by
# ../shared/tools/pack-node-for-device (carried as .device/), build against PyTorch's libtorch, run the tests
# (the CUDA tests run because cuda.isAvailable() is true there).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null; then
  mkdir -p /tmp/node && tar -xJf .device/node.tar.xz -C /tmp/node
  export PATH=/tmp/node/bin:$PATH
  [ -d node_modules ] || tar -xJf .device/node_modules.tar.xz
fi
export LIBTORCH_USE_PYTORCH=1
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
node scripts/bootstrap.js --force-build
node -e "const t=require('./dist/lib'); console.log('addon sees CUDA:', t.cuda.isAvailable(), 'devices:', t.cuda.deviceCount())"
npx jest "$@"
