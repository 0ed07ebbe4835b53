/** DIR/_checkpoint.ids: ids appended from aligned and unaligned arrays come back as written; a reopen cuts back to the record. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import test from 'node:test';
import { IdLog, idLogPathOf, loadIdLog, openIdLog } from '../../lib/checkpoint/id-log.ts';
import { IdSet } from '../../lib/convert/id-set.ts';
import { tempDir } from '../helpers/index.ts';

test('ids from aligned and unaligned arrays, over several buffer fills, are written in order; sync gives the length; a reopen cuts back', async () => {
  const dir = tempDir();
  const raw = crypto.randomBytes(32 * 50_000 + 1);
  const unaligned = raw.subarray(1);
  const aligned = new Uint8Array(raw.subarray(0, 32 * 50_000));
  const pick = (i: number) => (i % 3 === 0 ? unaligned : aligned).subarray(i * 32, i * 32 + 32);
  const log = new IdLog(dir, 0);
  for (let i = 0; i < 50_000; i++) log.add(i % 3 === 0 ? unaligned : aligned, i * 32);
  assert.equal(await log.sync(), 32 * 50_000);
  log.close();
  const expected = Buffer.concat(Array.from({ length: 50_000 }, (_, i) => pick(i)));
  assert.ok(fs.readFileSync(idLogPathOf(dir)).equals(expected));

  const seen = new IdSet();
  assert.equal(loadIdLog(dir, 32 * 1000, seen), true);
  assert.equal(seen.add(pick(999), 0), false, 'a loaded id is known');
  assert.equal(seen.add(pick(1000), 0), true, 'ids past the covered length are not loaded');
  assert.equal(loadIdLog(dir, 32 * 50_001, new IdSet()), false, 'a list shorter than the record is refused');

  const again = openIdLog(dir, 32 * 10)!;
  again.add(aligned, 0);
  again.close();
  assert.equal(fs.statSync(idLogPathOf(dir)).size, 32 * 11, 'cut back to the record, then appended to');
  assert.equal(openIdLog(dir, 32 * 12), undefined, 'a list shorter than asked for is not continued');
});
