'use strict';
// Lets a plain `node` child process (the fuzz suite's, which runs each batch of cases under its own memory limit)
// require the TypeScript sources directly: each .ts file is transpiled to CommonJS as it is loaded, with the
// `typescript` package from devDependencies (ts-node is not installed). No type checking: jest's ts-jest does that.
// Transpiled text is cached by content hash in the temp folder, so that later children skip loading the compiler
// (about 1 s and 100 MB of each child's start).
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const CACHE = path.join(os.tmpdir(), 'torch-lora-ts-require');
let ts;

function transpile(source, filename) {
  const key = crypto.createHash('sha1').update(filename).update('\0').update(source).digest('hex');
  const cached = path.join(CACHE, `${key}.js`);
  try {
    return fs.readFileSync(cached, 'utf8');
  } catch {
    ts ??= require('typescript');
    const { outputText } = ts.transpileModule(source, {
      fileName: filename,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    fs.mkdirSync(CACHE, { recursive: true });
    // Written whole under a unique name, then renamed: children running at once never read half a file.
    const temp = `${cached}.${process.pid}.tmp`;
    fs.writeFileSync(temp, outputText);
    fs.renameSync(temp, cached);
    return outputText;
  }
}

require.extensions['.ts'] = (module, filename) => {
  module._compile(transpile(fs.readFileSync(filename, 'utf8'), filename), filename);
};
