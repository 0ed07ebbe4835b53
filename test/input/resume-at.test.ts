/**
 * openInput at a saved position (a checkpoint's `next`): for every kind of input, the bytes from
 * the offset on and nothing else; a plain object asked for with a Range request, a compressed one
 * decompressed from its start; a prefix input from the saved object; identities that tell a
 * changed input from the same one.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { openInput, type InputOptions } from '../../lib/input/open.ts';
import { identityDifference } from '../../lib/checkpoint/identity.ts';
import { parseCheckpointEvery } from '../../lib/checkpoint/interval.ts';
import { makeJsonl, startFaultServer } from '../helpers/fault-server.ts';
import { startS3, type LocalS3 } from '../helpers/s3.ts';
import { readAll } from '../helpers/streams.ts';
import { tempDir } from '../helpers/index.ts';

const data = makeJsonl(8_000);
const gz = zlib.gzipSync(data);
const fast: InputOptions = { maxTries: 4, baseDelayMs: 5, maxDelayMs: 20, onRetry: () => {}, idleTimeoutMs: 2000 };
const lineStart = (n: number) => { let at = 0; for (let i = 0; i < n; i++) at = data.indexOf('\n', at) + 1; return at; };
const offset = lineStart(5000);
const cut1 = lineStart(3000);
const cut2 = lineStart(6000);

let s3: LocalS3;
let client: S3Client;
before(async () => {
  s3 = await startS3(['inputs']);
  client = s3.client();
  await client.send(new PutObjectCommand({ Bucket: 'inputs', Key: 'one/events.jsonl', Body: data }));
  await client.send(new PutObjectCommand({ Bucket: 'inputs', Key: 'one/events.jsonl.gz', Body: gz }));
  await client.send(new PutObjectCommand({ Bucket: 'inputs', Key: 'split/a.jsonl', Body: data.subarray(0, cut1 - 1) })); // no final newline
  await client.send(new PutObjectCommand({ Bucket: 'inputs', Key: 'split/b.jsonl.gz', Body: zlib.gzipSync(data.subarray(cut1, cut2)) }));
  await client.send(new PutObjectCommand({ Bucket: 'inputs', Key: 'split/c.jsonl', Body: data.subarray(cut2) }));
});
after(async () => {
  client.destroy();
  await s3.close();
});

describe('opening an input at a saved position', () => {
  test('a local file: plain seeks (bytesRead counts from the start of the file), .gz skips after decompressing', async () => {
    const dir = tempDir();
    const plain = path.join(dir, 'a.jsonl');
    const packed = path.join(dir, 'a.jsonl.gz');
    fs.writeFileSync(plain, data);
    fs.writeFileSync(packed, gz);
    const a = await openInput(plain, { resumeAt: { position: { line: 5001, offset }, compression: 'none' } });
    assert.ok((await readAll(a.stream)).equals(data.subarray(offset)));
    assert.equal(a.bytesRead(), data.length);
    assert.match(a.resumedBy!, /read from byte \d+ on/);
    assert.equal(a.identity.kind, 'file');
    assert.equal(a.identity.spec, plain);
    const b = await openInput(packed, { resumeAt: { position: { line: 5001, offset }, compression: 'gzip' } });
    assert.ok((await readAll(b.stream)).equals(data.subarray(offset)));
    assert.match(b.resumedBy!, /gzip input: decompressed from its start/);
    assert.equal(b.identity.compression, 'gzip');
  });

  test('s3://bucket/key: a Range request from the offset, the ETag pinned; a .gz object from its start', async () => {
    const before = s3.requests.length;
    const a = await openInput('s3://inputs/one/events.jsonl', { ...fast, resumeAt: { position: { line: 5001, offset }, compression: 'none' } });
    assert.ok((await readAll(a.stream)).equals(data.subarray(offset)));
    const gets = s3.requests.slice(before).filter((r) => r.method === 'GET');
    assert.equal(gets[0].headers.range, `bytes=${offset - 1}-`, 'one byte early (dropped): a Range at the very end of an object is answered 416');
    assert.equal(a.identity.kind, 's3-object');
    assert.equal(a.identity.size, data.length);
    assert.match(a.identity.validator!, /^"[0-9a-f]{32}"$/);
    const plainAtStart = await openInput('s3://inputs/one/events.jsonl', fast);
    await readAll(plainAtStart.stream);
    assert.equal(identityDifference({ ...a.identity, compression: undefined }, { ...plainAtStart.identity, compression: undefined }), undefined, 'the same object, read at the start or resumed');
    const b = await openInput('s3://inputs/one/events.jsonl.gz', { ...fast, resumeAt: { position: { line: 5001, offset }, compression: 'gzip' } });
    assert.ok((await readAll(b.stream)).equals(data.subarray(offset)));
  });

  test('at the very end of an S3 object or an http file (a run checkpointed at its end): nothing more to read, no 416', async () => {
    const end = { position: { line: 99_999, offset: data.length }, compression: 'none' as const };
    const a = await openInput('s3://inputs/one/events.jsonl', { ...fast, resumeAt: end });
    assert.equal((await readAll(a.stream)).length, 0);
    const server = await startFaultServer({ '/d.jsonl': data });
    try {
      const b = await openInput(server.url('/d.jsonl'), { ...fast, resumeAt: end });
      assert.equal((await readAll(b.stream)).length, 0);
      assert.equal(server.requests.at(-1)?.range, `bytes=${data.length - 1}-`);
    } finally {
      await server.close();
    }
  });

  test('an http URL: Range from the offset; another ETag is another version', async () => {
    const server = await startFaultServer({ '/d.jsonl': data });
    try {
      const a = await openInput(server.url('/d.jsonl'), { ...fast, resumeAt: { position: { line: 5001, offset }, compression: 'none' } });
      assert.ok((await readAll(a.stream)).equals(data.subarray(offset)));
      assert.equal(server.requests.at(-1)?.range, `bytes=${offset - 1}-`);
      server.files.set('/d.jsonl', Buffer.concat([data, Buffer.from('{"n":-1}\n')]));
      const changed = await openInput(server.url('/d.jsonl'), fast);
      changed.stream.destroy();
      assert.match(identityDifference(a.identity, changed.identity)!, /^checkpoint is for http:\/\/127\.0\.0\.1:\d+\/d\.jsonl \(size [\d,]+, etag "\w+"\), input is http:\/\/.* \(size [\d,]+, etag "\w+"\)$/);
    } finally {
      await server.close();
    }
  });

  test('s3://bucket/prefix/: positions name the object, and a resume starts at it (compressed or not, a missing final newline too)', async () => {
    // Every line start of the whole stream: the position there, opened again, gives the rest.
    const whole = await openInput('s3://inputs/split/', fast);
    assert.ok((await readAll(whole.stream)).equals(data));
    assert.deepEqual(whole.identity.objects!.map((o) => o.key), ['split/a.jsonl', 'split/b.jsonl.gz', 'split/c.jsonl']);
    for (const at of [lineStart(10), cut1, lineStart(4000), cut2, lineStart(7000)]) {
      const position = whole.positionOf(at, 0);
      const expected = at < cut1 ? { index: 0, offset: at } : at < cut2 ? { index: 1, offset: at - cut1 } : { index: 2, offset: at - cut2 };
      assert.deepEqual({ index: position.object!.index, offset: position.object!.offset }, expected, `position of byte ${at}`);
      const again = await openInput('s3://inputs/split/', { ...fast, resumeAt: { position } });
      assert.ok((await readAll(again.stream)).equals(data.subarray(at)), `resumed at byte ${at}`);
      assert.deepEqual(again.positionOf(data.length, 0).object, whole.positionOf(data.length, 0).object, 'the positions go on from the saved one');
    }
  });

  test('standard input cannot be resumed', async () => {
    await assert.rejects(openInput('-', { resumeAt: { position: { line: 2, offset: 10 } } }), /cannot resume standard input/);
  });
});

test('--checkpoint-every: durations, sizes, off; anything else is a usage error', () => {
  assert.deepEqual(parseCheckpointEvery('5m'), { ms: 300_000 });
  assert.deepEqual(parseCheckpointEvery('30s'), { ms: 30_000 });
  assert.deepEqual(parseCheckpointEvery('1h'), { ms: 3_600_000 });
  assert.deepEqual(parseCheckpointEvery('4GiB'), { bytes: 4 * 2 ** 30 });
  assert.deepEqual(parseCheckpointEvery('512MB'), { bytes: 512e6 });
  assert.equal(parseCheckpointEvery('off'), undefined);
  for (const bad of ['5', 'fast', '-1m', '0s', '3parsecs']) assert.throws(() => parseCheckpointEvery(bad), /--checkpoint-every takes a duration \(30s, 5m, 1h\), a size of input \(512MiB, 4GiB\) or off/);
});
