/**
 * Worker thread that indexes during a conversion: opens DIR/index.db, takes the rows of each
 * gzip member as the converter writes it, inserts them in large transactions (sorted by id),
 * and at the end creates the secondary indexes that are missing.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { finishIndex, openIndexForWrite, countRows } from './db.ts';
import { BulkLoader, chunkOfPacked, type RowChunk } from './loader.ts';
import type { PackedRows } from '../day-files/packed-rows.ts';
import { CREATE_TAGS_TABLE, TagInserter, collectTags, emptyTagRows, hasTagsTable, messageAt } from './tags.ts';

/** `data`: the member's uncompressed messages, at the chunk's offsetsInMember, for the tags table. */
export type WriterRequest =
  | { type: 'rows'; chunk: RowChunk; data?: Uint8Array }
  /** A member's rows packed (lib/day-files/packed-rows.ts), made into a chunk here. */
  | { type: 'packed'; fileName: string; memberOffset: number; rows: PackedRows; data?: Uint8Array }
  /** A checkpoint: every row sent so far committed before the reply. */
  | { type: 'commit' }
  | { type: 'finish' };

/** A repaired day file: its rows from byte `from` on pointed at what was cut off; deleted first. */
export interface Drop { fileName: string; from: number }
export type WriterReply =
  | { type: 'ready'; rows: number }
  | { type: 'inserted'; rows: number }
  | { type: 'committed' }
  | { type: 'done'; inserted: number; ignored: number; rows: number }
  | { type: 'error'; message: string; fatal: boolean };

/** Rows per transaction: small enough that inserting keeps pace with the conversion (little is left for the end). */
const BATCH_ROWS = 32_768;

const { indexPath, drops, tags } = workerData.data as { indexPath: string; drops: Drop[]; tags: boolean };
const port = parentPort!;

let loader: BulkLoader | undefined;
let db: ReturnType<typeof openIndexForWrite>['db'] | undefined;
let work = Promise.resolve();
let failed = false;
let withTags = false;
let withoutData = false;

function fail(err: unknown): void {
  failed = true;
  const e = err as Error & { code?: string };
  const message = e.code === 'SQLITE_FULL' ? `no space left on device (${e.message})` : e.message;
  port.postMessage({ type: 'error', message, fatal: e.constructor?.name === 'FatalError' } satisfies WriterReply);
}

try {
  db = openIndexForWrite(indexPath).db;
  const drop = db.prepare('DELETE FROM events WHERE file_path = ? AND member_offset >= ?');
  db.transaction(() => { for (const d of drops) drop.run(d.fileName, d.from); })();
  // Decided by lib/index/writer.ts (which then sends each member's bytes); checked again here.
  withTags = tags && (hasTagsTable(db) || countRows(db) === 0);
  if (withTags) db.exec(CREATE_TAGS_TABLE);
  loader = new BulkLoader(db, BATCH_ROWS, withTags ? new TagInserter(db) : undefined);
  port.postMessage({ type: 'ready', rows: countRows(db) } satisfies WriterReply);
} catch (err) {
  fail(err);
}

/** Rows held when no more arrive for this long are inserted: little is left for the end. */
const IDLE_MS = 200;
let idle: NodeJS.Timeout | undefined;

function flushSoon(l: BulkLoader): void {
  clearTimeout(idle);
  work = work.then(async () => {
    const before = l.inserted + l.ignored;
    await l.flush();
    port.postMessage({ type: 'inserted', rows: l.inserted + l.ignored - before } satisfies WriterReply);
  }).catch(fail);
}

port.on('message', (req: WriterRequest) => {
  if (failed || !loader || !db) return;
  const l = loader;
  const d = db;
  if (req.type === 'rows' || req.type === 'packed') {
    const chunk = req.type === 'rows' ? req.chunk : chunkOfPacked(req.fileName, req.memberOffset, req.rows);
    if (withTags) addTags(chunk, req.data);
    l.add(chunk);
    clearTimeout(idle);
    if (l.full) flushSoon(l);
    else idle = setTimeout(() => flushSoon(l), IDLE_MS);
  } else if (req.type === 'commit') {
    // A checkpoint: every row sent so far committed before the reply.
    flushSoon(l);
    work = work.then(() => port.postMessage({ type: 'committed' } satisfies WriterReply)).catch(fail);
  } else {
    clearTimeout(idle);
    work = work.then(async () => {
      await l.flush();
      if (withoutData) d.exec('DROP TABLE IF EXISTS tags');
      finishIndex(d);
      const rows = countRows(d);
      d.close();
      port.postMessage({ type: 'done', inserted: l.inserted, ignored: l.ignored, rows } satisfies WriterReply);
    }).catch(fail);
  }
});

/** The chunk's events' filter tags, read from the member's messages. */
function addTags(chunk: RowChunk, data: Uint8Array | undefined): void {
  if (!data) {
    // A member without its bytes: the tags table would be incomplete, so it goes at the end.
    withTags = false;
    withoutData = true;
    return;
  }
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const tags = emptyTagRows();
  let start = 0;
  for (let i = 0; i < chunk.count; i++) {
    const id = chunk.ids.slice(start, chunk.idEnds[i]);
    start = chunk.idEnds[i];
    const [from, to] = messageAt(buf, chunk.offsetsInMember[i]);
    collectTags(tags, id, buf, from, to);
  }
  chunk.tags = tags;
}
