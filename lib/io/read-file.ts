// Whole weights files into memory. The native reader asks the kernel for the memory already mapped in (see
// native/file_read.cc), which on virtual machines saves most of a large read; anywhere it is missing, Node reads.
import * as fs from 'node:fs';

type NativeReader = (path: string) => ArrayBuffer;

let nativeReader: NativeReader | null | undefined;

function reader(): NativeReader | null {
  if (nativeReader === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      nativeReader = (require('../native').N.readFileBytes as NativeReader | undefined) ?? null;
    } catch {
      nativeReader = null; // the addon is not built: the pure-JavaScript I/O still works
    }
  }
  return nativeReader;
}

/** The file's bytes, as fs.readFileSync would give them; errors name the file and the reason. */
export function readWholeFile(path: string): Buffer {
  const read = reader();
  if (read === null) return fs.readFileSync(path);
  try {
    return Buffer.from(read(path));
  } catch (e) {
    // Runtimes that forbid external buffers (Electron) read through Node instead.
    if (/external buffers/i.test((e as Error).message)) {
      nativeReader = null;
      return fs.readFileSync(path);
    }
    const message = (e as Error).message.replace(/^readFileBytes: /, '');
    throw Object.assign(new Error(message), { code: /No such file/.test(message) ? 'ENOENT' : undefined });
  }
}
