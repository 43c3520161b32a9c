// Whole-or-nothing writes: a file or a folder appears complete or not at all, and a write that fails (disk full)
// says which file it was writing.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A name beside `target` for work in progress: same folder, so same filesystem, so rename is atomic. */
function sibling(target: string, tag: string): string {
  return path.join(
    path.dirname(target),
    `.${path.basename(target)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.${tag}`,
  );
}

/** The error, with the file it concerns in its message (Node's ENOSPC says only "write"); code and cause kept. */
export function errorNamingFile(file: string, e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.message === 'string' && err.message.includes(file)) return err;
  return Object.assign(new Error(`cannot write ${file}: ${err?.message ?? String(e)}`, { cause: e }), {
    code: err?.code,
  });
}

/**
 * Writes `chunks` to `file` so that readers see either the old file or the complete new one:
 * a temp file in the same directory, fsync, rename, fsync of the directory.
 */
export function writeFileAtomic(file: string, chunks: readonly Uint8Array[] | string): void {
  const target = path.resolve(file);
  const temp = sibling(target, 'tmp');
  let fd: number | undefined;
  try {
    fd = fs.openSync(temp, 'wx');
    for (const chunk of typeof chunks === 'string' ? [Buffer.from(chunks)] : chunks) writeAll(fd, chunk);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(temp, target);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw errorNamingFile(file, e);
  }
  fsyncDirectory(path.dirname(target));
}

/**
 * Builds a folder whole or not at all: `write` fills a temporary sibling folder, which then replaces `dir`. rename()
 * cannot replace a non-empty folder, so the old one is first moved aside; a crash between the two renames leaves
 * it there under a `.NAME.*.old` name, and recoverFolder() puts it back. Any error removes the temporary folder and
 * leaves `dir` as it was. Files of the old folder that `write` did not make (a README beside an adapter) are kept;
 * an old folder holding subfolders of its own is refused rather than replaced (saving into '.' must not move the
 * working directory away).
 */
export function writeFolderAtomic(dir: string, write: (temp: string) => void): void {
  const target = path.resolve(dir);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  recoverFolder(target);
  const temp = sibling(target, 'tmp');
  try {
    fs.mkdirSync(temp);
    write(temp);
    fsyncDirectory(temp);
  } catch (e) {
    fs.rmSync(temp, { recursive: true, force: true });
    throw e;
  }
  try {
    carryOver(target, temp);
  } catch (e) {
    fs.rmSync(temp, { recursive: true, force: true });
    throw e;
  }
  const old = fs.existsSync(target) ? sibling(target, 'old') : null;
  if (old) fs.renameSync(target, old);
  try {
    fs.renameSync(temp, target);
  } catch (e) {
    if (old) fs.renameSync(old, target);
    fs.rmSync(temp, { recursive: true, force: true });
    throw errorNamingFile(target, e);
  }
  fsyncDirectory(path.dirname(target));
  if (old) fs.rmSync(old, { recursive: true, force: true });
}

/**
 * Undoes a writeFolderAtomic interrupted between its two renames (`dir` missing, its old copy aside), and removes
 * the leftovers of interrupted writes. Safe to call at any time when no write to `dir` is running.
 */
export function recoverFolder(dir: string): void {
  const target = path.resolve(dir);
  const parent = path.dirname(target);
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return;
  }
  const prefix = `.${path.basename(target)}.`;
  const leftovers = names.filter((n) => n.startsWith(prefix) && /\.[0-9a-f]{12}\.(tmp|old)$/.test(n));
  for (const name of leftovers) {
    const full = path.join(parent, name);
    if (name.endsWith('.old') && !fs.existsSync(target)) fs.renameSync(full, target);
    else fs.rmSync(full, { recursive: true, force: true });
  }
}

/** Hard-links into `temp` the old folder's files that the new one lacks; refuses anything but plain files. */
function carryOver(target: string, temp: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(target, { withFileTypes: true });
  } catch {
    return; // no old folder
  }
  for (const entry of entries) {
    const to = path.join(temp, entry.name);
    if (fs.existsSync(to)) continue;
    const from = path.join(target, entry.name);
    if (!entry.isFile()) {
      throw new Error(
        `${target} holds '${entry.name}', which is not a plain file: save into a new or empty folder instead`,
      );
    }
    try {
      fs.linkSync(from, to);
    } catch {
      fs.copyFileSync(from, to); // filesystems without hard links
    }
  }
}

function writeAll(fd: number, chunk: Uint8Array): void {
  for (let done = 0; done < chunk.length;) done += fs.writeSync(fd, chunk, done, chunk.length - done);
}

// Makes the rename itself durable; not possible on every platform (Windows), hence best effort.
function fsyncDirectory(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // best effort
  }
}
