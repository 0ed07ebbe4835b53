/**
 * The day files already in an output folder, before a conversion adds to them: their event ids
 * go into the set of stored ids, and a file that ends inside a gzip member (a write that did not
 * finish: the machine stopped, the disk filled up) is repaired: cut back to its last complete
 * member, with the whole events the cut member still held appended again at once as a new one.
 *
 * The repair survives a crash at any point: the salvaged events are first written as a gzip
 * member to a journal (.YYYY_MM_DD.pb.gz.repair-CUT, synced, renamed into place), and only then
 * is the day file cut back to CUT and the member appended; the journal goes last. A journal
 * found at the start of a run is replayed (cut back to CUT, append), which is the same whether
 * the crash came before, during or after the cut. A zero-byte day file (a run killed between
 * creating it and its first write) holds no events and is added to like any other.
 *
 * Any other damage stops the conversion: it is not ours to guess what a damaged file held.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import protobuf from 'protobufjs';
import { cutDayFileBack, listDayFiles } from '../day-files/names.ts';
import type { StoredEvent, WrittenMember } from '../day-files/writer.ts';
import { FatalError } from '../cli/errors.ts';
import { messageId, readIndexFields } from '../nostr/fields.ts';
import type { IdSet } from './id-set.ts';
import { DayFileError, readLocatedMessages } from '../day-files/members.ts';
import { appendDurablySync, syncDir, writeFileDurably } from '../day-files/durable.ts';
import { failpoint } from '../failpoints.ts';

export interface Repair {
  fileName: string;
  /** Where the cut-off member started, and the file now ends (before `rewritten`). */
  cutAt: number;
  /** The member holding the cut member's whole events, appended at `cutAt`; undefined when none were whole. */
  rewritten?: WrittenMember;
}

export interface ExistingDays {
  /** Events of the folder's complete members before any repair (each id once). */
  events: number;
  repairs: Repair[];
}

/** More than this of one cut-off member is not held in memory: the conversion stops instead. */
const MAX_SALVAGE_BYTES = 256 << 20;

/** Finishes the repairs a stopped run had begun (see replayRepairJournals); run before any loadExistingDays of the folder. */
export function finishStoppedRepairs(dir: string, log: (text: string) => void): Repair[] {
  const repairs = replayRepairJournals(dir);
  for (const r of repairs) log(`${path.join(dir, r.fileName)}: finished the repair a stopped run had begun (cut back to byte ${r.cutAt}, its whole events written again)`);
  return repairs;
}

/** The load was asked to stop (the run is ending): nothing to report. */
export class LoadStopped extends Error {
  constructor() {
    super('stopped reading the folder');
  }
}

export const readingFolderNote = (files: number, dir: string): string => `reading the ids of ${files} existing day files in ${dir} (new events are added, none twice)`;

/**
 * Reads the ids of the day files in `dir` that `owns` picks (all when it is not given) into
 * `seen`, repairing a file that ends in a cut-off member. With `owns`, the caller has run
 * finishStoppedRepairs first (a writer thread reads its own days); without, it runs here.
 * `stopped`: asked between batches of messages; when true, the load ends with LoadStopped.
 */
export async function loadExistingDays(dir: string, seen: IdSet, compressionLevel: number, log: (text: string) => void, owns?: (fileName: string) => boolean, stopped?: () => boolean): Promise<ExistingDays> {
  const result: ExistingDays = { events: 0, repairs: owns ? [] : finishStoppedRepairs(dir, log) };
  const files = listDayFiles(dir).filter((name) => !owns || owns(name));
  // (the writer threads' callers say it once for the whole folder: readingFolderNote)
  if (files.length > 0 && !owns) log(readingFolderNote(files.length, dir));
  for (const name of files) {
    const filePath = path.join(dir, name);
    if (fs.statSync(filePath).size === 0) continue; // created, never written: no events
    // Whether each event of the member being read was new: counted once the member ends whole.
    let memberStart = 0;
    let addedInMember: boolean[] = [];
    try {
      for await (const batch of readLocatedMessages(filePath)) {
        if (stopped?.()) throw new LoadStopped();
        for (let i = 0; i < batch.count; i++) {
          addedInMember.push(seen.add(messageId(batch.buf.subarray(batch.starts[i], batch.ends[i]))));
        }
        if (batch.memberEnd !== undefined) {
          result.events += addedInMember.filter(Boolean).length;
          addedInMember = [];
          memberStart = batch.memberEnd;
        }
      }
    } catch (err) {
      if (err instanceof LoadStopped) throw err;
      if (!(err instanceof DayFileError && err.cutOff && err.offset === memberStart)) {
        const what = err instanceof DayFileError ? err.message : `${filePath}: ${(err as Error).message}`;
        throw new FatalError(`cannot read existing day file ${what}; move it away or repair it before converting into this folder`);
      }
      const messages = await wholeMessagesOf(filePath, memberStart, addedInMember);
      const repair = cutBackAndRewrite(filePath, memberStart, messages, compressionLevel);
      result.repairs.push(repair);
      log(`${filePath}: cut back to byte ${memberStart}, where its last complete gzip member ends; ${messages.length} whole events of the cut member written again`);
    }
  }
  return result;
}

/** The messages of the member at `memberStart` whose ids were new (`added`). */
async function wholeMessagesOf(filePath: string, memberStart: number, added: boolean[]): Promise<Buffer[]> {
  const messages: Buffer[] = [];
  let index = 0;
  let bytes = 0;
  try {
    for await (const batch of readLocatedMessages(filePath, memberStart)) {
      for (let i = 0; i < batch.count && index < added.length; i++, index++) {
        if (!added[index]) continue;
        messages.push(Buffer.from(batch.buf.subarray(batch.starts[i], batch.ends[i])));
        bytes += batch.ends[i] - batch.starts[i];
        if (bytes > MAX_SALVAGE_BYTES) {
          throw new FatalError(`${filePath} ends in a cut-off gzip member of over ${MAX_SALVAGE_BYTES >> 20} MiB; move the file away, or cut it back to byte ${memberStart} to drop that member`);
        }
      }
    }
  } catch (err) {
    if (!(err instanceof DayFileError)) throw err; // else: the cut, met again
  }
  return messages;
}

/** Cuts the file back to `size` and appends `messages` as one gzip member, through a journal. */
function cutBackAndRewrite(filePath: string, size: number, messages: Buffer[], compressionLevel: number): Repair {
  const fileName = path.basename(filePath);
  const writer = protobuf.Writer.create();
  const events: StoredEvent[] = [];
  for (const m of messages) {
    const f = readIndexFields(m);
    events.push({ id: f.id, pubkey: f.pubkey, kind: f.kind, createdAt: f.createdAt, offsetInMember: writer.len });
    writer.bytes(m);
  }
  const data = Buffer.from(writer.finish());
  const member = messages.length ? zlib.gzipSync(data, { level: compressionLevel }) : undefined;
  const journal = journalPath(filePath, size);
  try {
    if (member) {
      writeFileDurably(journal, member);
      failpoint('repair-journal-written');
    }
    finishRepair(filePath, size, member);
    if (member) {
      fs.rmSync(journal);
      syncDir(path.dirname(filePath));
    }
  } catch (err) {
    throw new FatalError(`cannot repair ${filePath} (cut back to byte ${size}, where its complete gzip members end, then append ${messages.length} events): ${(err as Error).message}`);
  }
  return { fileName, cutAt: size, rewritten: member && { fileName, memberOffset: size, memberBytes: member.length, events, data } };
}

/** Cut back to `size`, then the salvaged member appended (and synced). Done again on replay. */
function finishRepair(filePath: string, size: number, member: Buffer | undefined): void {
  if (fs.existsSync(filePath) && fs.statSync(filePath).size > size) cutDayFileBack(filePath, size);
  failpoint('repair-cut');
  if (member) appendDurablySync(filePath, member);
  failpoint('repair-appended');
}

const JOURNAL = /^\.(\d{4}_\d{2}_\d{2}\.pb\.gz)\.repair-(\d+)(\.tmp)?$/;
const journalPath = (filePath: string, cutAt: number) => path.join(path.dirname(filePath), `.${path.basename(filePath)}.repair-${cutAt}`);

/**
 * Repairs that a stopped run had begun: each complete journal is replayed, then removed; an
 * incomplete one (.tmp: the day file was not touched yet) is removed, and that file is repaired
 * again as it is read.
 */
function replayRepairJournals(dir: string): Repair[] {
  const repairs: Repair[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const m = JOURNAL.exec(name);
    if (!m) continue;
    const journal = path.join(dir, name);
    if (m[3]) {
      fs.rmSync(journal, { force: true });
      continue;
    }
    const filePath = path.join(dir, m[1]);
    const cutAt = Number(m[2]);
    try {
      const size = fs.existsSync(filePath) ? fs.statSync(filePath).size : 0;
      if (size < cutAt) throw new Error(`the file has ${size} bytes, fewer than where the repair cuts it (${cutAt})`);
      finishRepair(filePath, cutAt, fs.readFileSync(journal));
      fs.rmSync(journal);
      syncDir(dir);
    } catch (err) {
      throw new FatalError(`cannot finish the repair of ${filePath} begun by a stopped run (journal ${journal}): ${(err as Error).message}`);
    }
    repairs.push({ fileName: m[1], cutAt });
  }
  return repairs;
}
