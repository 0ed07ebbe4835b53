/** Worker thread: validates and encodes the batches the main thread sends. */
import { parentPort, workerData } from 'node:worker_threads';
import { processBatch, type BatchTask } from './batch.ts';
import type { CheckOptions } from '../nostr/validate.ts';
import { makeVerifier, type VerifierKind } from '../nostr/verifier.ts';
import { movableBuffers } from '../workers/transfer.ts';

export interface WorkerOptions extends CheckOptions {
  /** Resolved on the main thread (lib/nostr/verifier.ts); made here once, for every batch. */
  verifier: VerifierKind;
}

const options = workerData.data as WorkerOptions;
const verifier = options.validateSignatures ? makeVerifier(options.verifier) : undefined;

parentPort!.on('message', (task: BatchTask) => {
  const bytes = Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength);
  const r = processBatch(task.seq, task.firstLine, bytes, options, task.stored, verifier);
  parentPort!.postMessage(r, movableBuffers([r.ids, r.pubkeys, r.createdAt, r.kinds, r.messageEnds, r.messages]));
});
