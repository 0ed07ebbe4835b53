// make deploy and make destroy against aws-sdk-client-mock (CloudFormation, EC2, SSM, CloudWatch
// Logs) with realistic responses, and a real S3 (s3rver on 127.0.0.1) for the bundle and _status.json.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  CreateStackCommand, DeleteStackCommand, DescribeStackEventsCommand, DescribeStacksCommand, UpdateStackCommand,
} from '@aws-sdk/client-cloudformation';
import {
  DescribeInstanceTypeOfferingsCommand, DescribeInstancesCommand, DescribeSubnetsCommand, DescribeVpcsCommand,
} from '@aws-sdk/client-ec2';
import {
  DescribeAssociationExecutionTargetsCommand, DescribeAssociationExecutionsCommand,
  DescribeInstanceInformationCommand, GetCommandInvocationCommand, ListCommandInvocationsCommand, SendCommandCommand,
} from '@aws-sdk/client-ssm';
import { DescribeAutoScalingGroupsCommand, SetInstanceProtectionCommand, UpdateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeLogStreamsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import {
  ASSOCIATION_ID, DOCUMENT, GROUP, INSTANCE_ID, LOG_GROUP, STACK_ID, fakeIO, missingStack, mockAssociation, mockGroup, mockedClients, stack, stackEvent,
} from '../helpers/aws.ts';
import { deployerDenials } from '../helpers/deployer.ts';
import { HISTORY, NEW_INSTANCE, OLD_INSTANCE, putCheckpoint, record } from '../helpers/checkpoint.ts';
import { startS3, type LocalS3 } from '../helpers/s3.ts';
import { FatalError } from '../../lib/cli/errors.ts';
import { createBundle, listBundleFiles, type Bundle } from '../../lib/deploy/bundle.ts';
import { deploy, destroy } from '../../lib/deploy/flow.ts';
import { collectSettings, validateSettings } from '../../lib/deploy/settings.ts';
import { writeJobStatus, type JobStatus } from '../../lib/deploy/status.ts';
import { TEMPLATE_PATH } from '../../lib/deploy/template.ts';
import { ROOT } from '../../lib/paths.ts';

const templateBody = fs.readFileSync(TEMPLATE_PATH, 'utf8');
let local: LocalS3;
let bundle: Bundle;

before(async () => {
  local = await startS3(['out-bucket'], { checksums: true });
  bundle = await createBundle(ROOT, await listBundleFiles(ROOT));
});
after(async () => {
  await local.close();
});

function settings(extra: Record<string, string> = {}) {
  return validateSettings(collectSettings({ 'env-file': '/dev/null' }, {
    INPUT_URL: 's3://in-bucket/dumps/relay-2025.jsonl.gz', OUTPUT: 's3://out-bucket/run-1/', AWS_REGION: 'us-east-1', ...extra,
  }), { input: true, output: true, region: true });
}

type Mocks = ReturnType<typeof mockedClients>;

/** The network and instance answers of a default account in us-east-1. */
function mockEc2(m: Mocks, state = 'running', reason?: string) {
  m.ec2.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-0a1b2c3d4e5f60718', IsDefault: true, CidrBlock: '172.31.0.0/16' }] });
  m.ec2.on(DescribeSubnetsCommand).resolves({
    Subnets: [
      { SubnetId: 'subnet-0aaaaaaaaaaaaaaa1', VpcId: 'vpc-0a1b2c3d4e5f60718', AvailabilityZone: 'us-east-1e', DefaultForAz: true, MapPublicIpOnLaunch: true },
      { SubnetId: 'subnet-0bbbbbbbbbbbbbbb2', VpcId: 'vpc-0a1b2c3d4e5f60718', AvailabilityZone: 'us-east-1b', DefaultForAz: true, MapPublicIpOnLaunch: true },
      { SubnetId: 'subnet-0ccccccccccccccc3', VpcId: 'vpc-0a1b2c3d4e5f60718', AvailabilityZone: 'us-east-1c', DefaultForAz: true, MapPublicIpOnLaunch: true },
    ],
  });
  // c7i is not offered in us-east-1e.
  m.ec2.on(DescribeInstanceTypeOfferingsCommand).resolves({
    InstanceTypeOfferings: ['us-east-1a', 'us-east-1b', 'us-east-1c'].map((Location) => ({ InstanceType: 'c7i.4xlarge', LocationType: 'availability-zone', Location })),
  });
  m.ec2.on(DescribeInstancesCommand).resolves({
    Reservations: [{ Instances: [{ InstanceId: INSTANCE_ID, State: { Name: state as 'running', Code: 16 }, StateReason: reason ? { Code: 'Client.InstanceInitiatedShutdown', Message: reason } : undefined }] }],
  });
  mockGroup(m, [{ desired: 1, instances: [[INSTANCE_ID, 'InService']] }]);
  mockAssociation(m, { [INSTANCE_ID]: COMMAND_ID });
}

const COMMAND_ID = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';

/** A stack operation: the request token is captured so that events carry it, as CloudFormation's do. */
function mockStackOperation(m: Mocks, command: typeof CreateStackCommand | typeof UpdateStackCommand | typeof DeleteStackCommand,
  events: (token: string) => ReturnType<typeof stackEvent>[]) {
  let token = '';
  m.cfn.on(command as typeof CreateStackCommand).callsFake((input: { ClientRequestToken: string }) => {
    token = input.ClientRequestToken;
    return { StackId: STACK_ID };
  });
  let calls = 0;
  m.cfn.on(DescribeStackEventsCommand).callsFake(() => {
    calls++;
    const all = events(token);
    // Events appear over time, newest first, after an event of an earlier operation.
    const visible = all.slice(0, Math.min(all.length, calls * 3));
    const older = stackEvent('earlier-operation', 0, 'proton-beam', 'AWS::CloudFormation::Stack', 'UPDATE_COMPLETE');
    return { StackEvents: [...visible.reverse(), older] };
  });
}

const createEvents = (token: string) => [
  stackEvent(token, 1, 'proton-beam', 'AWS::CloudFormation::Stack', 'CREATE_IN_PROGRESS', 'User Initiated'),
  stackEvent(token, 2, 'InstanceRole', 'AWS::IAM::Role', 'CREATE_IN_PROGRESS'),
  stackEvent(token, 3, 'InstanceRole', 'AWS::IAM::Role', 'CREATE_COMPLETE'),
  stackEvent(token, 4, 'InstanceGroup', 'AWS::AutoScaling::AutoScalingGroup', 'CREATE_IN_PROGRESS'),
  stackEvent(token, 5, 'JobAssociation', 'AWS::SSM::Association', 'CREATE_COMPLETE'),
  stackEvent(token, 6, 'proton-beam', 'AWS::CloudFormation::Stack', 'CREATE_COMPLETE'),
];

const plugins = (states: [string, string][], responseCode?: number) => states.map(([Name, Status]) => ({
  Name, Status, StatusDetails: Status, ResponseCode: Status === 'Failed' ? responseCode : undefined,
}));

const status = (phase: JobStatus['phase'], extra: Partial<JobStatus> = {}): JobStatus => ({
  phase, input: 's3://in-bucket/dumps/relay-2025.jsonl.gz', output: 's3://out-bucket/run-1/', host: 'ip-172-31-5-6',
  startedAt: new Date(Date.now() - 60_000).toISOString(), updatedAt: new Date().toISOString(), ...extra,
});

/** SSM: online agent, one command whose steps run in turn while the job publishes _status.json. */
function mockSsmJob(m: Mocks, outcome: 'success' | 'fail-job' | 'fail-install') {
  m.ssm.on(DescribeInstanceInformationCommand)
    .resolvesOnce({ InstanceInformationList: [] })
    .resolves({ InstanceInformationList: [{ InstanceId: INSTANCE_ID, PingStatus: 'Online', AgentVersion: '3.3.2746.0', PlatformName: 'Ubuntu', PlatformVersion: '24.04' }] });
  const steps = ['prepare', 'fetchBundle', 'install', 'runJob'];
  const at = (running: number, final?: string): [string, string][] =>
    steps.map((s, i) => [s, i < running ? 'Success' : i === running ? (final ?? 'InProgress') : 'Pending']);
  const timeline: { plugins: [string, string][]; invocation: string; job?: JobStatus }[] = outcome === 'fail-install'
    ? [
      { plugins: at(0), invocation: 'InProgress' },
      { plugins: at(2), invocation: 'InProgress' },
      { plugins: at(2, 'Failed').map(([n, s]) => [n, n === 'runJob' ? 'Cancelled' : s]), invocation: 'Failed' },
    ]
    : [
      { plugins: at(0), invocation: 'InProgress' },
      { plugins: at(1), invocation: 'InProgress' },
      { plugins: at(2), invocation: 'InProgress' },
      { plugins: at(3), invocation: 'InProgress', job: status('converting', { bytesRead: 2 * 1024 ** 3, totalBytes: 8 * 1024 ** 3, lines: 4_000_000, events: 3_900_000, eventsPerSecond: 61_000, etaSeconds: 1500 }) },
      { plugins: at(3), invocation: 'InProgress', job: status('uploading', { bytesRead: 8 * 1024 ** 3, totalBytes: 8 * 1024 ** 3, lines: 16_000_000, events: 15_500_000 }) },
      outcome === 'success'
        ? { plugins: at(4), invocation: 'Success', job: status('done', { bytesRead: 8 * 1024 ** 3, totalBytes: 8 * 1024 ** 3, lines: 16_000_000, events: 15_500_000, rejected: 1200, duplicates: 498_800, finishedAt: new Date().toISOString(), exitCode: 0 }) }
        : { plugins: at(3, 'Failed'), invocation: 'Failed', job: status('failed', { error: 'converter exited with code 1', exitCode: 1 }) },
    ];
  let call = 0;
  m.ssm.on(ListCommandInvocationsCommand).callsFake(async () => {
    const step = timeline[Math.min(call++, timeline.length - 1)];
    if (step.job) await writeJobStatus(local.setup, 'out-bucket', 'run-1/_status.json', step.job);
    return {
      CommandInvocations: [{
        CommandId: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0', InstanceId: INSTANCE_ID, DocumentName: DOCUMENT,
        Status: step.invocation, StatusDetails: step.invocation, CommandPlugins: plugins(step.plugins, 1),
      }],
    };
  });
}

/** The job's own streams (lib/deploy/log-ship.ts): the association's commands have no CloudWatch output. */
function mockLogs(m: Mocks) {
  const prefix = `job/${INSTANCE_ID}/r-${Date.parse('2026-01-05T10:00:00Z').toString(36)}`;
  m.logs.on(DescribeLogStreamsCommand).resolves({ logStreams: [] });
  m.logs.on(DescribeLogStreamsCommand, { logStreamNamePrefix: `${prefix}/` }).resolves({
    logStreams: [{ logStreamName: `${prefix}/runJob/stdout` }, { logStreamName: `${prefix}/runJob/stderr` }],
  });
  m.logs.on(GetLogEventsCommand, { logStreamName: `${prefix}/runJob/stdout` }).resolves({
    events: [
      { timestamp: 1000, message: 'job: converting s3://in-bucket/dumps/relay-2025.jsonl.gz' },
      { timestamp: 3000, message: 'converted 3,900,000 events' },
    ],
    nextForwardToken: 'f/1',
  });
  m.logs.on(GetLogEventsCommand, { logStreamName: `${prefix}/runJob/stderr` }).resolves({
    events: [{ timestamp: 4000, message: 'Error: EIO: i/o error, write\n' }],
    nextForwardToken: 'f/2',
  });
}

let m: Mocks;
beforeEach(() => {
  m = mockedClients(local.s3);
});

describe('make deploy', () => {
  test('creates the stack, waits for SSM, runs the job and prints where the results are', async () => {
    const { io, text, lines } = fakeIO();
    mockEc2(m);
    m.cfn.on(DescribeStacksCommand).rejectsOnce(missingStack()).resolvesOnce(stack('CREATE_IN_PROGRESS')).resolves(stack('CREATE_COMPLETE'));
    mockStackOperation(m, CreateStackCommand, createEvents);
    mockSsmJob(m, 'success');

    const code = await deploy(settings(), m.clients, io, { templateBody, root: ROOT, bundle });
    assert.equal(code, 0, text());

    const create = m.cfn.commandCalls(CreateStackCommand)[0].args[0].input;
    assert.equal(create.StackName, 'proton-beam');
    assert.equal(create.TemplateBody, templateBody);
    assert.deepEqual(create.Capabilities, ['CAPABILITY_IAM']);
    const param = (k: string) => create.Parameters!.find((p) => p.ParameterKey === k)?.ParameterValue;
    assert.equal(param('VpcId'), 'vpc-0a1b2c3d4e5f60718');
    assert.equal(param('SubnetId'), 'subnet-0bbbbbbbbbbbbbbb2', 'first zone that offers the type');
    assert.equal(param('InputBucket'), 'in-bucket');
    assert.equal(param('OutputPrefix'), 'run-1/');

    // Events of this operation only, oldest first; not the earlier operation's.
    const eventLines = lines.filter((l) => /^\s+\d\d:\d\d:\d\d /.test(l));
    assert.equal(eventLines.length, 6);
    assert.match(eventLines[0], /proton-beam +CREATE_IN_PROGRESS/);
    assert.match(eventLines[5], /proton-beam +CREATE_COMPLETE/);
    assert.ok(!text().includes('UPDATE_COMPLETE'));

    // No command is sent: the stack's association runs the document with the run's bundle, which is in S3 where the stack says.
    assert.equal(m.ssm.commandCalls(SendCommandCommand).length, 0);
    assert.equal(param('InputUrl'), 's3://in-bucket/dumps/relay-2025.jsonl.gz');
    assert.equal(param('ShutdownWhenDone'), 'true');
    assert.equal(param('BundleUrl'), `https://s3.us-east-1.amazonaws.com/out-bucket/run-1/_deploy/${bundle.hash}.tgz`);
    assert.equal(param('BundleSha256'), bundle.sha256);
    assert.equal(param('RunId'), `r-${Date.parse('2026-01-05T10:00:00Z').toString(36)}`);
    // The group was created 1/1/1: nothing to scale; the job's command is found through the association.
    assert.equal(m.asg.commandCalls(UpdateAutoScalingGroupCommand).length, 0);
    assert.equal(m.ssm.commandCalls(DescribeAssociationExecutionsCommand)[0].args[0].input.AssociationId, ASSOCIATION_ID);
    assert.deepEqual(m.ssm.commandCalls(DescribeAssociationExecutionTargetsCommand)[0].args[0].input.Filters, [{ Key: 'ResourceId', Value: INSTANCE_ID }]);
    assert.equal(m.ssm.commandCalls(ListCommandInvocationsCommand)[0].args[0].input.CommandId, COMMAND_ID);
    assert.match(text(), new RegExp(`group ${GROUP}, association ${ASSOCIATION_ID}, logs ${LOG_GROUP}`));
    assert.match(text(), new RegExp(`job started on ${INSTANCE_ID}: command ${COMMAND_ID}`));
    const head = await local.setup.send(new HeadObjectCommand({ Bucket: 'out-bucket', Key: `run-1/_deploy/${bundle.hash}.tgz` }));
    assert.equal(head.ContentLength, bundle.bytes);

    const out = text();
    assert.match(out, /waiting for instance i-0123456789abcdef0 \(running\) to register with SSM/);
    assert.match(out, /registered with SSM \(agent 3\.3\.2746\.0, Ubuntu 24\.04\)/);
    for (const phase of ['starting', 'fetching bundle', 'installing', 'converting', 'uploading', 'done']) assert.match(out, new RegExp(`job: ${phase}\\n`));
    assert.match(out, /\[#{8}-{22}\] +25\.0% 2\.0 GiB \/ 8\.0 GiB {2}3,900,000 events {2}61,000 events\/s {2}ETA 25 min 00 s/);
    assert.match(out, /results: s3:\/\/out-bucket\/run-1\//);
    assert.match(out, /lines read: 16,000,000; valid events: 15,500,000; duplicates: 498,800; rejected: 1,200/);
    assert.match(out, /the job set group proton-beam-job to 0 instances and the instance is shutting itself down/);
  });

  test('a second deploy finds the bundle already uploaded and updates the stack', async () => {
    const { io, text } = fakeIO();
    mockEc2(m);
    m.cfn.on(DescribeStacksCommand).resolvesOnce(stack('CREATE_COMPLETE')).resolvesOnce(stack('UPDATE_IN_PROGRESS')).resolves(stack('UPDATE_COMPLETE'));
    mockStackOperation(m, UpdateStackCommand, (token) => [
      stackEvent(token, 1, 'proton-beam', 'AWS::CloudFormation::Stack', 'UPDATE_IN_PROGRESS', 'User Initiated'),
      stackEvent(token, 2, 'InstanceLaunchTemplate', 'AWS::EC2::LaunchTemplate', 'UPDATE_COMPLETE'),
      stackEvent(token, 3, 'InstanceGroup', 'AWS::AutoScaling::AutoScalingGroup', 'UPDATE_COMPLETE'),
      stackEvent(token, 4, 'proton-beam', 'AWS::CloudFormation::Stack', 'UPDATE_COMPLETE'),
    ]);
    mockSsmJob(m, 'success');
    const code = await deploy(settings({ INSTANCE_TYPE: 'c7i.8xlarge' }), m.clients, io, { templateBody, root: ROOT, bundle });
    assert.equal(code, 0, text());
    assert.equal(m.cfn.commandCalls(CreateStackCommand).length, 0);
    const update = m.cfn.commandCalls(UpdateStackCommand)[0].args[0].input;
    assert.equal(update.Parameters!.find((p) => p.ParameterKey === 'InstanceType')?.ParameterValue, 'c7i.8xlarge');
    assert.match(text(), /updating stack proton-beam/);
    assert.match(text(), /bundle s3:\/\/out-bucket\/run-1\/_deploy\/[0-9a-f]{16}\.tgz already uploaded \(SHA-256 [0-9a-f]{64} checked\)/);
    assert.match(text(), /InstanceGroup +UPDATE_COMPLETE/);
  });

  test('"no updates are to be performed" is not an error', async () => {
    const { io, text } = fakeIO();
    mockEc2(m);
    m.cfn.on(DescribeStacksCommand).resolves(stack('UPDATE_COMPLETE'));
    m.cfn.on(UpdateStackCommand).rejects(Object.assign(new Error('No updates are to be performed.'), { name: 'ValidationError' }));
    mockSsmJob(m, 'success');
    const code = await deploy(settings(), m.clients, io, { templateBody, root: ROOT, bundle });
    assert.equal(code, 0, text());
    assert.match(text(), /stack proton-beam is up to date/);
    assert.equal(m.cfn.commandCalls(DescribeStackEventsCommand).length, 0);
    assert.equal(m.ssm.commandCalls(ListCommandInvocationsCommand)[0].args[0].input.CommandId, COMMAND_ID);
  });

  test('a rollback names the resource that failed and why', async () => {
    const { io, text } = fakeIO();
    mockEc2(m);
    m.cfn.on(DescribeStacksCommand).rejectsOnce(missingStack()).resolvesOnce(stack('ROLLBACK_IN_PROGRESS')).resolves(stack('ROLLBACK_COMPLETE'));
    const reason = 'Your requested instance type (c7i.4xlarge) is not supported in your requested Availability Zone (us-east-1e). Please retry your request by not specifying an Availability Zone or choosing us-east-1a, us-east-1b, us-east-1c.';
    mockStackOperation(m, CreateStackCommand, (token) => [
      stackEvent(token, 1, 'proton-beam', 'AWS::CloudFormation::Stack', 'CREATE_IN_PROGRESS', 'User Initiated'),
      stackEvent(token, 2, 'InstanceLaunchTemplate', 'AWS::EC2::LaunchTemplate', 'CREATE_COMPLETE'),
      stackEvent(token, 3, 'JobDocument', 'AWS::SSM::Document', 'CREATE_FAILED', 'Resource creation cancelled'),
      stackEvent(token, 4, 'InstanceGroup', 'AWS::AutoScaling::AutoScalingGroup', 'CREATE_FAILED', reason),
      stackEvent(token, 5, 'proton-beam', 'AWS::CloudFormation::Stack', 'ROLLBACK_IN_PROGRESS', 'The following resource(s) failed to create: [JobDocument, InstanceGroup]. Rollback requested by user.'),
      stackEvent(token, 6, 'InstanceGroup', 'AWS::AutoScaling::AutoScalingGroup', 'DELETE_COMPLETE'),
      stackEvent(token, 7, 'proton-beam', 'AWS::CloudFormation::Stack', 'ROLLBACK_COMPLETE'),
    ]);
    await assert.rejects(deploy(settings(), m.clients, io, { templateBody, root: ROOT, bundle }), (err: Error) => {
      assert.ok(err instanceof FatalError);
      assert.match(err.message, /stack proton-beam ROLLBACK_COMPLETE: InstanceGroup \(AWS::AutoScaling::AutoScalingGroup\) failed: Your requested instance type \(c7i.4xlarge\) is not supported/);
      assert.match(err.message, /run make destroy, then make deploy again/);
      return true;
    });
    assert.match(text(), /InstanceGroup +CREATE_FAILED +AWS::AutoScaling::AutoScalingGroup +Your requested instance type/);
    assert.equal(m.asg.commandCalls(DescribeAutoScalingGroupsCommand).length, 0);
  });

  test('an update that rolls back, and a stack that can only be deleted', async () => {
    const { io } = fakeIO();
    mockEc2(m);
    m.cfn.on(DescribeStacksCommand).resolvesOnce(stack('UPDATE_COMPLETE')).resolves(stack('UPDATE_ROLLBACK_COMPLETE'));
    mockStackOperation(m, UpdateStackCommand, (token) => [
      stackEvent(token, 1, 'InstanceRole', 'AWS::IAM::Role', 'UPDATE_FAILED', 'User: arn:aws:iam::123456789012:user/dev is not authorized to perform: iam:PutRolePolicy'),
      stackEvent(token, 2, 'proton-beam', 'AWS::CloudFormation::Stack', 'UPDATE_ROLLBACK_COMPLETE'),
    ]);
    await assert.rejects(deploy(settings(), m.clients, io, { templateBody, root: ROOT, bundle }),
      /UPDATE_ROLLBACK_COMPLETE: InstanceRole \(AWS::IAM::Role\) failed: User: .* not authorized to perform: iam:PutRolePolicy\nthe stack rolled back to its previous state/);

    m = mockedClients(local.s3);
    mockEc2(m);
    m.cfn.on(DescribeStacksCommand).resolves(stack('ROLLBACK_COMPLETE'));
    await assert.rejects(deploy(settings(), m.clients, io, { templateBody, root: ROOT, bundle }),
      /ROLLBACK_COMPLETE \(its creation failed\) and can only be deleted: run make destroy/);
    assert.equal(m.cfn.commandCalls(UpdateStackCommand).length, 0);
  });

  test('an instance that never registers with SSM: a clear timeout with advice', async () => {
    const { io } = fakeIO();
    mockEc2(m);
    m.cfn.on(DescribeStacksCommand).resolves(stack('UPDATE_COMPLETE'));
    m.cfn.on(UpdateStackCommand).rejects(Object.assign(new Error('No updates are to be performed.'), { name: 'ValidationError' }));
    m.ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [] });
    await assert.rejects(deploy(settings({ SSM_WAIT_MINUTES: '2' }), m.clients, io, { templateBody, root: ROOT, bundle }), (err: Error) => {
      assert.match(err.message, /instance i-0123456789abcdef0 did not register with SSM within 2 min \(it is running\)/);
      assert.match(err.message, /aws ec2 get-console-output --instance-id i-0123456789abcdef0/);
      assert.match(err.message, /VPC endpoints for ssm, ssmmessages, ec2messages/);
      return true;
    });
    // 2 minutes at one look every 5 s.
    const looks = m.ssm.commandCalls(DescribeInstanceInformationCommand).length;
    assert.ok(looks >= 24 && looks <= 26, `${looks}`);
    assert.equal(m.ssm.commandCalls(DescribeAssociationExecutionsCommand).length, 0);
  });

  test('after a finished run the group is at 0: make deploy sets it to 1/1/1 and follows the job on the new instance', async () => {
    const { io, text } = fakeIO();
    const fresh = 'i-0fedcba9876543210';
    mockEc2(m);
    // The earlier run's job set the group to 0/0/0 and its instance is gone; then the group launches a new one.
    mockGroup(m, [
      { desired: 0, instances: [] },
      { desired: 1, instances: [] },
      { desired: 1, instances: [[fresh, 'Pending']] },
      { desired: 1, instances: [[fresh, 'InService']] },
    ]);
    mockAssociation(m, { [fresh]: COMMAND_ID });
    m.ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: fresh, State: { Name: 'running', Code: 16 } }] }] });
    m.cfn.on(DescribeStacksCommand).resolves(stack('UPDATE_COMPLETE'));
    m.cfn.on(UpdateStackCommand).rejects(Object.assign(new Error('No updates are to be performed.'), { name: 'ValidationError' }));
    mockSsmJob(m, 'success');
    const code = await deploy(settings(), m.clients, io, { templateBody, root: ROOT, bundle });
    assert.equal(code, 0, text());
    assert.deepEqual(m.asg.commandCalls(UpdateAutoScalingGroupCommand).map((c) => c.args[0].input), [
      { AutoScalingGroupName: GROUP, MinSize: 1, MaxSize: 1, DesiredCapacity: 1 },
    ]);
    assert.match(text(), /group proton-beam-job: 0 -> 1 instance/);
    assert.match(text(), /waiting for group proton-beam-job to launch an instance/);
    assert.match(text(), new RegExp(`job started on ${fresh}: command ${COMMAND_ID}`));
    assert.equal(m.ssm.commandCalls(ListCommandInvocationsCommand)[0].args[0].input.InstanceId, fresh);
  });

  test('credentials that expire while following a long job: the job goes on, make status follows it; one error, no stack trace', async () => {
    const { io, text } = fakeIO();
    mockEc2(m);
    m.cfn.on(DescribeStacksCommand).resolves(stack('UPDATE_COMPLETE'));
    m.cfn.on(UpdateStackCommand).rejects(Object.assign(new Error('No updates are to be performed.'), { name: 'ValidationError' }));
    m.ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: INSTANCE_ID, PingStatus: 'Online' }] });
    m.ssm.on(ListCommandInvocationsCommand)
      .resolvesOnce({ CommandInvocations: [{ CommandId: 'c-1', Status: 'InProgress', CommandPlugins: [{ Name: 'runJob', Status: 'InProgress' }] }] })
      .rejects(Object.assign(new Error('The security token included in the request is expired'), { name: 'ExpiredTokenException' }));
    await assert.rejects(deploy(settings(), m.clients, io, { templateBody, root: ROOT, bundle }), (err: Error) => {
      assert.ok(err instanceof FatalError);
      assert.match(err.message, /credentials expired while following the job; the job is not affected and continues on its own/);
      assert.match(err.message, /follow it with make status \(and make logs\)/);
      return true;
    });
    assert.match(text(), new RegExp(`job started on ${INSTANCE_ID}: command ${COMMAND_ID}`));
  });

  test('a failing job: exit code 1 with the failed step and the tail of its output', async () => {
    const { io, text } = fakeIO();
    mockEc2(m);
    m.cfn.on(DescribeStacksCommand).resolves(stack('UPDATE_COMPLETE'));
    m.cfn.on(UpdateStackCommand).rejects(Object.assign(new Error('No updates are to be performed.'), { name: 'ValidationError' }));
    mockSsmJob(m, 'fail-job');
    mockLogs(m);
    const code = await deploy(settings(), m.clients, io, { templateBody, root: ROOT, bundle });
    assert.equal(code, 1);
    const out = text();
    assert.match(out, /job Failed/);
    assert.match(out, /phase: failed \(converter exited with code 1\)/);
    assert.match(out, /failed step: runJob \(Failed, exit code 1\)/);
    assert.match(out, /last lines of the job output:\n {2}job: converting s3:\/\/in-bucket\/dumps\/relay-2025.jsonl.gz\n {2}converted 3,900,000 events\n {2}! Error: EIO: i\/o error, write\n/);
    assert.match(out, /the instance is still running: make ssm/);
    assert.ok(!/results: /.test(out));
  });

  test('a failing install step, with no CloudWatch output: what SSM kept', async () => {
    const { io, text } = fakeIO();
    mockEc2(m);
    m.cfn.on(DescribeStacksCommand).resolves(stack('UPDATE_COMPLETE'));
    m.cfn.on(UpdateStackCommand).rejects(Object.assign(new Error('No updates are to be performed.'), { name: 'ValidationError' }));
    mockSsmJob(m, 'fail-install');
    m.logs.on(DescribeLogStreamsCommand).resolves({ logStreams: [] });
    m.ssm.on(GetCommandInvocationCommand).rejects(Object.assign(new Error('no invocation'), { name: 'InvocationDoesNotExist' }));
    m.ssm.on(GetCommandInvocationCommand, { PluginName: 'install' }).resolves({
      Status: 'Failed', StandardOutputContent: '', StandardErrorContent: 'npm error code EINTEGRITY\nnpm error sha512 integrity checksum failed',
    });
    const code = await deploy(settings(), m.clients, io, { templateBody, root: ROOT, bundle });
    assert.equal(code, 1);
    assert.match(text(), /job: failed in step install/);
    assert.match(text(), /failed step: install \(Failed, exit code 1\)/);
    assert.match(text(), /--- install \(Failed\)\n {2}npm error code EINTEGRITY/);
  });
});

describe('make destroy', () => {
  test('deletes the stack, shows its events and keeps the results; an instance the job kept from scale-in is released first', async () => {
    const { io, text } = fakeIO();
    m.cfn.on(DescribeStacksCommand).resolvesOnce(stack('UPDATE_COMPLETE')).resolvesOnce(stack('UPDATE_COMPLETE')).resolvesOnce(stack('DELETE_IN_PROGRESS')).rejects(missingStack());
    // SHUTDOWN_WHEN_DONE=false: the job set the group to 0 and kept its instance, protected from scale-in.
    m.asg.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [{
      AutoScalingGroupName: GROUP, MinSize: 0, MaxSize: 0, DesiredCapacity: 0, DefaultCooldown: 300, AvailabilityZones: ['us-east-1b'], HealthCheckType: 'EC2', CreatedTime: new Date(),
      Instances: [{ InstanceId: INSTANCE_ID, LifecycleState: 'InService', HealthStatus: 'Healthy', AvailabilityZone: 'us-east-1b', ProtectedFromScaleIn: true }],
    }] });
    m.asg.on(SetInstanceProtectionCommand).resolves({});
    mockStackOperation(m, DeleteStackCommand, (token) => [
      stackEvent(token, 1, 'proton-beam', 'AWS::CloudFormation::Stack', 'DELETE_IN_PROGRESS', 'User Initiated'),
      stackEvent(token, 2, 'InstanceGroup', 'AWS::AutoScaling::AutoScalingGroup', 'DELETE_COMPLETE'),
      stackEvent(token, 3, 'InstanceRole', 'AWS::IAM::Role', 'DELETE_COMPLETE'),
    ]);
    assert.equal(await destroy(settings(), m.clients, io), 0);
    assert.deepEqual(m.asg.commandCalls(SetInstanceProtectionCommand).map((c) => c.args[0].input), [
      { AutoScalingGroupName: GROUP, InstanceIds: [INSTANCE_ID], ProtectedFromScaleIn: false },
    ]);
    assert.match(text(), /group proton-beam-job: scale-in protection removed from i-0123456789abcdef0, so that the deletion terminates it/);
    assert.equal(m.cfn.commandCalls(DeleteStackCommand)[0].args[0].input.StackName, STACK_ID);
    assert.match(text(), /InstanceGroup +DELETE_COMPLETE/);
    assert.match(text(), /stack proton-beam deleted/);
    assert.match(text(), /results, bundles and _status.json stay in s3:\/\/out-bucket\/run-1\//);
  });

  test('a failed deletion says what is stuck', async () => {
    const { io } = fakeIO();
    m.cfn.on(DescribeStacksCommand).resolvesOnce(stack('UPDATE_COMPLETE')).resolves(stack('DELETE_FAILED'));
    mockStackOperation(m, DeleteStackCommand, (token) => [
      stackEvent(token, 1, 'InstanceSecurityGroup', 'AWS::EC2::SecurityGroup', 'DELETE_FAILED', 'resource sg-0123 has a dependent object'),
      stackEvent(token, 2, 'proton-beam', 'AWS::CloudFormation::Stack', 'DELETE_FAILED'),
    ]);
    await assert.rejects(destroy(settings(), m.clients, io), /DELETE_FAILED: InstanceSecurityGroup \(AWS::EC2::SecurityGroup\): resource sg-0123 has a dependent object/);
  });

  test('no stack: nothing to delete', async () => {
    const { io, text } = fakeIO();
    m.cfn.on(DescribeStacksCommand).rejects(missingStack());
    assert.equal(await destroy(settings(), m.clients, io), 0);
    assert.match(text(), /no stack proton-beam in us-east-1: nothing to delete/);
    assert.equal(m.cfn.commandCalls(DeleteStackCommand).length, 0);
  });
});

test('the deploy status written before the command marks a new run', async () => {
  const res = await local.setup.send(new GetObjectCommand({ Bucket: 'out-bucket', Key: 'run-1/_status.json' }));
  assert.ok(JSON.parse(await res.Body!.transformToString()).phase);
});

test('a spot instance reclaimed mid-job: the group replaces it, make deploy follows the job on the new instance to the end and shows the resume', async () => {
  const { io, text } = fakeIO();
  const second = '1a2b3c4d-5e6f-4a5b-8c7d-9e8f7a6b5c4d';
  mockEc2(m);
  await local.setup.send(new DeleteObjectCommand({ Bucket: 'out-bucket', Key: 'run-1/_checkpoint.json' }));
  // The old instance runs until EC2 reclaims it; the group then launches the new one.
  let reclaimed = false;
  m.ec2.on(DescribeInstancesCommand, { InstanceIds: [OLD_INSTANCE] }).callsFake(() => ({ Reservations: [{ Instances: [{ InstanceId: OLD_INSTANCE,
    ...(reclaimed ? { State: { Name: 'terminated' }, StateReason: { Code: 'Server.SpotInstanceTermination', Message: 'Server.SpotInstanceTermination: Spot instance termination' } } : { State: { Name: 'running' } }) }] }] }));
  m.ec2.on(DescribeInstancesCommand, { InstanceIds: [NEW_INSTANCE] }).resolves({ Reservations: [{ Instances: [{ InstanceId: NEW_INSTANCE, State: { Name: 'running' } }] }] });
  m.asg.on(DescribeAutoScalingGroupsCommand).callsFake(() => ({ AutoScalingGroups: [{
    AutoScalingGroupName: GROUP, MinSize: 1, MaxSize: 1, DesiredCapacity: 1, DefaultCooldown: 300, AvailabilityZones: ['us-east-1b'], HealthCheckType: 'EC2', CreatedTime: new Date(),
    Instances: reclaimed
      ? [{ InstanceId: OLD_INSTANCE, LifecycleState: 'Terminating', HealthStatus: 'Unhealthy', AvailabilityZone: 'us-east-1b', ProtectedFromScaleIn: false },
        { InstanceId: NEW_INSTANCE, LifecycleState: 'InService', HealthStatus: 'Healthy', AvailabilityZone: 'us-east-1b', ProtectedFromScaleIn: false }]
      : [{ InstanceId: OLD_INSTANCE, LifecycleState: 'InService', HealthStatus: 'Healthy', AvailabilityZone: 'us-east-1b', ProtectedFromScaleIn: false }],
  }] }));
  mockAssociation(m, { [OLD_INSTANCE]: COMMAND_ID, [NEW_INSTANCE]: second });
  m.cfn.on(DescribeStacksCommand).resolves(stack('UPDATE_COMPLETE'));
  m.cfn.on(UpdateStackCommand).rejects(Object.assign(new Error('No updates are to be performed.'), { name: 'ValidationError' }));
  m.ssm.on(DescribeInstanceInformationCommand).callsFake((input: { Filters: { Values: string[] }[] }) => ({
    InstanceInformationList: [{ InstanceId: input.Filters[0].Values[0], PingStatus: 'Online' }],
  }));
  let onOld = 0;
  m.ssm.on(ListCommandInvocationsCommand, { CommandId: COMMAND_ID }).callsFake(async () => {
    // Five looks into the job on the old instance, then the spot reclaim (the command never ends by itself).
    if (++onOld === 5) {
      reclaimed = true;
      await putCheckpoint(local.setup, 'out-bucket', 'run-1/_checkpoint.json', record(HISTORY.slice(0, 3)));
    }
    return { CommandInvocations: [{ CommandId: COMMAND_ID, InstanceId: OLD_INSTANCE, Status: 'InProgress', CommandPlugins: [{ Name: 'runJob', Status: 'InProgress' }] }] };
  });
  let onNew = 0;
  m.ssm.on(ListCommandInvocationsCommand, { CommandId: second }).callsFake(async () => {
    if (++onNew < 3) return { CommandInvocations: [{ CommandId: second, InstanceId: NEW_INSTANCE, Status: 'InProgress', CommandPlugins: [{ Name: 'runJob', Status: 'InProgress' }] }] };
    await putCheckpoint(local.setup, 'out-bucket', 'run-1/_checkpoint.json', record([...HISTORY, { event: 'done', at: '2026-01-05T10:40:00.000Z', line: 9_000_001, offset: 15_300_000_000, instanceId: NEW_INSTANCE }]));
    await writeJobStatus(local.setup, 'out-bucket', 'run-1/_status.json', status('done', { lines: 9_000_000, events: 9_000_000, finishedAt: new Date().toISOString(), exitCode: 0 }));
    return { CommandInvocations: [{ CommandId: second, InstanceId: NEW_INSTANCE, Status: 'Success', CommandPlugins: [{ Name: 'runJob', Status: 'Success' }] }] };
  });

  const code = await deploy(settings({ SPOT: 'true' }), m.clients, io, { templateBody, root: ROOT, bundle });
  assert.equal(code, 0, text());
  const out = text();
  assert.match(out, new RegExp(`job started on ${OLD_INSTANCE}: command ${COMMAND_ID}`));
  assert.match(out, /instance i-0123456789abcdef0 is terminated \(Server.SpotInstanceTermination: Spot instance termination\) while the job was running/);
  assert.match(out, /the group proton-beam-job replaces it; the job resumes there from s3:\/\/out-bucket\/run-1\/_checkpoint.json/);
  assert.match(out, new RegExp(`job started on ${NEW_INSTANCE}: command ${second}`));
  assert.match(out, /results: s3:\/\/out-bucket\/run-1\//);
  assert.match(out, /1 interruption, 1 resume, 2 instances: i-0123456789abcdef0, i-0fedcba9876543210/);
  assert.match(out, /2026-01-05 10:12:10Z {2}interrupted on i-0123456789abcdef0 \(spot interruption notice\) at line 2,900,001, byte 4,930,000,000 \(4\.6 GiB\)/);
  assert.match(out, /2026-01-05 10:21:40Z {2}resumed on i-0fedcba9876543210 from line 2,900,001, byte 4,930,000,000/);
  // The new instance's command was looked up only after the old one was gone, and only the old one was given up on.
  assert.ok(onOld >= 5 && onOld <= 14, `gives up on the old instance within about a minute of its loss (${onOld} looks)`);
  assert.equal(m.ssm.commandCalls(SendCommandCommand).length, 0);
});

test('an instance reclaimed before the job started on it: make deploy goes on with the group\'s next one', async () => {
  const { io, text } = fakeIO();
  mockEc2(m);
  // Looked at by make deploy's check of its size, then for its instance; later the replacement.
  mockGroup(m, [
    { desired: 1, instances: [[OLD_INSTANCE, 'InService']] },
    { desired: 1, instances: [[OLD_INSTANCE, 'InService']] },
    { desired: 1, instances: [[OLD_INSTANCE, 'Terminating'], [NEW_INSTANCE, 'Pending']] },
  ]);
  mockAssociation(m, { [NEW_INSTANCE]: COMMAND_ID });
  m.ec2.on(DescribeInstancesCommand, { InstanceIds: [OLD_INSTANCE] }).resolves({ Reservations: [{ Instances: [{ InstanceId: OLD_INSTANCE, State: { Name: 'terminated' }, StateReason: { Code: 'Server.SpotInstanceTermination', Message: 'Server.SpotInstanceTermination: Spot instance termination' } }] }] });
  m.ec2.on(DescribeInstancesCommand, { InstanceIds: [NEW_INSTANCE] }).resolves({ Reservations: [{ Instances: [{ InstanceId: NEW_INSTANCE, State: { Name: 'running' } }] }] });
  m.cfn.on(DescribeStacksCommand).resolves(stack('UPDATE_COMPLETE'));
  m.cfn.on(UpdateStackCommand).rejects(Object.assign(new Error('No updates are to be performed.'), { name: 'ValidationError' }));
  mockSsmJob(m, 'success');
  m.ssm.on(DescribeInstanceInformationCommand).callsFake((input: { Filters: { Values: string[] }[] }) => ({
    InstanceInformationList: input.Filters[0].Values[0] === NEW_INSTANCE ? [{ InstanceId: NEW_INSTANCE, PingStatus: 'Online' }] : [],
  }));
  const code = await deploy(settings({ SPOT: 'true' }), m.clients, io, { templateBody, root: ROOT, bundle });
  assert.equal(code, 0, text());
  assert.match(text(), /instance i-0123456789abcdef0 is terminated \(Server.SpotInstanceTermination: Spot instance termination\) before the job started on it: the group replaces it/);
  assert.match(text(), new RegExp(`job started on ${NEW_INSTANCE}: command ${COMMAND_ID}`));
});

test('every AWS command these flows sent (control plane and S3) is allowed by docs/deployer-policy.json', async () => {
  const { denied, checked } = await deployerDenials({ stack: 'proton-beam', bucket: 'out-bucket', prefix: 'run-1/' }, local.codeRequests());
  assert.ok(checked > 20, `only ${checked} authorizations checked`);
  assert.deepEqual(denied, []);
});

test('the final summary survives a failed read of _status.json (retried), where progress reads are best effort', async () => {
  const { followCommand } = await import('../../lib/deploy/command.ts');
  const { io } = fakeIO();
  await writeJobStatus(local.setup, 'out-bucket', 'run-1/_status.json', status('done', { lines: 5, events: 5 }));
  m.ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [{ CommandId: 'c-9', Status: 'Success', CommandPlugins: [{ Name: 'runJob', Status: 'Success' }] }] });
  // The client's own retries (3 attempts) exhausted once: the first read fails.
  local.failNext((r) => r.method === 'GET' && r.url.startsWith('/out-bucket/run-1/_status.json'), 500, 3);
  const { status: final } = await followCommand(m.clients.ssm, local.s3, 'c-9', INSTANCE_ID, {
    print: io.print, sleep: io.sleep, now: io.now, statusBucket: 'out-bucket', statusKey: 'run-1/_status.json', since: new Date(0),
  });
  assert.equal(final?.phase, 'done');
});
