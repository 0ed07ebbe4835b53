/** Worker thread: validates and encodes the batches the main thread sends. */
import { parentPort, workerData } from 'node:worker_threads';
import { processBatch } from './batch.ts';
import type { CheckOptions } from './event-check.ts';

const options = workerData.data as CheckOptions;

parentPort!.on('message', (task: { seq: number; firstLine: number; bytes: Uint8Array }) => {
  const bytes = Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength);
  parentPort!.postMessage(processBatch(task.seq, task.firstLine, bytes, options));
});
