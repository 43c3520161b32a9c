// The Python that live checks against PyTorch / transformers / PEFT run: TORCH_LORA_PYTHON, else the repository's
// .venv (made by scripts/bootstrap.js). Where neither exists such a check fails under CI and skips elsewhere, saying why.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';

export interface PythonFound {
  python: string | null;
  reason: string;
}

export function findPython(modules: string[]): PythonFound {
  const candidates = [
    process.env.TORCH_LORA_PYTHON,
    path.resolve(__dirname, '..', '..', '.venv', 'bin', 'python'),
  ].filter((p): p is string => !!p);
  const python = candidates.find((p) => fs.existsSync(p));
  if (!python)
    return {
      python: null,
      reason: `no Python found (set TORCH_LORA_PYTHON, or create ${candidates[candidates.length - 1]})`,
    };
  try {
    execFileSync(python, ['-c', `import ${modules.join(', ')}`], { stdio: 'pipe', timeout: 120_000 });
  } catch (e) {
    return {
      python: null,
      reason: `${python} cannot import ${modules.join(', ')}: ${String((e as { stderr?: Buffer }).stderr ?? e)
        .trim()
        .split('\n')
        .pop()}`,
    };
  }
  return { python, reason: '' };
}

/**
 * Registers `body` as a describe block when Python is there; otherwise one test that fails under CI (the check must
 * run there) or one skipped test with the reason printed.
 */
export function describeWithPython(title: string, modules: string[], body: (python: string) => void): void {
  const found = findPython(modules);
  if (found.python) {
    describe(title, () => body(found.python!));
  } else if (process.env.CI) {
    describe(title, () =>
      it('has the Python it needs', () => {
        throw new Error(`${title}: ${found.reason}`);
      }),
    );
  } else {
    console.log(`skipping "${title}": ${found.reason}`);
    describe.skip(title, () => it(`needs Python with ${modules.join(', ')}`, () => undefined));
  }
}
