// The job ships its own output to CloudWatch Logs when the association starts it (an association
// has no CloudWatch output): scripts/job.ts end to end with the real converter and s3rver, a fake
// CloudWatch Logs endpoint and IMDSv2 of our own on 127.0.0.1; each call judged by
// @cloud-copilot/iam-simulate against the instance role as the template resolves it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { startS3, type LocalS3 } from '../helpers/s3.ts';
import { ACCOUNT, REGION, decide, loadTemplate, rolePolicies } from '../helpers/iam.ts';
import { ROOT } from '../../lib/paths.ts';
import { startFakeImds } from '../helpers/imds.ts';
import { listenOnLoopback } from '../helpers/loopback.ts';

const EVENTS = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'real-events.jsonl'));
const INSTANCE = 'i-0fedcba9876543210';
const LOG_GROUP = '/proton-beam/pb-test';

/** CloudWatch Logs' JSON API as far as the shipper uses it: records each call. */
async function fakeLogs() {
  const calls: { target: string; body: { logGroupName: string; logStreamName: string; logEvents?: { message: string }[] } }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const target = String(req.headers['x-amz-target']).replace('Logs_20140328.', '');
      calls.push({ target, body: JSON.parse(body) });
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(target === 'PutLogEvents' ? '{"nextSequenceToken":"1"}' : '{}');
    });
  });
  return { calls, ...(await listenOnLoopback(server)) };
}


let local: LocalS3;
let logs: Awaited<ReturnType<typeof fakeLogs>>;
let imds: Awaited<ReturnType<typeof startFakeImds>>;
let work: string;
before(async () => {
  [local, logs, imds] = await Promise.all([startS3(['in-bucket', 'out-bucket']), fakeLogs(), startFakeImds(INSTANCE)]);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-logship-'));
  await local.s3.send(new PutObjectCommand({ Bucket: 'in-bucket', Key: 'dumps/day1.jsonl', Body: EVENTS }));
});
after(async () => {
  await Promise.all([local.close(), logs.close(), imds.close()]);
  fs.rmSync(work, { recursive: true, force: true });
});

async function job(input: string) {
  const env = {
    PATH: process.env.PATH, HOME: process.env.HOME, ...local.env, SSM_runId: 'r-mk0q9xc0',
    AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: logs.endpoint, PB_IMDS_ENDPOINT: imds.endpoint, PB_LOG_GROUP: LOG_GROUP,
  };
  return promisify(execFile)(process.execPath, [
    '--import', 'tsx', 'scripts/job.ts', '--input', input, '--output', 's3://out-bucket/runs/r1/',
    '--work-dir', fs.mkdtempSync(path.join(work, 'run-')), '--shutdown-when-done', 'false', '--status-interval', '1',
  ], { cwd: ROOT, env, timeout: 120_000 }).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
}

const shipped = (stream: string) => logs.calls.filter((c) => c.target === 'PutLogEvents' && c.body.logStreamName === stream).flatMap((c) => c.body.logEvents!.map((e) => e.message));

test('the job\'s output, its own lines and the converter\'s, reaches the stack\'s log group under the run\'s streams, and the role allows it', async () => {
  const r = await job('s3://in-bucket/dumps/day1.jsonl');
  assert.equal(r.code, 0, r.stderr);
  const prefix = `job/${INSTANCE}/r-mk0q9xc0/`;
  // Each stream is created once, when it first has lines (in whichever order they came).
  const created = logs.calls.filter((c) => c.target === 'CreateLogStream').map((c) => c.body.logStreamName).sort();
  assert.deepEqual(created, r.stderr ? [`${prefix}stderr`, `${prefix}stdout`] : [`${prefix}stdout`]);
  // The child's stderr is shipped (the wrapper's own, Node's warning at its start, is not).
  if (created.length === 2) assert.ok(r.stderr.includes(shipped(`${prefix}stderr`).map((l) => (l === ' ' ? '' : l)).join('\n')));
  const out = shipped(`${prefix}stdout`);
  // Everything the job printed is there, in order, and still on its own stdout (the SSM agent keeps it too).
  assert.deepEqual(out, r.stdout.replace(/\n$/, '').split('\n').map((l) => l || ' '));
  assert.ok(out.some((l) => /^job: .*scripts\/convert\.ts s3:\/\/in-bucket\/dumps\/day1\.jsonl/.test(l)), 'the job\'s own line');
  assert.ok(out.some((l) => /^job: results in s3:\/\/out-bucket\/runs\/r1\//.test(l)));
  const policies = rolePolicies(loadTemplate(), {
    InputUrl: 's3://in-bucket/dumps/day1.jsonl', InputBucket: 'in-bucket', InputKey: 'dumps/day1.jsonl', OutputBucket: 'out-bucket', OutputPrefix: 'runs/r1/', VpcId: 'vpc-0a1b2c3d4e5f60718',
  });
  for (const c of logs.calls) {
    assert.equal(c.body.logGroupName, LOG_GROUP);
    const resource = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${LOG_GROUP}:log-stream:${c.body.logStreamName}`;
    assert.equal(await decide(policies, { action: `logs:${c.target}`, resource, why: c.target }), 'Allowed', `${c.target} ${resource}`);
  }
});

test('a job that fails keeps its exit code and ships its error to the stderr stream', async () => {
  logs.calls.length = 0;
  const r = await job(path.join(work, 'missing.jsonl'));
  assert.equal(r.code, 2, r.stderr);
  const errors = shipped(`job/${INSTANCE}/r-mk0q9xc0/stderr`);
  assert.ok(errors.some((l) => /no such file/.test(l)), errors.join('\n'));
});
