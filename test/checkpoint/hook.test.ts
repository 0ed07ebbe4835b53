/**
 * The hook the S3 side builds on (ConvertOptions.checkpoint.onCheckpoint): called at batch
 * boundaries with the members written since the last call, per day file in file order, which
 * together make up every day file byte for byte; the record it returns is the one kept; a
 * failing hook stops the conversion with one line naming the checkpoint.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { convert, type ConvertOptions } from '../../lib/convert/pipeline.ts';
import type { CheckpointContext } from '../../lib/checkpoint/checkpointer.ts';
import { listDayFiles } from '../../lib/day-files/names.ts';
import { FatalError } from '../../lib/cli/errors.ts';
import { randomSample, tempDir, writeJsonl } from '../helpers/index.ts';

const base = (input: string, outputDir: string): ConvertOptions => ({
  input, outputDir, parallel: 2, compressionLevel: 6, batchSize: 100, progress: false,
  validateIds: false, validateSignatures: false, memberBytes: 4096, index: true,
});

test('the hook hears of every member once, per file in file order, with the record it may amend', async () => {
  const dir = tempDir();
  const input = writeJsonl(path.join(dir, 'in.jsonl'), randomSample(2000, 3, 3));
  const out = path.join(dir, 'out');
  const calls: CheckpointContext[] = [];
  const counts = await convert({
    ...base(input, out),
    checkpoint: {
      every: { bytes: 64 << 10 },
      async onCheckpoint(c) {
        calls.push(structuredClone(c));
        return { ...c.record, logParts: [...c.record.logParts, `log-${calls.length}`] };
      },
    },
  });
  assert.ok(calls.length >= 5, `${calls.length} calls`);
  assert.equal(calls.at(-1)!.reason, 'end of input');
  assert.equal(calls.at(-1)!.record.history.at(-1)!.event, 'done');
  // The record each hook returned is carried on to the next.
  calls.forEach((c, i) => assert.deepEqual(c.record.logParts, Array.from({ length: i }, (_, k) => `log-${k + 1}`)));
  // Positions only go forward, and the last is the end of the input.
  for (let i = 1; i < calls.length; i++) assert.ok(calls[i].record.next.offset >= calls[i - 1].record.next.offset);
  assert.equal(calls.at(-1)!.record.next.offset, fs.statSync(input).size);
  assert.equal(calls.at(-1)!.record.next.line, 2001);
  // Every byte of every day file is in exactly one member, in order; the events add up.
  const byFile = new Map<string, number>();
  let events = 0;
  for (const c of calls) {
    const seenFiles: string[] = [];
    for (const m of c.newMembers) {
      if (seenFiles.at(-1) !== m.fileName) {
        assert.ok(!seenFiles.includes(m.fileName), 'grouped per file');
        seenFiles.push(m.fileName);
      }
      assert.equal(m.memberOffset, byFile.get(m.fileName) ?? 0, `${m.fileName}: members in file order, none left out`);
      byFile.set(m.fileName, m.memberOffset + m.memberBytes);
      events += m.events;
    }
  }
  assert.deepEqual([...byFile.keys()].sort(), listDayFiles(out));
  for (const [name, size] of byFile) assert.equal(size, fs.statSync(path.join(out, name)).size, name);
  assert.equal(events, counts.valid - counts.duplicates);
  // The reject log's ranges follow one another.
  for (let i = 1; i < calls.length; i++) assert.equal(calls[i].rejectLogBytes.from, calls[i - 1].rejectLogBytes.to);
  assert.ok(!fs.existsSync(path.join(out, '_checkpoint.json')), 'a finished run leaves no record');
});

test('a failing hook stops the conversion with one line naming the checkpoint', async () => {
  const dir = tempDir();
  const input = writeJsonl(path.join(dir, 'in.jsonl'), randomSample(1500, 4, 2));
  await assert.rejects(convert({
    ...base(input, path.join(dir, 'out')),
    checkpoint: { every: { bytes: 64 << 10 }, async onCheckpoint() { throw new Error('upload refused'); } },
  }), (err: Error) => err instanceof FatalError && /^checkpoint at line \d+ failed: upload refused$/.test(err.message));
});
