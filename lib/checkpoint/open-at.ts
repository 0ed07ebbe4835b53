/**
 * Opening the input of a conversion where its checkpoint left it: the local record in DIR (or a
 * record given by the S3 side), the input opened at the saved position and checked to be the same
 * version, and a way back to the start when the folder turns out not to agree.
 */
import { openInput, type InputOptions, type InputSource } from '../input/open.ts';
import { removeLocalCheckpoint } from './local.ts';
import { checkRemoteIdentity, planLocalResume, storedBy } from './resume.ts';
import { resumable } from './identity.ts';
import type { CheckpointRecord } from './record.ts';

export interface Opened {
  input: InputSource;
  /** The record this run goes on from; undefined: from the start. */
  resume?: CheckpointRecord;
  /** Day files cut back to the record (the index drops its rows past `from`). */
  cuts: { fileName: string; from: number }[];
}

export async function openAtCheckpoint(o: {
  dir: string;
  input: string;
  /** A record from elsewhere (S3): trusted for the folder, still checked against the input. */
  resume?: CheckpointRecord;
  restart?: boolean;
  log: (text: string) => void;
  inputOptions?: InputOptions;
}): Promise<Opened> {
  const local = o.resume ? undefined : planLocalResume(o.dir, o.input, o.restart ?? false, o.log);
  const record = o.resume ?? local?.record;
  if (!record) return { input: await openInput(o.input, o.inputOptions), cuts: [] };
  if (!resumable(record.input)) {
    o.log(`the checkpoint's input ${record.input.spec} cannot be read from an offset: reading it from the start`);
    if (!o.resume) removeLocalCheckpoint(o.dir);
    return { input: await openInput(o.input, o.inputOptions), cuts: local?.cuts ?? [] };
  }
  const input = await openInput(o.input, { ...o.inputOptions, resumeAt: { position: record.next, compression: record.input.compression } });
  try {
    checkRemoteIdentity(record, input.identity, o.dir);
  } catch (err) {
    input.stream.destroy();
    throw err;
  }
  o.log(`resuming from the checkpoint of ${record.writtenAt} at line ${record.next.line} (JSONL byte ${record.next.offset})${input.resumedBy ? `: ${input.resumedBy}` : ''}`);
  return { input, resume: record, cuts: local?.cuts ?? [] };
}

/**
 * After the folder's ids are read: when the folder does not hold exactly what the local record
 * covers, the input is opened again at its start (exact, only slower), and the record removed.
 */
export async function checkFolderAgrees(opened: Opened, o: { dir: string; input: string; resumeGiven: boolean; folderEvents: number; log: (text: string) => void; inputOptions?: InputOptions }): Promise<Opened> {
  if (!opened.resume || o.resumeGiven) return opened;
  const expected = storedBy(opened.resume);
  if (o.folderEvents === expected) return opened;
  o.log(`the day files hold ${o.folderEvents} events, the checkpoint covers ${expected}: reading the input from its start instead (what the folder holds is not stored twice)`);
  opened.input.stream.destroy();
  removeLocalCheckpoint(o.dir);
  return { input: await openInput(o.input, o.inputOptions), cuts: opened.cuts };
}
