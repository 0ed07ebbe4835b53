// Settings: precedence (flags, environment, deploy.env, defaults) and validation before any AWS call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../../lib/paths.ts';
import { UsageError } from '../../lib/cli/errors.ts';
import { bucketNameProblem, collectSettings, parseSize, validateSettings } from '../../lib/deploy/settings.ts';

const GOOD = { INPUT_URL: 's3://my-dumps/relay-2025.jsonl.gz', OUTPUT: 's3://my-results/run-1/' };
const noFile = { 'env-file': '/dev/null' };

function check(env: Record<string, string>, flags: Record<string, string> = {}) {
  return validateSettings(collectSettings({ ...noFile, ...flags }, env), { input: true, output: true });
}

function rejects(env: Record<string, string>, pattern: RegExp) {
  assert.throws(() => check({ ...GOOD, ...env }), (err: Error) => {
    assert.ok(err instanceof UsageError, `${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test('defaults and the example from the issue', () => {
  const s = check(GOOD);
  assert.equal(s.inputUrl, GOOD.INPUT_URL);
  assert.equal(s.outputUrl, 's3://my-results/run-1/');
  assert.equal(s.outputBucket, 'my-results');
  assert.equal(s.outputPrefix, 'run-1/');
  assert.equal(s.stackName, 'proton-beam');
  assert.equal(s.instanceType, 'c7i.4xlarge');
  assert.equal(s.spot, false);
  assert.equal(s.validateSignatures, true);
  assert.equal(s.shutdownWhenDone, true);
  assert.equal(s.compressionLevel, 6);
  assert.equal(s.volumeSize, 200);
});

test('an output prefix without a trailing slash gets one', () => {
  assert.equal(check({ ...GOOD, OUTPUT: 's3://my-results/runs/2025' }).outputUrl, 's3://my-results/runs/2025/');
});

test('flags beat the environment, which beats deploy.env, which beats the defaults', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-settings-'));
  fs.writeFileSync(path.join(dir, 'deploy.env'), [
    '# a comment',
    'INPUT_URL=s3://from-file/a.jsonl',
    'OUTPUT="s3://from-file/out/"',
    'INSTANCE_TYPE=c6i.8xlarge',
    'SPOT=true',
    'AWS_REGION=eu-west-1',
  ].join('\n'));
  const raw = collectSettings({ 'instance-type': 'c7i.2xlarge' }, { OUTPUT: 's3://from-env/out/' }, dir);
  const s = validateSettings(raw);
  assert.equal(s.inputUrl, 's3://from-file/a.jsonl');
  assert.equal(s.outputUrl, 's3://from-env/out/');
  assert.equal(s.instanceType, 'c7i.2xlarge');
  assert.equal(s.spot, true);
  assert.equal(s.region, 'eu-west-1');
  assert.deepEqual([raw.sources.inputUrl, raw.sources.output, raw.sources.instanceType, raw.sources.volumeSize],
    ['file', 'env', 'flag', 'default']);
  fs.writeFileSync(path.join(dir, 'deploy.env'), 'INSTANCE_TPYE=c7i.large\n');
  assert.throws(() => collectSettings({}, {}, dir), /unknown setting INSTANCE_TPYE/);
  assert.throws(() => collectSettings({ 'env-file': path.join(dir, 'missing.env') }, {}), /cannot read settings file/);
  fs.rmSync(dir, { recursive: true });
});

test('deploy.env.example is a valid settings file', () => {
  const raw = collectSettings({ 'env-file': path.join(ROOT, 'deploy.env.example') }, {});
  const s = validateSettings(raw, { input: true, output: true, region: true });
  assert.match(s.inputUrl, /^s3:\/\//);
});

test('AWS_DEFAULT_REGION stands in for AWS_REGION; deploy needs one', () => {
  assert.equal(validateSettings(collectSettings(noFile, { ...GOOD, AWS_DEFAULT_REGION: 'us-west-2' })).region, 'us-west-2');
  assert.throws(() => validateSettings(collectSettings(noFile, GOOD), { region: true }), /AWS_REGION is not set/);
  rejects({ AWS_REGION: 'mars-1' }, /not an AWS region/);
});

test('missing input or output', () => {
  assert.throws(() => check({ OUTPUT: GOOD.OUTPUT }), /INPUT_URL is not set/);
  assert.throws(() => check({ INPUT_URL: GOOD.INPUT_URL }), /OUTPUT is not set/);
});

test('bucket name rules', () => {
  assert.equal(bucketNameProblem('my-results'), '');
  assert.equal(bucketNameProblem('a.b-c.d'), '');
  assert.match(bucketNameProblem('ab'), /3 to 63/);
  assert.match(bucketNameProblem('x'.repeat(64)), /3 to 63/);
  assert.match(bucketNameProblem('My-Results'), /lowercase/);
  assert.match(bucketNameProblem('my_results'), /a-z, 0-9/);
  assert.match(bucketNameProblem('-results'), /start and end/);
  assert.match(bucketNameProblem('results-'), /start and end/);
  assert.match(bucketNameProblem('my..results'), /adjacent dots/);
  assert.match(bucketNameProblem('192.168.1.1'), /IP address/);
  assert.match(bucketNameProblem('xn--results'), /reserved/);
  assert.match(bucketNameProblem('results-s3alias'), /reserved/);
  rejects({ OUTPUT: 's3://My_Results/run/' }, /OUTPUT=.*bucket name/);
  rejects({ INPUT_URL: 's3://ab/key.jsonl' }, /INPUT_URL=.*bucket name/);
});

test('URL schemes', () => {
  assert.equal(check({ ...GOOD, INPUT_URL: 'https://dumps.example.org/relay/2025.jsonl.gz' }).inputUrl, 'https://dumps.example.org/relay/2025.jsonl.gz');
  assert.equal(check({ ...GOOD, INPUT_URL: 's3://my-dumps/relay/' }).inputUrl, 's3://my-dumps/relay/');
  rejects({ INPUT_URL: 'http://dumps.example.org/a.jsonl' }, /scheme http:\/\/ is not supported/);
  rejects({ INPUT_URL: 'ftp://dumps.example.org/a.jsonl' }, /scheme ftp:\/\//);
  rejects({ INPUT_URL: 'file:///etc/passwd' }, /scheme file:\/\//);
  rejects({ INPUT_URL: '/home/me/dump.jsonl' }, /not a URL/);
  rejects({ INPUT_URL: 's3://my-dumps' }, /needs an object key/);
  rejects({ INPUT_URL: 'https://dumps.example.org/a.jsonl?sig=x' }, /no query string/);
  rejects({ INPUT_URL: 'https://dumps.example.org:8443/a.jsonl' }, /INPUT_URL=https:\/\/dumps\.example\.org:8443\/a\.jsonl: no port: the instance may only connect out on 443/);
  rejects({ OUTPUT: 'https://my-results/run/' }, /must be an s3:\/\/bucket\/prefix\/ URL/);
  rejects({ OUTPUT: 's3://my-results' }, /needs a prefix/);
  rejects({ OUTPUT: 's3://my-results/' }, /needs a prefix/);
  rejects({ OUTPUT: 's3://my-results/a//b/' }, /no empty path segment/);
});

test('shell metacharacters are rejected wherever they could hide', () => {
  const payloads = ['$(id)', '`id`', ';reboot', '|nc', '&& x', "'", '"', ' ', '\n', '>x', '<x', '*', '?', '!', '#', '{a,b}', '\\'];
  for (const p of payloads) {
    rejects({ INPUT_URL: `s3://my-dumps/a${p}b.jsonl` }, /INPUT_URL=.*(not allowed|may only contain)/s);
    rejects({ INPUT_URL: `https://dumps.example.org/a${p}b` }, /INPUT_URL=/);
    rejects({ OUTPUT: `s3://my-results/a${p}b/` }, /OUTPUT=/);
    rejects({ STACK_NAME: `pb${p}` }, /STACK_NAME=/);
    rejects({ COST_CENTER: `team${p}x` }, /COST_CENTER=/);
  }
  rejects({ INPUT_URL: 's3://my-dumps/a$(reboot).jsonl' }, /contains '\$', which is not allowed/);
  rejects({ INPUT_URL: 's3://my-dumps/a b.jsonl' }, /contains whitespace/);
});

test('instance type, sizes, booleans and the rest', () => {
  assert.equal(check({ ...GOOD, INSTANCE_TYPE: 'c6i.32xlarge' }).instanceType, 'c6i.32xlarge');
  assert.equal(check({ ...GOOD, INSTANCE_TYPE: 'c7i.metal-48xl' }).instanceType, 'c7i.metal-48xl');
  rejects({ INSTANCE_TYPE: 'm7i.4xlarge' }, /c6i or c7i/);
  rejects({ INSTANCE_TYPE: 'c7i.5xlarge' }, /c6i or c7i/);
  rejects({ INSTANCE_TYPE: 'c7g.4xlarge' }, /c6i or c7i/);
  rejects({ VOLUME_SIZE: '10' }, /VOLUME_SIZE=10: must be a whole number from 20 to 16384/);
  rejects({ VOLUME_SIZE: '20000' }, /VOLUME_SIZE/);
  rejects({ VOLUME_SIZE: '100GB' }, /VOLUME_SIZE/);
  rejects({ COMPRESSION_LEVEL: '10' }, /COMPRESSION_LEVEL=10/);
  rejects({ COMPRESSION_LEVEL: '-1' }, /COMPRESSION_LEVEL/);
  rejects({ SPOT: 'maybe' }, /SPOT=maybe: must be true or false/);
  rejects({ VALIDATE_SIGNATURES: 'yess' }, /VALIDATE_SIGNATURES/);
  rejects({ SHUTDOWN_WHEN_DONE: '2' }, /SHUTDOWN_WHEN_DONE/);
  rejects({ VPC_ID: 'vpc-xyz' }, /VPC_ID=vpc-xyz/);
  rejects({ SUBNET_ID: 'subnet-1' }, /SUBNET_ID/);
  rejects({ LOG_RETENTION_DAYS: '31' }, /LOG_RETENTION_DAYS=31: must be one of/);
  rejects({ UBUNTU_RELEASE: '22.10' }, /UBUNTU_RELEASE/);
  rejects({ KMS_KEY_ARN: 'alias/mine' }, /KMS_KEY_ARN/);
  rejects({ SSM_WAIT_MINUTES: '0' }, /SSM_WAIT_MINUTES/);
  rejects({ INPUT_SIZE: 'lots' }, /INPUT_SIZE=lots/);
  assert.equal(check({ ...GOOD, SPOT: 'yes' }).spot, true);
  assert.equal(check({ ...GOOD, KMS_KEY_ARN: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' }).kmsKeyArn?.length, 75);
});

test('every problem is reported at once', () => {
  assert.throws(() => check({ INPUT_URL: 'ftp://x/y', OUTPUT: 's3://Bad/x/', SPOT: 'perhaps', VOLUME_SIZE: '1' }), (err: Error) => {
    assert.equal(err.message.split('\n').length, 5);
    return true;
  });
});

test('sizes', () => {
  assert.equal(parseSize('123'), 123);
  assert.equal(parseSize('1K'), 1024);
  assert.equal(parseSize('500M'), 500 * 1024 ** 2);
  assert.equal(parseSize('120G'), 120 * 1024 ** 3);
  assert.equal(parseSize('1.5TiB'), 1.5 * 1024 ** 4);
  assert.equal(parseSize('12 GB'), 12 * 1024 ** 3);
  assert.equal(parseSize('x'), undefined);
});
