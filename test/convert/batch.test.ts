// The hot path's line handling (lib/convert/batch.ts): each line of a batch is one numbered
// result, whatever the batch ends with, with blank lines, CRLF, byte-order marks and invalid
// UTF-8 among valid events (the lines are decoded one at a time, as their turn comes).
import assert from 'node:assert/strict';
import test from 'node:test';
import { processBatch } from '../../lib/convert/batch.ts';
import { realSampleLines } from '../helpers/common.ts';

const opts = { validateIds: true, validateSignatures: false };

test('every line of a batch is counted once, numbered from firstLine, however the batch is cut and whatever the lines hold', () => {
  const [a, b, c] = realSampleLines();
  const nonAscii = realSampleLines().find((l) => /[^\x00-\x7f]/.test(l))!;
  const batch = Buffer.concat([
    Buffer.from(`${a}\n\n${b}\r\n\ufeff${c}\n`),
    Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]), // invalid UTF-8
    Buffer.from(`${nonAscii}\n   \n${a}`), // no newline at the end; `a` again is a copy for the writers, not here
  ]);
  const r = processBatch(7, 100, batch, opts);
  assert.equal(r.seq, 7);
  assert.equal(r.lines, 8);
  assert.equal(r.count, 5);
  assert.deepEqual(r.rejects.map((x) => [x.line, x.reason]), [[101, 'blank_line'], [104, 'invalid_utf8'], [106, 'blank_line']]);
  // The same lines with a newline at the end: the same result (a final newline starts no line).
  const again = processBatch(7, 100, Buffer.concat([batch, Buffer.from('\n')]), opts);
  assert.equal(again.lines, 8);
  assert.deepEqual(again.rejects, r.rejects);
  assert.equal(processBatch(0, 1, Buffer.alloc(0), opts).lines, 0);
  assert.deepEqual(processBatch(0, 1, Buffer.from('\n'), opts).rejects.map((x) => x.reason), ['blank_line']);
});
