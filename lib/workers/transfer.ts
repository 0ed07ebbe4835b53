/**
 * Moving data between threads without copying it (a module of its own, so that a worker that
 * needs it does not import the worker pool and, through it, the bundler).
 */

/**
 * The ArrayBuffers behind `views` that can be moved to another thread. Node carves small
 * Buffers out of a shared pool of Buffer.poolSize bytes: moving that would take it away from
 * every other Buffer in it, so views of a buffer that small are left out (and get copied).
 */
export function movableBuffers(views: readonly ArrayBufferView[]): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const v of views) {
    if (v.buffer instanceof ArrayBuffer && v.buffer.byteLength > Buffer.poolSize) buffers.add(v.buffer);
  }
  return [...buffers];
}
