/**
 * A checkpoint of an --s3-output run: the gzip members written since the last checkpoint go up as
 * part objects (`_parts/YYYY_MM_DD/NNNNNN.gz`, one run of whole members of one day file each), the
 * ids of their events as `_parts/ids/NNNNNN.bin` (id records, 36 bytes per event: the id and its
 * day, lib/checkpoint/id-records.ts; what a resume on an empty machine loads to deduplicate, each
 * id by the writer thread of its day, without downloading the parts), the reject-log lines since the last
 * checkpoint as `_parts/log/NNNNNN.log`, and LAST `_checkpoint.json`, the commit point. Every object
 * is checked after its upload; anything uploaded after the last record is an orphan, ignored and
 * deleted by a resume (deleteOrphans).
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { FatalError } from '../cli/errors.ts';
import { LOG_NAME } from '../convert/reject-log.ts';
import { readLocatedMessages } from '../day-files/members.ts';
import { messageId } from '../nostr/fields.ts';
import { failpoint } from '../failpoints.ts';
import { CHECKPOINT_NAME, CHECKPOINT_VERSION, type CheckpointPart, type CheckpointRecord } from './record.ts';
import type { CheckpointStore } from './s3-store.ts';
import { ID_RECORD_BYTES, idRecordsOf } from './id-records.ts';
import { dayOfFileName } from '../day-files/names.ts';

export const PARTS_DIR = '_parts/';
export const IDS_DIR = `${PARTS_DIR}ids/`;
export const LOG_DIR = `${PARTS_DIR}log/`;

/** One gzip member written since the last checkpoint (local offsets: in this machine's day file). */
export interface NewMember {
  fileName: string;
  memberOffset: number;
  memberBytes: number;
  events: number;
}

/** What the converter's checkpoint hook hands over. */
export interface CheckpointEvent {
  record: CheckpointRecord;
  newMembers: NewMember[];
  rejectLogBytes: { from: number; to: number };
  reason: string;
}

/** Part objects uploaded at once within one checkpoint. */
const PARTS_IN_FLIGHT = 4;

const seq = (n: number) => String(n).padStart(6, '0');
export const partKey = (fileName: string, n: number) => `${PARTS_DIR}${fileName.replace(/\.pb\.gz$/, '')}/${seq(n)}.gz`;

/** The ids of the events in bytes [start, end) of a day file (whole members), 32 bytes each, in file order. */
export async function idsOfRange(file: string, start: number, end: number): Promise<Buffer> {
  const ids: Buffer[] = [];
  for await (const batch of readLocatedMessages(file, start)) {
    for (let i = 0; i < batch.count; i++) {
      if (batch.memberOffsets[i] >= end) return Buffer.concat(ids);
      ids.push(messageId(batch.buf.subarray(batch.starts[i], batch.ends[i])));
    }
    if (batch.memberEnd !== undefined && batch.memberEnd >= end) break;
  }
  return Buffer.concat(ids);
}

/**
 * The S3 side of one run's checkpoints. `resumed`: the record this run resumed from (its parts
 * come first; this machine's day files hold only what was written since, so a member at local
 * offset x of a day file sits at `base + x` of the assembled file, base being the bytes of that
 * file's earlier parts).
 */
export class S3Checkpointer {
  private parts: CheckpointPart[];
  private logParts: string[];
  private idParts: NonNullable<CheckpointRecord['idParts']>;
  /** Per day file: bytes of the parts uploaded before this run (constant for the run). */
  readonly base = new Map<string, number>();
  /** Per day file: local bytes already in parts of this run. */
  private uploaded = new Map<string, number>();
  last?: CheckpointRecord;
  /**
   * Set at the end of the input (never written to S3): the run's final counts and history, with
   * the parts of the last record (`last`), which the end of the run copies where it can.
   */
  ending?: CheckpointRecord;

  constructor(private store: CheckpointStore, private dir: string, resumed?: CheckpointRecord) {
    this.parts = [...(resumed?.parts ?? [])];
    this.logParts = [...(resumed?.logParts ?? [])];
    this.idParts = [...(resumed?.idParts ?? [])];
    for (const p of this.parts) this.base.set(p.fileName, (this.base.get(p.fileName) ?? 0) + p.bytes);
    this.last = resumed;
  }

  /** The upload of the last checkpoint, running while the conversion goes on. */
  private pending: Promise<void> = Promise.resolve();
  private failure: unknown;

  /**
   * Takes what `c` says was written since the last checkpoint and uploads it, then the record.
   * The upload runs in the background while the converter reads on (the ranges are fixed and
   * the day files only grow), one checkpoint at a time: this call first waits for the previous
   * upload, and rethrows its failure. A checkpoint on a signal is waited for, so that the
   * process ends with its record in S3. At the end of the input nothing is uploaded (`ending`).
   */
  async checkpoint(c: CheckpointEvent): Promise<void> {
    await this.settled();
    const event = c.record.history.at(-1)?.event;
    if (event === 'done') {
      // The end of the input: nothing goes up as parts. The end of the run (s3-finish.ts) uploads
      // the whole day files from the folder, copying only the committed parts S3 can copy; until
      // its manifest.json is written, the last record in S3 stays the commit point, and a crash
      // meanwhile resumes from it (reading at most one interval again).
      this.ending = { ...c.record, version: CHECKPOINT_VERSION, parts: this.parts, logParts: this.logParts, idParts: this.idParts, writtenAt: new Date().toISOString() };
      return;
    }
    const runs = this.runsOf(c.newMembers);
    for (const r of runs) this.uploaded.set(r.fileName, r.end);
    const job = this.upload(c, runs);
    this.pending = job.catch((err: unknown) => { this.failure ??= err; });
    if (event === 'interrupted') await this.settled();
  }

  /** Waits for the upload in flight; throws its failure. */
  async settled(): Promise<void> {
    await this.pending;
    if (this.failure) throw this.failure;
  }

  private async upload(c: CheckpointEvent, runs: Run[]): Promise<void> {
    const jobs = runs.map((r, k) => {
      const count = this.parts.filter((p) => p.fileName === r.fileName).length;
      return { r, k, key: partKey(r.fileName, count + 1), file: path.join(this.dir, r.fileName) };
    });
    const newParts: CheckpointPart[] = new Array(jobs.length);
    const ids: Buffer[] = new Array(jobs.length);
    const queue = [...jobs];
    const worker = async () => {
      for (let j = queue.shift(); j; j = queue.shift()) {
        const { r, k, key, file } = j;
        const stored = await this.store.putFileRange(key, file, r.start, r.end);
        failpoint('checkpoint-part-uploaded');
        const found = await idsOfRange(file, r.start, r.end);
        const events = found.length / 32;
        ids[k] = idRecordsOf(found, dayOfFileName(r.fileName));
        if (r.counted && events !== r.events) throw new FatalError(`checkpoint: ${r.fileName} bytes ${r.start}..${r.end} hold ${events} events, the converter counted ${r.events}`);
        newParts[k] = {
          key, fileName: r.fileName, offsetInFile: (this.base.get(r.fileName) ?? 0) + r.start,
          bytes: stored.size, sha256: stored.sha256, md5: stored.md5, events,
        };
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARTS_IN_FLIGHT, jobs.length) }, worker));
    const idParts = [...this.idParts];
    const idBytes = Buffer.concat(ids);
    if (idBytes.length > 0) {
      const stored = await this.store.putBuffer(`${IDS_DIR}${seq(idParts.length + 1)}.bin`, idBytes);
      idParts.push({ key: stored.key, bytes: stored.size, sha256: stored.sha256, events: idBytes.length / ID_RECORD_BYTES });
    }
    const logParts = [...this.logParts];
    const { from, to } = c.rejectLogBytes;
    if (to > from) {
      const stored = await this.store.putFileRange(`${LOG_DIR}${seq(logParts.length + 1)}.log`, path.join(this.dir, LOG_NAME), from, to);
      logParts.push(stored.key);
    }
    const record: CheckpointRecord = {
      ...c.record,
      version: CHECKPOINT_VERSION,
      parts: [...this.parts, ...newParts],
      logParts,
      idParts,
      writtenAt: new Date().toISOString(),
    };
    failpoint('checkpoint-before-remote-record');
    await writeS3Checkpoint(this.store, record);
    failpoint('checkpoint-remote-written');
    // Committed: from now on these parts count.
    this.parts = record.parts;
    this.logParts = logParts;
    this.idParts = idParts;
    this.last = record;
  }

  /** The members of each day file, as one run per file, checked to follow on from what is uploaded. */
  private runsOf(members: NewMember[]): Run[] {
    const runs = new Map<string, Run>();
    for (const m of members) {
      const r = runs.get(m.fileName);
      const expected = r ? r.end : (this.uploaded.get(m.fileName) ?? 0);
      // The first members of a file in this run may follow bytes the folder held before it (a
      // local resume, or a folder converted into before): those whole members go up too.
      const before = !r && !this.uploaded.has(m.fileName) && !this.base.has(m.fileName) && m.memberOffset > expected;
      if (m.memberOffset !== expected && !before) {
        throw new FatalError(`checkpoint: ${m.fileName}'s new member starts at byte ${m.memberOffset}, where ${expected} was expected (members must follow on)`);
      }
      if (r) {
        r.end += m.memberBytes;
        r.events += m.events;
      } else {
        runs.set(m.fileName, { fileName: m.fileName, start: expected, end: m.memberOffset + m.memberBytes, events: m.events, counted: !before });
      }
    }
    return [...runs.values()].sort((a, b) => a.fileName.localeCompare(b.fileName));
  }
}

/** Bytes [start, end) of a day file; `counted`: its events are the members' (else read from the file). */
interface Run { fileName: string; start: number; end: number; events: number; counted: boolean }

/** Writes OUTPUT/_checkpoint.json (checked like every upload). */
export async function writeS3Checkpoint(store: CheckpointStore, record: CheckpointRecord): Promise<void> {
  await store.putBuffer(CHECKPOINT_NAME, Buffer.from(JSON.stringify(record, null, 1) + '\n'));
}

/**
 * OUTPUT/_checkpoint.json, or undefined when there is none, or 'damaged' when its bytes are not
 * those its writer recorded: S3 stores a PUT whole or not at all, but a server that writes as the
 * bytes come (s3rver) keeps a record cut off by a killed process.
 */
export async function readS3Checkpoint(store: CheckpointStore): Promise<CheckpointRecord | 'damaged' | undefined> {
  const got = await store.exists(CHECKPOINT_NAME) ? await store.getWithSha(CHECKPOINT_NAME) : undefined;
  if (!got) return undefined;
  const body = got.body;
  if (got.sha256 && crypto.createHash('sha256').update(body).digest('hex') !== got.sha256) return 'damaged';
  let record: CheckpointRecord;
  try {
    record = JSON.parse(body.toString('utf8')) as CheckpointRecord;
  } catch {
    return 'damaged'; // only this tool writes it, always whole JSON: cut off
  }
  if (record.version !== CHECKPOINT_VERSION || !Array.isArray(record.parts) || !record.next || !record.input) {
    throw new FatalError(`${store.url(CHECKPOINT_NAME)} is not a checkpoint of version ${CHECKPOINT_VERSION} of this tool; delete it to start the run over`);
  }
  return record;
}

/** Every object a record refers to (relative to OUTPUT). */
export function referencedKeys(record: CheckpointRecord | undefined): Set<string> {
  if (!record) return new Set();
  return new Set([...record.parts.map((p) => p.key), ...record.logParts, ...(record.idParts ?? []).map((p) => p.key)]);
}

/**
 * Deletes the objects under OUTPUT/_parts/ that `record` does not list: uploaded by a run that
 * stopped before its next record (or, with no record, by any run). Returns their keys.
 */
export async function deleteOrphans(store: CheckpointStore, record: CheckpointRecord | undefined): Promise<string[]> {
  const keep = referencedKeys(record);
  const orphans = (await store.list(PARTS_DIR)).filter((k) => !keep.has(k));
  await store.delete(orphans);
  return orphans;
}

/**
 * The ids stored by the runs before this one, from the record's id lists, each checked against
 * its recorded SHA-256: id records (an id and its day, 36 bytes each), one chunk per list (the
 * converter's `knownIds`).
 */
export async function* loadStoredIds(store: CheckpointStore, record: CheckpointRecord): AsyncGenerator<Uint8Array> {
  for (const p of record.idParts ?? []) {
    const body = await store.getChecked(p.key, p);
    if (body.length % ID_RECORD_BYTES !== 0) throw new FatalError(`${store.url(p.key)}: ${body.length} bytes is not a list of ${ID_RECORD_BYTES}-byte id records`);
    yield body;
  }
}
