// End to end: scripts/convert.ts reading http:// and s3:// inputs and writing to S3 (s3rver),
// run as a child process (asynchronously: the servers live in this process).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../../lib/paths.ts';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.ts';
import { s3Env, startS3, type LocalS3 } from '../helpers/s3.ts';


const SAMPLE = path.join(ROOT, 'sample', 'events.jsonl');
const sample = fs.readFileSync(SAMPLE);
const sampleGz = zlib.gzipSync(sample);

let srv: FaultServer;
let s3: LocalS3;
let client: S3Client;
let reference: Map<string, Buffer>;
let referenceLines: number;
const dirs: string[] = [];

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-e2e-'));
  dirs.push(d);
  return d;
}

interface Run { status: number | null; stdout: string; stderr: string }

function convert(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'convert.ts'), '--no-progress', '-j', '1', ...args], {
      cwd: ROOT,
      env: { ...s3Env(s3), PROTON_BEAM_RETRY_BASE_MS: '10', PROTON_BEAM_RETRY_MAX_MS: '50', PROTON_BEAM_IDLE_TIMEOUT_MS: '1000', PROTON_BEAM_RETRIES: '4' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function ok(r: Run): Run {
  assert.equal(r.status, 0, `convert failed: ${r.stderr}`);
  return r;
}

/** The day files of a folder, by name. */
function dayFiles(dir: string): Map<string, Buffer> {
  const names = fs.readdirSync(dir).filter((n) => /^\d{4}_\d{2}_\d{2}\.pb\.gz$/.test(n)).sort();
  return new Map(names.map((n) => [n, fs.readFileSync(path.join(dir, n))]));
}

function assertSameDayFiles(dir: string): void {
  const got = dayFiles(dir);
  assert.deepEqual([...got.keys()], [...reference.keys()]);
  for (const [name, body] of reference) assert.ok(got.get(name)!.equals(body), `${name} differs`);
}

/** The last line of stderr that carries an error: one line, no stack. */
function errorLine(r: Run): string {
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('error:') || l.startsWith('internal error'));
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(!/\n\s+at /.test(r.stderr), `a stack trace: ${r.stderr}`);
  return lines[0];
}

async function keys(bucket: string, prefix = ''): Promise<string[]> {
  const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

async function get(bucket: string, key: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

before(async () => {
  srv = await startFaultServer({ '/dump/events.jsonl': sample, '/dump/events.jsonl.gz': sampleGz });
  s3 = await startS3(['inputs', 'results']);
  client = s3.client();
  await client.send(new PutObjectCommand({ Bucket: 'inputs', Key: 'dump/events.jsonl', Body: sample }));
  await client.send(new PutObjectCommand({ Bucket: 'inputs', Key: 'dump/events.jsonl.gz', Body: sampleGz }));
  const local = tempDir();
  const r = ok(await convert([SAMPLE, '-o', local]));
  referenceLines = Number(/lines read\s+([\d,]+)/.exec(r.stdout)![1].replace(/,/g, ''));
  reference = dayFiles(local);
  assert.ok(reference.size > 1, 'the sample spans several days');
});
after(async () => {
  client.destroy();
  await srv.close();
  await s3.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('convert from http:// and s3://, to s3://', () => {
  test('http:// with the connection cut twice, a 500 and a stall: same day files as the local file', async () => {
    srv.faults = [{ kind: 'cut', after: 200_000 }, { kind: 'status', status: 500 }, { kind: 'stall', after: 300_000 }, { kind: 'cut', after: 1 }];
    srv.requests = [];
    const dir = tempDir();
    const r = ok(await convert([srv.url('/dump/events.jsonl'), '-o', dir]));
    assertSameDayFiles(dir);
    assert.deepEqual(srv.requests.map((q) => q.range), [undefined, 'bytes=200000-', 'bytes=200000-', 'bytes=500000-', 'bytes=500001-']);
    assert.match(r.stderr, /warning: http:\/\/127\.0\.0\.1:\d+\/dump\/events\.jsonl: .*try 2 of 4 from byte 200000/);
  });

  test('http:// .gz, and a server that ignores Range', async () => {
    srv.faults = [{ kind: 'cut', after: 100_000 }, { kind: 'ignore-range' }];
    const dir = tempDir();
    ok(await convert([srv.url('/dump/events.jsonl.gz'), '-o', dir]));
    assertSameDayFiles(dir);
  });

  test('s3:// .gz: same day files as the local file (plain s3:// is the next test)', async () => {
    const dir = tempDir();
    ok(await convert(['s3://inputs/dump/events.jsonl.gz', '-o', dir]));
    assertSameDayFiles(dir);
  });

  test('--s3-output: exactly the result files and a correct manifest, all encrypted; --delete-local-after-upload', async () => {
    const dir = tempDir();
    const from = s3.requests.length;
    const r = ok(await convert([`s3://inputs/dump/events.jsonl`, '-o', dir, '--s3-output', 's3://results/run1/', '--delete-local-after-upload']));
    assert.match(r.stdout, /Uploaded \d+ files .* to s3:\/\/results\/run1\/ .*manifest: s3:\/\/results\/run1\/manifest\.json; deleted \d+ local files/);
    const uploaded = [...reference.keys(), 'proton-beam.log', 'index.db']; // convert builds index.db unless --no-index
    const objects = await keys('results', 'run1/');
    assert.deepEqual(objects, [...uploaded, 'manifest.json'].map((n) => `run1/${n}`).sort());
    for (const [name, body] of reference) assert.ok((await get('results', `run1/${name}`)).equals(body), name);
    const manifest = JSON.parse((await get('results', 'run1/manifest.json')).toString());
    assert.equal(manifest.input, 's3://inputs/dump/events.jsonl');
    assert.equal(manifest.counts.lines, referenceLines);
    assert.equal(typeof manifest.timings.convertSeconds, 'number');
    assert.match(manifest.tool.version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(manifest.history.map((e: { event: string }) => e.event), ['start', 'done'], 'the checkpointed end of the run (its history)');
    for (const f of manifest.files as { key: string; size: number; sha256: string }[]) {
      const body = await get('results', f.key);
      assert.equal(body.length, f.size, f.key);
      assert.equal(crypto.createHash('sha256').update(body).digest('hex'), f.sha256, f.key);
    }
    assert.equal(manifest.files.length, objects.length - 1);
    const writes = s3.requests.slice(from).filter((q) => q.method === 'PUT' || (q.method === 'POST' && q.url.includes('uploads')));
    // A multipart upload's encryption is asked for when it is created (POST ?uploads); its parts carry none.
    for (const w of writes.filter((q) => !/[?&]partNumber=/.test(q.url))) assert.equal(w.headers['x-amz-server-side-encryption'], 'AES256', w.url);
    // Checkpointed (every 5 minutes by default), but shorter than that: no part, no record; the day files went up whole.
    assert.deepEqual(writes.filter((q) => q.url.startsWith('/results/run1/_')).map((q) => q.url), [], 'nothing under _parts/, no _checkpoint.json');
    assert.match(writes.at(-1)!.url, /^\/results\/run1\/manifest\.json/);
    assert.deepEqual(dayFiles(dir).size, 0, 'local day files deleted');
  });

  test('bad input and bad targets: one line naming the URL, exit 1, nothing in S3', async () => {
    const dir = tempDir();
    const cases: [string[], RegExp][] = [
      [['ftp://127.0.0.1/x.jsonl', '-o', dir], /ftp:\/\/127\.0\.0\.1\/x\.jsonl: unsupported scheme/],
      [['s3://inputs/dump/missing.jsonl', '-o', dir], /s3:\/\/inputs\/dump\/missing\.jsonl: no such object \(404\)/],
      [[SAMPLE, '-o', dir, '--s3-output', 's3://no-such-bucket/p/'], /s3:\/\/no-such-bucket\/p\/: the bucket no-such-bucket does not exist/],
    ];
    srv.faults = [];
    const before = await keys('results');
    for (const [args, pattern] of cases) {
      const r = await convert(args);
      assert.equal(r.status, 1, `${args[0]}: ${r.stderr}`);
      assert.match(errorLine(r), pattern);
    }
    srv.faults = [{ kind: 'status', status: 403 }];
    const denied = await convert([srv.url('/dump/events.jsonl'), '-o', dir]);
    assert.equal(denied.status, 1);
    assert.match(errorLine(denied), /access denied \(HTTP 403\)/);
    assert.deepEqual(await keys('results'), before);
    assert.equal(dayFiles(dir).size, 0, 'nothing converted when the target is bad');
  });
});
