// make status, make logs and make ssm's instance lookup, against aws-sdk-client-mock and s3rver.
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeInstanceInformationCommand, ListCommandInvocationsCommand, ListCommandsCommand } from '@aws-sdk/client-ssm';
import { DescribeLogStreamsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { ASSOCIATION_ID, DOCUMENT, INSTANCE_ID, fakeIO, missingStack, mockAssociation, mockGroup, mockedClients, stack } from '../helpers/aws.ts';
import { HISTORY, NEW_INSTANCE, OLD_INSTANCE, putCheckpoint, record } from '../helpers/checkpoint.ts';
import { DescribeAssociationExecutionTargetsCommand } from '@aws-sdk/client-ssm';
import { DescribeScalingActivitiesCommand } from '@aws-sdk/client-auto-scaling';
import { deployerDenials } from '../helpers/deployer.ts';
import { startS3, type LocalS3 } from '../helpers/s3.ts';
import { logs, sessionTarget, status } from '../../lib/deploy/inspect.ts';
import { collectSettings, validateSettings } from '../../lib/deploy/settings.ts';
import { progressBar, progressLine, writeJobStatus } from '../../lib/deploy/status.ts';

let local: LocalS3;
let m: ReturnType<typeof mockedClients>;
const COMMAND = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
const settings = validateSettings(collectSettings({ 'env-file': '/dev/null' }, {
  OUTPUT: 's3://out-bucket/run-2/', AWS_REGION: 'us-east-1',
}), { region: true });

before(async () => { local = await startS3(['out-bucket']); });
after(async () => { await local.close(); });
beforeEach(async () => {
  m = mockedClients(local.s3);
  await local.setup.send(new DeleteObjectCommand({ Bucket: 'out-bucket', Key: 'run-2/_status.json' }));
  await local.setup.send(new DeleteObjectCommand({ Bucket: 'out-bucket', Key: 'run-2/_checkpoint.json' }));
});

function running(state = 'running') {
  m.cfn.on(DescribeStacksCommand).resolves(stack('CREATE_COMPLETE'));
  m.ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: INSTANCE_ID, State: { Name: state as 'running' } }] }] });
  m.ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: INSTANCE_ID, PingStatus: 'Online' }] });
  mockGroup(m, [{ desired: 1, instances: [[INSTANCE_ID, 'InService']] }]);
  mockAssociation(m, { [INSTANCE_ID]: COMMAND });
  // A job sent by hand (Run Command) is found too, when the association started none.
  m.ssm.on(ListCommandsCommand).resolves({
    Commands: [
      { CommandId: 'older', Status: 'Success', RequestedDateTime: new Date('2026-01-04T10:00:00Z') },
      { CommandId: COMMAND, Status: 'InProgress', RequestedDateTime: new Date('2026-01-05T10:00:00Z') },
    ],
  });
}

test('progress bar and line', () => {
  assert.equal(progressBar(0.5, 10), '[#####-----]  50.0%');
  assert.equal(progressBar(2, 4), '[####] 100.0%');
  assert.equal(progressLine({ phase: 'converting', updatedAt: '', bytesRead: 10, totalBytes: null, events: 5 }), '10 B read  5 events');
});

test('status: stack, instance, command, phase and a progress bar with events/s and ETA', async () => {
  const { io, text } = fakeIO();
  running();
  m.ssm.on(ListCommandInvocationsCommand).resolves({
    CommandInvocations: [{ CommandId: COMMAND, Status: 'InProgress', StatusDetails: 'InProgress', CommandPlugins: [
      { Name: 'prepare', Status: 'Success' }, { Name: 'fetchBundle', Status: 'Success' },
      { Name: 'install', Status: 'Success' }, { Name: 'runJob', Status: 'InProgress' },
    ] }],
  });
  await writeJobStatus(local.setup, 'out-bucket', 'run-2/_status.json', {
    phase: 'converting', bytesRead: 3 * 1024 ** 3, totalBytes: 4 * 1024 ** 3, lines: 9_000_000, events: 8_800_000,
    eventsPerSecond: 52_000, etaSeconds: 4000, host: 'ip-172-31-5-6', updatedAt: new Date(io.now() - 4000).toISOString(),
  });
  assert.equal(await status(settings, m.clients, io), 0);
  const out = text();
  assert.match(out, /stack {5}proton-beam: CREATE_COMPLETE/);
  assert.match(out, /instance {2}i-0123456789abcdef0: running, SSM Online/);
  assert.match(out, new RegExp(`command {3}${COMMAND}: InProgress`));
  assert.match(out, /job {7}converting\n/);
  assert.match(out, /\[#{23}-{7}\] +75\.0% 3\.0 GiB \/ 4\.0 GiB {2}8,800,000 events {2}52,000 events\/s {2}ETA 1 h 06 min/);
  assert.match(out, /updated 4 s ago by ip-172-31-5-6/);
  assert.match(out, /results {3}s3:\/\/out-bucket\/run-2\//);
  assert.equal(m.ssm.commandCalls(ListCommandInvocationsCommand)[0].args[0].input.CommandId, COMMAND, 'the association\'s command');
  assert.match(out, /group {5}proton-beam-job: 1 instance wanted\n/);
  assert.ok(!/resumes/.test(out), 'no checkpoint record, no resume line');
  assert.equal(m.ssm.commandCalls(ListCommandsCommand).length, 0);

  // Without an association command on the instance: the latest run of the document.
  m.ssm.on(DescribeAssociationExecutionTargetsCommand).resolves({ AssociationExecutionTargets: [] });
  const again = fakeIO();
  await status(settings, m.clients, again.io);
  assert.deepEqual(m.ssm.commandCalls(ListCommandsCommand)[0].args[0].input.Filters, [{ key: 'DocumentName', value: DOCUMENT }]);
  assert.match(again.text(), new RegExp(`command {3}${COMMAND}: InProgress`));
});

test('status: the dashboard\'s console URL, and the alarms in ALARM state', async () => {
  const { io, text } = fakeIO();
  running();
  m.ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [] });
  m.cw.on(DescribeAlarmsCommand, { AlarmNamePrefix: 'proton-beam-', StateValue: 'ALARM' }).resolves({
    MetricAlarms: [{ AlarmName: 'proton-beam-memory', StateValue: 'ALARM', StateUpdatedTimestamp: new Date('2026-01-05T09:58:00Z'), AlarmDescription: 'The instance uses more than 90 % of its memory (the dedup table grows with the distinct events).' }],
  });
  await status(settings, m.clients, io);
  assert.match(text(), /dashboard https:\/\/us-east-1\.console\.aws\.amazon\.com\/cloudwatch\/home\?region=us-east-1#dashboards\/dashboard\/proton-beam\n/);
  assert.match(text(), /alarm {5}proton-beam-memory in ALARM since 2026-01-05T09:58:00.000Z: The instance uses more than 90 % of its memory/);
  m.cw.reset();
  m.cw.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [] });
  const again = fakeIO();
  await status(settings, m.clients, again.io);
  assert.match(again.text(), /alarms {4}none in ALARM/);
});

test('status: a job still installing, and a stale progress report', async () => {
  const { io, text } = fakeIO();
  running();
  m.ssm.on(ListCommandInvocationsCommand).resolves({
    CommandInvocations: [{ CommandId: COMMAND, Status: 'InProgress', CommandPlugins: [
      { Name: 'prepare', Status: 'Success' }, { Name: 'fetchBundle', Status: 'Success' },
      { Name: 'install', Status: 'InProgress' }, { Name: 'runJob', Status: 'Pending' },
    ] }],
  });
  await writeJobStatus(local.setup, 'out-bucket', 'run-2/_status.json', { phase: 'starting', updatedAt: new Date(io.now() - 600_000).toISOString() });
  assert.equal(await status(settings, m.clients, io), 0);
  assert.match(text(), /job {7}installing\n/);
  assert.match(text(), /no progress report for 10 min 00 s: make logs/);
});

test('status: an instance EC2 no longer knows (InvalidInstanceID.NotFound) is "terminated (gone)", and the last status still shows', async () => {
  const { io, text } = fakeIO();
  running();
  m.ec2.on(DescribeInstancesCommand).rejects(Object.assign(new Error(`The instance ID '${INSTANCE_ID}' does not exist`), { name: 'InvalidInstanceID.NotFound' }));
  m.ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [{ CommandId: COMMAND, Status: 'Success', StatusDetails: 'Success', CommandPlugins: [{ Name: 'runJob', Status: 'Success' }] }] });
  await writeJobStatus(local.setup, 'out-bucket', 'run-2/_status.json', {
    phase: 'done', lines: 10, events: 9, rejected: 1, duplicates: 0, startedAt: '2026-01-05T08:00:00Z', finishedAt: '2026-01-05T09:30:00Z', updatedAt: '2026-01-05T09:30:00Z',
  });
  assert.equal(await status(settings, m.clients, io), 0);
  assert.match(text(), /instance {2}i-0123456789abcdef0: terminated \(gone\)\n/);
  assert.ok(!text().includes('SSM'));
  assert.match(text(), /job {7}done/);
  assert.match(text(), /lines read: 10; valid events: 9; duplicates: 0; rejected: 1/);
});

test('status: a finished job (the group at 0, its instance gone), a failed one, and no stack at all', async () => {
  let { io, text } = fakeIO();
  running('terminated');
  mockGroup(m, [{ desired: 0, instances: [] }]);
  m.ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [{ CommandId: COMMAND, Status: 'Success', StatusDetails: 'Success', CommandPlugins: [{ Name: 'runJob', Status: 'Success' }] }] });
  await writeJobStatus(local.setup, 'out-bucket', 'run-2/_status.json', {
    phase: 'done', lines: 10, events: 9, rejected: 1, duplicates: 0, bytesRead: 100, totalBytes: 100,
    startedAt: '2026-01-05T08:00:00Z', finishedAt: '2026-01-05T09:30:00Z', updatedAt: '2026-01-05T09:30:00Z',
  });
  assert.equal(await status(settings, m.clients, io), 0);
  assert.match(text(), /group {5}proton-beam-job: 0 instances wanted \(the job ended, or make deploy has not started one\)\n/);
  assert.ok(!text().includes('instance  '), 'no instance in the group');
  assert.match(text(), /job {7}done/);
  assert.match(text(), /lines read: 10; valid events: 9; duplicates: 0; rejected: 1/);
  assert.match(text(), /job time: 1 h 30 min/);

  await writeJobStatus(local.setup, 'out-bucket', 'run-2/_status.json', { phase: 'failed', error: 'converter exited with code 2', updatedAt: '2026-01-05T09:30:00Z' });
  ({ io, text } = fakeIO());
  assert.equal(await status(settings, m.clients, io), 1);
  assert.match(text(), /phase: failed \(converter exited with code 2\)/);

  m = mockedClients(local.s3);
  m.cfn.on(DescribeStacksCommand).rejects(missingStack());
  ({ io, text } = fakeIO());
  assert.equal(await status(settings, m.clients, io), 1);
  assert.match(text(), /stack {5}proton-beam: none in us-east-1/);
});

test('logs: the tail of the job\'s own streams for the stack\'s run, stdout and stderr interleaved by time', async () => {
  const { io, text } = fakeIO();
  running();
  m.cfn.on(DescribeStacksCommand).resolves(stack('CREATE_COMPLETE', { Parameters: [{ ParameterKey: 'RunId', ParameterValue: 'r-mk0q9xc0' }] }));
  const prefix = `job/${INSTANCE_ID}/r-mk0q9xc0`;
  m.logs.on(DescribeLogStreamsCommand).resolves({ logStreams: [] });
  m.logs.on(DescribeLogStreamsCommand, { logStreamNamePrefix: `${prefix}/` }).resolves({ logStreams: [{ logStreamName: `${prefix}/runJob/stdout` }, { logStreamName: `${prefix}/runJob/stderr` }] });
  m.logs.on(GetLogEventsCommand, { logStreamName: `${prefix}/runJob/stdout` }).resolves({
    events: [{ timestamp: 1, message: 'one' }, { timestamp: 3, message: 'three\nfour' }], nextForwardToken: 'a',
  });
  m.logs.on(GetLogEventsCommand, { logStreamName: `${prefix}/runJob/stderr` }).resolves({ events: [{ timestamp: 2, message: 'two' }], nextForwardToken: 'b' });
  assert.equal(await logs(settings, m.clients, io, { lines: 3, follow: false }), 0);
  assert.match(text(), new RegExp(`command ${COMMAND} on ${INSTANCE_ID}, log group /proton-beam/proton-beam\n! two\nthree\nfour$`));
  const call = m.logs.commandCalls(GetLogEventsCommand)[0].args[0].input;
  assert.equal(call.startFromHead, false);
  assert.equal(call.limit, 3);
});

test('logs --follow prints new lines until the command ends (a job sent by hand: Run Command\'s streams)', async () => {
  const { io, text } = fakeIO();
  running();
  const stream = `${COMMAND}/${INSTANCE_ID}/runJob/stdout`;
  m.logs.on(DescribeLogStreamsCommand).resolves({ logStreams: [] });
  m.logs.on(DescribeLogStreamsCommand, { logStreamNamePrefix: `${COMMAND}/${INSTANCE_ID}/` }).resolves({ logStreams: [{ logStreamName: stream }] });
  m.logs.on(GetLogEventsCommand)
    .resolvesOnce({ events: [{ timestamp: 1, message: 'first' }], nextForwardToken: 't1' })
    .resolvesOnce({ events: [], nextForwardToken: 't1' })
    .resolvesOnce({ events: [{ timestamp: 2, message: 'second' }], nextForwardToken: 't2' })
    .resolves({ events: [], nextForwardToken: 't2' });
  m.ssm.on(ListCommandInvocationsCommand)
    .resolvesOnce({ CommandInvocations: [{ CommandId: COMMAND, Status: 'InProgress' }] })
    .resolves({ CommandInvocations: [{ CommandId: COMMAND, Status: 'Success' }] });
  assert.equal(await logs(settings, m.clients, io, { lines: 100, follow: true }), 0);
  assert.match(text(), /\nfirst\nsecond\ncommand Success$/);
  const tokens = m.logs.commandCalls(GetLogEventsCommand).map((c) => c.args[0].input.nextToken);
  assert.deepEqual(tokens.slice(0, 3), [undefined, 't1', 't1']);
});

test('ssm: the session target must be running and online', async () => {
  running();
  assert.equal(await sessionTarget(settings, m.clients), INSTANCE_ID);
  m.ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: INSTANCE_ID, PingStatus: 'ConnectionLost' }] });
  await assert.rejects(sessionTarget(settings, m.clients), /SSM agent is ConnectionLost/);
  m = mockedClients(local.s3);
  running('terminated');
  await assert.rejects(sessionTarget(settings, m.clients), /is terminated: there is nothing to open a session on/);
  m = mockedClients(local.s3);
  m.cfn.on(DescribeStacksCommand).rejects(missingStack());
  await assert.rejects(sessionTarget(settings, m.clients), /no stack proton-beam in us-east-1: make deploy first/);
});

test('status after a spot reclaim: it follows the group\'s new instance and shows the interruption and the resume from the checkpoint record', async () => {
  const { io, text } = fakeIO();
  m.cfn.on(DescribeStacksCommand).resolves(stack('CREATE_COMPLETE'));
  mockGroup(m, [{ desired: 1, instances: [[OLD_INSTANCE, 'Terminating'], [NEW_INSTANCE, 'InService']] }]);
  mockAssociation(m, { [OLD_INSTANCE]: 'c-old', [NEW_INSTANCE]: COMMAND });
  m.ec2.on(DescribeInstancesCommand, { InstanceIds: [OLD_INSTANCE] }).resolves({ Reservations: [{ Instances: [{ InstanceId: OLD_INSTANCE, State: { Name: 'shutting-down' }, StateReason: { Code: 'Server.SpotInstanceTermination', Message: 'Server.SpotInstanceTermination: Spot instance termination' } }] }] });
  m.ec2.on(DescribeInstancesCommand, { InstanceIds: [NEW_INSTANCE] }).resolves({ Reservations: [{ Instances: [{ InstanceId: NEW_INSTANCE, State: { Name: 'running' } }] }] });
  m.ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: NEW_INSTANCE, PingStatus: 'Online' }] });
  m.ssm.on(ListCommandInvocationsCommand, { CommandId: COMMAND, InstanceId: NEW_INSTANCE }).resolves({
    CommandInvocations: [{ CommandId: COMMAND, Status: 'InProgress', StatusDetails: 'InProgress', CommandPlugins: [{ Name: 'runJob', Status: 'InProgress' }] }],
  });
  m.asg.on(DescribeScalingActivitiesCommand, { AutoScalingGroupName: 'proton-beam-job' }).resolves({ Activities: [
    { ActivityId: 'a3', AutoScalingGroupName: 'proton-beam-job', StartTime: new Date('2026-01-05T10:14:05Z'), StatusCode: 'Successful', Progress: 100,
      Description: `Launching a new EC2 instance: ${NEW_INSTANCE}`, Cause: 'At 2026-01-05T10:14:02Z an instance was started in response to a difference between desired and actual capacity, increasing the capacity from 0 to 1.' },
    { ActivityId: 'a2', AutoScalingGroupName: 'proton-beam-job', StartTime: new Date('2026-01-05T10:13:10Z'), StatusCode: 'Failed', Progress: 100,
      Description: 'Launching a new EC2 instance.  Status Reason: We currently do not have sufficient c7i.4xlarge capacity in the Availability Zone you requested (us-east-1b).',
      StatusMessage: 'We currently do not have sufficient c7i.4xlarge capacity in the Availability Zone you requested (us-east-1b).', Cause: 'At 2026-01-05T10:13:09Z ...' },
    { ActivityId: 'a1', AutoScalingGroupName: 'proton-beam-job', StartTime: new Date('2026-01-05T10:12:12Z'), StatusCode: 'InProgress', Progress: 50,
      Description: `Terminating EC2 instance: ${OLD_INSTANCE}`, Cause: 'At 2026-01-05T10:12:12Z an instance was taken out of service in response to an EC2 instance status check failure.' },
  ] });
  await putCheckpoint(local.setup, 'out-bucket', 'run-2/_checkpoint.json', record(HISTORY));
  await writeJobStatus(local.setup, 'out-bucket', 'run-2/_status.json', {
    phase: 'converting', runId: 'r-mk0q9xc0', lines: 4_800_000, events: 4_800_000, host: 'ip-172-31-9-9', updatedAt: new Date(io.now() - 3000).toISOString(),
  });
  assert.equal(await status(settings, m.clients, io), 0);
  const out = text();
  assert.match(out, /instance {2}i-0123456789abcdef0: shutting-down \(Server.SpotInstanceTermination: Spot instance termination\), Terminating in the group \(replaced\)\n/);
  assert.match(out, /instance {2}i-0fedcba9876543210: running, SSM Online\n/);
  assert.match(out, /activity {2}2026-01-05 10:14:05Z {2}Launching a new EC2 instance: i-0fedcba9876543210 \(Successful\)\n {10}2026-01-05 10:13:10Z {2}Launching a new EC2 instance\. .*\(Failed\): We currently do not have sufficient c7i\.4xlarge capacity.*\n {10}2026-01-05 10:12:12Z {2}Terminating EC2 instance: i-0123456789abcdef0 \(InProgress\)\n/);
  assert.match(out, new RegExp(`command {3}${COMMAND}: InProgress`));
  assert.match(out, /job {7}converting \(run r-mk0q9xc0\)/);
  assert.match(out, /resumes {3}1 interruption, 1 resume, 2 instances: i-0123456789abcdef0, i-0fedcba9876543210\n {10}2026-01-05 10:12:10Z {2}interrupted on i-0123456789abcdef0 \(spot interruption notice\) at line 2,900,001, byte 4,930,000,000 \(4\.6 GiB\)\n {10}2026-01-05 10:21:40Z {2}resumed on i-0fedcba9876543210 from line 2,900,001, byte 4,930,000,000 \(4\.6 GiB\)\n/);
  // Only the current instance's command is looked into.
  assert.deepEqual(m.ssm.commandCalls(ListCommandInvocationsCommand).map((c) => c.args[0].input.InstanceId), [NEW_INSTANCE]);
  assert.ok(m.ssm.commandCalls(DescribeAssociationExecutionTargetsCommand).every((c) => c.args[0].input.AssociationId === ASSOCIATION_ID));

  // A resume without a notice (the instance vanished: no interrupted entry) still counts, and an interrupted job whose group replaces it is not a failure.
  await putCheckpoint(local.setup, 'out-bucket', 'run-2/_checkpoint.json', record(HISTORY.filter((e) => e.event !== 'interrupted')));
  await writeJobStatus(local.setup, 'out-bucket', 'run-2/_status.json', { phase: 'interrupted', updatedAt: new Date(io.now()).toISOString() });
  const again = fakeIO();
  assert.equal(await status(settings, m.clients, again.io), 0);
  assert.match(again.text(), /resumes {3}0 interruptions, 1 resume, 2 instances/);
  assert.match(again.text(), /the group replaces the instance and the job resumes from its checkpoint/);
});

test('every AWS command these flows sent (control plane and S3) is allowed by docs/deployer-policy.json', async () => {
  const { denied, checked } = await deployerDenials({ stack: 'proton-beam', bucket: 'out-bucket', prefix: 'run-2/' }, local.codeRequests());
  assert.ok(checked > 20, `only ${checked} authorizations checked`);
  assert.deepEqual(denied, []);
});
