import * as fs from 'node:fs';
import * as path from 'node:path';

/** The folder with package.json above this file, whether it runs from bench/ or dist/bench/. */
export function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${__dirname}`);
    dir = parent;
  }
  return dir;
}
