// When the job ends, its Auto Scaling group goes to 0/0/0 so that nothing replaces the instance:
// scripts/job.ts end to end (the real converter, s3rver), with a fake Auto Scaling endpoint and a
// fake IMDSv2 of our own on 127.0.0.1 recording what the job really sends, each request judged
// by @cloud-copilot/iam-simulate against the instance role as the template resolves it.
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
import { ACCOUNT, REGION, STACK, decide, loadTemplate, rolePolicies, type Authorization } from '../helpers/iam.ts';
import { groupSizeContext } from '../helpers/deployer.ts';
import { endsTheRun } from '../../lib/deploy/group.ts';
import { endGroupOnWatchdogShutdown, extendWatchdog } from '../../lib/deploy/watchdog.ts';
import { readJobStatus } from '../../lib/deploy/status.ts';
import { ROOT } from '../../lib/paths.ts';
import { startFakeImds } from '../helpers/imds.ts';
import { listenOnLoopback } from '../helpers/loopback.ts';

const EVENTS = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'real-events.jsonl'));
const GROUP = `${STACK}-job`;
const INSTANCE = 'i-0fedcba9876543210';

/** Auto Scaling's query API as far as the job uses it: records each action with its parameters. */
async function fakeAutoScaling() {
  const calls: Record<string, string>[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const params = Object.fromEntries(new URLSearchParams(body));
      calls.push(params);
      const action = params.Action;
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(`<${action}Response xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><${action}Result/><ResponseMetadata><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ResponseMetadata></${action}Response>`);
    });
  });
  return { calls, ...(await listenOnLoopback(server)) };
}


let local: LocalS3;
let asg: Awaited<ReturnType<typeof fakeAutoScaling>>;
let imds: Awaited<ReturnType<typeof startFakeImds>>;
let work: string;
before(async () => {
  local = await startS3(['in-bucket', 'out-bucket']);
  asg = await fakeAutoScaling();
  imds = await startFakeImds(INSTANCE);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-group-'));
  await local.s3.send(new PutObjectCommand({ Bucket: 'in-bucket', Key: 'dumps/day1.jsonl', Body: EVENTS }));
});
after(async () => {
  await Promise.all([local.close(), asg.close(), imds.close()]);
  fs.rmSync(work, { recursive: true, force: true });
});

async function job(extra: string[]): Promise<{ stdout: string; inputReads: number }> {
  const from = local.requests.length;
  const env = {
    PATH: process.env.PATH, HOME: process.env.HOME, ...local.env,
    AWS_ENDPOINT_URL_AUTO_SCALING: asg.endpoint, PB_IMDS_ENDPOINT: imds.endpoint, PB_AUTOSCALING_GROUP: GROUP,
  };
  const { stdout } = await promisify(execFile)(process.execPath, [
    '--import', 'tsx', 'scripts/job.ts', '--input', 's3://in-bucket/dumps/day1.jsonl', '--output', 's3://out-bucket/runs/r1/',
    '--work-dir', fs.mkdtempSync(path.join(work, 'run-')), '--shutdown-when-done', 'false', '--status-interval', '1', ...extra,
  ], { cwd: ROOT, env, timeout: 120_000 });
  return { stdout, inputReads: local.requests.slice(from).filter((r) => r.method === 'GET' && r.url.startsWith('/in-bucket/dumps/day1.jsonl')).length };
}

const groupArn = (name: string) => `arn:aws:autoscaling:${REGION}:${ACCOUNT}:autoScalingGroup:7d1c2b3a-0000-4a5b-8c7d-0e1a2b3c4d5e:autoScalingGroupName/${name}`;

/** What Auto Scaling authorizes each recorded call with (resource-level on the group; MinSize/MaxSize condition keys from the request). */
function authorizations(calls: Record<string, string>[]): Authorization[] {
  return calls.map((c) => ({
    action: `autoscaling:${c.Action}`, resource: groupArn(c.AutoScalingGroupName),
    context: groupSizeContext({ MinSize: c.MinSize, MaxSize: c.MaxSize }), why: JSON.stringify(c),
  }));
}

const policies = () => rolePolicies(loadTemplate(), {
  InputUrl: 's3://in-bucket/dumps/day1.jsonl', InputBucket: 'in-bucket', InputKey: 'dumps/day1.jsonl', OutputBucket: 'out-bucket', OutputPrefix: 'runs/r1/', VpcId: 'vpc-0a1b2c3d4e5f60718',
});

test('a finished run sets its group to 0/0/0 after keeping its own instance, and the role allows exactly that', async () => {
  const { stdout } = await job(['--run-id', 'r-mk0q9xc0']);
  assert.match(stdout, /group pb-test-job set to 0 instances: nothing replaces i-0fedcba9876543210 after the end/);
  const status = await readJobStatus(local.s3, 'out-bucket', 'runs/r1/_status.json');
  assert.equal(status?.phase, 'done');
  assert.equal(status?.runId, 'r-mk0q9xc0');
  // Protection first: 0/0/0 would otherwise terminate the instance under the job's feet.
  assert.deepEqual(asg.calls.map((c) => [c.Action, c.AutoScalingGroupName, c['InstanceIds.member.1'], c.ProtectedFromScaleIn, c.MinSize, c.MaxSize, c.DesiredCapacity]), [
    ['SetInstanceProtection', GROUP, INSTANCE, 'true', undefined, undefined, undefined],
    ['UpdateAutoScalingGroup', GROUP, undefined, undefined, '0', '0', '0'],
  ]);
  for (const a of authorizations(asg.calls)) assert.equal(await decide(policies(), a), 'Allowed', a.why);
});

test('the same run on a new instance of the group after it finished is not started again, and ends the group again', async () => {
  asg.calls.length = 0;
  const { stdout, inputReads } = await job(['--run-id', 'r-mk0q9xc0']);
  assert.match(stdout, /run r-mk0q9xc0 already finished at .*: not started again/);
  assert.equal(inputReads, 0, 'the input is not read again');
  assert.deepEqual(asg.calls.map((c) => c.Action), ['SetInstanceProtection', 'UpdateAutoScalingGroup']);
  // A new make deploy (a new run id) runs again.
  asg.calls.length = 0;
  const again = await job(['--run-id', 'r-mk0qa000']);
  assert.ok(again.inputReads > 0);
  assert.equal((await readJobStatus(local.s3, 'out-bucket', 'runs/r1/_status.json'))?.runId, 'r-mk0qa000');
});

test('the role may not grow the group, nor touch another one', async () => {
  const p = policies();
  const deny = async (action: string, name: string, context: Record<string, string>) =>
    assert.notEqual(await decide(p, { action, resource: groupArn(name), context, why: '' }), 'Allowed', `${action} ${name} ${JSON.stringify(context)}`);
  await deny('autoscaling:UpdateAutoScalingGroup', GROUP, { 'autoscaling:MinSize': '1', 'autoscaling:MaxSize': '1' });
  await deny('autoscaling:UpdateAutoScalingGroup', GROUP, { 'autoscaling:MinSize': '0', 'autoscaling:MaxSize': '5' });
  await deny('autoscaling:UpdateAutoScalingGroup', GROUP, {});
  await deny('autoscaling:UpdateAutoScalingGroup', 'web-servers', { 'autoscaling:MinSize': '0', 'autoscaling:MaxSize': '0' });
  await deny('autoscaling:SetInstanceProtection', 'web-servers', {});
  await deny('autoscaling:DeleteAutoScalingGroup', GROUP, {});
  await deny('autoscaling:TerminateInstanceInAutoScalingGroup', GROUP, {});
});

test('a converter that fails ends the group; one killed by a signal (the instance going away) leaves it for the next instance', async () => {
  // A stand-in converter that ends as told, to reach each ending on purpose.
  const fake = path.join(work, 'ending-converter.ts');
  fs.writeFileSync(fake, "if (process.env.FAKE_END === 'SIGTERM') process.kill(process.pid, 'SIGTERM'); else process.exit(Number(process.env.FAKE_END));\n");
  const input = path.join(work, 'input.jsonl');
  fs.writeFileSync(input, EVENTS);
  const run = (end: string) => promisify(execFile)(process.execPath, [
    '--import', 'tsx', 'scripts/job.ts', '--input', input, '--output', 's3://out-bucket/runs/fake/', '--converter', fake,
    '--work-dir', fs.mkdtempSync(path.join(work, 'fake-')), '--shutdown-when-done', 'false', '--status-interval', '1',
  ], {
    cwd: ROOT, timeout: 60_000,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...local.env, AWS_ENDPOINT_URL_AUTO_SCALING: asg.endpoint, PB_IMDS_ENDPOINT: imds.endpoint, PB_AUTOSCALING_GROUP: GROUP, FAKE_END: end },
  }).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);

  asg.calls.length = 0;
  const failed = await run('1');
  assert.equal(failed.code, 1);
  assert.deepEqual(asg.calls.map((c) => c.Action), ['SetInstanceProtection', 'UpdateAutoScalingGroup'], failed.stdout);

  for (const end of ['SIGTERM', '143']) {
    asg.calls.length = 0;
    const r = await run(end);
    assert.notEqual(r.code, 0);
    assert.deepEqual(asg.calls, [], `${end}: the group is left alone`);
    assert.match(r.stdout, /interrupted \(exit code \d+\): group pb-test-job keeps its instance count, so that a new instance resumes the run/);
  }
});

test('a job that overruns MaxJobHours: the watchdog runs the scale-down the job registered, then shuts down', async () => {
  // The watchdog as the user data installs it, with a fake clock and a fake shutdown.
  const userdata = fs.readFileSync(path.join(ROOT, 'userdata', 'prepare-instance.sh'), 'utf8');
  const bin = path.join(work, 'proton-beam-watchdog');
  fs.writeFileSync(bin, /<<'WATCHDOG_SCRIPT'\n([^]*?\n)WATCHDOG_SCRIPT\n/.exec(userdata)![1], { mode: 0o755 });
  const state = fs.mkdtempSync(path.join(work, 'watchdog-'));
  const fakeBin = fs.mkdtempSync(path.join(work, 'bin-'));
  const log = path.join(work, 'shutdown.log');
  for (const tool of ['shutdown', 'logger']) fs.writeFileSync(path.join(fakeBin, tool), `#!/bin/bash\necho "${tool} $*" >>"${log}"\n`, { mode: 0o755 });
  const wrapper = path.join(work, 'watchdog-wrapper');
  fs.writeFileSync(wrapper, `#!/bin/bash\nexport PB_WATCHDOG_DIR='${state}'\nexec '${bin}' "$@"\n`, { mode: 0o755 });

  // The job's side: its deadline, and the scale-down of its group before a shutdown of the watchdog's own.
  process.env.PB_WATCHDOG_BIN = wrapper;
  const lines: string[] = [];
  try {
    await extendWatchdog(1, (l) => lines.push(l));
    await endGroupOnWatchdogShutdown(GROUP, ROOT, 'us-east-1', (l) => lines.push(l));
  } finally {
    delete process.env.PB_WATCHDOG_BIN;
  }
  assert.match(lines.join('\n'), /before a shutdown: env -C .* --import tsx scripts\/end-group\.ts --group pb-test-job/);

  // An hour and a minute later, as systemd runs it: no shell between the stored arguments and their run.
  asg.calls.length = 0;
  const { stdout } = await promisify(execFile)(bin, ['check'], {
    timeout: 90_000,
    env: {
      PATH: `${fakeBin}:${process.env.PATH}`, PB_WATCHDOG_DIR: state, PB_WATCHDOG_NOW: String(Math.round(Date.now() / 1000) + 3660),
      ...local.env, AWS_REGION: '', AWS_ENDPOINT_URL_AUTO_SCALING: asg.endpoint, PB_IMDS_ENDPOINT: imds.endpoint,
    },
  });
  assert.match(stdout, /terminate: the job ran past MaxJobHours=1/);
  assert.match(stdout, /group pb-test-job set to 0 instances: nothing replaces i-0fedcba9876543210 after the end/);
  assert.deepEqual(asg.calls.map((c) => [c.Action, c.MinSize, c.MaxSize, c.DesiredCapacity]), [
    ['SetInstanceProtection', undefined, undefined, undefined], ['UpdateAutoScalingGroup', '0', '0', '0'],
  ]);
  for (const a of authorizations(asg.calls)) assert.equal(await decide(policies(), a), 'Allowed', a.why);
  assert.match(fs.readFileSync(log, 'utf8'), /^logger .*\nshutdown -h now proton-beam-watchdog: the job ran past MaxJobHours=1 /m);
});

test('what ends a run: done or a failure of its own; not a spot notice or a signal (the next instance resumes)', () => {
  assert.equal(endsTheRun(0), true);
  assert.equal(endsTheRun(1, 'converter exited with code 1'), true);
  assert.equal(endsTheRun(2, 'no input: pass --input or set SSM_inputUrl'), true);
  assert.equal(endsTheRun(3), false);
  assert.equal(endsTheRun(143), false);
  assert.equal(endsTheRun(1, 'converter killed by SIGTERM'), false);
  assert.equal(endsTheRun(1, 'converter exited with code 143'), false);
});
