/** Writes that are on disk when they return (fsync), for day files and repair journals. */
import fs from 'node:fs';
import path from 'node:path';
import { failpoint, failpointDue } from '../failpoints.ts';

/** Appends `data` to `filePath` (created if need be) and syncs it; a new file's folder entry too. */
export async function appendDurably(filePath: string, data: Uint8Array): Promise<void> {
  const fh = await fs.promises.open(filePath, 'a');
  let isNew = false;
  try {
    isNew = (await fh.stat()).size === 0;
    // A torn write on purpose, for the crash tests: half the member, then the process dies.
    if (failpointDue('member-append-torn')) await fh.write(data.subarray(0, data.length >> 1));
    failpoint('member-append-torn');
    for (let done = 0; done < data.length;) done += (await fh.write(data, done, data.length - done)).bytesWritten;
    await fh.datasync();
  } finally {
    await fh.close();
  }
  if (isNew) syncDir(path.dirname(filePath));
}

/** The same, synchronously. */
export function appendDurablySync(filePath: string, data: Uint8Array): void {
  const fd = fs.openSync(filePath, 'a');
  try {
    writeAllSync(fd, data);
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  syncDir(path.dirname(filePath));
}

/** Writes a new file under a temporary name, syncs it, renames it into place, syncs the folder. */
export function writeFileDurably(filePath: string, data: Uint8Array): void {
  const tmp = `${filePath}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    writeAllSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, filePath);
  syncDir(path.dirname(filePath));
}

/**
 * The same without blocking the event loop (a checkpoint taken as a signal arrives: the tsx relay
 * needs the loop free to hear back within 30 ms, lib/cli/tsx-relay.ts).
 */
export async function writeFileDurablyAsync(filePath: string, data: Uint8Array): Promise<void> {
  const tmp = `${filePath}.tmp`;
  const fh = await fs.promises.open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, filePath);
  try {
    const dir = await fs.promises.open(path.dirname(filePath), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // not every file system lets a folder be synced; the data itself is
  }
}

/** Makes the folder's entries (created, renamed, removed files) durable. */
export function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // not every file system lets a folder be synced; the data itself is
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function writeAllSync(fd: number, data: Uint8Array): void {
  for (let done = 0; done < data.length;) done += fs.writeSync(fd, data, done, data.length - done);
}
