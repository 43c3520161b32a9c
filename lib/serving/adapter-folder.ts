// Checks an adapter folder before any worker opens it: inside the allowed root (after symlinks), the files a loader
// reads are regular files (a FIFO would block the worker's read forever), and their size is known for the memory cap.
// Errors are ServingErrors whose message names only what the caller gave (never an absolute path or file contents);
// `detail` holds the full story for the log.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ServingError } from './errors';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../lora/adapter-io';

/** The files loadAdapter reads. */
const ADAPTER_FILES = [ADAPTER_CONFIG, ADAPTER_WEIGHTS];

export interface CheckedAdapterFolder {
  /** The folder's real path (symlinks resolved): what workers load. */
  dir: string;
  /** Bytes of its files: an upper bound of what the adapter holds in memory, per worker. */
  bytes: number;
}

/**
 * Resolves `requested` (relative to `root` when a root is given) and checks it. With a root, the folder's real path
 * and every file's must stay inside the root's real path.
 */
export function checkAdapterFolder(name: string, requested: string, root?: string): CheckedAdapterFolder {
  const refuse = (why: string, detail?: string) =>
    new ServingError('ADAPTER_LOAD_FAILED', `cannot load adapter '${name}' from '${requested}': ${why}`, detail);
  if (typeof requested !== 'string' || requested.length === 0 || requested.includes('\0')) throw refuse('invalid path');
  if (root !== undefined && path.isAbsolute(requested)) {
    throw new ServingError(
      'ADAPTER_LOAD_FAILED',
      `cannot load adapter '${name}': give its folder relative to the adapter root`,
      `${requested} is absolute`,
    );
  }
  const resolvedRoot = root === undefined ? undefined : realpathOrNull(root);
  if (resolvedRoot === null) throw refuse('the adapter root is unavailable', `adapter root ${root} cannot be resolved`);
  const realRoot: string | undefined = resolvedRoot;
  const dir = realpathOrNull(realRoot === undefined ? path.resolve(requested) : path.resolve(realRoot, requested));
  if (dir === null) throw refuse('no such folder');
  // Beware '/root' vs '/root2': inside means the root itself or below 'root/'.
  const inside = (p: string) =>
    realRoot === undefined ||
    p === realRoot ||
    p.startsWith(realRoot.endsWith(path.sep) ? realRoot : realRoot + path.sep);
  if (!inside(dir)) throw refuse('outside the adapter root', `${dir} is outside ${realRoot}`);
  if (!statOrNull(dir)?.isDirectory()) throw refuse('not a folder');
  let bytes = 0;
  for (const file of ADAPTER_FILES) {
    const real = realpathOrNull(path.join(dir, file));
    if (real === null) throw refuse(`no ${file}`);
    if (!inside(real)) throw refuse(`${file} is outside the adapter root`, `${real} is outside ${realRoot}`);
    const stat = statOrNull(real);
    if (!stat?.isFile()) throw refuse(`${file} is not a regular file`, `${real} is not a regular file`);
    bytes += stat.size;
  }
  return { dir, bytes };
}

function realpathOrNull(p: string): string | null {
  try {
    return fs.realpathSync.native(p);
  } catch {
    return null;
  }
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}
