// fastify and prom-client are optional peer dependencies (only the example server uses them): without them the
// library loads, and `npm run serve` stops with one line naming what to install, exit code 1.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { missingServerDependencies, serverDependencyError } from '../../examples/server/dependencies';

const repo = path.resolve(__dirname, '..', '..');

test('names the missing ones with the npm install line', () => {
  expect(missingServerDependencies()).toEqual([]); // installed as devDependencies for the tests
  const without = (gone: string) => (id: string) => {
    if (id === gone) throw new Error(`Cannot find module '${id}'`);
    return id;
  };
  expect(missingServerDependencies(without('fastify'))).toEqual(['fastify']);
  expect(serverDependencyError(['fastify', 'prom-client'])).toMatch(
    /needs fastify and prom-client.*npm install fastify@\^5\.\d+\.\d+ prom-client@\^15\.\d+\.\d+$/,
  );
});

test('the server entry point exits 1 with that line when fastify cannot be resolved; the library still loads', () => {
  execFileSync('node', ['scripts/bootstrap.js', '--quiet'], { cwd: repo });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'no-fastify-'));
  try {
    // Preloaded: Node's resolver fails for fastify as it would where the package is not installed.
    const hide = path.join(dir, 'hide-fastify.js');
    fs.writeFileSync(
      hide,
      `const M = require('node:module'); const r = M._resolveFilename;
M._resolveFilename = function (id, ...rest) { if (id === 'fastify' || id.startsWith('fastify/')) { const e = new Error("Cannot find module '" + id + "'"); e.code = 'MODULE_NOT_FOUND'; throw e; } return r.call(this, id, ...rest); };`,
    );
    const serve = spawnSync(
      'node',
      ['-r', hide, path.join(repo, 'dist', 'examples', 'server', 'main.js'), '--model', dir],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(serve.status).toBe(1);
    expect(serve.stderr.trim()).toMatch(
      /^torch-lora serve: the HTTP server needs fastify, .* Run: npm install fastify@\^5/,
    );
    const lib = spawnSync(
      'node',
      ['-r', hide, '-e', `require(${JSON.stringify(path.join(repo, 'dist', 'lib'))}); console.log('ok')`],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(lib.stdout.trim()).toBe('ok');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
