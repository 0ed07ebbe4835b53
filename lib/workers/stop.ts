/**
 * Stopping a worker thread without tearing it down in the middle of native work.
 *
 * worker.terminate() stops a thread wherever it is, and two places abort the whole process:
 * - inside koffi's start-up (the compressor and validating threads load it for libdeflate and
 *   libsecp256k1): its N-API calls fail once the thread is terminating, and koffi's failed throw
 *   is fatal (`FATAL ERROR: Error::ThrowAsJavaScriptException napi_throw`);
 * - with an async zlib write in flight on libuv's pool (a writer thread reading a damaged day
 *   file): Node checks in ~ZlibStream that no write is in progress, and aborts.
 * So a thread is asked to stop: it closes its ports (closeThread), its event loop finishes what is
 * in flight, and it exits on its own with code 0. Only a thread that has not exited after a grace
 * period is terminated.
 */
import { once } from 'node:events';
import { parentPort, type MessagePort, type Worker } from 'node:worker_threads';

export const STOP_THREAD = { type: 'stop-thread' } as const;

/** True for the message stopWorker sends: each worker module checks its messages for it first. */
export const isStopRequest = (m: unknown): boolean => (m as { type?: unknown } | null)?.type === STOP_THREAD.type;

/** In the worker: closes `ports` and the parent port, so that the thread ends once nothing is in flight. */
export function closeThread(ports: Iterable<MessagePort> = []): void {
  for (const port of ports) port.close();
  parentPort?.close();
}

/** How long a thread asked to stop may take before it is terminated. */
export const STOP_GRACE_MS = 10_000;

/** How a thread ended: on its own when asked, or terminated after the grace period. */
export type Stopped = 'exited' | 'terminated';

/** Asks `worker` to stop and waits for it to exit; terminates it only after `graceMs`. */
export async function stopWorker(worker: Worker, graceMs = STOP_GRACE_MS): Promise<Stopped> {
  if (worker.threadId === -1) return 'exited'; // exited already
  const exited = once(worker, 'exit').then(() => 'exited' as const, () => 'exited' as const);
  worker.postMessage(STOP_THREAD);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
  const first = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (first === 'exited') return 'exited';
  await worker.terminate();
  return 'terminated';
}
