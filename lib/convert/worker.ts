/** Worker thread: validates and encodes the batches the main thread sends. */
import { parentPort, workerData } from 'node:worker_threads';
import { processBatch, type BatchTask, type StoredIdProbe } from './batch.ts';
import type { CheckOptions } from '../nostr/validate.ts';
import { makeVerifier, type VerifierKind } from '../nostr/verifier.ts';
import { partViews, writerOfPartition } from './partitions.ts';
import { movableBuffers } from '../workers/transfer.ts';
import { RecentIds } from './recent-ids.ts';
import { SharedIdSetReader, type SharedIdSet } from './shared-id-set.ts';
import { closeThread, isStopRequest } from '../workers/stop.ts';

export interface WorkerOptions extends CheckOptions {
  /** Resolved on the main thread (lib/nostr/verifier.ts); made here once, for every batch. */
  verifier: VerifierKind;
  /** The ids stored before the run, one set per writer thread (of the days it owns); none when signatures are not checked. */
  stored?: SharedIdSet[];
  /** The ids the writer threads stored most recently (lib/convert/recent-ids.ts); none when signatures are not checked. */
  recent?: SharedArrayBuffer;
}

const options = workerData.data as WorkerOptions;
const verifier = options.validateSignatures ? makeVerifier(options.verifier) : undefined;
const readers = options.stored?.map((s) => new SharedIdSetReader(s));
const recent = options.recent && new RecentIds(options.recent);
const stored: StoredIdProbe | undefined = readers?.length || recent
  ? (ids, offset, partition) => Boolean(recent?.has(ids, offset) || (readers?.length && readers[writerOfPartition(partition, readers.length)].has(ids, offset)))
  : undefined;

parentPort!.on('message', (task: BatchTask) => {
  if (isStopRequest(task)) return closeThread();
  const view = Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength);
  const bytes = task.head ? Buffer.concat([task.head, view]) : view;
  const r = processBatch(task.seq, task.firstLine, bytes, options, stored, verifier);
  parentPort!.postMessage(r, movableBuffers(r.parts.flatMap(partViews)));
});
