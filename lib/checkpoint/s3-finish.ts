/**
 * The end of a checkpointed --s3-output run, once the input is read to its end. No part goes up
 * then: the local folder holds the whole day files, and they go up as in a run without
 * checkpoints, copying in S3 only what is already there and big enough to copy.
 * 1. a resumed run makes the local day files and log whole again: the parts and log segments of
 *    the earlier runs are downloaded (each checked against the record) and put before what this
 *    machine wrote; index.db is then rebuilt from those files with the existing rebuild (the one
 *    the converter built here holds only this machine's events, at offsets of its partial files;
 *    rebuilding from the whole files is exact and reuses tested code, where a merge would need
 *    new code to shift offsets);
 * 2. a day file with a part of the last record that S3 can copy (5 MiB or more) is assembled by
 *    one multipart upload: those parts copied, the rest from the local file (s3-assemble.ts);
 * 3. every other day file, index.db and proton-beam.log are uploaded whole by the code of the run
 *    without checkpoints (lib/s3/output.ts uploadResults), each checked, and manifest.json last,
 *    with the record's history;
 * 4. then _checkpoint.json, and after it every object under _parts/, are deleted: a crash in
 *    between leaves only parts that no record lists, orphans that the next run deletes.
 * Until 4, the last record in S3 (written at the last periodic checkpoint, or none) is the commit
 * point: a crash before it resumes from that record, converts what followed it again and does
 * 1 to 4 again (its start removes a manifest.json already written; an unfinished multipart upload
 * is aborted by S3's lifecycle rule for incomplete multipart uploads, docs/S3.md).
 */
import fs from 'node:fs';
import path from 'node:path';
import { FatalError } from '../cli/errors.ts';
import { LOG_NAME } from '../convert/reject-log.ts';
import { listDayFiles } from '../day-files/names.ts';
import { failpoint } from '../failpoints.ts';
import { rebuildIndex } from '../index/rebuild.ts';
import { indexPathOf } from '../index/db.ts';
import { uploadResults, type UploadOptions, type UploadReport, type UploadedFile } from '../s3/output.ts';
import { CHECKPOINT_NAME, type CheckpointPart, type CheckpointRecord } from './record.ts';
import { assembleDayFile, copiesAPart } from './s3-assemble.ts';
import { PARTS_DIR } from './s3-checkpoint.ts';
import type { CheckpointStore } from './s3-store.ts';

export interface FinishOptions {
  store: CheckpointStore;
  dir: string;
  /** The end of the run: its final counts and history, with the parts of the last record written (S3Checkpointer.ending). */
  record: CheckpointRecord;
  /** The record this run resumed from, if any. */
  resumed?: CheckpointRecord;
  /** Build index.db (unless the run had --no-index). */
  index: boolean;
  parallel: number;
  /** What uploadResults needs besides dir, target and client. */
  upload: Omit<UploadOptions, 'dir' | 'target' | 'client' | 'assembled'>;
  log?: (text: string) => void;
}

export async function finishS3Output(o: FinishOptions): Promise<UploadReport> {
  const log = o.log ?? (() => {});
  const byFile = new Map<string, CheckpointPart[]>();
  for (const p of o.record.parts) byFile.set(p.fileName, [...(byFile.get(p.fileName) ?? []), p]);
  for (const parts of byFile.values()) parts.sort((a, b) => a.offsetInFile - b.offsetInFile);

  if (o.resumed) {
    const earlier = new Set(o.resumed.parts.map((p) => p.key));
    for (const [fileName, parts] of byFile) {
      const before = parts.filter((p) => earlier.has(p.key));
      if (before.length > 0) await prependParts(o.store, path.join(o.dir, fileName), before);
    }
    if (o.resumed.logParts.length > 0) await prependLog(o.store, path.join(o.dir, LOG_NAME), o.resumed.logParts);
    if (o.index) {
      log(`rebuilding index.db from the whole day files (${listDayFiles(o.dir).length} files)`);
      await rebuildIndex({ dir: o.dir, parallel: o.parallel, log });
    } else {
      fs.rmSync(indexPathOf(o.dir), { force: true });
    }
  }
  const missing = [...byFile.keys()].find((name) => !fs.existsSync(path.join(o.dir, name)));
  if (missing) throw new FatalError(`${path.join(o.dir, missing)} is missing: the last checkpoint has parts of it`);

  // Day files with a part S3 can copy: assembled here, two at a time (as uploadResults sends files).
  const toAssemble = listDayFiles(o.dir).filter((name) => copiesAPart(byFile.get(name) ?? [], fs.statSync(path.join(o.dir, name)).size));
  const assembled: UploadedFile[] = [];
  const queue = [...toAssemble];
  let failed = false;
  await Promise.all(Array.from({ length: Math.min(2, queue.length) }, async () => {
    for (let name = queue.shift(); name !== undefined && !failed; name = queue.shift()) {
      const parts = byFile.get(name)!;
      try {
        assembled.push(await assembleDayFile(o.store, name, parts, path.join(o.dir, name)));
      } catch (err) {
        failed = true;
        throw err;
      }
      log(`assembled ${o.store.url(name)}: ${parts.length} parts of the last checkpoint and the bytes written since`);
      failpoint('assembly-file-done');
    }
  }));
  // The record is deleted below: the manifest keeps the run's starts, stops and resumes (make status).
  const report = await uploadResults({
    ...o.upload, manifest: { ...o.upload.manifest, history: o.record.history },
    dir: o.dir, target: `s3://${o.store.bucket}/${o.store.prefix}`, client: o.store.s3, assembled,
  });
  await o.store.delete([CHECKPOINT_NAME]);
  await o.store.delete(await o.store.list(PARTS_DIR));
  return report;
}

/** Puts the checked bytes of `parts` (downloaded) before what `file` holds (if it exists). */
async function prependParts(store: CheckpointStore, file: string, parts: CheckpointPart[]): Promise<void> {
  const tmp = `${file}.resume-tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    for (const p of parts) fs.writeSync(fd, await store.getChecked(p.key, p));
    if (fs.existsSync(file)) {
      const buf = Buffer.allocUnsafe(1 << 20);
      const src = fs.openSync(file, 'r');
      try {
        for (let n = fs.readSync(src, buf); n > 0; n = fs.readSync(src, buf)) fs.writeSync(fd, buf, 0, n);
      } finally {
        fs.closeSync(src);
      }
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

async function prependLog(store: CheckpointStore, file: string, keys: string[]): Promise<void> {
  const earlier: Buffer[] = [];
  for (const k of keys) {
    const body = await store.get(k);
    if (!body) throw new FatalError(`cannot read ${store.url(k)}: the checkpoint lists it but it is missing`);
    earlier.push(body);
  }
  const here = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
  fs.writeFileSync(file, Buffer.concat([...earlier, here]));
}
