/**
 * Whether a conversion into DIR goes on from DIR/_checkpoint.json, and making the folder agree
 * with the record first. Any doubt falls back to reading the input from its start, which stays
 * exact (events already stored are recognised and not stored again); the reason is logged.
 * A record for the same input in another version (a file touched or appended to, another ETag)
 * is refused: mixing two versions silently is never right.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FatalError } from '../cli/errors.ts';
import { cutDayFileBack, listDayFiles } from '../day-files/names.ts';
import { syncDir } from '../day-files/durable.ts';
import { checkpointPathOf, readLocalCheckpoint, removeLocalCheckpoint } from './local.ts';
import { fileIdentity, identityDifference } from './identity.ts';
import type { CheckpointRecord, InputIdentity } from './record.ts';
import type { ConversionCounts } from '../convert/summary.ts';
import { idLogPathOf } from './id-log.ts';
import { ID_RECORD_BYTES } from './id-records.ts';

/** The input as a record names it: a local path made absolute, anything else as typed. */
export function specOf(input: string): string {
  if (input === '-') return input;
  if (/^file:\/\//i.test(input)) {
    try {
      return path.resolve(fileURLToPath(input));
    } catch {
      return input;
    }
  }
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(input) ? input : path.resolve(input);
}

/** The one line that refuses a record whose input changed, with the way out. */
export function changedInputError(difference: string, dir: string): FatalError {
  return new FatalError(`${difference}: the input changed since the checkpoint in ${dir}; to convert it from the start, run again with --restart (or delete ${checkpointPathOf(dir)})`);
}

export interface LocalResume {
  record: CheckpointRecord;
  /** Day files cut back to what the record covers (for the index: its rows past `from` go). */
  cuts: { fileName: string; from: number }[];
}

/**
 * The record to resume from in DIR, with the folder cut back to it; undefined to read from the
 * start (no record, another input's, stdin, or a folder in doubt: the record is then removed).
 * Throws the one-line refusal when the same local file changed (a remote input's identity is
 * known only once it is opened: see checkRemoteIdentity).
 */
export function planLocalResume(dir: string, input: string, restart: boolean, log: (text: string) => void): LocalResume | undefined {
  const found = readLocalCheckpoint(dir);
  if (!found) return undefined;
  const drop = (why: string) => {
    log(`${checkpointPathOf(dir)}: ${why}; reading the input from its start (what the folder holds is not stored twice)`);
    removeLocalCheckpoint(dir);
    return undefined;
  };
  if ('unreadable' in found) return drop(`not a usable checkpoint (${found.unreadable})`);
  if (restart) return drop('--restart');
  const record = found;
  const spec = specOf(input);
  if (record.input.spec !== spec) return drop(`the checkpoint is for another input (${record.input.spec})`);
  if (record.input.kind === 'stdin') return drop('standard input cannot be resumed');
  if (record.input.kind === 'file') {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(spec);
    } catch {
      return undefined; // opening the input names the problem
    }
    const difference = identityDifference(record.input, { ...fileIdentity(spec, stat), ...(record.input.compression ? { compression: record.input.compression } : {}) });
    if (difference) throw changedInputError(difference, dir);
  }
  const doubt = folderDoubt(dir, record);
  if (doubt) return drop(doubt);
  const cuts = cutBack(dir, record);
  return { record, cuts };
}

/** For an input whose identity came with its opening (http, S3): the same refusal when it changed. */
export function checkRemoteIdentity(record: CheckpointRecord, current: InputIdentity, dir: string): void {
  const difference = identityDifference(record.input, { ...current, compression: record.input.compression });
  if (difference) throw changedInputError(difference, dir);
}

/** Why the folder does not hold what the record covers, or undefined. */
function folderDoubt(dir: string, record: CheckpointRecord): string | undefined {
  if (!record.dayFiles) return 'the checkpoint lists no day files';
  if (fs.readdirSync(dir).some((n) => n.includes('.repair-'))) return 'a repair of a day file is pending';
  for (const f of record.dayFiles) {
    let size: number;
    try {
      size = fs.statSync(path.join(dir, f.fileName)).size;
    } catch {
      return `${f.fileName}, which the checkpoint covers, is missing`;
    }
    if (size < f.bytes) return `${f.fileName} holds ${size} bytes, fewer than the ${f.bytes} the checkpoint covers`;
  }
  return undefined;
}

/** Day files written after the checkpoint are cut back to it (their events are read again), and the reject log too. */
function cutBack(dir: string, record: CheckpointRecord): { fileName: string; from: number }[] {
  const covered = new Map(record.dayFiles!.map((f) => [f.fileName, f.bytes]));
  const cuts: { fileName: string; from: number }[] = [];
  for (const fileName of listDayFiles(dir)) {
    const filePath = path.join(dir, fileName);
    const to = covered.get(fileName) ?? 0;
    if (fs.statSync(filePath).size <= to) continue;
    cutDayFileBack(filePath, to);
    cuts.push({ fileName, from: to });
  }
  const logPath = path.join(dir, 'proton-beam.log');
  if (record.rejectLogBytes !== undefined && fs.existsSync(logPath) && fs.statSync(logPath).size > record.rejectLogBytes) {
    fs.truncateSync(logPath, record.rejectLogBytes);
  }
  if (cuts.length) syncDir(dir);
  return cuts;
}

/** A resumed run's counts go on from the record's (this run's own time and CPU are its own). */
export function carryCounts(counts: ConversionCounts, record: CheckpointRecord): void {
  const r = record.counts;
  counts.lines = r.lines;
  counts.valid = r.valid;
  counts.duplicates = r.duplicates;
  counts.duplicatesUnverified = r.duplicatesUnverified;
  counts.rejected = r.rejected;
  counts.rejectedByReason = { ...r.rejectedByReason };
  counts.preexisting = r.preexisting;
  counts.repaired += r.repaired;
}

/** Events the folder must hold when it agrees with `record`: those before the run plus those it stored. */
export const storedBy = (record: CheckpointRecord): number => record.counts.preexisting + record.counts.valid - record.counts.duplicates;

/**
 * Where the folder's ids can be read from DIR/_checkpoint.ids instead of its day files: when
 * resuming a run that began in an empty folder and the list is as long as the record says (the
 * day files, just cut back to the record, hold exactly those events). Each writer thread reads the
 * records of its own days (lib/convert/writer-thread.ts); undefined: read the day files.
 */
export function idLogResume(opened: { resume?: CheckpointRecord }, o: { dir: string; resumeGiven: boolean }): { bytes: number } | undefined {
  const r = opened.resume;
  if (!r || o.resumeGiven || r.storedIds === undefined || r.counts.preexisting !== 0) return undefined;
  if (r.storedIds !== ID_RECORD_BYTES * (r.counts.valid - r.counts.duplicates)) return undefined;
  try {
    if (fs.statSync(idLogPathOf(o.dir)).size < r.storedIds) return undefined;
  } catch {
    return undefined;
  }
  return { bytes: r.storedIds };
}
