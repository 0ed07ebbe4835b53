/**
 * A compressor thread: gzips the members the writer threads send it, each over a port of its
 * own. Shared by all writers, so that the members of one day (sorted input: one writer busy at a
 * time) compress on as many threads as there are compressors; libuv's pool, the alternative, has
 * 4 threads per process unless UV_THREADPOOL_SIZE is set before Node starts.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { makeGzip, type GzipKind } from '../day-files/gzip.ts';
import { closeThread, isStopRequest } from '../workers/stop.ts';

export type CompressRequest = { id: number; data: Uint8Array; level: number };
export type CompressReply = { id: number; member?: Uint8Array; error?: string };

/** The gzip the main thread chose (lib/day-files/gzip.ts), made once for the thread. */
const gzip = makeGzip((workerData.data as { gzip: GzipKind }).gzip);

const ports: MessagePort[] = [];
parentPort!.on('message', (m: { port: MessagePort }) => {
  if (isStopRequest(m)) return closeThread(ports);
  const { port } = m;
  ports.push(port);
  port.on('message', ({ id, data, level }: CompressRequest) => {
    let reply: CompressReply;
    let transfer: ArrayBuffer[] = [];
    try {
      const member = gzip(data, level);
      reply = { id, member };
      transfer = [member.buffer as ArrayBuffer];
    } catch (err) {
      reply = { id, error: String((err as Error)?.message ?? err) };
    }
    port.postMessage(reply, transfer);
  });
});
