import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import zlib from 'node:zlib';
import { decodeEvent, encodeDelimited } from '../../lib/nostr/codec.ts';
import { dayFileName, dayOf } from '../../lib/day-files/names.ts';
import { DayWriter, type WrittenMember } from '../../lib/day-files/writer.ts';
import { canonical, nextMessage, readMessages, realSampleLines, tempDir } from '../helpers/common.ts';

test('day files are sequences of bounded gzip members that decompress alone and as a whole', async () => {
  const events = realSampleLines().map((l) => canonical(JSON.parse(l)));
  const dir = tempDir();
  const members: WrittenMember[] = [];
  const writer = new DayWriter(dir, { compressionLevel: 6, memberBytes: 20_000, onMember: (m) => members.push(m) });
  const days = [20000, 20001, 20002];
  for (let round = 0; round < 4; round++) {
    for (const [i, e] of events.entries()) {
      const day = days[i % 3];
      writer.append(day, encodeDelimited(e), { id: e.id, pubkey: e.pubkey, kind: e.kind, createdAt: e.created_at });
      await writer.capacity();
    }
  }
  await writer.close();

  for (const day of days) {
    const file = path.join(dir, dayFileName(day));
    const bytes = fs.readFileSync(file);
    const mine = members.filter((m) => m.fileName === dayFileName(day));
    assert.ok(mine.length > 3, `${mine.length} members`);
    let offset = 0;
    for (const m of mine) {
      assert.equal(m.memberOffset, offset);
      const plain = zlib.gunzipSync(bytes.subarray(m.memberOffset, m.memberOffset + m.memberBytes));
      assert.ok(plain.length < 20_000 + 50_000, `member of ${plain.length} bytes`); // bound: limit + one event
      for (const s of m.events) {
        const msg = nextMessage(plain, s.offsetInMember)!;
        assert.equal(decodeEvent(msg.bytes).id, s.id);
      }
      offset += m.memberBytes;
    }
    assert.equal(offset, bytes.length);
    // Other gzip readers read the members as one stream.
    const whole = execFileSync('gzip', ['-dc', file]);
    let n = 0;
    for await (const _ of readMessages(file)) n++;
    assert.equal(n, 4 * events.filter((_, i) => days[i % 3] === day).length);
    assert.equal(whole.length, zlib.gunzipSync(bytes).length);
  }
});

test('many sparse days stay within the pending budget: the largest days are flushed early', async () => {
  const e = canonical(JSON.parse(realSampleLines()[0]));
  const message = encodeDelimited(e);
  const dir = tempDir();
  let flushedEarly = 0;
  const writer = new DayWriter(dir, { compressionLevel: 1, memberBytes: 1 << 20, pendingBudget: 50 * message.length, onMember: () => flushedEarly++ });
  for (let day = 0; day < 500; day++) {
    writer.append(dayOf(1_600_000_000) + day, message, { id: e.id, pubkey: e.pubkey, kind: e.kind, createdAt: e.created_at });
    await writer.capacity();
  }
  assert.ok(flushedEarly >= 400, `${flushedEarly} members written before close`);
  await writer.close();
  assert.equal(fs.readdirSync(dir).length, 500);
});
