// scripts/job.ts reads the SSM document's parameters from SSM_* environment variables (never a
// shell), validates them again, and reports a job that cannot start in _status.json.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { startS3, type LocalS3 } from '../helpers/s3.ts';
import { converterArgs } from '../../lib/deploy/job-runner.ts';
import { readJobStatus } from '../../lib/deploy/status.ts';
import { ROOT } from '../../lib/paths.ts';

let local: LocalS3;
before(async () => { local = await startS3(['job-bucket']); });
after(async () => { await local.close(); });

function job(ssm: Record<string, string>, args: string[] = []) {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...local.env, ...ssm };
  return promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/job.ts', ...args], { cwd: ROOT, env, timeout: 60_000 });
}

test('the converter gets its arguments per its command-line contract', () => {
  assert.deepEqual(converterArgs({
    input: 's3://in/x.jsonl.gz', output: 's3://out/p/', workDir: '/data/w', validateSignatures: false, validateIds: true,
    compressionLevel: 9, kmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/k',
  }, '/data/w/status.json'), [
    's3://in/x.jsonl.gz', '-o', '/data/w/out', '--validate-signatures=false', '--validate-event-ids=true',
    '--compression-level', '9', '--no-progress', '--status-file', '/data/w/status.json', '--s3-output', 's3://out/p/',
    '--sse-kms-key-id', 'arn:aws:kms:us-east-1:123456789012:key/k',
  ]);
  assert.deepEqual(converterArgs({
    input: '/in.jsonl', output: 's3://out/p/', workDir: '/w', validateSignatures: true, validateIds: true, compressionLevel: 6, checkpointEvery: '30s',
  }, '/w/s.json').slice(-2), ['--checkpoint-every', '30s'], '--checkpoint-every is passed through to the converter');
});

test('a parameter with shell metacharacters is refused, and _status.json says so', async () => {
  await assert.rejects(job({
    SSM_inputUrl: 's3://in-bucket/$(reboot).jsonl', SSM_outputUrl: 's3://job-bucket/run/', SSM_shutdownWhenDone: 'false',
  }), (err: { code: number; stderr: string }) => {
    assert.equal(err.code, 2);
    assert.match(err.stderr, /error: input=s3:\/\/in-bucket\/\$\(reboot\)\.jsonl: .*contains '\$'/);
    return true;
  });
  const status = await readJobStatus(local.s3, 'job-bucket', 'run/_status.json');
  assert.equal(status?.phase, 'failed');
  assert.match(status!.error!, /contains '\$'/);
});

test('a missing parameter names the environment variable', async () => {
  await assert.rejects(job({ SSM_outputUrl: 's3://job-bucket/run/' }, ['--work-dir', path.join(ROOT, '.no-such-dir')]),
    /no input: pass --input or set SSM_inputUrl/);
});
