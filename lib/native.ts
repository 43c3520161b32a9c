// Loads the compiled addon. It is context-aware, so every worker thread gets its own tensor table.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NativeBinding } from './native-binding';

function findAddon(): string {
  if (process.env.TORCH_LORA_ADDON) return process.env.TORCH_LORA_ADDON;
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'build', 'Release', 'torch_lora.node');
    if (fs.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error(
    'torch-lora: the native addon is not built. Run `npm run setup` (or `node scripts/bootstrap.js`) in the package folder.',
  );
}

// The addon's functions take and return integer tensor handles; lib/native-binding.ts declares every one of them
// (a misspelt N.xxx is a compile error), lib/tensor.ts gives them user-facing types.
export const N: NativeBinding = require(findAddon());
