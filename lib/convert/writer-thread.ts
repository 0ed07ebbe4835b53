/**
 * A writer thread: owns the day partitions given to it (lib/convert/partitions.ts), each through
 * a DayWriter of its own, and the exact id set of their days. It first reads the ids of its days'
 * files already in the folder (repairing a cut-off last member), then takes the parts of each
 * batch in input order: dedups, appends, has them compressed (on the shared compressor threads) and
 * writes the members durably, and posts each member's packed index rows, once it is on disk,
 * straight to the index thread on a port of its own ('index'; else back to the main thread).
 */
import { makeGzip, type Gzip, type GzipKind } from '../day-files/gzip.ts';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { CompressReply, CompressRequest } from './compressor.ts';
import { dayOf, dayOfFileName } from '../day-files/names.ts';
import { AppendQueue, DayWriter, type WrittenMember } from '../day-files/writer.ts';
import { packedRowsViews } from '../day-files/packed-rows.ts';
import { movableBuffers } from '../workers/transfer.ts';
import { FatalError } from '../cli/errors.ts';
import { IdSet } from './id-set.ts';
import { loadExistingDays, type Repair } from './existing-days.ts';
import { partitionOfDay, type PartitionPart } from './partitions.ts';
import { RecentIds } from './recent-ids.ts';
import { buildSharedIdSet, type SharedIdSet } from './shared-id-set.ts';
import { ID_RECORD_BYTES, addIdRecords } from '../checkpoint/id-records.ts';
import { loadIdLog } from '../checkpoint/id-log.ts';
import type { RowsMessage, RowsReply } from '../index/writer-worker.ts';
import { closeThread, isStopRequest } from '../workers/stop.ts';

export interface WriterThreadOptions {
  dir: string;
  compressionLevel: number;
  /** The gzip of the members (lib/day-files/gzip.ts), resolved on the main thread. */
  gzip: GzipKind;
  memberBytes?: number;
  /** Bytes a partition may hold before its largest days are written early (bounds memory). */
  pendingBudget: number;
  partitions: number[];
  /** Build the members' index rows (packed) and send them; `memberData`: their bytes too (the tags table). */
  index: boolean;
  memberData: boolean;
  /** Share the ids stored before the run with the validating workers (they skip those copies' signatures). */
  shareStored: boolean;
  /** Writer threads of the run (each shares at most its part of MAX_SHARED_IDS). */
  writers: number;
  /** Where to note each id stored, for the workers (lib/convert/recent-ids.ts). */
  recent?: SharedArrayBuffer;
  /** Read the ids of the folder from the first `bytes` of DIR/_checkpoint.ids (its records of this thread's days) instead of its day files. */
  idLog?: { bytes: number };
}

export type WriterThreadRequest =
  | { type: 'parts'; parts: PartitionPart[] }
  /** Ids stored before the run that are not in the folder (lib/checkpoint/id-records.ts): this thread keeps those of its days. */
  | { type: 'known'; records: Uint8Array }
  /** Every id known: reply 'loaded' (with the ids shared with the workers). */
  | { type: 'share' }
  /** From the next parts on, send the ids stored, with their days, in each batch's ack (the checkpoint's id list, lib/checkpoint/id-log.ts). */
  | { type: 'id-records' }
  /** `barrier`: marked on the index port after the rows of the members written (lib/index/writer-worker.ts). */
  | { type: 'flush'; barrier: number }
  | { type: 'close'; barrier: number }
  /**
   * The index thread's port (lib/index/writer.ts connect), before any parts: members' rows go
   * there; a batch is acknowledged only while fewer than `maxBehind` rows sent are not yet inserted.
   */
  | { type: 'index'; port: MessagePort; maxBehind: number }
  /** The index thread failed or stopped (its port may never close: it may not have taken it). */
  | { type: 'index-gone' }
  /** Ports to the compressor threads (lib/convert/compressor.ts), sent before any parts. */
  | { type: 'compressors'; ports: MessagePort[] };

/** A member a day file gained, as a checkpoint records it. */
export interface FlushedMember {
  fileName: string;
  memberOffset: number;
  memberBytes: number;
  events: number;
}

export type WriterThreadReply =
  | { type: 'log'; text: string }
  /** `known`: ids of 'known' records of this thread's days that were not in the folder. */
  | { type: 'loaded'; events: number; repairs: Repair[]; stored?: SharedIdSet; known: number }
  | { type: 'member'; member: WrittenMember }
  /** `stored`: the ids the batch stored, with their days (after 'id-records'). */
  | { type: 'ack'; duplicates: number; copies: number[]; stored?: Uint8Array }
  | { type: 'flushed'; members: FlushedMember[] }
  | { type: 'closed'; bytesWritten: number; files: string[]; members: number; flushed: FlushedMember[]; index?: IndexBackpressure }
  | { type: 'error'; message: string; fatal: boolean };

/** How the thread's rows waited for the index thread (its port's backpressure). */
export interface IndexBackpressure {
  /** Times the thread held a batch's ack back until the index caught up. */
  waits: number;
  /** Most rows it had sent and not yet seen inserted. */
  mostBehind: number;
  maxBehind: number;
}

/** Ids stored before the run shared with the workers, over all writer threads: ~640 MB at most. */
const MAX_SHARED_IDS = 16_000_000;

const o = workerData.data as WriterThreadOptions;
const port = parentPort!;
const post = (reply: WriterThreadReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);

const owned = new Set(o.partitions);
const seen = new IdSet();
const recent = o.recent && new RecentIds(o.recent);
let flushed: FlushedMember[] = [];

/** The index thread's port, once given: rows sent and not yet inserted, and who waits for room. */
const index = { port: undefined as MessagePort | undefined, maxBehind: 0, behind: 0, mostBehind: 0, waits: 0, gone: false, room: undefined as (() => void) | undefined };

function connectIndex(p: MessagePort, maxBehind: number): void {
  index.port = p;
  index.maxBehind = maxBehind;
  p.on('message', (r: RowsReply) => {
    index.behind -= r.rows;
    if (index.behind <= maxBehind / 2) wakeForRoom();
  });
  // The index thread failed or stopped: nothing more to send, nothing to wait for (the main thread reports it).
  p.on('close', indexGone);
}

function indexGone(): void {
  index.gone = true;
  wakeForRoom();
}

function wakeForRoom(): void {
  const room = index.room;
  index.room = undefined;
  room?.();
}

/** Resolves once the index thread is not too far behind: past maxBehind, when it is back to half. */
async function indexRoom(): Promise<void> {
  if (index.behind <= index.maxBehind || index.gone) return;
  index.waits++;
  while (index.behind > index.maxBehind / 2 && !index.gone) await new Promise<void>((resolve) => (index.room = resolve));
}

function onMember(m: WrittenMember): void {
  flushed.push({ fileName: m.fileName, memberOffset: m.memberOffset, memberBytes: m.memberBytes, events: m.eventCount ?? m.rows?.count ?? m.events.length });
  if (!o.index) return;
  const data = o.memberData ? m.data : undefined;
  if (index.port) {
    if (index.gone || !m.rows) return;
    const rows = m.rows;
    index.port.postMessage({ type: 'packed', fileName: m.fileName, memberOffset: m.memberOffset, rows, data } satisfies RowsMessage, movableBuffers([...packedRowsViews(rows), ...(data ? [data] : [])]));
    index.behind += rows.count;
    index.mostBehind = Math.max(index.mostBehind, index.behind);
    return;
  }
  // No port: through the main thread (each member costs it a message).
  const member: WrittenMember = { ...m, data };
  post({ type: 'member', member }, movableBuffers([...(m.rows ? packedRowsViews(m.rows) : []), ...(data ? [data] : [])]));
}

// Members go round-robin to the compressor threads when there are any, else are gzip'd here.
let compressors: MessagePort[] = [];
let nextCompressor = 0;
let ownGzip: Gzip | undefined;
let nextRequest = 0;
const compressing = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();
function compress(data: Buffer, level: number): Promise<Buffer> {
  if (compressors.length === 0) {
    const member = (ownGzip ??= makeGzip(o.gzip))(data, level);
    return Promise.resolve(Buffer.from(member.buffer, member.byteOffset, member.byteLength));
  }
  const id = nextRequest++;
  const port = compressors[nextCompressor++ % compressors.length];
  return new Promise<Buffer>((resolve, reject) => {
    compressing.set(id, { resolve, reject });
    // The data is moved unless the index wants it back (its tags table).
    const movable = !o.memberData && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
    port.postMessage({ id, data, level } satisfies CompressRequest, movable ? [data.buffer as ArrayBuffer] : []);
  });
}
function takeCompressed({ id, member, error }: CompressReply): void {
  const waiting = compressing.get(id);
  compressing.delete(id);
  if (error !== undefined || !member) waiting?.reject(new FatalError(`compressing a member failed: ${error}`));
  else waiting?.resolve(Buffer.from(member.buffer, member.byteOffset, member.byteLength));
}

const writers = new Map<number, DayWriter>();
const appends = new AppendQueue();
for (const p of o.partitions) {
  writers.set(p, new DayWriter(o.dir, { compressionLevel: o.compressionLevel, memberBytes: o.memberBytes, pendingBudget: o.pendingBudget, compress, appends, onMember }));
}

const ownsDay = (day: number) => owned.has(partitionOfDay(day));
let existing: { events: number; repairs: Repair[] } = { events: 0, repairs: [] };
let known = 0;
let idRecords = false;

async function load(): Promise<void> {
  const fromList = o.idLog ? loadIdLog(o.dir, o.idLog.bytes, seen, ownsDay) : undefined;
  existing = fromList !== undefined ? { events: fromList, repairs: [] } : await loadExistingDays(o.dir, seen, o.compressionLevel, (text) => post({ type: 'log', text }), (name) => ownsDay(dayOfFileName(name)), () => failed);
}

function share(): void {
  // A copy of the ids (36 to 40 bytes each) on top of the id set: past a bound, the copies of old
  // events are verified again rather than the memory doubled (the recent ids still catch near copies).
  const share = o.shareStored && seen.size > 0 && seen.size <= MAX_SHARED_IDS / o.writers;
  const stored = share ? buildSharedIdSet(seen.size, (visit) => seen.forEach(visit)) : undefined;
  post({ type: 'loaded', events: existing.events, repairs: existing.repairs, stored, known });
}

async function write(parts: PartitionPart[]): Promise<void> {
  let duplicates = 0;
  const copies: number[] = [];
  const touched: DayWriter[] = [];
  const stored = idRecords ? new Uint8Array(ID_RECORD_BYTES * parts.reduce((n, p) => n + p.count, 0)) : undefined;
  const storedView = stored && new DataView(stored.buffer);
  let storedBytes = 0;
  for (const part of parts) {
    const writer = writers.get(part.partition)!;
    touched.push(writer);
    let bad = 0;
    let start = 0;
    for (let i = 0; ; i++) {
      // A bad-signature line naming an event stored before it, in input order, is a duplicate.
      for (; bad < part.badLines.length && part.badBefore[bad] === i; bad++) {
        if (seen.has(part.badIds, 32 * bad)) copies.push(part.badLines[bad]);
      }
      if (i === part.count) break;
      const end = part.messageEnds[i];
      if (seen.add(part.ids, 32 * i)) {
        recent?.add(part.ids, 32 * i);
        const message = part.messages.subarray(start, end);
        const day = dayOf(part.createdAt[i]);
        if (stored) {
          stored.set(part.ids.subarray(32 * i, 32 * i + 32), storedBytes);
          storedView!.setInt32(storedBytes + 32, day, true);
          storedBytes += ID_RECORD_BYTES;
        }
        if (o.index) writer.appendRow(day, message, part.ids, part.pubkeys, i, part.kinds[i], part.createdAt[i]);
        else writer.append(day, message);
      } else {
        duplicates++;
      }
      start = end;
    }
  }
  for (const writer of touched) await writer.capacity();
  // Held back while the index is too far behind: the main thread then waits too (MAX_QUEUED acks).
  await indexRoom();
  if (stored) post({ type: 'ack', duplicates, copies, stored: stored.subarray(0, storedBytes) }, [stored.buffer]);
  else post({ type: 'ack', duplicates, copies });
}

/** Members being written are finished before a failure is reported: the thread may be stopped then. */
const settled = () => Promise.all([...writers.values()].map((w) => w.settled()));

async function flushAll(): Promise<FlushedMember[]> {
  const results = await Promise.allSettled([...writers.values()].map((w) => w.flush()));
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  const members = flushed;
  flushed = [];
  return members;
}

async function handle(m: WriterThreadRequest): Promise<void> {
  if (m.type === 'parts') return write(m.parts);
  if (m.type === 'known') {
    known += addIdRecords(seen, m.records, ownsDay);
    return;
  }
  if (m.type === 'share') return share();
  if (m.type === 'id-records') {
    idRecords = true;
    return;
  }
  if (m.type !== 'flush' && m.type !== 'close') return; // (handled as they arrive)
  const members = await flushAll();
  // After the rows of every member written: the index's commit for this barrier waits for it.
  index.port?.postMessage({ type: 'mark', barrier: m.barrier } satisfies RowsMessage);
  if (m.type === 'flush') post({ type: 'flushed', members });
  if (m.type === 'close') {
    const all = [...writers.values()];
    post({
      type: 'closed',
      flushed: members,
      bytesWritten: all.reduce((n, w) => n + w.bytesWritten, 0),
      files: [...new Set(all.flatMap((w) => [...w.filesTouched]))],
      members: all.reduce((n, w) => n + w.membersWritten, 0),
      index: index.port ? { waits: index.waits, mostBehind: index.mostBehind, maxBehind: index.maxBehind } : undefined,
    });
  }
}

// Requests are handled one after the other, in the order sent: appends stay in input order.
let failed = false;
const fail = async (err: unknown) => {
  if (failed) return;
  failed = true;
  await settled();
  post({ type: 'error', message: String((err as Error)?.message ?? err), fatal: err instanceof FatalError });
};
let queue = load().catch(fail);
port.on('message', (m: WriterThreadRequest) => {
  if (isStopRequest(m)) {
    // Nothing more is written and a load still reading the folder ends at its next batch; the
    // members being written are finished first (none left torn), then the ports close, the
    // index's too (its rows and marks already posted still reach the index thread).
    failed = true;
    void settled().finally(() => closeThread(index.port ? [...compressors, index.port] : compressors));
    return;
  }
  if (m.type === 'compressors') {
    compressors = m.ports;
    for (const port of compressors) port.on('message', takeCompressed);
    return;
  }
  if (m.type === 'index') {
    connectIndex(m.port, m.maxBehind);
    return;
  }
  if (m.type === 'index-gone') {
    indexGone();
    return;
  }
  queue = queue.then(() => (failed ? undefined : handle(m))).catch(fail);
});
