// make run-local end to end: s3rver on 127.0.0.1, the working tree bundled, fetched and unpacked,
// scripts/job.ts run with the SSM document's parameters as environment variables, the converter
// streaming from a local input and uploading to the local S3, _status.json published.
// It runs the real scripts/convert.ts (with --s3-output) on the shipped sample with validation on;
// test/fixtures/fake-convert.ts stands in only to make the converter fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { startLocalS3 } from '../../lib/dev/local-s3.ts';
import { ROOT } from '../../lib/paths.ts';
import { resolveVerifier } from '../../lib/nostr/verifier.ts';

const REAL_CONVERTER = path.join(ROOT, 'scripts', 'convert.ts');
const FAKE_CONVERTER = path.join(ROOT, 'test', 'fixtures', 'fake-convert.ts');
const converter = REAL_CONVERTER;
const INPUT = path.join(ROOT, 'sample', 'events.jsonl');
const VALIDATE = 'true';

function runLocal(args: string[]) {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, AWS_EC2_METADATA_DISABLED: 'true' };
  return promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/run-local.ts', ...args], { cwd: ROOT, env, timeout: 90_000 });
}

/** Opens the s3rver directory that run-local left behind with a fresh server, to read what it holds. */
async function inspect(dir: string, bucket: string) {
  const server = await startLocalS3(dir, []);
  const client = new S3Client({
    endpoint: server.endpoint, forcePathStyle: true, region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const list = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
  const keys = (list.Contents ?? []).map((o) => o.Key!).sort();
  const get = async (key: string) => (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
  return { keys, get, close: async () => { client.destroy(); await server.close(); } };
}

test(`make run-local converts a local input into the local S3 (${path.basename(converter)})`, { timeout: 120_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-run-local-'));
  try {
    const { stdout } = await runLocal(['--input', INPUT, '--output', 's3://local-results/e2e/', '--s3-dir', dir,
      '--converter', converter, '--status-interval', '0.2', '--progress-every', '0.2', '--validate-signatures', VALIDATE, '--validate-event-ids', VALIDATE]);
    assert.match(stdout, /\njob: converting .*\d events/, 'progress lines while the job runs');
    assert.match(stdout, /local S3 \(s3rver\) at http:\/\/127\.0\.0\.1:\d+/);
    assert.match(stdout, /uploaded bundle s3:\/\/local-results\/e2e\/_deploy\/[0-9a-f]{16}\.tgz/);
    assert.match(stdout, /step fetchBundle\nstep install\n[^]*step runJob/);
    assert.match(stdout, /--s3-output s3:\/\/local-results\/e2e\//);

    const s3 = await inspect(dir, 'local-results');
    try {
      const days = s3.keys.filter((k) => /^e2e\/\d{4}_\d\d_\d\d\.pb\.gz$/.test(k));
      assert.ok(days.length >= 2, s3.keys.join(' '));
      assert.ok(s3.keys.includes('e2e/manifest.json'), s3.keys.join(' '));
      assert.ok(s3.keys.includes('e2e/proton-beam.log'), s3.keys.join(' '));
      assert.ok(s3.keys.some((k) => /^e2e\/_deploy\/[0-9a-f]{16}\.tgz$/.test(k)));
      const status = JSON.parse(await s3.get('e2e/_status.json'));
      assert.equal(status.phase, 'done');
      assert.equal(status.exitCode, 0);
      assert.equal(status.input, INPUT);
      assert.equal(status.output, 's3://local-results/e2e/');
      const lines = fs.readFileSync(INPUT, 'utf8').split('\n').length - 1;
      assert.equal(status.lines, lines);
      assert.equal(status.events + status.rejected, lines);
      assert.deepEqual([status.events, status.duplicates, status.rejected], [626, 26, 5]);
      assert.equal(status.bytesRead, fs.statSync(INPUT).size);
      assert.equal(status.verifier, resolveVerifier('auto').label); // which Schnorr verifier ran
      assert.ok(Date.parse(status.finishedAt) >= Date.parse(status.startedAt));
    } finally {
      await s3.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('run-local: a failing converter fails the job and _status.json says why', { timeout: 120_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-run-local-'));
  const input = path.join(dir, 'bad.jsonl');
  fs.writeFileSync(input, `${fs.readFileSync(INPUT, 'utf8')}FAIL_CONVERTER\n`);
  try {
    await assert.rejects(runLocal(['--input', input, '--output', 's3://local-results/bad/', '--s3-dir', path.join(dir, 's3'),
      '--converter', FAKE_CONVERTER, '--status-interval', '0.2']), (err: { code: number; stdout: string }) => {
      assert.equal(err.code, 3);
      assert.match(err.stdout, /job: phase: failed \(converter exited with code 3\)/);
      return true;
    });
    const s3 = await inspect(path.join(dir, 's3'), 'local-results');
    try {
      const status = JSON.parse(await s3.get('bad/_status.json'));
      assert.equal(status.phase, 'failed');
      assert.equal(status.exitCode, 3);
      assert.equal(status.error, 'converter exited with code 3');
      assert.ok(!s3.keys.includes('bad/index.db'));
    } finally {
      await s3.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('run-local refuses a missing input and a bad output before starting anything', async () => {
  await assert.rejects(runLocal(['--input', '/nonexistent.jsonl']), /input \/nonexistent.jsonl: no such file/);
  await assert.rejects(runLocal(['--input', INPUT, '--output', 's3://Bad_Bucket/x/']), /must be s3:\/\/bucket\/prefix\//);
});
