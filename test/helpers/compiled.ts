// Tests that start worker threads, child processes or the CLI run the compiled JavaScript in dist/: the bootstrap
// rebuilds what is out of date, quietly. tsc still emits when a file elsewhere fails to type-check, so a failed
// bootstrap is fatal only when the file the test needs is missing.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');

/** Runs the bootstrap; rethrows its failure when `needed` (a path) still does not exist. */
export function ensureCompiled(needed: string): void {
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'bootstrap.js'), '--quiet'], {
      cwd: ROOT,
      stdio: 'pipe',
    });
  } catch (e) {
    if (!fs.existsSync(needed)) throw e;
  }
}
