/**
 * The writer threads on their own (lib/convert/writer-threads.ts): parts of batches in, day
 * files out; flushToDisk is the checkpoints' barrier: when it resolves, every part sent is in
 * complete, fsynced gzip members on disk, and it lists the members each file gained since the
 * last barrier (file, offset, size, events), which add up to the files.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { processBatch } from '../../lib/convert/batch.ts';
import { WriterThreads } from '../../lib/convert/writer-threads.ts';
import type { WrittenMember } from '../../lib/day-files/writer.ts';
import { readDayDir } from '../helpers/common.ts';
import { ID_RECORD_BYTES, dayOfRecord, idRecordsOf } from '../../lib/checkpoint/id-records.ts';
import { dayOf } from '../../lib/day-files/names.ts';
import { SharedIdSetReader } from '../../lib/convert/shared-id-set.ts';
import { randomSample, tempDir } from '../helpers/index.ts';

const OFF = { validateIds: false, validateSignatures: false };

test('flushToDisk: all sent is on disk, and the members since the last barrier are listed exactly', async () => {
  const dir = tempDir();
  const events = randomSample(600, 51, 20);
  const batch = (from: number, to: number, seq: number) =>
    processBatch(seq, from + 1, Buffer.from(events.slice(from, to).map((e) => JSON.stringify(e)).join('\n') + '\n'), OFF);
  const members: WrittenMember[] = [];
  const writers = new WriterThreads(2, { dir, compressionLevel: 6, gzip: 'zlib', memberBytes: 3000, pendingBudget: 1 << 20, index: true, memberData: false, shareStored: false }, (m) => { members.push(m); }, () => {});
  try {
    assert.deepEqual(await writers.loaded(), { events: 0, repairs: [], stored: [], known: 0 });
    const first = await writers.send(batch(0, 300, 0).parts);
    assert.equal(first.duplicates, 0);
    const barrier1 = await writers.flushToDisk();
    const sizes = () => Object.fromEntries(fs.readdirSync(dir).map((n) => [n, fs.statSync(path.join(dir, n)).size]));
    const after1 = sizes();
    // Each file is exactly its listed members, back to back from byte 0.
    const ends = (list: typeof barrier1, from: Record<string, number> = {}) => {
      const end: Record<string, number> = { ...from };
      for (const m of list) {
        assert.equal(m.memberOffset, end[m.fileName] ?? 0, `${m.fileName}: members back to back`);
        end[m.fileName] = m.memberOffset + m.memberBytes;
      }
      return end;
    };
    assert.deepEqual(ends(barrier1), after1);
    assert.equal(barrier1.reduce((n, m) => n + m.events, 0), 300);
    assert.equal(members.length, barrier1.length, 'every member was handed on (index rows) before the barrier resolved');

    // The second half, its first 100 events again: the barrier lists only what was added since.
    const second = await writers.send(batch(200, 600, 1).parts);
    assert.equal(second.duplicates, 100);
    const barrier2 = await writers.flushToDisk();
    assert.deepEqual(ends(barrier2, after1), sizes());
    assert.equal(barrier2.reduce((n, m) => n + m.events, 0), 300);
    assert.deepEqual(await writers.flushToDisk(), [], 'nothing new, nothing listed');
    const closed = await writers.close();
    assert.equal(closed.bytesWritten, Object.values(sizes()).reduce((a, b) => a + b, 0));
  } finally {
    await writers.terminate();
  }
  const stored = [...(await readDayDir(dir)).values()].flat().map((e) => e.id).sort();
  assert.deepEqual(stored, events.map((e) => e.id).sort());
});

test('known ids (id records) reach the thread of their day and count as stored; each ack carries the ids it stored with their days', async () => {
  const dir = tempDir();
  const events = randomSample(400, 52, 20);
  const known = events.slice(0, 150);
  const records = Buffer.concat(known.map((e) => idRecordsOf(Buffer.from(e.id, 'hex'), dayOf(e.created_at))));
  const stored: Uint8Array[] = [];
  const writers = new WriterThreads(3, { dir, compressionLevel: 6, gzip: 'zlib', pendingBudget: 1 << 20, index: false, memberData: false, shareStored: true }, () => {}, () => {});
  writers.sendStoredIds((r) => stored.push(r));
  try {
    // Sent in two chunks, one of them twice: an id already known is not counted again.
    writers.addKnown(records.subarray(0, 100 * ID_RECORD_BYTES));
    writers.addKnown(records.subarray(100 * ID_RECORD_BYTES));
    writers.addKnown(records.subarray(0, 10 * ID_RECORD_BYTES));
    const loaded = await writers.loaded();
    assert.equal(loaded.known, 150);
    assert.equal(loaded.events, 0);
    // The ids shared with the validating workers (their signature skip) hold the known ids: they count as stored there too.
    const readers = loaded.stored.map((set) => new SharedIdSetReader(set));
    for (const e of known) assert.ok(readers.some((r) => r.has(Buffer.from(e.id, 'hex'), 0)), `known ${e.id} is shared`);
    for (const e of events.slice(150)) assert.ok(!readers.some((r) => r.has(Buffer.from(e.id, 'hex'), 0)), `new ${e.id} is not`);
    const batch = processBatch(0, 1, Buffer.from(events.map((e) => JSON.stringify(e)).join('\n') + '\n'), OFF);
    const outcome = await writers.send(batch.parts);
    assert.equal(outcome.duplicates, 150, 'every known id is a duplicate, whichever thread owns its day');
    await writers.close();
  } finally {
    await writers.terminate();
  }
  const written = [...(await readDayDir(dir)).values()].flat().map((e) => e.id).sort();
  assert.deepEqual(written, events.slice(150).map((e) => e.id).sort());
  // The acks' records: the 250 ids stored, each with its event's day.
  const all = Buffer.concat(stored);
  assert.equal(all.length, 250 * ID_RECORD_BYTES);
  const dayById = new Map(events.map((e) => [e.id, dayOf(e.created_at)]));
  const got = new Set<string>();
  for (let at = 0; at < all.length; at += ID_RECORD_BYTES) {
    const id = all.subarray(at, at + 32).toString('hex');
    assert.equal(dayOfRecord(all, at), dayById.get(id), id);
    got.add(id);
  }
  assert.deepEqual([...got].sort(), written);
});
