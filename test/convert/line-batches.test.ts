import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import test from 'node:test';
import { batchBytes, lineBatches, type LineBatch } from '../../lib/convert/line-batches.ts';
import { byteStream } from '../../lib/input/resumable.ts';
import { FILE_READ_BYTES } from '../../lib/input/open.ts';
import { MAX_BATCH_BYTES } from '../../lib/convert/pipeline.ts';
import { seededRandom } from '../../lib/dev/synthetic.ts';

/** A stream that hands out `text` in chunks of `size` bytes, to cut lines anywhere. */
const chunked = (bytes: Buffer, size: number) =>
  Readable.from((function* () { for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size); })());

async function collect(bytes: Buffer, size: number, limits = { maxLines: 3, maxBytes: 1 << 20, maxLineBytes: 50 }) {
  const batches: LineBatch[] = [];
  for await (const b of lineBatches(chunked(bytes, size), limits)) batches.push(b);
  return batches;
}

/** Reassembles (line number, text) pairs from the batches. */
function lines(batches: LineBatch[]): [number, string][] {
  const out: [number, string][] = [];
  for (const b of batches) {
    if (b.tooLongBytes !== undefined) {
      out.push([b.firstLine, `<too long: ${b.tooLongBytes}>`]);
      continue;
    }
    const parts = batchBytes(b).toString('utf8').split('\n');
    if (parts[parts.length - 1] === '') parts.pop();
    parts.forEach((p, i) => out.push([b.firstLine + i, p]));
  }
  return out;
}

test('whole lines, numbered from 1, whatever the chunk size; last line without newline kept', async () => {
  const text = Buffer.from('a\nbb\r\n\nccc\n' + 'x'.repeat(60) + '\ndd\neee');
  const expected: [number, string][] = [[1, 'a'], [2, 'bb\r'], [3, ''], [4, 'ccc'], [5, '<too long: 61>'], [6, 'dd'], [7, 'eee']];
  for (const size of [1, 2, 3, 5, 7, 64, 4096]) {
    const batches = await collect(text, size);
    assert.deepEqual(lines(batches), expected, `chunk size ${size}`);
    assert.deepEqual(batches.map((b) => b.seq), batches.map((_, i) => i));
    for (const b of batches) assert.ok(b.tooLongBytes !== undefined || lines([b]).length <= 3);
  }
});

test('a too-long last line without newline, and an empty input', async () => {
  assert.deepEqual(lines(await collect(Buffer.from('ok\n' + 'z'.repeat(80)), 4)), [[1, 'ok'], [2, '<too long: 80>']]);
  assert.deepEqual(await collect(Buffer.alloc(0), 1), []);
});

test('batches are cut by bytes too', async () => {
  const text = Buffer.from(Array.from({ length: 10 }, (_, i) => `line${i}`).join('\n') + '\n');
  const batches = await collect(text, 4, { maxLines: 1000, maxBytes: 12, maxLineBytes: 100 });
  assert.ok(batches.length >= 5);
  assert.equal(lines(batches).length, 10);
});

test('a stream destroyed on purpose (Ctrl-C, a spot notice) mid-line: the cut line is not handed out as a last line', async () => {
  // As the network inputs do it: a generator-backed stream whose destroy ends the pending read.
  let wake = () => {};
  const stream = byteStream((async function* () {
    yield Buffer.from('{"a":1}\n{"b":2}\n{"c":');
    await new Promise<void>((resolve) => { wake = resolve; });
  })(), () => wake());
  const got: LineBatch[] = [];
  const done = (async () => { for await (const b of lineBatches(stream, { maxLines: 10, maxBytes: 1 << 20, maxLineBytes: 100 })) got.push(b); })();
  await new Promise((r) => setTimeout(r, 20));
  stream.destroy();
  await done.catch(() => {});
  assert.deepEqual(lines(got), [[1, '{"a":1}'], [2, '{"b":2}']]);
  // The same bytes at a real end: the last line is kept (and rejected later if it is not an event).
  assert.deepEqual(lines(await collect(Buffer.from('{"a":1}\n{"c":'), 4)), [[1, '{"a":1}'], [2, '{"c":']]);
});

/** `text` in chunks of `size`, each in an ArrayBuffer of its own, as a file's read stream hands them out. */
function ownedChunks(text: Buffer, size: number): Readable {
  return Readable.from((function* () {
    for (let i = 0; i < text.length; i += size) {
      const piece = text.subarray(i, i + size);
      const own = Buffer.from(new ArrayBuffer(piece.length));
      piece.copy(own);
      yield own;
    }
  })());
}

test('chunks that own their memory go out uncopied, the line begun before as a head; moving each batch away breaks no other', async () => {
  const text = Buffer.from(Array.from({ length: 500 }, (_, i) => `{"n":${i},"pad":"${'p'.repeat(i % 97)}"}`).join('\n') + '\n');
  for (const size of [700, 4096, 9000]) {
    const owned = ownedChunks(text, size);
    const moved: LineBatch[] = [];
    let views = 0;
    for await (const b of lineBatches(owned, { maxLines: 1000, maxBytes: 1 << 20, maxLineBytes: 1000 })) {
      if (b.bytes.byteLength > 0 && b.bytes.buffer.byteLength === size) views++;
      // Moved to another thread as the pipeline does: the buffer is detached here.
      const bytes = structuredClone(b.bytes, { transfer: [b.bytes.buffer as ArrayBuffer] });
      moved.push({ ...b, bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
    }
    assert.ok(views >= Math.floor(text.length / size) - 1, `chunk size ${size}: ${views} batches were views of their chunk`);
    assert.deepEqual(lines(moved).map(([n, l]) => [n, JSON.parse(l).n]), Array.from({ length: 500 }, (_, i) => [i + 1, i]));
  }
});

test("the converter's limits: each chunk of a file goes out whole, with the line begun before it, moved and not copied", async () => {
  // Lines of 200 B to 30 KB: a long line begun before a chunk can be longer than the chunk's last line.
  const random = seededRandom(3);
  const lines: string[] = [];
  for (let i = 0, size = 0; size < 5 * FILE_READ_BYTES; i++) {
    const pad = random() < 0.1 ? 5000 + Math.floor(random() * 25_000) : 200 + Math.floor(random() * 800);
    lines.push(`{"n":${i},"pad":"${'p'.repeat(pad)}"}`);
    size += pad + 20;
  }
  const text = Buffer.from(lines.join('\n') + '\n');
  const chunks = ownedChunks(text, FILE_READ_BYTES);
  const batches: LineBatch[] = [];
  let copied = 0;
  for await (const b of lineBatches(chunks, { maxLines: 4000, maxBytes: MAX_BATCH_BYTES, maxLineBytes: 16 << 20 })) {
    batches.push(b);
    if (b.bytes.buffer.byteLength !== FILE_READ_BYTES && b.bytes.buffer.byteLength !== text.length % FILE_READ_BYTES) copied += b.bytes.length;
  }
  assert.equal(copied, 0, 'no batch was copied out of its chunk');
  assert.equal(batches.length, Math.ceil(text.length / FILE_READ_BYTES), 'one batch per chunk');
  assert.equal(lines.length, batches.reduce((n, b) => n + batchBytes(b).toString().split('\n').filter(Boolean).length, 0));
});
