/**
 * Building DIR/index.db during a conversion, on a worker thread. The converter's writer threads
 * post their members' packed rows to it on ports of their own (connect), so that the main
 * thread touches no member; the main thread posts only repaired files' rewritten members.
 *
 * When the index lacks events that the folder's day files held before the run (it was
 * deleted, or an earlier run used --no-index), adding this run's events would leave it
 * incomplete: it is then rebuilt from all the day files once the conversion is done.
 */
import fs from 'node:fs';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { startWorker } from '../workers/start.ts';
import { stopWorker, type Stopped } from '../workers/stop.ts';
import type { WrittenMember } from '../day-files/writer.ts';
import { FatalError } from '../cli/errors.ts';
import { countRows, indexPathOf, openIndexForRead } from './db.ts';
import { chunkTransferList, RowChunkBuilder } from './loader.ts';
import { rebuildIndex, removeRebuildLeftovers } from './rebuild.ts';
import type { Drop, WriterReply, WriterRequest } from './writer-worker.ts';
import { libModule } from '../paths.ts';
import { hasTagsTable } from './tags.ts';
import { packedRowsViews } from '../day-files/packed-rows.ts';
import { movableBuffers } from '../workers/transfer.ts';

const WORKER_SCRIPT = libModule('index/writer-worker.ts');
/**
 * Rows the index thread may have queued (sent, not yet inserted) before the conversion waits for
 * it (~200 bytes each, and with the tags table the members' bytes too): shared out between the
 * writer threads' ports; the main thread's own rows (repaired members) have the same bound.
 */
const MAX_BEHIND = 1_000_000;

/** MAX_BEHIND, or PROTON_BEAM_INDEX_MAX_BEHIND (tests make it small). */
export function maxRowsBehind(): number {
  const n = Number(process.env.PROTON_BEAM_INDEX_MAX_BEHIND);
  return Number.isSafeInteger(n) && n > 0 ? n : MAX_BEHIND;
}

/** Ports for the writer threads, one each, and the rows each may have sent and not seen inserted. */
export interface IndexPorts {
  ports: MessagePort[];
  maxBehind: number;
}

export interface IndexingSummary {
  indexPath: string;
  /** Rows added by this run (or, after a rebuild, rows in the index). */
  added: number;
  rows: number;
  rebuilt: boolean;
  /** Time spent after the day files were written (finishing inserts, secondary indexes, or the rebuild). */
  finishSeconds: number;
  /** CPU of the index's thread while inserting this run's rows (serial: per line, it caps the converter's rate); none after a rebuild. */
  insertCpuSeconds?: number;
}

export interface Indexing {
  /** Pass to the DayWriter; undefined when the index is rebuilt at the end instead. */
  onMember?: (member: WrittenMember) => void | Promise<void>;
  /**
   * `count` ports (lib/index/writer-worker.ts RowsMessage) for the writer threads to send their
   * members' rows on; undefined when the index is rebuilt at the end instead.
   */
  connect?: (count: number) => IndexPorts;
  /**
   * Resolves once every row sent so far is committed (a checkpoint's boundary), those sent on
   * the ports up to their mark of `barrier` included; nothing to wait for when the index is rebuilt at the end.
   */
  commit(barrier: number): Promise<void>;
  /** Inserts the rest (the ports' rows up to their mark of `barrier`), makes the secondary indexes. */
  finish(barrier: number): Promise<IndexingSummary>;
  /** Stops the index's thread (an insert under way is finished first); how it ended, when there was one. */
  abort(): Promise<Stopped | undefined>;
}

/**
 * Starts indexing into DIR/index.db for a conversion into DIR whose day files held
 * `preexisting` events before it (rows of repaired files past their cut, `drops`, are deleted
 * first). Fails at once (FatalError) when index.db is not an index.
 */
export async function startIndexing(
  dir: string, preexisting: number, parallel: number, log: (text: string) => void,
  { drops = [], tags = false, onFailure }: {
    drops?: Drop[];
    /** Start the tags table in a new index (convert --index-tags). */
    tags?: boolean;
    /** Called when the index thread fails or stops (the ports' senders must stop waiting for it: a port given to a thread that is gone never closes). */
    onFailure?: () => void;
  } = {},
): Promise<Indexing> {
  const indexPath = indexPathOf(dir);
  removeRebuildLeftovers(indexPath); // of a rebuild that was killed (this run holds the folder's lock)
  // Checked here, before any conversion, so that a foreign index.db fails at once.
  const { rows: rowsBefore, tags: hasTags } = existingIndex(indexPath);
  if (rowsBefore < preexisting) {
    // The index misses events the day files already held: rebuild it from all of them at the end.
    log(`${indexPath} holds ${rowsBefore} events but the day files ${preexisting}: it will be rebuilt after the conversion`);
    return {
      abort: async () => undefined,
      commit: async () => {},
      async finish() {
        const started = performance.now();
        const s = await rebuildIndex({ dir, parallel, log, lockHeld: true, tags: tags || undefined });
        if (s.damaged.length) throw new FatalError(`cannot rebuild ${indexPath}: ${s.damaged[0]}`);
        const rows = s.events - s.duplicates;
        return { indexPath, added: rows, rows, rebuilt: true, finishSeconds: (performance.now() - started) / 1000 };
      },
    };
  }

  // The worker starts while the conversion does; rows posted meanwhile wait in its queue.
  // The tags table: asked for in a new index, or kept up to date in one that has it; never started incomplete.
  const withTags = hasTags || (tags && rowsBefore === 0);
  const worker = startWorker(WORKER_SCRIPT, { indexPath, drops, tags: withTags });
  let failure: Error | undefined;
  let finished: ((r: WriterReply) => void) | undefined;
  // Rows posted and not yet inserted; past MAX_BEHIND, onMember makes the DayWriter wait.
  let behind = 0;
  const maxBehind = maxRowsBehind();
  let caughtUp: (() => void) | undefined;
  const committed: (() => void)[] = [];
  worker.on('message', (reply: WriterReply) => {
    if (reply.type === 'committed') {
      committed.shift()?.();
      return;
    }
    if (reply.type === 'inserted') {
      behind -= reply.rows;
      if (behind <= maxBehind / 2) caughtUp?.();
      return;
    }
    if (reply.type === 'error') {
      failure ??= reply.fatal ? new FatalError(reply.message) : new FatalError(`indexing into ${indexPath} failed: ${reply.message}`);
      onFailure?.();
      caughtUp?.();
      for (const c of committed.splice(0)) c();
    }
    if (reply.type !== 'ready') finished?.(reply);
  });
  worker.on('error', (err) => {
    failure ??= err;
    onFailure?.();
    finished?.({ type: 'error', message: err.message, fatal: false });
  });
  worker.on('exit', () => {
    failure ??= new FatalError(`indexing into ${indexPath} failed: its thread stopped`);
    onFailure?.();
    caughtUp?.();
    for (const c of committed.splice(0)) c();
    finished?.({ type: 'error', message: 'stopped', fatal: false });
  });
  const abort = () => stopWorker(worker);
  return {
    onMember(member: WrittenMember): void | Promise<void> {
      if (failure) return; // reported by finish()
      const data = withTags ? member.data : undefined;
      if (member.rows) {
        // Packed by a writer thread: moved on as they are; the hex is made on the index's thread.
        const transfer = movableBuffers([...packedRowsViews(member.rows), ...(data ? [data] : [])]);
        worker.postMessage({ type: 'packed', fileName: member.fileName, memberOffset: member.memberOffset, rows: member.rows, data } satisfies WriterRequest, transfer);
        behind += member.rows.count;
      } else {
        const rows = new RowChunkBuilder(member.fileName);
        for (const e of member.events) rows.add(e.id, e.pubkey, e.kind, e.createdAt, member.memberOffset, e.offsetInMember);
        const chunk = rows.build();
        // For the tags table, the member's bytes are copied to the writer thread, which reads the tags from them.
        worker.postMessage({ type: 'rows', chunk, data } satisfies WriterRequest, chunkTransferList(chunk));
        behind += chunk.count;
      }
      if (behind <= maxBehind) return;
      return new Promise<void>((resolve) => {
        caughtUp = () => {
          caughtUp = undefined;
          resolve();
        };
      });
    },
    connect(count: number): IndexPorts {
      const channels = Array.from({ length: count }, () => new MessageChannel());
      const theirs = channels.map((c) => c.port2);
      worker.postMessage({ type: 'ports', ports: theirs } satisfies WriterRequest, theirs);
      return { ports: channels.map((c) => c.port1), maxBehind: Math.max(1, Math.floor(maxBehind / count)) };
    },
    async commit(barrier: number) {
      if (failure) throw failure;
      await new Promise<void>((resolve) => {
        committed.push(resolve);
        worker.postMessage({ type: 'commit', barrier } satisfies WriterRequest);
      });
      if (failure) throw failure;
    },
    async finish(barrier: number) {
      const started = performance.now();
      if (failure) {
        await abort();
        throw failure;
      }
      const reply = failure ? undefined : await new Promise<WriterReply>((resolve) => {
        finished = resolve;
        worker.postMessage({ type: 'finish', barrier } satisfies WriterRequest);
      });
      await stopWorker(worker);
      if (reply?.type !== 'done') throw failure ?? new FatalError(`indexing into ${indexPath} failed`);
      return { indexPath, added: reply.inserted, rows: reply.rows, rebuilt: false, finishSeconds: (performance.now() - started) / 1000, insertCpuSeconds: reply.insertCpuSeconds };
    },
    abort,
  };
}

/**
 * Rows in an existing index (0 when there is none), and whether it has the tags table; a
 * FatalError when it is not an index. Opened read-write, which rolls back what a killed run left
 * half-written (this run holds the folder's lock).
 */
function existingIndex(indexPath: string): { rows: number; tags: boolean } {
  if (!fs.existsSync(indexPath)) return { rows: 0, tags: false };
  const { db } = openIndexForRead(indexPath, false, true);
  try {
    return { rows: countRows(db), tags: hasTagsTable(db) };
  } finally {
    db.close();
  }
}

export function formatIndexing(s: IndexingSummary): string {
  const what = s.rebuilt ? `rebuilt from all day files` : `${s.added.toLocaleString('en-US')} events added`;
  return `  index             ${what}, ${s.rows.toLocaleString('en-US')} in all (${s.indexPath})`;
}
