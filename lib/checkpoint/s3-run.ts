/**
 * What convert --s3-output adds to a run for checkpoints in S3: before converting, the record
 * under OUTPUT (if any) is read, the orphans left after it are deleted, and the run resumes from
 * it (the converter refuses it when it is for another input or a changed one); while converting,
 * each checkpoint goes up (s3-checkpoint.ts); at the end, the whole day files (s3-finish.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { LOG_NAME } from '../convert/reject-log.ts';
import { indexPathOf, removeIndex } from '../index/db.ts';
import { FatalError } from '../cli/errors.ts';
import { listDayFiles } from '../day-files/names.ts';
import { CHECKPOINT_NAME, type CheckpointRecord } from './record.ts';
import { CheckpointStore, hashRange } from './s3-store.ts';
import { S3Checkpointer, deleteOrphans, loadStoredIds, readS3Checkpoint, type CheckpointEvent } from './s3-checkpoint.ts';
import { finishS3Output, type FinishOptions } from './s3-finish.ts';
import type { UploadReport } from '../s3/output.ts';

export interface S3Checkpoints {
  /** The record under OUTPUT this run resumes from. */
  resume?: CheckpointRecord;
  /** The ids stored by the earlier runs (from the record's id lists). */
  knownIds?: AsyncIterable<Uint8Array>;
  /** The converter's checkpoint hook. */
  onCheckpoint(c: CheckpointEvent): Promise<void>;
  /** The last record written (by this run, else the one resumed from). */
  last(): CheckpointRecord | undefined;
  /** s3://bucket/OUTPUT/_checkpoint.json */
  recordUrl: string;
  /** After the end of the input: the day files up (copying the committed parts S3 can copy), manifest, clean up. */
  finish(o: Omit<FinishOptions, 'store' | 'dir' | 'record' | 'resumed'>): Promise<UploadReport>;
}

/** Why the day files `names` of `dir` are not this record's (each must begin with its parts' bytes), or undefined. */
async function folderDoubt(dir: string, names: string[], record: CheckpointRecord): Promise<string | undefined> {
  for (const name of names) {
    const parts = record.parts.filter((p) => p.fileName === name).sort((a, b) => a.offsetInFile - b.offsetInFile);
    if (parts.length === 0) return `${name} is in no part`;
    const file = path.join(dir, name);
    const end = parts.at(-1)!.offsetInFile + parts.at(-1)!.bytes;
    if (fs.statSync(file).size < end) return `${name} is shorter than its parts`;
    for (const p of parts) {
      const h = await hashRange(file, p.offsetInFile, p.offsetInFile + p.bytes, p.bytes || 1);
      if (h.sha256.toString('hex') !== p.sha256) return `${name} differs from ${p.key}`;
    }
  }
  return undefined;
}

export async function startS3Checkpoints(o: {
  client: S3Client; target: string; sseKmsKeyId?: string; dir: string; log: (line: string) => void;
  /** --restart: the record under OUTPUT and its parts are deleted, the run starts from the beginning. */
  restart?: boolean;
}): Promise<S3Checkpoints> {
  const store = new CheckpointStore(o.client, o.target, o.sseKmsKeyId);
  const read = await readS3Checkpoint(store);
  if (read === 'damaged') o.log(`${store.url(CHECKPOINT_NAME)} is cut off (its write was interrupted): the run starts from the beginning`);
  let resume = read === 'damaged' ? undefined : read;
  if (resume && o.restart) {
    o.log(`--restart: deleting ${store.url(CHECKPOINT_NAME)} (of ${resume.writtenAt}) and its parts`);
    await store.delete([CHECKPOINT_NAME]);
    resume = undefined;
  }
  const orphans = await deleteOrphans(store, resume);
  if (orphans.length > 0) o.log(`deleted ${orphans.length} objects under ${store.url('_parts/')} that no checkpoint lists (uploaded after the last one)`);
  if (resume) {
    const here = listDayFiles(o.dir);
    if (here.length > 0) {
      // The same machine again (make run-local, a rerun after a crash): the folder is this run's
      // when each day file begins with the bytes of its parts. What it holds beyond them was not
      // committed; all of it is in OUTPUT or will be converted again, so the folder starts empty.
      const doubt = await folderDoubt(o.dir, here, resume);
      if (doubt) throw new FatalError(`${store.url(CHECKPOINT_NAME)} is a checkpoint to resume from, but ${o.dir} already holds day files that are not its parts (${doubt}): resume into an empty folder`);
      for (const name of [...here, LOG_NAME, CHECKPOINT_NAME]) fs.rmSync(path.join(o.dir, name), { force: true });
      removeIndex(indexPathOf(o.dir));
      o.log(`${o.dir}: its day files are the checkpoint's parts and more; emptied to resume from ${store.url(CHECKPOINT_NAME)}`);
    }
    o.log(`resuming from ${store.url(CHECKPOINT_NAME)} of ${resume.writtenAt}: line ${resume.next.line}, byte ${resume.next.offset}, ${resume.parts.length} parts`);
  }
  const checkpointer = new S3Checkpointer(store, o.dir, resume);
  return {
    resume,
    knownIds: resume ? loadStoredIds(store, resume) : undefined,
    onCheckpoint: (c) => checkpointer.checkpoint(c),
    last: () => checkpointer.last,
    recordUrl: store.url(CHECKPOINT_NAME),
    finish: async (f) => {
      await checkpointer.settled();
      const record = checkpointer.ending;
      if (!record) throw new FatalError('the run did not reach the end of its input: nothing to finish');
      return finishS3Output({ ...f, store, dir: o.dir, record, resumed: resume });
    },
  };
}
