/** A fixed set of worker threads; `run` hands a task to the next free one. */
import type { Worker } from 'node:worker_threads';
import { startWorker } from './start.ts';
import { stopWorker } from './stop.ts';

interface Pending<T, R> {
  task: T;
  transfer: readonly ArrayBuffer[];
  resolve: (r: R) => void;
  reject: (e: Error) => void;
}

export class WorkerPool<T, R> {
  private workers: Worker[] = [];
  private idle: Worker[] = [];
  private queue: Pending<T, R>[] = [];
  private busy = new Map<Worker, Pending<T, R>>();
  private failure: Error | undefined;

  constructor(script: URL, size: number, workerData: unknown) {
    for (let i = 0; i < size; i++) {
      const worker = startWorker(script, workerData); // `script` reads workerData.data
      worker.on('message', (result: R) => {
        const job = this.busy.get(worker);
        if (!job) return; // a result that came after the pool failed
        this.busy.delete(worker);
        job.resolve(result);
        this.next(worker);
      });
      worker.on('error', (err) => this.fail(asError(err)));
      worker.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`a worker thread exited with code ${code}`));
      });
      this.idle.push(worker);
      this.workers.push(worker);
    }
  }

  /** `transfer`: ArrayBuffers of `task` to move to the worker instead of copying (see lib/workers/transfer.ts). */
  run(task: T, transfer: readonly ArrayBuffer[] = []): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ task, transfer, resolve, reject });
      const worker = this.idle.pop();
      if (worker) this.next(worker);
    });
  }

  private next(worker: Worker): void {
    const job = this.queue.shift();
    if (!job) {
      this.idle.push(worker);
      return;
    }
    this.busy.set(worker, job);
    worker.postMessage(job.task, job.transfer);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const job of [...this.busy.values(), ...this.queue]) job.reject(err);
    this.busy.clear();
    this.queue = [];
  }

  /** Stops the threads (lib/workers/stop.ts); a task still running ends first. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => stopWorker(w)));
  }
}

/**
 * An error thrown in a worker thread, as an Error. Errors of classes the structured clone does
 * not know (better-sqlite3's SqliteError) arrive as plain objects: their message and code are kept.
 */
export function asError(err: unknown): Error {
  if (err instanceof Error) return err;
  const o = err as { message?: unknown; code?: unknown } | null;
  const e = new Error(typeof o?.message === 'string' ? o.message : String(err));
  if (typeof o?.code === 'string') (e as NodeJS.ErrnoException).code = o.code;
  return e;
}
