import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { checkS3Target, hashFile, partSizeFor, uploadResults, verifyStored, type UploadProgress } from '../../lib/s3/output.ts';
import { startS3, type LocalS3 } from '../helpers/s3.ts';
import { fatal } from '../helpers/streams.ts';

const MiB = 1024 * 1024;
let s3: LocalS3;
let client: S3Client;
const tmpDirs: string[] = [];

before(async () => {
  s3 = await startS3(['results', 'other']);
  client = s3.client();
});
after(async () => {
  client.destroy();
  await s3.close();
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A converter output folder: day files, index.db, proton-beam.log, and a stray file. */
function makeResults(sizes: Record<string, number> = {}): { dir: string; files: Record<string, Buffer> } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-out-'));
  tmpDirs.push(dir);
  const files: Record<string, Buffer> = {
    '2024_01_01.pb.gz': crypto.randomBytes(sizes['2024_01_01.pb.gz'] ?? 70_000),
    '2024_01_02.pb.gz': crypto.randomBytes(sizes['2024_01_02.pb.gz'] ?? 1_000),
    'index.db': crypto.randomBytes(sizes['index.db'] ?? 40_000),
    'proton-beam.log': Buffer.from('converted 3 events\n'),
  };
  for (const [name, body] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), body);
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'not uploaded');
  fs.writeFileSync(path.join(dir, '2024_01_03.pb.gz.tmp'), 'not uploaded');
  return { dir, files };
}

async function keys(bucket: string, prefix: string): Promise<string[]> {
  const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

async function get(bucket: string, key: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const writes = (from: number) => s3.requests.slice(from).filter((r) => r.method === 'PUT' || (r.method === 'POST' && r.url.includes('uploads')));

describe('s3 output', () => {
  test('uploads exactly the result files, encrypted (SSE-S3), then a correct manifest last', async () => {
    const { dir, files } = makeResults();
    const from = s3.requests.length;
    const events: UploadProgress[] = [];
    const report = await uploadResults({
      dir, target: 's3://results/run1/',
      manifest: { input: 's3://inputs/x.jsonl', counts: { events: 3 }, timings: { convertSeconds: 1.5 } },
      onProgress: (p) => events.push(p),
    });
    const expected = [...Object.keys(files), 'manifest.json'].map((n) => `run1/${n}`).sort();
    assert.deepEqual(await keys('results', ''), expected);
    for (const [name, body] of Object.entries(files)) assert.ok((await get('results', `run1/${name}`)).equals(body), name);

    // Every object write carried SSE-S3 (s3rver does not report SSE back: we check what it received).
    const w = writes(from);
    assert.equal(w.length, 5);
    for (const r of w) {
      assert.equal(r.headers['x-amz-server-side-encryption'], 'AES256', r.url);
      assert.ok(r.headers['x-amz-checksum-sha256'] || r.headers['x-amz-checksum-algorithm'], `checksum sent for ${r.url}`);
    }
    assert.match(w.at(-1)!.url, /^\/results\/run1\/manifest\.json/, 'manifest written last');

    const manifest = JSON.parse((await get('results', 'run1/manifest.json')).toString());
    assert.equal(manifest.input, 's3://inputs/x.jsonl');
    assert.deepEqual(manifest.counts, { events: 3 });
    assert.deepEqual(manifest.timings, { convertSeconds: 1.5 });
    assert.equal(manifest.target, 's3://results/run1/');
    assert.equal(manifest.tool.name, 'proton-beam-aws');
    assert.match(manifest.tool.version, /^\d+\.\d+\.\d+/);
    assert.equal(manifest.upload.serverSideEncryption, 'AES256');
    assert.deepEqual(
      manifest.files.map((f: { name: string }) => f.name),
      ['2024_01_01.pb.gz', '2024_01_02.pb.gz', 'index.db', 'proton-beam.log'],
    );
    for (const f of manifest.files as { name: string; key: string; size: number; sha256: string }[]) {
      assert.equal(f.key, `run1/${f.name}`);
      assert.equal(f.size, files[f.name].length);
      assert.equal(f.sha256, sha(files[f.name]));
    }
    assert.deepEqual(report.files.map((f) => f.verifiedBy), ['etag-md5', 'etag-md5', 'etag-md5', 'etag-md5']);
    assert.equal(report.deletedLocal.length, 0);
    assert.ok(fs.existsSync(path.join(dir, 'index.db')));
    const last = events.at(-1)!;
    assert.equal(last.filesDone, 4);
    assert.equal(last.bytesDone, last.bytesTotal);
  });

  test('multipart upload (5 MiB parts) round-trips byte for byte, with SSE-KMS', async () => {
    const { dir, files } = makeResults({ '2024_01_01.pb.gz': 11 * MiB + 12_345 });
    const from = s3.requests.length;
    const report = await uploadResults({
      dir, target: 's3://results/big', sseKmsKeyId: 'alias/proton-beam', partSize: 5 * MiB, queueSize: 2,
      manifest: { input: 'x' }, deleteLocalAfterUpload: true,
    });
    const big = report.files.find((f) => f.name === '2024_01_01.pb.gz')!;
    assert.equal(big.parts, 3);
    assert.ok((await get('results', 'big/2024_01_01.pb.gz')).equals(files['2024_01_01.pb.gz']));
    const seen = s3.requests.slice(from);
    assert.equal(seen.filter((r) => r.url.includes('/big/2024_01_01.pb.gz') && r.url.includes('partNumber=')).length, 3);
    const create = seen.find((r) => r.method === 'POST' && r.url.startsWith('/results/big/2024_01_01.pb.gz?uploads'))!;
    assert.equal(create.headers['x-amz-server-side-encryption'], 'aws:kms');
    assert.equal(create.headers['x-amz-server-side-encryption-aws-kms-key-id'], 'alias/proton-beam');
    for (const r of writes(from).filter((x) => !x.url.includes('partNumber='))) {
      assert.equal(r.headers['x-amz-server-side-encryption'], 'aws:kms', r.url);
    }
    const manifest = JSON.parse((await get('results', 'big/manifest.json')).toString());
    assert.equal(manifest.upload.sseKmsKeyId, 'alias/proton-beam');
    assert.equal(manifest.files[0].sha256, sha(files['2024_01_01.pb.gz']));
    // --delete-local-after-upload: the uploaded files are gone, the others stay.
    assert.deepEqual(fs.readdirSync(dir).sort(), ['2024_01_03.pb.gz.tmp', 'notes.txt']);
    assert.equal(report.deletedLocal.length, 4);
  });

  test('throttling and 5xx are retried', async () => {
    const { dir, files } = makeResults();
    s3.failNext((r) => r.method === 'PUT' && r.url.startsWith('/results/retry/index.db'), 503, 2);
    s3.failNext((r) => r.method === 'HEAD' && r.url.startsWith('/results/retry/2024_01_02.pb.gz'), 500, 1);
    await uploadResults({ dir, target: 's3://results/retry/', manifest: {} });
    assert.ok((await get('results', 'retry/index.db')).equals(files['index.db']));
    assert.ok((await keys('results', 'retry/')).includes('retry/manifest.json'));
  });

  test('a file that keeps failing: one line, no manifest, the earlier manifest removed first', async () => {
    const { dir } = makeResults();
    await client.send(new PutObjectCommand({ Bucket: 'results', Key: 'fail/manifest.json', Body: '{"old":true}' }));
    s3.failNext((r) => r.method === 'PUT' && r.url.startsWith('/results/fail/index.db'), 500, 100);
    await fatal(
      uploadResults({ dir, target: 's3://results/fail/', manifest: {}, fileRetry: { maxTries: 2, baseDelayMs: 1, maxDelayMs: 2 }, onRetry: () => {} }),
      /^cannot write to s3:\/\/results\/fail\/index\.db: /,
    );
    assert.ok(!(await keys('results', 'fail/')).includes('fail/manifest.json'));
    assert.ok(fs.existsSync(path.join(dir, 'index.db')), 'local files kept on failure');
  });

  test('missing bucket, access denied: one line before anything is uploaded', async () => {
    const { dir } = makeResults();
    const from = s3.requests.length;
    await fatal(uploadResults({ dir, target: 's3://no-such-bucket/p/', manifest: {} }), /^cannot write to s3:\/\/no-such-bucket\/p\/: the bucket no-such-bucket does not exist/);
    const key = process.env.AWS_ACCESS_KEY_ID;
    process.env.AWS_ACCESS_KEY_ID = 'WRONG';
    try {
      await fatal(uploadResults({ dir, target: 's3://results/denied/', manifest: {} }), /^cannot write to s3:\/\/results\/denied\/: access denied \(403/);
      await fatal(checkS3Target('s3://results/denied/'), /access denied/);
    } finally {
      process.env.AWS_ACCESS_KEY_ID = key;
    }
    assert.equal(writes(from).length, 0);
    assert.deepEqual(await keys('results', 'denied/'), []);
    await fatal(uploadResults({ dir, target: 's3:/results', manifest: {} }), /not an S3 URL/);
    await fatal(uploadResults({ dir, target: 's3://x/', manifest: {} }), /not a valid bucket name/);
  });

  test('an index.db with a pending WAL is refused', async () => {
    const { dir } = makeResults();
    fs.writeFileSync(path.join(dir, 'index.db-wal'), 'pending');
    await fatal(uploadResults({ dir, target: 's3://results/wal/', manifest: {} }), /index\.db-wal is not empty/);
    assert.deepEqual(await keys('results', 'wal/'), []);
  });

  test('part size grows so a file needs at most 10,000 parts', () => {
    assert.equal(partSizeFor(1000), 16 * MiB);
    assert.equal(partSizeFor(1000, 5 * MiB), 5 * MiB);
    assert.equal(partSizeFor(5 * 1024 ** 4, 5 * MiB), 525 * MiB); // 5 TiB, S3's largest object
    assert.ok(Math.ceil((5 * 1024 ** 4) / partSizeFor(5 * 1024 ** 4)) <= 10_000);
  });

  test('an object that does not match after upload is refused, and no manifest is written', async () => {
    const { dir } = makeResults();
    s3.after.push((ctx, seen) => {
      if (seen.method === 'HEAD' && seen.url.startsWith('/results/tampered/index.db')) ctx.set('ETag', '"0123456789abcdef0123456789abcdef"');
    });
    try {
      await fatal(uploadResults({ dir, target: 's3://results/tampered/', manifest: {} }), /^upload of s3:\/\/results\/tampered\/index\.db did not check out: the ETag 0123/);
    } finally {
      s3.after.length = 0;
    }
    assert.ok(!(await keys('results', 'tampered/')).includes('tampered/manifest.json'));
  });

  test('verifyStored: size, metadata, SSE, and real S3\'s SHA-256 checksums and multipart ETags', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-verify-'));
    tmpDirs.push(dir);
    const body = crypto.randomBytes(12 * MiB + 3);
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, body);
    const part = 5 * MiB;
    const h = await hashFile(file, part);
    assert.equal(h.partSha256.length, 3);
    const parts = [body.subarray(0, part), body.subarray(part, 2 * part), body.subarray(2 * part)];
    // What real S3 reports for a 3-part upload with ChecksumAlgorithm SHA256: base64 of the
    // SHA-256 of the concatenated part digests, "-3"; and the multipart ETag: MD5 of the part MD5s, "-3".
    const digest = (alg: string, b: Buffer) => crypto.createHash(alg).update(b).digest();
    const composite = digest('sha256', Buffer.concat(parts.map((p) => digest('sha256', p)))).toString('base64') + '-3';
    const etag = `"${digest('md5', Buffer.concat(parts.map((p) => digest('md5', p)))).toString('hex')}-3"`;
    const meta = { sha256: sha(body) };
    const base = { $metadata: {}, ContentLength: body.length, Metadata: meta };
    const url = 's3://b/k';
    assert.equal(verifyStored({ ...base, ChecksumSHA256: composite, ServerSideEncryption: 'aws:kms' }, h, part, url, 'aws:kms'), 'sha256');
    assert.equal(verifyStored({ ...base, ETag: etag, ServerSideEncryption: 'AES256' }, h, part, url, 'AES256'), 'etag-md5');
    assert.equal(verifyStored({ ...base, ETag: `"${digest('md5', body).toString('hex')}"` }, h, part, url, 'AES256'), 'etag-md5'); // s3rver
    assert.throws(() => verifyStored({ ...base, ChecksumSHA256: (composite[0] === 'A' ? 'B' : 'A') + composite.slice(1) }, h, part, url, 'AES256'), /SHA-256 checksum/);
    assert.throws(() => verifyStored({ ...base, ETag: etag.replace('-3', '-4') }, h, part, url, 'AES256'), /the ETag/);
    assert.throws(() => verifyStored({ ...base, ContentLength: body.length - 1, ETag: etag }, h, part, url, 'AES256'), /S3 has \d+ bytes/);
    assert.throws(() => verifyStored({ ...base, Metadata: {}, ETag: etag }, h, part, url, 'AES256'), /x-amz-meta-sha256 is missing/);
    assert.throws(() => verifyStored({ ...base, ETag: etag, ServerSideEncryption: 'AES256' }, h, part, url, 'aws:kms'), /encrypted with AES256, not aws:kms/);
    assert.throws(() => verifyStored({ ...base, ETag: '"abc"' }, h, part, url, 'aws:kms'), /under SSE-KMS/);
    assert.throws(() => verifyStored(base, h, part, url, 'AES256'), /neither a checksum nor an ETag/);
    // One part: the plain SHA-256 of the file.
    const small = await hashFile(file, 16 * MiB);
    assert.equal(verifyStored({ ...base, ChecksumSHA256: digest('sha256', body).toString('base64') }, small, 16 * MiB, url, 'AES256'), 'sha256');
  });

  test('empty files upload too', async () => {
    const { dir } = makeResults();
    fs.writeFileSync(path.join(dir, 'proton-beam.log'), '');
    const report = await uploadResults({ dir, target: 's3://results/empty/', manifest: {} });
    assert.equal(report.files.find((f) => f.name === 'proton-beam.log')!.size, 0);
    assert.equal((await get('results', 'empty/proton-beam.log')).length, 0);
  });
});
