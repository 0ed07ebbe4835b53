import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { openInput, type InputOptions } from '../../lib/input/open.ts';
import { makeJsonl } from '../helpers/fault-server.ts';
import { startCuttingProxy, startS3, type LocalS3 } from '../helpers/s3.ts';
import { fatal, readAll } from '../helpers/streams.ts';

const data = makeJsonl(12_000);
const gz = zlib.gzipSync(data);
const fast: InputOptions = { maxTries: 4, baseDelayMs: 5, maxDelayMs: 20, onRetry: () => {}, idleTimeoutMs: 2000 };

let s3: LocalS3;
let client: S3Client;
before(async () => {
  s3 = await startS3(['inputs']);
  client = s3.client();
  await client.send(new PutObjectCommand({ Bucket: 'inputs', Key: 'dump/events.jsonl', Body: data }));
  await client.send(new PutObjectCommand({ Bucket: 'inputs', Key: 'dump/events.jsonl.gz', Body: gz }));
  await client.send(new PutObjectCommand({ Bucket: 'inputs', Key: 'dump/noext', Body: gz }));
  // A split dump: b is gzip'd, a does not end with a newline, notes.txt is not an input.
  await client.send(new PutObjectCommand({ Bucket: 'inputs', Key: 'split/b.jsonl.gz', Body: zlib.gzipSync(partB) }));
  await client.send(new PutObjectCommand({ Bucket: 'inputs', Key: 'split/a.jsonl', Body: partA.subarray(0, -1) }));
  await client.send(new PutObjectCommand({ Bucket: 'inputs', Key: 'split/c/d.ndjson', Body: partC }));
  await client.send(new PutObjectCommand({ Bucket: 'inputs', Key: 'split/notes.txt', Body: 'not events\n' }));
});
const cut1 = data.indexOf('\n', 300_000) + 1;
const cut2 = data.indexOf('\n', 700_000) + 1;
const [partA, partB, partC] = [data.subarray(0, cut1), data.subarray(cut1, cut2), data.subarray(cut2)];
after(async () => {
  client.destroy();
  await s3.close();
});

describe('s3 input', () => {
  test('s3://bucket/key: identical bytes, object size known (client from the env)', async () => {
    const src = await openInput('s3://inputs/dump/events.jsonl', fast);
    const bytes = await readAll(src.stream);
    assert.ok(bytes.equals(data));
    assert.equal(src.totalBytes, data.length);
    assert.equal(src.bytesRead(), data.length);
  });

  test('gzip objects, by name and by magic bytes', async () => {
    for (const key of ['dump/events.jsonl.gz', 'dump/noext']) {
      const src = await openInput(`s3://inputs/${key}`, fast);
      assert.ok((await readAll(src.stream)).equals(data), key);
      assert.equal(src.compression, 'gzip');
      assert.equal(src.totalBytes, gz.length);
    }
  });

  test('connection cut mid-body twice: resumed with Range, not a byte lost or doubled', async () => {
    const proxy = await startCuttingProxy(s3.endpoint);
    const viaProxy = s3.client(proxy.endpoint);
    try {
      proxy.cutNextGet(400_000);
      proxy.cutNextGet(300_000);
      const before = s3.requests.length;
      const src = await openInput('s3://inputs/dump/events.jsonl', { ...fast, s3Client: viaProxy });
      const bytes = await readAll(src.stream);
      assert.equal(proxy.cuts, 2);
      assert.ok(bytes.equals(data));
      const ranges = s3.requests.slice(before).map((r) => r.headers.range);
      assert.equal(ranges.length, 3);
      assert.equal(ranges[0], undefined);
      assert.match(ranges[1]!, /^bytes=\d+-$/);
      const first = Number(/\d+/.exec(ranges[1]!)![0]);
      const second = Number(/\d+/.exec(ranges[2]!)![0]);
      assert.ok(first > 390_000 && first < 400_000, `first resume at ${first}`);
      assert.ok(second > first + 290_000, `second resume at ${second}`);
    } finally {
      viaProxy.destroy();
      await proxy.close();
    }
  });

  test('5xx answers are retried', async () => {
    s3.failNext((r) => r.method === 'GET' && r.url.includes('/inputs/dump/events.jsonl'), 503, 2);
    const src = await openInput('s3://inputs/dump/events.jsonl', fast);
    assert.ok((await readAll(src.stream)).equals(data));
  });

  test('missing key, missing bucket, access denied: one line naming the URL, no retries', async () => {
    const before = s3.requests.length;
    await fatal(openInput('s3://inputs/dump/nope.jsonl', fast), /^cannot read s3:\/\/inputs\/dump\/nope\.jsonl: no such object \(404\).*check the key$/);
    await fatal(openInput('s3://no-such-bucket/x.jsonl', fast), /^cannot read s3:\/\/no-such-bucket\/x\.jsonl: the bucket does not exist/);
    assert.equal(s3.requests.length - before, 2);
    const key = process.env.AWS_ACCESS_KEY_ID;
    process.env.AWS_ACCESS_KEY_ID = 'WRONG';
    try {
      await fatal(openInput('s3://inputs/dump/events.jsonl', fast), /^cannot read s3:\/\/inputs\/dump\/events\.jsonl: access denied \(403/, /instance role/);
    } finally {
      process.env.AWS_ACCESS_KEY_ID = key;
    }
  });

  test('malformed s3:// URLs and unknown schemes', async () => {
    await fatal(openInput('s3://', fast), /s3:\/\/: malformed S3 URL, the bucket name is missing/);
    await fatal(openInput('s3://inputs', fast), /no object key/);
    await fatal(openInput('s3://inputs/', fast), /no object key/);
    await fatal(openInput('s3://Bad_Bucket/key', fast), /not a valid bucket name/);
    await fatal(openInput('ftp://example.invalid/x.jsonl', fast), /^cannot read input ftp:\/\/example\.invalid\/x\.jsonl: unsupported scheme "ftp:\/\/"/);
    await fatal(openInput('http://', fast), /malformed URL/);
  });

  test('s3://bucket/prefix/: every .jsonl/.json/.ndjson(.gz) object in key order, one stream, each resumed on a cut', async () => {
    const proxy = await startCuttingProxy(s3.endpoint);
    const viaProxy = s3.client(proxy.endpoint);
    try {
      proxy.cutNextGet(200_000); // inside split/a.jsonl
      const before = s3.requests.length;
      const src = await openInput('s3://inputs/split/', { ...fast, s3Client: viaProxy });
      assert.deepEqual(src.objects, ['s3://inputs/split/a.jsonl', 's3://inputs/split/b.jsonl.gz', 's3://inputs/split/c/d.ndjson']);
      assert.equal(src.current!(), 's3://inputs/split/a.jsonl');
      const seen: string[] = [];
      src.stream.on('data', () => { const c = src.current!(); if (seen.at(-1) !== c) seen.push(c); });
      const bytes = await readAll(src.stream);
      assert.ok(bytes.equals(data), 'the three parts, joined at line boundaries');
      assert.deepEqual(seen, src.objects);
      assert.equal(proxy.cuts, 1);
      assert.equal(src.stats!().resumes, 1);
      const gets = s3.requests.slice(before).filter((r) => r.method === 'GET');
      assert.match(gets[0].url, /^\/inputs\/?\?.*list-type=2/);
      assert.match(gets[0].url, /prefix=split%2F/);
      assert.deepEqual(gets.slice(1).map((r) => r.url.replace(/\?.*/, '')),
        ['/inputs/split/a.jsonl', '/inputs/split/a.jsonl', '/inputs/split/b.jsonl.gz', '/inputs/split/c/d.ndjson']);
      assert.equal(gets[1].headers.range, undefined);
      assert.match(gets[2].headers.range!, /^bytes=\d+-$/);
      assert.equal(src.totalBytes, partA.length - 1 + zlib.gzipSync(partB).length + partC.length);
      assert.equal(src.bytesRead(), src.totalBytes);
    } finally {
      viaProxy.destroy();
      await proxy.close();
    }
  });

  test('a prefix without input objects, or in a missing bucket: one line', async () => {
    await fatal(openInput('s3://inputs/nothing-here/', fast), /^cannot read input s3:\/\/inputs\/nothing-here\/: no object under the prefix ends in \.jsonl/);
    await fatal(openInput('s3://no-such-bucket/p/', fast), /^cannot list s3:\/\/no-such-bucket\/p\/: the bucket does not exist/);
  });
});
