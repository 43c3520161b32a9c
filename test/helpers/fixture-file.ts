// PyTorch's numbers for the libtorch the addon links: tools/make_{op,nn}_fixtures.py write <name>.json with PyTorch
// 1.x and <name>.torch2.json with 2.x, because some results changed between them (bf16 autocast rounding, the
// normal_ RNG stream for float64). Every case is asserted on both versions, each against its own PyTorch.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backend } from '../../lib';

export const TORCH_MAJOR = Number(backend.version().split('.')[0]);

/** The fixture for the linked libtorch's major version, or for `major` when given. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a fixture's shape is the test's to state
export function readFixture<T = any>(name: 'ops' | 'nn', major = TORCH_MAJOR): T {
  const file = path.join(__dirname, '..', 'fixtures', major >= 2 ? `${name}.torch2.json` : `${name}.json`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}
