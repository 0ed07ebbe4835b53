/**
 * DIR/_checkpoint.json: the record of the conversion into DIR that has not finished. Written
 * atomically (temporary file, fsync, rename, fsync of the folder) and only once the members it
 * covers are on disk and synced, so a record on disk never claims more than the folder holds.
 * It exists only while a run is unfinished: a finished run removes it, and so does a run of
 * another input into the same folder when it starts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { syncDir, writeFileDurablyAsync } from '../day-files/durable.ts';
import { listDayFiles } from '../day-files/names.ts';
import { idLogPathOf } from './id-log.ts';
import { CHECKPOINT_NAME, CHECKPOINT_VERSION, type CheckpointRecord } from './record.ts';

export const checkpointPathOf = (dir: string): string => path.join(dir, CHECKPOINT_NAME);

export async function writeLocalCheckpoint(dir: string, record: CheckpointRecord): Promise<void> {
  await writeFileDurablyAsync(checkpointPathOf(dir), Buffer.from(`${JSON.stringify(record, null, 1)}\n`));
}

/**
 * The record in DIR: undefined when there is none; `{ unreadable }` (the reason) when the file is
 * not a record of this version, which a run treats as no record (and says so).
 */
export function readLocalCheckpoint(dir: string): CheckpointRecord | { unreadable: string } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(checkpointPathOf(dir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { unreadable: (err as Error).message };
  }
  try {
    const r = JSON.parse(text) as CheckpointRecord;
    if (r?.version !== CHECKPOINT_VERSION) return { unreadable: `version ${String(r?.version)}, this converter writes ${CHECKPOINT_VERSION}` };
    if (!r.input?.spec || !r.next || typeof r.next.offset !== 'number' || typeof r.next.line !== 'number' || !r.counts) return { unreadable: 'fields missing' };
    return r;
  } catch (err) {
    return { unreadable: `not JSON (${(err as Error).message})` };
  }
}

/** The record goes first (it is what a rerun looks for), then its id list. */
export function removeLocalCheckpoint(dir: string): void {
  const p = checkpointPathOf(dir);
  const ids = idLogPathOf(dir);
  if (!fs.existsSync(p) && !fs.existsSync(ids)) return;
  fs.rmSync(p, { force: true });
  fs.rmSync(`${p}.tmp`, { force: true });
  syncDir(dir);
  fs.rmSync(ids, { force: true });
}

/** Every day file of DIR and its size: what a checkpoint covers. */
export function dayFileSizes(dir: string): { fileName: string; bytes: number }[] {
  return listDayFiles(dir).map((fileName) => ({ fileName, bytes: fs.statSync(path.join(dir, fileName)).size }));
}
