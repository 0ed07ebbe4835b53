/**
 * Worker thread that indexes during a conversion: opens DIR/index.db, takes the rows of each
 * gzip member as the converter writes it, inserts them in large transactions (sorted by id),
 * and at the end creates the secondary indexes that are missing.
 *
 * Rows come straight from the writer threads, each on a port of its own ('ports'), and from the
 * main thread (repaired files' rewritten members). Each source is told how many of its rows were
 * inserted (its backpressure). Messages on different ports are not ordered against each other:
 * a writer thread marks each barrier (flush or close) on its port after the rows before it, and
 * a commit or finish for barrier B waits until every port has marked B.
 */
import { threadCpuSeconds } from '../workers/thread-cpu.ts';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { finishIndex, openIndexForWrite, countRows } from './db.ts';
import { BulkLoader, chunkOfPacked, type RowChunk } from './loader.ts';
import type { PackedRows } from '../day-files/packed-rows.ts';
import { CREATE_TAGS_TABLE, TagInserter, collectTags, emptyTagRows, hasTagsTable, messageAt } from './tags.ts';
import { fault, faultDelayMs, faultDue } from '../faults.ts';
import { closeThread, isStopRequest } from '../workers/stop.ts';

/** A member's rows packed (lib/day-files/packed-rows.ts), made into a chunk here. `data`: as in WriterRequest. */
export type PackedMember = { type: 'packed'; fileName: string; memberOffset: number; rows: PackedRows; data?: Uint8Array };

/** `data`: the member's uncompressed messages, at the chunk's offsetsInMember, for the tags table. */
export type WriterRequest =
  | { type: 'rows'; chunk: RowChunk; data?: Uint8Array }
  | PackedMember
  /** The writer threads' ports (RowsMessage in, 'inserted' replies out); before the first barrier. */
  | { type: 'ports'; ports: MessagePort[] }
  /** A checkpoint: every row sent so far, and every row the ports sent before marking `barrier`, committed before the reply. */
  | { type: 'commit'; barrier: number }
  | { type: 'finish'; barrier: number };

/** What a writer thread sends on its port: its members' rows, and a mark after those of each barrier. */
export type RowsMessage = PackedMember | { type: 'mark'; barrier: number };
/** The reply on a writer thread's port: rows of its that were inserted. */
export type RowsReply = { type: 'inserted'; rows: number };

/** A repaired day file: its rows from byte `from` on pointed at what was cut off; deleted first. */
export interface Drop { fileName: string; from: number }
export type WriterReply =
  | { type: 'ready'; rows: number }
  | { type: 'inserted'; rows: number }
  | { type: 'committed' }
  /** `insertCpuSeconds`: this thread's CPU from the first rows to the last insert (the secondary indexes left out). */
  | { type: 'done'; inserted: number; ignored: number; rows: number; insertCpuSeconds: number }
  | { type: 'error'; message: string; fatal: boolean };

/**
 * Rows per transaction. Each transaction's sorted ids land all over the primary key's B-tree, and
 * every leaf page it touches is written (and journaled) at its commit, so the cost per row grows
 * with the index: inserting random ids, 32,768 a transaction went from 3.9 to 21 us per row
 * between 0.5 and 4 million rows, 262,144 from 1.6 to 5.8 us (scripts/bench-index-growth.ts,
 * docs/BENCHMARKS.md). That moves the curve; it does not flatten it. Larger batches
 * cost memory (~160 bytes a row held) and leave more for the end (~1 s at most).
 */
const BATCH_ROWS = 262_144;

const { indexPath, drops, tags } = workerData.data as { indexPath: string; drops: Drop[]; tags: boolean };
const port = parentPort!;

let loader: BulkLoader | undefined;
let db: ReturnType<typeof openIndexForWrite>['db'] | undefined;
let work = Promise.resolve();
let failed = false;
let withTags = false;
let withoutData = false;

/** Where rows come from: rows held (added, not yet in a flush), and the last barrier marked. */
interface Source { held: number; tell: (reply: RowsReply) => void; port?: MessagePort; mark: number; closed: boolean }
const fromMain: Source = { held: 0, tell: (reply) => port.postMessage(reply satisfies WriterReply), mark: 0, closed: false };
const sources: Source[] = [fromMain];
const writerSources: Source[] = [];
let barrierWaits: { barrier: number; resolve: () => void; reject: (e: Error) => void }[] = [];

function fail(err: unknown): void {
  if (failed) return;
  failed = true;
  const e = err as Error & { code?: string };
  const message = e.code === 'SQLITE_FULL' ? `no space left on device (${e.message})` : e.message;
  port.postMessage({ type: 'error', message, fatal: e.constructor?.name === 'FatalError' } satisfies WriterReply);
  // The writer threads stop sending, and stop waiting for room (their ports close).
  for (const s of writerSources) s.port?.close();
}

/** Resolves once every writer thread's port has marked `barrier` (its rows before it taken). */
function barrierReached(barrier: number): Promise<void> {
  return new Promise((resolve, reject) => {
    barrierWaits.push({ barrier, resolve, reject });
    checkBarriers();
  });
}

function checkBarriers(): void {
  const waits = barrierWaits;
  barrierWaits = [];
  for (const w of waits) {
    const lagging = writerSources.filter((s) => s.mark < w.barrier);
    if (lagging.length === 0) w.resolve();
    else if (lagging.some((s) => s.closed)) w.reject(new Error('a writer thread stopped before it sent all its index rows'));
    else barrierWaits.push(w);
  }
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

/** Inserts every row held, and tells each source how many of its rows that was. */
async function insertHeld(l: BulkLoader): Promise<void> {
  const delay = faultDelayMs('index-insert-delay');
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  // The rows this flush takes, per source (it takes every row held when it starts).
  const taken = sources.filter((s) => s.held > 0).map((s) => ({ s, rows: s.held }));
  for (const { s } of taken) s.held = 0;
  fault('index-insert-error');
  if (faultDue('index-thread-exit')) process.exit(1);
  await l.flush();
  for (const { s, rows } of taken) s.tell({ type: 'inserted', rows });
}

function flushSoon(l: BulkLoader): void {
  clearTimeout(idle);
  work = work.then(() => insertHeld(l)).catch(fail);
}

/** The thread's CPU when the first rows came: inserting is serial, so its CPU per event caps the converter's rate. */
let cpuAtFirstRows: number | undefined;

function take(req: WriterRequest & { type: 'rows' | 'packed' }, source: Source): void {
  if (failed || !loader) return;
  cpuAtFirstRows ??= threadCpuSeconds();
  const l = loader;
  const chunk = req.type === 'rows' ? req.chunk : chunkOfPacked(req.fileName, req.memberOffset, req.rows);
  if (withTags) addTags(chunk, req.data);
  l.add(chunk);
  source.held += chunk.count;
  clearTimeout(idle);
  if (l.full) flushSoon(l);
  else idle = setTimeout(() => flushSoon(l), IDLE_MS);
}

function addWriterPort(p: MessagePort): void {
  const source: Source = { held: 0, tell: (reply) => p.postMessage(reply), port: p, mark: 0, closed: false };
  sources.push(source);
  writerSources.push(source);
  p.on('message', (m: RowsMessage) => {
    if (m.type === 'mark') {
      source.mark = m.barrier;
      checkBarriers();
    } else {
      take(m, source);
    }
  });
  p.on('close', () => {
    source.closed = true;
    checkBarriers();
  });
  if (failed) p.close();
}

port.on('message', (req: WriterRequest) => {
  if (isStopRequest(req)) {
    // No more rows taken; an insert under way is finished (committed) before the thread ends.
    failed = true;
    clearTimeout(idle);
    closeThread(writerSources.flatMap((s) => (s.port ? [s.port] : [])));
    return;
  }
  if (req.type === 'ports') {
    for (const p of req.ports) addWriterPort(p);
    return;
  }
  if (failed || !loader || !db) return;
  const l = loader;
  const d = db;
  if (req.type === 'rows' || req.type === 'packed') {
    take(req, fromMain);
  } else if (req.type === 'commit') {
    // A checkpoint: every row sent so far committed before the reply.
    const barrier = req.barrier;
    work = work.then(() => barrierReached(barrier));
    flushSoon(l);
    work = work.then(() => port.postMessage({ type: 'committed' } satisfies WriterReply)).catch(fail);
  } else {
    clearTimeout(idle);
    const barrier = req.barrier;
    work = work.then(() => barrierReached(barrier)).then(async () => {
      await insertHeld(l);
      const insertCpuSeconds = cpuAtFirstRows === undefined ? 0 : threadCpuSeconds() - cpuAtFirstRows;
      if (withoutData) d.exec('DROP TABLE IF EXISTS tags');
      finishIndex(d);
      const rows = countRows(d);
      d.close();
      port.postMessage({ type: 'done', inserted: l.inserted, ignored: l.ignored, rows, insertCpuSeconds } satisfies WriterReply);
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
