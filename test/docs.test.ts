// The TypeScript in README.md and docs/*.md is what users copy first: every ```ts block must type-check against the
// library as it is (imports of 'torch-lora' point at lib/; free names the prose leaves open are declared here).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const root = path.resolve(__dirname, '..');
const documents = [
  'README.md',
  ...fs
    .readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => path.join('docs', f)),
];
// Placeholders for what a snippet takes from the reader's own code.
const PRELUDE = 'declare const batches: { texts: string[]; labels: number[] }[];\n';

function snippets(doc: string): { name: string; code: string }[] {
  const text = fs.readFileSync(path.join(root, doc), 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m, i) => ({ name: `${doc} block ${i + 1}`, code: m[1] }));
}

/** Imports stay at the top; the rest runs inside an async function, so that top-level await reads as in the docs. */
function asModule(code: string): string {
  const lines = code.replace(/from 'torch-lora'/g, `from ${JSON.stringify(path.join(root, 'lib'))}`).split('\n');
  const imports: string[] = [];
  const body: string[] = [];
  let inImport = false;
  for (const line of lines) {
    if (inImport || /^import\s/.test(line)) {
      imports.push(line);
      inImport = !/from\s+['"][^'"]+['"];?\s*$/.test(line);
    } else body.push(line);
  }
  return `${imports.join('\n')}\n${PRELUDE}export {};\n(async () => {\n${body.join('\n')}\n})();\n`;
}

const all = documents
  .flatMap(snippets)
  .map((s) => ({ ...s, file: path.join(root, `__doc_snippet_${s.name.replace(/\W+/g, '_')}.ts`) }));
let program: ts.Program;

beforeAll(() => {
  // One program for every snippet: the library is checked once.
  const sources = new Map(all.map((s) => [s.file, asModule(s.code)]));
  const host = ts.createCompilerHost({});
  const readFile = host.readFile.bind(host);
  host.readFile = (f) => sources.get(path.resolve(f)) ?? readFile(f);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => sources.has(path.resolve(f)) || fileExists(f);
  program = ts.createProgram(
    [...sources.keys()],
    {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.CommonJS,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      esModuleInterop: true,
      skipLibCheck: true,
      lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'],
      types: ['node'],
      typeRoots: [path.join(root, 'node_modules', '@types')],
    },
    host,
  );
});

test.each(all.map((s) => [s.name, s.file]))('%s type-checks', (_name, file) => {
  const problems = ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => {
    const where =
      d.file && d.start !== undefined ? `line ${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: ` : '';
    return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
  });
  expect(problems).toEqual([]);
});
