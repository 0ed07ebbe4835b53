/** DIR/_checkpoint.ids: id records (id and day) appended batch by batch come back as written; a load keeps the days asked for; a reopen cuts back to the record. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import test from 'node:test';
import { IdLog, idLogPathOf, loadIdLog, openIdLog } from '../../lib/checkpoint/id-log.ts';
import { ID_RECORD_BYTES, addIdRecords, dayOfRecord, idRecordsOf } from '../../lib/checkpoint/id-records.ts';
import { IdSet } from '../../lib/convert/id-set.ts';
import { tempDir } from '../helpers/index.ts';

const R = ID_RECORD_BYTES;

test('id records: the id and its day (negative days too) round-trip; a chunk that is not whole records is refused', () => {
  const ids = crypto.randomBytes(32 * 3);
  for (const day of [0, 19_723, -5]) {
    const records = idRecordsOf(ids, day);
    assert.equal(records.length, 3 * R);
    for (let i = 0; i < 3; i++) {
      assert.ok(records.subarray(i * R, i * R + 32).equals(ids.subarray(i * 32, i * 32 + 32)));
      assert.equal(dayOfRecord(records, i * R), day);
    }
  }
  assert.throws(() => addIdRecords(new IdSet(), new Uint8Array(R + 1)), /not a whole number of 36-byte records/);
});

test('records appended over several buffer fills are written in order; sync gives the length; a load keeps the days owned; a reopen cuts back', async () => {
  const dir = tempDir();
  const n = 50_000;
  const ids = crypto.randomBytes(32 * n);
  const dayOf = (i: number) => 19_000 + (i % 7);
  const records = Buffer.concat(Array.from({ length: n }, (_, i) => idRecordsOf(ids.subarray(i * 32, i * 32 + 32), dayOf(i))));
  const log = new IdLog(dir, 0);
  // In batches of uneven sizes, as the writer threads send them.
  for (let at = 0, k = 1; at < records.length; at += R * k, k = (k * 7) % 997 + 1) log.addRecords(records.subarray(at, Math.min(records.length, at + R * k)));
  assert.equal(await log.sync(), R * n);
  log.close();
  assert.ok(fs.readFileSync(idLogPathOf(dir)).equals(records));

  const seen = new IdSet();
  assert.equal(loadIdLog(dir, R * 1000, seen), 1000);
  assert.equal(seen.add(ids, 32 * 999), false, 'a loaded id is known');
  assert.equal(seen.add(ids, 32 * 1000), true, 'ids past the covered length are not loaded');
  assert.equal(loadIdLog(dir, R * (n + 1), new IdSet()), undefined, 'a list shorter than the record is refused');

  const odd = new IdSet();
  assert.equal(loadIdLog(dir, R * 700, odd, (day) => day % 2 === 1), 700 * 3 / 7, 'only the days owned');
  for (let i = 0; i < 700; i++) assert.equal(odd.has(ids, 32 * i), dayOf(i) % 2 === 1, `id ${i}`);

  const again = openIdLog(dir, R * 10)!;
  again.addRecords(records.subarray(0, R));
  again.close();
  assert.equal(fs.statSync(idLogPathOf(dir)).size, R * 11, 'cut back to the record, then appended to');
  assert.equal(openIdLog(dir, R * 12), undefined, 'a list shorter than asked for is not continued');
});
