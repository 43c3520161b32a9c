// Worker threads need compiled JavaScript: beside the calling module when running from dist/, or dist/'s copy when
// the caller runs from the TypeScript sources (ts-jest, ts-node).
import * as fs from 'node:fs';
import * as path from 'node:path';

/** `file` is relative to lib/ (e.g. 'serving/worker.js'); `who` names the API in the error. */
export function compiledWorkerScript(file: string, who: string): string {
  const here = path.join(__dirname, file);
  if (fs.existsSync(here)) return here;
  const built = path.resolve(__dirname, '..', 'dist', 'lib', file);
  if (fs.existsSync(built)) return built;
  throw new Error(
    `${who}: no compiled worker script at ${here} or ${built}; build it with \`node scripts/bootstrap.js\``,
  );
}
