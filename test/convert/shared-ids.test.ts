/** The id sets the validating workers read: the folder's ids before the run, and the ids the writers stored recently. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import test from 'node:test';
import { Worker } from 'node:worker_threads';
import { IdSet } from '../../lib/convert/id-set.ts';
import { RecentIds, newRecentIds } from '../../lib/convert/recent-ids.ts';
import { SharedIdSetReader, buildSharedIdSet } from '../../lib/convert/shared-id-set.ts';

test('a shared id set holds exactly the ids it was built from, and is read from another thread as it is', async () => {
  const set = new IdSet();
  const ids = Array.from({ length: 5000 }, () => randomBytes(32));
  for (const id of ids) set.add(id);
  const shared = buildSharedIdSet(set.size, (visit) => set.forEach(visit));
  const reader = new SharedIdSetReader(shared);
  for (const id of ids) assert.ok(reader.has(id, 0));
  for (let i = 0; i < 5000; i++) assert.ok(!reader.has(randomBytes(32), 0));
  // The same id but its last byte: every byte is compared.
  const near = Buffer.from(ids[0]);
  near[31] ^= 1;
  assert.ok(!reader.has(near, 0));
  assert.ok(!new SharedIdSetReader(buildSharedIdSet(0, () => {})).has(ids[0], 0));

  const found = await new Promise((resolve, reject) => {
    const code = `const { parentPort, workerData } = require('node:worker_threads');
      const slots = new Uint32Array(workerData.shared.slots);
      parentPort.postMessage(slots.filter((s) => s !== 0).length);`;
    const w = new Worker(code, { eval: true, workerData: { shared } });
    w.on('message', resolve);
    w.on('error', reject);
  });
  assert.equal(found, 5000, 'the other thread sees every slot without a copy');
});

test('recent ids: an id added is found until another id takes its slot; an all-zero id never is', () => {
  const recent = new RecentIds(newRecentIds(1 << 4));
  const a = randomBytes(32);
  assert.ok(!recent.has(a, 0));
  recent.add(a, 0);
  assert.ok(recent.has(a, 0));
  const b = Buffer.from(a);
  b[0] ^= 1; // same slot (bytes 8..11 pick it), another id
  assert.ok(!recent.has(b, 0));
  recent.add(b, 0);
  assert.ok(recent.has(b, 0) && !recent.has(a, 0), 'the later id took the slot');
  assert.ok(!recent.has(Buffer.alloc(32), 0), 'an empty slot is not the zero id');
  const inBatch = Buffer.concat([randomBytes(32), a]);
  recent.add(inBatch, 32);
  assert.ok(recent.has(a, 0) && recent.has(inBatch, 32));
});
