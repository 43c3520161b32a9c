// Issue 13, section 1: the native boundary has one source per kind of entry point, and nothing drifts.
// - The op tables (native/op_tables.h) generate lib/native-ops.generated.ts: regenerated here in memory, any
//   difference fails (run `node scripts/gen-native-types.js` after editing the tables).
// - The addon exports exactly what lib/native-binding.ts declares (generated table ops + hand-written irregular
//   entry points), so `N: NativeBinding` is true to the addon and a misspelt N.xxx is a compile error.
// - No dead exports: every export is called as N.<name> somewhere in lib/.
// - Every table op has a PyTorch case in the op fixtures of both libtorch versions (tools/make_op_fixtures.py).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { N } from '../lib/native';

const ROOT = path.resolve(__dirname, '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const generator = require('../scripts/gen-native-types.js') as {
  generate(source: string): string;
  parseTables(source: string): { table: string; ops: { name: string; expr: string }[] }[];
  TABLES_FILE: string;
  OUTPUT_FILE: string;
};

const tablesSource = fs.readFileSync(generator.TABLES_FILE, 'utf8');
const tableOps = generator.parseTables(tablesSource).flatMap((t) => t.ops.map((o) => o.name));

/** The member names of `interfaceName` in a TypeScript file, read with the compiler's parser. */
function interfaceMembers(file: string, interfaceName: string): string[] {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const names: string[] = [];
  source.forEachChild((node) => {
    if (ts.isInterfaceDeclaration(node) && node.name.text === interfaceName) {
      for (const m of node.members)
        if (m.name && (ts.isIdentifier(m.name) || ts.isStringLiteral(m.name))) names.push(m.name.text);
    }
  });
  return names;
}

/** Every .ts file under lib/, except the declarations themselves. */
function libSources(dir = path.join(ROOT, 'lib')): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return libSources(p);
    return e.name.endsWith('.ts') && !/native-(binding|ops\.generated)\.ts$/.test(e.name) ? [p] : [];
  });
}

describe('the native boundary', () => {
  it('lib/native-ops.generated.ts is what scripts/gen-native-types.js makes of native/op_tables.h', () => {
    const checkedIn = fs.readFileSync(generator.OUTPUT_FILE, 'utf8');
    // One assertion per line first: a drift names the op instead of printing two whole files.
    const fresh = generator.generate(tablesSource);
    expect(checkedIn.split('\n')).toEqual(fresh.split('\n'));
    expect(checkedIn).toBe(fresh);
  });

  it('the tables parse into the ops native/ops.cc registers, each once', () => {
    expect(tableOps.length).toBeGreaterThan(80);
    expect(new Set(tableOps).size).toBe(tableOps.length);
    for (const name of tableOps) expect(typeof (N as unknown as Record<string, unknown>)[name]).toBe('function');
  });

  it('the addon exports exactly the functions lib/native-binding.ts declares', () => {
    const declared = [
      ...interfaceMembers(generator.OUTPUT_FILE, 'NativeOps'),
      ...interfaceMembers(path.join(ROOT, 'lib', 'native-binding.ts'), 'NativeIrregular'),
    ];
    expect(new Set(declared).size).toBe(declared.length); // nothing declared twice
    const exported = Object.keys(N);
    for (const name of exported) expect(typeof (N as unknown as Record<string, unknown>)[name]).toBe('function');
    expect([...exported].sort()).toEqual([...declared].sort());
  });

  it('has no dead exports: every addon function is called from lib/', () => {
    const text = libSources()
      .map((f) => fs.readFileSync(f, 'utf8'))
      .join('\n');
    const called = new Set([...text.matchAll(/\bN\.([A-Za-z_$][\w$]*)/g)].map((m) => m[1]));
    expect(Object.keys(N).filter((name) => !called.has(name))).toEqual([]);
  });

  it.each([['ops.json (libtorch 1.x)'], ['ops.torch2.json (libtorch 2.x)']])(
    'every table op has a PyTorch case in %s',
    (label) => {
      const file = path.join(ROOT, 'test', 'fixtures', label.split(' ')[0]);
      const cases: { op: string }[] = JSON.parse(fs.readFileSync(file, 'utf8')).cases;
      const ops = new Set(cases.map((c) => c.op));
      // A scalar variant is the case of its op with a scalar argument (addScalar: add with {scalar}); test/ops.test.ts
      // routes `b ?? o.scalar` to the table op of each.
      const caseOf = (name: string) => name.replace('Scalar', '');
      expect(tableOps.filter((name) => !ops.has(caseOf(name)))).toEqual([]);
    },
  );
});
