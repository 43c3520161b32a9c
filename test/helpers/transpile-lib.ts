// Transpiles lib/<entries>.ts and every module they import (relative imports only) to CommonJS in `out`, for code
// that runs outside Jest (worker threads, child processes). typescript is already a devDependency (ts-node is not
// installed); transpiling only what is imported takes milliseconds and never reads a stale dist/.
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..');

export function transpileLib(entries: string[], out: string): void {
  // Loaded here rather than at the top so that only the tests that use it pay for it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof import('typescript');
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = fs.readFileSync(file, 'utf8');
    const { outputText } = ts.transpileModule(src, {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    const target = path.join(out, path.relative(path.join(root, 'lib'), file)).replace(/\.ts$/, '.js');
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, outputText);
    for (const m of outputText.matchAll(/require\("(\.{1,2}\/[^"]+)"\)/g)) {
      const base = path.resolve(path.dirname(file), m[1]);
      const next = [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f));
      if (next) visit(next);
    }
  };
  for (const e of entries) visit(path.join(root, 'lib', `${e}.ts`));
}
