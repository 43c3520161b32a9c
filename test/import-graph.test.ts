// The layers of lib/ point down: a file imports only from its own layer or the ones below, and no chain of imports
// comes back to where it started (issue 13 found tensor -> nn/init -> creation -> tensor, and lora <-> models).
// LAYERS is the one definition of the order; README's "Layout" section describes it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const root = path.resolve(__dirname, '..');
const lib = path.join(root, 'lib');

/**
 * Bottom to top. An entry is a file or a folder (ending in '/') under lib/; the longest matching entry decides.
 * A file may import its own layer and any below it. 'base' holds files that import nothing above native.
 */
const LAYERS: [layer: string, paths: string[]][] = [
  ['native', ['native.ts', 'native-binding.ts', 'native-ops.generated.ts']],
  ['base', ['dtype.ts', 'scope.ts', 'cpu.ts', 'cuda.ts', 'worker-script.ts', 'io/describe.ts']],
  ['tensor', ['tensor.ts', 'format.ts', 'creation.ts']],
  ['autograd', ['autograd.ts', 'functional.ts']],
  ['nn', ['nn/']],
  ['optim', ['optim/']],
  ['io', ['io/']],
  ['tokenizer', ['tokenizer/']],
  ['data', ['data/']],
  ['models', ['models/']],
  ['lora', ['lora/']],
  ['distributed', ['distributed/']],
  ['train', ['train/']],
  ['recipes', ['recipes/']],
  ['serving', ['serving/']],
  ['index', ['index.ts']],
];

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

function libFiles(dir = lib): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory()
      ? libFiles(p)
      : e.name.endsWith('.ts')
        ? [path.relative(lib, p).split(path.sep).join('/')]
        : [];
  });
}

function resolve(from: string, spec: string): string | null {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  for (const candidate of [`${base}.ts`, `${base}/index.ts`])
    if (fs.existsSync(path.join(lib, candidate))) return candidate;
  return null;
}

/** Every relative import, export-from, require() and import() of a file, parsed by the TypeScript compiler. */
function importsOf(file: string): Edge[] {
  const source = ts.createSourceFile(file, fs.readFileSync(path.join(lib, file), 'utf8'), ts.ScriptTarget.Latest, true);
  const edges: Edge[] = [];
  const add = (spec: string, typeOnly: boolean) => {
    if (!spec.startsWith('.')) return;
    const to = resolve(file, spec);
    if (!to) throw new Error(`${file}: cannot resolve import '${spec}'`);
    edges.push({ from: file, to, typeOnly });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const allTypes =
        !!clause &&
        (clause.isTypeOnly ||
          (!clause.name &&
            !!clause.namedBindings &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier.text, allTypes);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, node.isTypeOnly);
    } else if (
      ts.isCallExpression(node) &&
      node.arguments.length === 1 &&
      ts.isStringLiteral(node.arguments[0]) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === 'require'))
    ) {
      add(node.arguments[0].text, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

function layerOf(file: string): number {
  let best = -1;
  let bestLength = -1;
  LAYERS.forEach(([, paths], i) => {
    for (const p of paths) {
      const hit = p.endsWith('/') ? file.startsWith(p) : file === p;
      if (hit && p.length > bestLength) [best, bestLength] = [i, p.length];
    }
  });
  return best;
}

/** The import cycles among value imports (type-only imports are erased when compiled), each as a path a -> ... -> a. */
function cycles(files: string[], edges: Edge[]): string[] {
  const next = new Map(files.map((f) => [f, [] as string[]]));
  for (const e of edges) if (!e.typeOnly) next.get(e.from)!.push(e.to);
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const found: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const to of next.get(f)!) {
      if (state.get(to) === 'open') found.push([...stack.slice(stack.indexOf(to)), to].join(' -> '));
      else if (!state.has(to)) visit(to);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return found;
}

const files = libFiles();
const edges = files.flatMap(importsOf);

describe('import graph of lib/', () => {
  it('parses: every file has imports, and the graph reaches tensor.ts', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(edges.some((e) => e.to === 'tensor.ts')).toBe(true);
  });

  it('every file belongs to a layer of the table', () => {
    expect(files.filter((f) => layerOf(f) < 0)).toEqual([]);
  });

  it('no file imports from a layer above its own (type-only imports included)', () => {
    const upward = edges
      .filter((e) => layerOf(e.to) > layerOf(e.from))
      .map((e) => `${e.from} (${LAYERS[layerOf(e.from)][0]}) imports ${e.to} (${LAYERS[layerOf(e.to)][0]})`);
    expect(upward).toEqual([]);
  });

  it('no import cycles', () => {
    expect(cycles(files, edges)).toEqual([]);
  });

  it('bin/ and examples/ use the public API: from lib/, they import lib/index.ts only', () => {
    const outside = ['bin', 'examples'].flatMap((dir) =>
      libFiles(path.join(root, dir)).map((f) => path.relative(root, path.join(root, dir, f))),
    );
    expect(outside.length).toBeGreaterThan(2);
    const internal: string[] = [];
    for (const file of outside) {
      const text = fs.readFileSync(path.join(root, file), 'utf8');
      for (const m of text.matchAll(/(?:from|import|require\()\s*['"](\.[^'"]+)['"]/g)) {
        const target = path
          .relative(lib, path.resolve(root, path.dirname(file), m[1]))
          .split(path.sep)
          .join('/');
        if (!target.startsWith('..') && target !== '' && target !== 'index')
          internal.push(`${file} imports lib/${target}`);
      }
    }
    expect(internal).toEqual([]);
  });

  it('files are written whole through io/fs-atomic.ts (temp, fsync, rename, fsync of the folder) (issue 13)', () => {
    // The hub download streams into a fsynced temp file and renames it itself; the metrics log appends lines.
    const allowed: Record<string, RegExp> = {
      'io/hub.ts': /renameSync|promises\.open/,
      'train/metrics-log.ts': /writeSync/,
    };
    const writers =
      /\b(writeFileSync|renameSync|appendFileSync|createWriteStream|writeSync|promises\.writeFile|promises\.open)\b/g;
    const found: string[] = [];
    for (const file of files) {
      if (file === 'io/fs-atomic.ts') continue;
      for (const m of fs.readFileSync(path.join(lib, file), 'utf8').matchAll(writers)) {
        if (!allowed[file]?.test(m[0])) found.push(`${file}: ${m[0]}`);
      }
    }
    expect(found).toEqual([]);
  });

  it('the checks catch what they are for', () => {
    expect(
      cycles(
        ['a.ts', 'b.ts', 'c.ts'],
        [
          { from: 'a.ts', to: 'b.ts', typeOnly: false },
          { from: 'b.ts', to: 'c.ts', typeOnly: false },
          { from: 'c.ts', to: 'a.ts', typeOnly: false },
        ],
      ),
    ).toEqual(['a.ts -> b.ts -> c.ts -> a.ts']);
    expect(
      cycles(
        ['a.ts', 'b.ts'],
        [
          { from: 'a.ts', to: 'b.ts', typeOnly: false },
          { from: 'b.ts', to: 'a.ts', typeOnly: true },
        ],
      ),
    ).toEqual([]);
    expect(layerOf('lora/lora-layer.ts')).toBeGreaterThan(layerOf('models/pretrained.ts'));
    expect(layerOf('io/describe.ts')).toBeLessThan(layerOf('creation.ts'));
  });
});
