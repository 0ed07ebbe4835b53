/**
 * The main thread's side of the writer threads (lib/convert/writer-thread.ts): hands each the
 * parts of every batch for the partitions it owns, in input order, moving their buffers rather
 * than copying them; keeps a few batches queued per thread at most; connects them to the index
 * thread (connectIndex: they send it their members' rows themselves), else forwards the members
 * they write to `onMember`; and offers flushToDisk, a barrier after which every part sent is in
 * complete, fsynced gzip members on disk with its index rows sent (on the ports: up to the mark
 * of the barrier's number, `barrier`).
 */
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { FatalError } from '../cli/errors.ts';
import type { WrittenMember } from '../day-files/writer.ts';
import { startWorker } from '../workers/start.ts';
import { libModule } from '../paths.ts';
import type { Repair } from './existing-days.ts';
import { PARTITIONS, partViews, writerOfPartition, type PartitionPart } from './partitions.ts';
import { movableBuffers } from '../workers/transfer.ts';
import { stopWorker, type Stopped } from '../workers/stop.ts';
import type { SharedIdSet } from './shared-id-set.ts';
import type { FlushedMember, IndexBackpressure, WriterThreadOptions, WriterThreadReply, WriterThreadRequest } from './writer-thread.ts';

const WORKER_SCRIPT = libModule('convert/writer-thread.ts');
const COMPRESSOR_SCRIPT = libModule('convert/compressor.ts');
/** Batches sent to one writer and not yet written; past it, the main thread waits. */
const MAX_QUEUED = 8;
/** How long a stopping writer thread may take to finish the members it is writing. */
const STOP_TIMEOUT_MS = 30_000;

export interface WritersLoaded {
  /** Events of the folder's complete members before any repair. */
  events: number;
  repairs: Repair[];
  /** Per writer thread, the ids stored before the run (when asked for and any). */
  stored: SharedIdSet[];
  /** Ids given by addKnown that were not in the folder. */
  known: number;
}

/** What the writers made of one batch's parts: in-run duplicates, and the bad-signature lines that name a stored event. */
export interface BatchOutcome {
  duplicates: number;
  copies: Set<number>;
}

export interface WritersClosed {
  bytesWritten: number;
  files: Set<string>;
  members: number;
  /** The members written since the last flushToDisk (for the last checkpoint). */
  flushed: FlushedMember[];
  /** Per thread connected to the index, how its rows waited for it. */
  index: IndexBackpressure[];
}

type Waiter<T> = { resolve: (v: T) => void; reject: (e: Error) => void };

export class WriterThreads {
  private workers: Worker[] = [];
  private compressors: Worker[] = [];
  private acks: Waiter<WriterThreadReply & { type: 'ack' }>[][] = [];
  private loads: Waiter<WriterThreadReply & { type: 'loaded' }>[] = [];
  private flushes: Waiter<WriterThreadReply & { type: 'flushed' }>[][] = [];
  private closes: Waiter<WriterThreadReply & { type: 'closed' }>[] = [];
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  /** The index's last request to wait (it is too far behind), if any. */
  private memberWait: Promise<unknown> | undefined;
  private stopping = false;
  private onStored: ((records: Uint8Array) => void) | undefined;
  /** Barriers (flushToDisk, close) sent so far: the threads mark each on their index ports. */
  barrier = 0;

  /** `onMember`: each member once on disk, per day file in file order. */
  constructor(readonly count: number, options: Omit<WriterThreadOptions, 'partitions' | 'writers'>, onMember: (m: WrittenMember) => unknown, log: (text: string) => void) {
    for (let w = 0; w < count; w++) {
      const partitions = [...Array(PARTITIONS).keys()].filter((p) => writerOfPartition(p, count) === w);
      const worker = startWorker(WORKER_SCRIPT, { ...options, partitions, writers: count } satisfies WriterThreadOptions);
      this.acks.push([]);
      this.flushes.push([]);
      worker.on('message', (reply: WriterThreadReply) => {
        switch (reply.type) {
          case 'log': log(reply.text); break;
          case 'loaded': this.loads[w]?.resolve(reply); break;
          case 'member': {
            const wait = onMember(reply.member);
            if (wait instanceof Promise) this.memberWait = wait;
            break;
          }
          case 'ack':
            if (reply.stored) this.onStored?.(reply.stored);
            this.acks[w].shift()?.resolve(reply);
            break;
          case 'flushed': this.flushes[w].shift()?.resolve(reply); break;
          case 'closed': this.closes[w]?.resolve(reply); break;
          case 'error': this.fail(reply.fatal ? new FatalError(reply.message) : new FatalError(`writing the day files failed: ${reply.message}`)); break;
        }
        this.wake?.();
      });
      worker.on('error', (err) => this.fail(err));
      worker.on('exit', (code) => {
        if (!this.stopping) this.fail(new FatalError(`a writer thread stopped (exit code ${code})`));
      });
      this.workers.push(worker);
    }
    // The compressor threads, shared by every writer (a port for each pair): as many as writers.
    for (let c = 0; c < count; c++) {
      const compressor = startWorker(COMPRESSOR_SCRIPT, { gzip: options.gzip });
      compressor.on('error', (err) => this.fail(err));
      compressor.on('exit', (code) => {
        if (!this.stopping) this.fail(new FatalError(`a compressor thread stopped (exit code ${code})`));
      });
      this.compressors.push(compressor);
    }
    for (const worker of this.workers) {
      const ports = this.compressors.map((compressor) => {
        const { port1, port2 } = new MessageChannel();
        compressor.postMessage({ port: port2 }, [port2]);
        return port1;
      });
      worker.postMessage({ type: 'compressors', ports } satisfies WriterThreadRequest, ports);
    }
  }

  /**
   * Gives each thread its port to the index thread (lib/index/writer.ts connect), before any
   * parts are sent: from then on the members' rows go there instead of to `onMember`.
   */
  connectIndex({ ports, maxBehind }: { ports: MessagePort[]; maxBehind: number }): void {
    this.workers.forEach((worker, w) => worker.postMessage({ type: 'index', port: ports[w], maxBehind } satisfies WriterThreadRequest, [ports[w]]));
  }

  /** The index thread failed or stopped: the threads stop sending it rows and waiting for it. */
  indexGone(): void {
    if (this.stopping) return;
    for (const worker of this.workers) worker.postMessage({ type: 'index-gone' } satisfies WriterThreadRequest);
  }

  /** Ids stored before the run that are not in the folder (id records): each thread keeps those of its days. Before loaded(). */
  addKnown(records: Uint8Array): void {
    for (const worker of this.workers) worker.postMessage({ type: 'known', records } satisfies WriterThreadRequest);
  }

  /** From the next batch sent on, `onStored` is given the ids each batch stored, with their days (id records, one buffer per thread and batch). */
  sendStoredIds(onStored: (records: Uint8Array) => void): void {
    this.onStored = onStored;
    for (const worker of this.workers) worker.postMessage({ type: 'id-records' } satisfies WriterThreadRequest);
  }

  /** Waits for every thread to have read its days' ids from the folder (and taken the known ids). */
  async loaded(): Promise<WritersLoaded> {
    const replies = await Promise.all(this.workers.map((worker, w) => {
      const reply = this.expect<WriterThreadReply & { type: 'loaded' }>((waiter) => (this.loads[w] = waiter));
      worker.postMessage({ type: 'share' } satisfies WriterThreadRequest);
      return reply;
    }));
    return {
      known: replies.reduce((n, r) => n + r.known, 0),
      events: replies.reduce((n, r) => n + r.events, 0),
      repairs: replies.flatMap((r) => r.repairs),
      stored: replies.flatMap((r) => (r.stored ? [r.stored] : [])),
    };
  }

  /** Hands each writer its parts of one batch (in input order, after the batches sent before). */
  send(parts: PartitionPart[]): Promise<BatchOutcome> {
    if (this.failure) return Promise.reject(this.failure);
    const byWriter: PartitionPart[][] = this.workers.map(() => []);
    for (const p of parts) byWriter[writerOfPartition(p.partition, this.count)].push(p);
    const outcomes: Promise<WriterThreadReply & { type: 'ack' }>[] = [];
    for (let w = 0; w < this.count; w++) {
      if (byWriter[w].length === 0) continue;
      outcomes.push(this.expect((waiter) => this.acks[w].push(waiter)));
      this.workers[w].postMessage({ type: 'parts', parts: byWriter[w] } satisfies WriterThreadRequest, movableBuffers(byWriter[w].flatMap(partViews)));
    }
    return Promise.all(outcomes).then((acks) => ({
      duplicates: acks.reduce((n, a) => n + a.duplicates, 0),
      copies: new Set(acks.flatMap((a) => a.copies)),
    }));
  }

  /** Resolves when every writer has room for another batch and the index is not too far behind. */
  async capacity(): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.memberWait) {
        const wait = this.memberWait;
        await wait;
        if (this.memberWait === wait) this.memberWait = undefined;
        continue;
      }
      if (this.acks.every((q) => q.length < MAX_QUEUED)) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  /**
   * The barrier: resolves once every part sent so far is in complete, fsynced gzip members on
   * disk and their members were handed to `onMember`; with the members each day file gained
   * since the last barrier.
   */
  async flushToDisk(): Promise<FlushedMember[]> {
    const barrier = ++this.barrier;
    const replies = await Promise.all(this.workers.map((worker, w) => {
      const reply = this.expect<WriterThreadReply & { type: 'flushed' }>((waiter) => this.flushes[w].push(waiter));
      worker.postMessage({ type: 'flush', barrier } satisfies WriterThreadRequest);
      return reply;
    }));
    if (this.memberWait) await this.memberWait;
    return replies.flatMap((r) => r.members);
  }

  /** Writes everything still held, waits until it is on disk, and stops the threads. */
  async close(): Promise<WritersClosed> {
    const barrier = ++this.barrier;
    const replies = await Promise.all(this.workers.map((worker, w) => {
      const reply = this.expect<WriterThreadReply & { type: 'closed' }>((waiter) => (this.closes[w] = waiter));
      worker.postMessage({ type: 'close', barrier } satisfies WriterThreadRequest);
      return reply;
    }));
    if (this.memberWait) await this.memberWait;
    await this.terminate();
    return {
      bytesWritten: replies.reduce((n, r) => n + r.bytesWritten, 0),
      files: new Set(replies.flatMap((r) => r.files)),
      members: replies.reduce((n, r) => n + r.members, 0),
      flushed: replies.flatMap((r) => r.flushed),
      index: replies.flatMap((r) => (r.index ? [r.index] : [])),
    };
  }

  /**
   * Stops the threads; those still writing (after a failure, or an early end) first finish the
   * members they are writing, so that no day file is left ending in a torn member. Says how each
   * thread ended, writers first (lib/workers/stop.ts); none on a second call.
   */
  async terminate(): Promise<Stopped[]> {
    if (this.stopping) return [];
    this.stopping = true;
    const writers = await Promise.all(this.workers.map((worker) => stopWorker(worker, STOP_TIMEOUT_MS)));
    return [...writers, ...await Promise.all(this.compressors.map((c) => stopWorker(c)))];
  }

  private expect<T>(register: (waiter: Waiter<T>) => void): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => register({ resolve, reject }));
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    const waiters: Waiter<never>[] = [...this.acks.flat(), ...this.flushes.flat(), ...this.loads, ...this.closes].filter(Boolean) as Waiter<never>[];
    for (const w of waiters) w.reject(err);
    this.acks = this.acks.map(() => []);
    this.flushes = this.flushes.map(() => []);
    this.wake?.();
  }
}
