/** Worker thread: validates and encodes the batches the main thread sends. */
import { parentPort, workerData } from 'node:worker_threads';
import { processBatch, type BatchTask } from './batch.ts';
import type { CheckOptions } from '../nostr/validate.ts';
import { movableBuffers } from '../workers/transfer.ts';

const options = workerData.data as CheckOptions;

parentPort!.on('message', (task: BatchTask) => {
  const bytes = Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength);
  const r = processBatch(task.seq, task.firstLine, bytes, options, task.stored);
  parentPort!.postMessage(r, movableBuffers([r.ids, r.pubkeys, r.createdAt, r.kinds, r.messageEnds, r.messages]));
});
