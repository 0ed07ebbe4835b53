/**
 * The day files already in an output folder, before a conversion adds to them: their event ids
 * go into the set of stored ids, and a last gzip member that a write left unfinished (the disk
 * filled up, the machine stopped) is cut off so that the file reads to its end again. The whole
 * events that member still holds are handed back, to be written again as a new member.
 *
 * Any other damage stops the conversion: it is not ours to guess what a damaged file held.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DAY_FILE_PATTERN, listDayFiles } from './day-files.ts';
import { messageId } from './day-file-reader.ts';
import { FatalError } from './errors.ts';
import type { IdSet } from './id-set.ts';
import { DayFileError, readLocatedMessages } from './member-reader.ts';

/** Whole events recovered from a cut-off last member: each ProtoEvent message, without its length. */
export interface Salvaged {
  fileName: string;
  /** Days since 1970-01-01, as in day-files.ts. */
  day: number;
  messages: Buffer[];
}

export interface ExistingDays {
  /** Events in the folder's complete members (each id once). */
  events: number;
  salvaged: Salvaged[];
}

/** More than this in one cut-off member is not held in memory: the conversion stops instead. */
const MAX_SALVAGE_BYTES = 256 << 20;

export async function loadExistingDays(dir: string, seen: IdSet, log: (text: string) => void): Promise<ExistingDays> {
  const result: ExistingDays = { events: 0, salvaged: [] };
  const files = listDayFiles(dir);
  if (files.length > 0) log(`reading the ids of ${files.length} existing day files in ${dir} (new events are added, none twice)`);
  for (const name of files) {
    const filePath = path.join(dir, name);
    // The events of the member being read: new ids are counted once it ends whole.
    let memberStart = 0;
    let addedInMember: boolean[] = [];
    try {
      for await (const batch of readLocatedMessages(filePath)) {
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
      if (!(err instanceof DayFileError && err.cutOff && err.offset === memberStart)) {
        const what = err instanceof DayFileError ? err.message : `${filePath}: ${(err as Error).message}`;
        throw new FatalError(`cannot read existing day file ${what}; move it away or repair it before converting into this folder`);
      }
      const messages = await wholeMessagesOf(filePath, memberStart, addedInMember);
      cutBack(filePath, memberStart);
      result.salvaged.push({ fileName: name, day: dayOfFileName(name), messages });
      log(`${filePath}: its last gzip member (from byte ${memberStart}) was cut off by a write that did not finish; the file now ends at byte ${memberStart}, and the ${messages.length} whole events that member held are written again`);
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
        const message = batch.buf.subarray(batch.starts[i], batch.ends[i]);
        messages.push(Buffer.from(message));
        bytes += message.length;
        if (bytes > MAX_SALVAGE_BYTES) {
          throw new FatalError(`${filePath} ends in a cut-off gzip member of over ${MAX_SALVAGE_BYTES >> 20} MiB; move the file away, or cut it back to byte ${memberStart} to drop that member`);
        }
      }
    }
  } catch (err) {
    if (!(err instanceof DayFileError)) throw err; // the cut, met again
  }
  return messages;
}

function cutBack(filePath: string, size: number): void {
  try {
    if (size === 0) fs.rmSync(filePath);
    else fs.truncateSync(filePath, size);
  } catch (err) {
    throw new FatalError(`cannot cut ${filePath} back to byte ${size}, where its complete gzip members end: ${(err as Error).message}`);
  }
}

function dayOfFileName(name: string): number {
  const [, y, m, d] = DAY_FILE_PATTERN.exec(name)!;
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(m) - 1, Number(d)); // Date.UTC would take years 0..99 as 1900..1999
  return date.getTime() / 86_400_000;
}
