/**
 * Writes a file so that a reader sees the old content or the new one, never a mix: the text
 * goes to a temporary file in the same folder (same file system), is flushed to disk, and is
 * renamed over the target. A kill or a full disk during the write leaves the old file whole
 * (the temporary one is removed on a failure we see).
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  // A device or pipe (/dev/stdout, /dev/full, a FIFO) is written in place: renaming over it
  // would replace the device with a plain file.
  const existing = await stat(path).catch(() => null);
  if (existing && !existing.isFile()) {
    await writeFile(path, data);
    return;
  }
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(tmp, 'wx');
    await handle.writeFile(data, typeof data === 'string' ? 'utf8' : undefined);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, path);
  } catch (e) {
    await handle?.close().catch(() => {});
    await rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
}
