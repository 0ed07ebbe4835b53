// Authorization for real: every S3 request that the instance job (scripts/job.ts, the real
// converter, end to end against s3rver) sends is mapped to the IAM action(s) S3 authorizes it
// with, and evaluated with @cloud-copilot/iam-simulate against the instance role's policies as
// cloudformation/proton-beam.yaml resolves them for the same parameters. s3rver itself enforces
// no IAM: the simulator does, by AWS's rules (test/helpers/iam.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { startS3, type LocalS3, type SeenRequest } from '../helpers/s3.ts';
import { ACCOUNT, decide, denials, loadTemplate, rolePolicies, type Policy } from '../helpers/iam.ts';
import { uploadResults } from '../../lib/s3/output.ts';
import { bulkyEvents } from '../helpers/index.ts';
import { ROOT } from '../../lib/paths.ts';

const TEMPLATE = process.env.PB_AUTH_TEMPLATE ?? path.join(ROOT, 'cloudformation', 'proton-beam.yaml');
const EVENTS = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'real-events.jsonl'));
const KMS_KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const OTHER_KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/ffffffff-12ab-34cd-56ef-1234567890ab`;

let local: LocalS3;
let work: string;
before(async () => {
  local = await startS3(['in-bucket', 'out-bucket', 'other-bucket']);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-auth-'));
  const half = EVENTS.indexOf('\n', EVENTS.length / 2) + 1;
  const put = (Key: string, Body: Buffer) => local.s3.send(new PutObjectCommand({ Bucket: 'in-bucket', Key, Body }));
  await put('dumps/day1.jsonl', EVENTS);
  await put('dumps/secret.jsonl', EVENTS);
  // 470 signed events of ~30 KB on one day (14 MB, batches of 4 MiB): a checkpoint at 8 MiB leaves
  // a part of ~6 MiB, which the end of the run copies into the day file (UploadPartCopy).
  await put('dumps/bulky.jsonl', Buffer.from(bulkyEvents(470, { days: 1 }).map((e) => JSON.stringify(e)).join('\n') + '\n'));
  await put('split/part-1.jsonl.gz', zlib.gzipSync(EVENTS.subarray(0, half)));
  await put('split/part-2.jsonl', EVENTS.subarray(half));
});
after(async () => {
  await local.close();
  fs.rmSync(work, { recursive: true, force: true });
});

/**
 * Runs scripts/job.ts with the real converter; returns the S3 requests it (and its converter) sent.
 * `failpoint`: the converter dies there (SIGKILL), as on a lost instance, and the job fails.
 */
async function runJob(input: string, output: string, extra: string[] = [], failpoint?: string): Promise<SeenRequest[]> {
  const from = local.requests.length;
  const dir = fs.mkdtempSync(path.join(work, 'run-'));
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...local.env, ...(failpoint ? { PROTON_BEAM_FAILPOINT: failpoint } : {}) };
  const job = promisify(execFile)(process.execPath, [
    '--import', 'tsx', 'scripts/job.ts', '--input', input, '--output', output, '--work-dir', dir,
    '--shutdown-when-done', 'false', '--status-interval', '1', ...extra,
  ], { cwd: ROOT, env, timeout: 120_000 });
  if (failpoint) await assert.rejects(job, (err: { stdout?: string }) => /converter killed by SIGKILL/.test(err.stdout ?? '')); else await job;
  return local.requests.slice(from);
}

const base = {
  InputUrl: 's3://in-bucket/dumps/day1.jsonl', InputBucket: 'in-bucket', InputKey: 'dumps/day1.jsonl', InputIsPrefix: 'false',
  OutputBucket: 'out-bucket', OutputPrefix: 'runs/r1/', KmsKeyArn: '', VpcId: 'vpc-0a1b2c3d4e5f60718',
};
const policiesFor = (params: Record<string, string>): Policy[] => rolePolicies(loadTemplate(TEMPLATE), params);

/** Actions the role must never be allowed, whatever the job sends. */
async function assertNeverAllowed(policies: Policy[], forbidden: [string, string, Record<string, string>?][]) {
  for (const [action, resource, context] of forbidden) {
    const d = await decide(policies, { action, resource, context, why: 'negative check' });
    assert.notEqual(d, 'Allowed', `${action} on ${resource} must be denied`);
  }
}

describe('the instance role allows every S3 request of the job, and nothing more', () => {
  test('s3://bucket/key input, two runs into the same output', async () => {
    const policies = policiesFor(base);
    const first = await runJob(base.InputUrl, 's3://out-bucket/runs/r1/');
    const second = await runJob(base.InputUrl, 's3://out-bucket/runs/r1/');
    // The second run found the first run's manifest and deleted it: the path that needs s3:DeleteObject.
    assert.ok(second.some((r) => r.method === 'DELETE' && r.url.startsWith('/out-bucket/runs/r1/manifest.json')), 'the second run removes the old manifest');
    const listed = await local.s3.send(new ListObjectsV2Command({ Bucket: 'out-bucket', Prefix: 'runs/r1/' }));
    assert.ok(listed.Contents!.some((o) => o.Key === 'runs/r1/manifest.json'), 'the second run completed');
    assert.deepEqual(await denials(policies, [...first, ...second]), []);

    await assertNeverAllowed(policies, [
      ['s3:PutObject', 'arn:aws:s3:::out-bucket/runs/other/x.pb.gz'],
      ['s3:PutObject', 'arn:aws:s3:::out-bucket/x'],
      ['s3:PutObject', 'arn:aws:s3:::other-bucket/runs/r1/x'],
      ['s3:DeleteObject', 'arn:aws:s3:::out-bucket/runs/r1/2024_01_01.pb.gz'],
      ['s3:DeleteObject', 'arn:aws:s3:::out-bucket/runs/r1/index.db'],
      ['s3:DeleteObject', 'arn:aws:s3:::other-bucket/runs/r1/manifest.json'],
      ['s3:GetObject', 'arn:aws:s3:::in-bucket/dumps/secret.jsonl'],
      ['s3:GetObject', 'arn:aws:s3:::other-bucket/x'],
      ['s3:ListBucket', 'arn:aws:s3:::in-bucket', { 's3:prefix': 'dumps/' }],
      ['s3:ListBucket', 'arn:aws:s3:::out-bucket', { 's3:prefix': 'runs/' }],
      ['s3:PutObject', 'arn:aws:s3:::out-bucket/runs/r1/_deploy/0123456789abcdef.tgz'],
      ['s3:DeleteObject', 'arn:aws:s3:::out-bucket/runs/r1/_deploy/0123456789abcdef.tgz'],
    ]);
    // Metrics: only in the stack's namespace (PutMetricData has no resource-level permission).
    assert.equal(await decide(policies, { action: 'cloudwatch:PutMetricData', resource: '*', context: { 'cloudwatch:namespace': 'ProtonBeam/pb-test' }, why: '' }), 'Allowed');
    assert.notEqual(await decide(policies, { action: 'cloudwatch:PutMetricData', resource: '*', context: { 'cloudwatch:namespace': 'AWS/EC2' }, why: '' }), 'Allowed');
    for (const action of ['s3:PutObject', 's3:DeleteObject']) {
      assert.equal(await decide(policies, { action, resource: 'arn:aws:s3:::out-bucket/runs/r1/_deploy/0123456789abcdef.tgz', why: '' }), 'ExplicitlyDenied',
        `${action} under _deploy/ is denied explicitly, so no later Allow can open it`);
    }
  });

  test('checkpoints: a job killed before its record (orphan parts), one killed in the assembly, then one that resumes on an empty machine', async () => {
    const params = { ...base, InputUrl: 's3://in-bucket/dumps/bulky.jsonl', InputKey: 'dumps/bulky.jsonl', OutputPrefix: 'runs/ckpt/' };
    const policies = policiesFor(params);
    const output = 's3://out-bucket/runs/ckpt/';
    const every = ['--checkpoint-every', '8MiB'];
    const requests = [
      // Killed before the record of its checkpoint (the part and the id list are orphans).
      ...await runJob(params.InputUrl, output, every, 'checkpoint-before-remote-record:1'),
      // Starts over (deleting the orphans), writes a record, killed after the first part of the assembly.
      ...await runJob(params.InputUrl, output, every, 'assembly-part-copied:1'),
      // Resumes from that record, assembles, uploads the rest, cleans up.
      ...await runJob(params.InputUrl, output, every),
    ];
    const sent = (method: string, re: RegExp) => requests.some((r) => r.method === method && re.test(r.url));
    assert.ok(sent('DELETE', /^\/out-bucket\/runs\/ckpt\/_parts\/\d{4}_\d\d_\d\d\/000001\.gz/), 'orphan parts deleted');
    assert.ok(sent('GET', /^\/out-bucket\/runs\/ckpt\/_checkpoint\.json/), 'the record read');
    assert.ok(sent('GET', /^\/out-bucket\/runs\/ckpt\/_parts\/ids\/000001\.bin/), 'stored ids loaded');
    assert.ok(sent('GET', /^\/out-bucket\/runs\/ckpt\/_parts\/\d{4}_\d\d_\d\d\/000001\.gz/), 'the earlier part downloaded');
    assert.ok(requests.some((r) => r.method === 'GET' && r.url.startsWith('/in-bucket/dumps/bulky.jsonl') && r.headers.range), 'the input read from the saved offset');
    assert.ok(requests.some((r) => r.method === 'PUT' && r.headers['x-amz-copy-source'] && /partNumber=1/.test(r.url)), 'the job copied a part (UploadPartCopy)');
    assert.ok(requests.some((r) => r.method === 'POST' && /uploadId=/.test(r.url)), 'and completed the assembly');
    assert.ok(sent('DELETE', /^\/out-bucket\/runs\/ckpt\/_checkpoint\.json/), 'the record deleted at the end');
    assert.deepEqual(await denials(policies, requests), []);
    await assertNeverAllowed(policies, [
      ['s3:DeleteObject', 'arn:aws:s3:::out-bucket/runs/ckpt/2024_01_01.pb.gz'],
      ['s3:DeleteObject', 'arn:aws:s3:::out-bucket/runs/ckpt/index.db'],
      ['s3:DeleteObject', 'arn:aws:s3:::out-bucket/runs/ckpt/_status.json'],
      ['s3:DeleteObject', 'arn:aws:s3:::out-bucket/runs/other/_parts/2024_01_01/000001.gz'],
      ['s3:DeleteObject', 'arn:aws:s3:::out-bucket/runs/other/_checkpoint.json'],
    ]);
  });

  test('SSE-KMS output: kms:GenerateDataKey and kms:Decrypt on the key only', async () => {
    const params = { ...base, OutputPrefix: 'runs/kms/', KmsKeyArn: KMS_KEY };
    const policies = policiesFor(params);
    const requests = [
      ...await runJob(base.InputUrl, 's3://out-bucket/runs/kms/', ['--kms-key-arn', KMS_KEY]),
      ...await runJob(base.InputUrl, 's3://out-bucket/runs/kms/', ['--kms-key-arn', KMS_KEY]),
    ];
    assert.ok(requests.some((r) => r.headers['x-amz-server-side-encryption-aws-kms-key-id'] === KMS_KEY));
    assert.deepEqual(await denials(policies, requests), []);
    await assertNeverAllowed(policies, [
      ['kms:GenerateDataKey', OTHER_KEY], ['kms:Decrypt', OTHER_KEY], ['kms:Encrypt', KMS_KEY], ['kms:ScheduleKeyDeletion', KMS_KEY],
    ]);
  });

  test('a multipart upload with SSE-KMS (parts, completion, and abort on failure) is allowed', async () => {
    const params = { ...base, OutputPrefix: 'runs/big/', KmsKeyArn: KMS_KEY };
    const dir = fs.mkdtempSync(path.join(work, 'big-'));
    fs.writeFileSync(path.join(dir, '2024_01_01.pb.gz'), Buffer.alloc(6 * 1024 * 1024 + 17, 7));
    const from = local.requests.length;
    await uploadResults({ dir, target: 's3://out-bucket/runs/big/', sseKmsKeyId: KMS_KEY, partSize: 5 * 1024 * 1024, manifest: {}, client: local.s3 });
    const requests = local.requests.slice(from);
    assert.ok(requests.some((r) => r.url.includes('partNumber=2')), 'two parts were sent');
    assert.deepEqual(await denials(policiesFor(params), requests), []);
    for (const action of ['s3:AbortMultipartUpload', 's3:ListMultipartUploadParts']) {
      assert.equal(await decide(policiesFor(params), { action, resource: 'arn:aws:s3:::out-bucket/runs/big/2024_01_01.pb.gz', why: '' }), 'Allowed');
    }
  });

  test('s3://bucket/prefix/ input: the listing and every object under the prefix', async () => {
    const params = { ...base, InputUrl: 's3://in-bucket/split/', InputKey: 'split/', InputIsPrefix: 'true', OutputPrefix: 'runs/split/' };
    const policies = policiesFor(params);
    const requests = await runJob('s3://in-bucket/split/', 's3://out-bucket/runs/split/');
    assert.ok(requests.some((r) => r.url.startsWith('/in-bucket/split/part-2.jsonl')), 'the second object was read');
    assert.deepEqual(await denials(policies, requests), []);
    await assertNeverAllowed(policies, [
      ['s3:GetObject', 'arn:aws:s3:::in-bucket/dumps/day1.jsonl'],
      ['s3:ListBucket', 'arn:aws:s3:::in-bucket', { 's3:prefix': 'dumps/' }],
      ['s3:ListBucket', 'arn:aws:s3:::in-bucket'],
      ['s3:PutObject', 'arn:aws:s3:::in-bucket/split/x.jsonl'],
    ]);
  });
});
