import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import zlib from 'node:zlib';
import { decompress, detectCompression, zstdSupported } from '../../lib/input/decompress.ts';
import { openInput } from '../../lib/input/open.ts';
import { makeJsonl } from '../helpers/fault-server.ts';
import { fatal, readAll } from '../helpers/streams.ts';

const data = makeJsonl(3000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-dec-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A stream that hands out `buf` in pieces of `size` bytes (so the magic bytes straddle chunks). */
const pieces = (buf: Buffer, size: number) => Readable.from((function* () {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
})(), { objectMode: false });

describe('decompression', () => {
  test('detection by magic bytes first, then by name', () => {
    assert.equal(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0]), 'x.jsonl'), 'gzip');
    assert.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), 'x'), 'zstd');
    assert.equal(detectCompression(Buffer.from('{"id"'), 'x.gz'), 'none'); // the bytes win
    assert.equal(detectCompression(Buffer.alloc(0), 'x.jsonl.gz'), 'gzip');
    assert.equal(detectCompression(Buffer.alloc(0), 'https://h/x.zst?sig=1'), 'zstd');
  });

  test('plain bytes pass through untouched, even in 1-byte chunks', async () => {
    const { stream, compression } = await decompress(pieces(data.subarray(0, 5000), 1), 'x');
    assert.equal(compression, 'none');
    assert.ok((await readAll(stream)).equals(data.subarray(0, 5000)));
  });

  test('gzip with several members, magic bytes split over chunks', async () => {
    const third = Math.floor(data.length / 3);
    const gz = Buffer.concat([0, 1, 2].map((i) => zlib.gzipSync(data.subarray(i * third, i === 2 ? data.length : (i + 1) * third))));
    const { stream, compression } = await decompress(pieces(gz, 3), 'x');
    assert.equal(compression, 'gzip');
    assert.ok((await readAll(stream)).equals(data));
  });

  test('empty input, and an empty .gz', async () => {
    const { stream } = await decompress(pieces(Buffer.alloc(0), 1), 'x.jsonl');
    assert.equal((await readAll(stream)).length, 0);
    const empty = await decompress(pieces(Buffer.alloc(0), 1), 'x.jsonl.gz');
    await fatal(readAll(empty.stream), /x\.jsonl\.gz: truncated or corrupt gzip data/);
  });

  test('corrupt gzip: one line naming the input', async () => {
    const gz = zlib.gzipSync(data);
    gz[gz.length - 5] ^= 0xff; // the CRC / size trailer
    const { stream } = await decompress(pieces(gz, 65536), 'dump.jsonl.gz');
    await fatal(readAll(stream), /^cannot read input dump\.jsonl\.gz: truncated or corrupt gzip data/);
  });

  test(`zstd: ${zstdSupported() ? 'decompressed' : 'a clear error on this Node'}`, async () => {
    const z = zlib as unknown as { zstdCompressSync?: (b: Buffer) => Buffer };
    if (zstdSupported()) {
      const { stream, compression } = await decompress(pieces(z.zstdCompressSync!(data), 1000), 'x.zst');
      assert.equal(compression, 'zstd');
      assert.ok((await readAll(stream)).equals(data));
    } else {
      const frame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x00, 0x01, 0x00, 0x00]);
      await fatal(decompress(pieces(frame, 4), 'dump.jsonl.zst'), /^cannot read input dump\.jsonl\.zst: zstd input needs Node 22\.15 or newer \(this is v\d+/, /zstd -dc/);
    }
  });

  test('local paths: .gz files are decompressed, raw bytes counted', async () => {
    const file = path.join(dir, 'events.jsonl.gz');
    const gz = zlib.gzipSync(data);
    fs.writeFileSync(file, gz);
    const src = await openInput(file);
    assert.equal(src.compression, 'gzip');
    assert.equal(src.totalBytes, gz.length);
    assert.ok((await readAll(src.stream)).equals(data));
    assert.equal(src.bytesRead(), gz.length);
    const viaUrl = await openInput(`file://${file}`);
    assert.ok((await readAll(viaUrl.stream)).equals(data));
  });

  test('missing local file: the same one line as before', async () => {
    await fatal(openInput(path.join(dir, 'nope.jsonl')), /^cannot read input .*nope\.jsonl: no such file or directory$/);
  });
});
