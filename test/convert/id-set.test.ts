import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import test from 'node:test';
import { IdSet } from '../../lib/convert/id-set.ts';

test('exact membership over 300k random ids, through many table growths', () => {
  const n = 300_000;
  const ids = randomBytes(32 * n);
  const set = new IdSet();
  for (let i = 0; i < n; i++) assert.equal(set.add(ids, i * 32), true);
  assert.equal(set.size, n);
  for (let i = 0; i < n; i += 7) assert.equal(set.add(ids, i * 32), false);
  assert.equal(set.size, n);
  assert.ok(set.bytes() / n < 64, `${set.bytes() / n} bytes per id`);
});

test('ids that share the hashed bytes but differ later are distinct (a hash collision never drops an event)', () => {
  const set = new IdSet();
  const base = createHash('sha256').update('x').digest();
  for (let pos = 9; pos < 32; pos++) {
    const other = Buffer.from(base);
    other[pos] ^= 1;
    assert.equal(set.add(other), true, `differs at byte ${pos}`);
  }
  assert.equal(set.add(base), true);
  assert.equal(set.add(Buffer.from(base)), false);
  // 5000 ids identical in bytes 0..8 all land on one probe chain and stay distinct.
  const same = Buffer.alloc(32 * 5000);
  for (let i = 0; i < 5000; i++) same.writeUInt32BE(i, i * 32 + 28);
  const s2 = new IdSet();
  for (let i = 0; i < 5000; i++) assert.equal(s2.add(same, i * 32), true);
  for (let i = 0; i < 5000; i++) assert.equal(s2.add(same, i * 32), false);
});
