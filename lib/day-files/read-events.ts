/**
 * Reading events back from day files: a whole file as NIP-01 events (cat), or the events an
 * index names at their exact places (query). Damage is reported as one line naming the file
 * and byte offset, after every readable event before it has been handed out.
 */
import path from 'node:path';
import { decodeEvent, type NostrEvent } from '../nostr/codec.ts';
import { NotAnEventError, readIndexFields, type IndexFields } from '../nostr/fields.ts';
import { DayFileError, readLocatedMessages, readMessagesAt, type MessageBatch } from './members.ts';
import type { MemberCache } from './member-cache.ts';

/** The index fields of message i of a batch; a DayFileError when it is not a Nostr ProtoEvent. */
export function fieldsChecked(filePath: string, batch: MessageBatch, i: number): IndexFields {
  return checked(filePath, batch, i, () => readIndexFields(batch.buf, batch.starts[i], batch.ends[i]));
}

/** Decodes message i of a batch, after checking that it is a Nostr ProtoEvent. */
export function decodeChecked(filePath: string, batch: MessageBatch, i: number): NostrEvent {
  return checked(filePath, batch, i, () => {
    readIndexFields(batch.buf, batch.starts[i], batch.ends[i]);
    return decodeEvent(batch.buf.subarray(batch.starts[i], batch.ends[i]));
  });
}

function checked<T>(filePath: string, batch: MessageBatch, i: number, read: () => T): T {
  try {
    return read();
  } catch (err) {
    const why = err instanceof NotAnEventError ? err.message : `cannot decode it: ${(err as Error).message}`;
    throw new DayFileError(filePath, batch.memberOffsets[i], `the message at offset ${batch.offsetsInMember[i]} of this gzip member's data is not a Nostr ProtoEvent (${why})`);
  }
}

/** The events of a day file in file order, in batches; throws DayFileError at damage. */
export async function* readDayFileEvents(filePath: string): AsyncGenerator<NostrEvent[]> {
  for await (const batch of readLocatedMessages(filePath)) {
    const events: NostrEvent[] = [];
    try {
      for (let i = 0; i < batch.count; i++) events.push(decodeChecked(filePath, batch, i));
    } catch (err) {
      if (events.length) yield events;
      throw err;
    }
    if (events.length) yield events;
  }
}

/** An index row: where an event is. Locations are null in rows other tools wrote. */
export interface EventLocation {
  id: string;
  file_path: string;
  member_offset: number | null;
  offset_in_member: number | null;
}

/**
 * The events at `rows` (in that order), reading each gzip member once (or not at all when
 * `cache` keeps its messages); an event that cannot be read is left out and `problem` called
 * with a line naming the file.
 */
export async function readLocatedEvents(dir: string, rows: EventLocation[], problem: (text: string) => void, cache?: MemberCache): Promise<NostrEvent[]> {
  const found = new Map<string, NostrEvent>();
  const byMember = new Map<string, EventLocation[]>();
  const unlocated = new Map<string, Set<string>>();
  for (const r of rows) {
    if (r.member_offset === null || r.offset_in_member === null) {
      let ids = unlocated.get(r.file_path);
      if (!ids) unlocated.set(r.file_path, (ids = new Set()));
      ids.add(r.id);
      continue;
    }
    const key = `${r.file_path}\0${r.member_offset}`;
    let group = byMember.get(key);
    if (!group) byMember.set(key, (group = []));
    group.push(r);
  }
  const badFiles = new Set<string>();
  const fail = (file: string, err: unknown, count: number) => {
    const what = err instanceof DayFileError && err.detail === 'no such file'
      ? `${file}: missing, but the index lists events in it (${count} wanted here)`
      : (err as Error).message;
    if (!badFiles.has(file) || !(err instanceof DayFileError && err.detail === 'no such file')) problem(what);
    badFiles.add(file);
  };
  for (const group of byMember.values()) {
    const { file_path: file, member_offset: memberOffset } = group[0];
    const filePath = path.join(dir, file);
    let messages: Map<number, Buffer>;
    try {
      const offsets = group.map((r) => r.offset_in_member!);
      messages = await (cache ? cache.messagesAt(filePath, memberOffset!, offsets) : readMessagesAt(filePath, memberOffset!, offsets));
    } catch (err) {
      if (!(err instanceof DayFileError)) throw err;
      fail(filePath, err, group.length);
      continue;
    }
    for (const r of group) {
      const bytes = messages.get(r.offset_in_member!);
      let event: NostrEvent | undefined;
      try {
        event = bytes && readIndexFields(bytes).id === r.id ? decodeEvent(bytes) : undefined;
      } catch {
        event = undefined;
      }
      if (event) found.set(r.id, event);
      else problem(`${filePath} at byte ${memberOffset}: event ${r.id} is not at offset ${r.offset_in_member} of this gzip member's data, where the index puts it (the index is out of date: rebuild it with npx tsx scripts/index.ts rebuild ${dir})`);
    }
  }
  for (const [file, ids] of unlocated) {
    const filePath = path.join(dir, file);
    try {
      scan: for await (const batch of readLocatedMessages(filePath)) {
        for (let i = 0; i < batch.count; i++) {
          const { id } = fieldsChecked(filePath, batch, i);
          if (ids.has(id)) {
            found.set(id, decodeChecked(filePath, batch, i));
            ids.delete(id);
            if (ids.size === 0) break scan;
          }
        }
      }
      for (const id of ids) problem(`${filePath}: event ${id} is not in this file, where the index puts it (the index is out of date)`);
    } catch (err) {
      if (!(err instanceof DayFileError)) throw err;
      fail(filePath, err, ids.size);
    }
  }
  return rows.flatMap((r) => found.get(r.id) ?? []);
}
