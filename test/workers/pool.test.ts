import assert from 'node:assert/strict';
import { test } from 'node:test';
import { movableBuffers } from '../../lib/workers/transfer.ts';
import { WorkerPool } from '../../lib/workers/pool.ts';

test('movableBuffers leaves out Buffers carved from Node\'s shared pool', () => {
  const pooled = Buffer.from('a small buffer');
  assert.ok(pooled.buffer.byteLength <= Buffer.poolSize);
  const own = Buffer.allocUnsafeSlow(64 << 10);
  const typed = new Float64Array(4096);
  assert.deepEqual(movableBuffers([pooled]), []);
  assert.deepEqual(movableBuffers([own, own.subarray(10), typed, pooled]), [own.buffer, typed.buffer]);
});

test('a task sent with its buffers reaches the worker whole, and the sender no longer holds them', async () => {
  const pool = new WorkerPool<Uint8Array, { bytes: number; first: number }>(new URL('../fixtures/echo-worker.ts', import.meta.url), 2, null);
  try {
    const moved = Buffer.alloc(1 << 20, 7);
    const copied = Buffer.from([9, 9, 9]);
    const [a, b] = await Promise.all([pool.run(moved, movableBuffers([moved])), pool.run(copied, movableBuffers([copied]))]);
    assert.deepEqual([a.bytes, a.first], [1 << 20, 7]);
    assert.deepEqual([b.bytes, b.first], [3, 9]);
    assert.equal(moved.byteLength, 0, 'the moved buffer is detached on this side');
    assert.equal(copied.byteLength, 3, 'the pooled buffer was copied, not moved');
  } finally {
    await pool.close();
  }
});
