// Test helpers: the control plane (CloudFormation, EC2, SSM, CloudWatch Logs) mocked at the SDK
// boundary with aws-sdk-client-mock (S3 is real: helpers/s3.ts), and a fake clock.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mockClient } from 'aws-sdk-client-mock';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand, UpdateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient, type Stack, type StackEvent, type StackStatus } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { DescribeAssociationExecutionTargetsCommand, DescribeAssociationExecutionsCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { AwsClients } from '../../lib/deploy/aws.ts';

// Nothing in a test may look for credentials or a region on an instance metadata service.
process.env.AWS_EC2_METADATA_DISABLED = 'true';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyMock = { calls(): { args: any[] }[] };
const everyMock: { service: string; mock: AnyMock }[] = [];

/** Every control-plane command sent through mockedClients() in this process: service prefix, name, input. */
export function sentCommands(): { service: string; name: string; input: Record<string, unknown> }[] {
  return everyMock.flatMap(({ service, mock }) => mock.calls().map((c) => ({
    service, name: (c.args[0].constructor.name as string).replace(/Command$/, ''), input: c.args[0].input,
  })));
}

/** Clients whose control plane is mocked (per instance) and whose S3 is the given client. */
export function mockedClients(s3: S3Client) {
  const region = 'us-east-1';
  const clients: AwsClients = {
    cfn: new CloudFormationClient({ region }),
    ec2: new EC2Client({ region }),
    ssm: new SSMClient({ region }),
    logs: new CloudWatchLogsClient({ region }),
    cw: new CloudWatchClient({ region }),
    asg: new AutoScalingClient({ region }),
    s3,
  };
  const mocks = {
    cfn: mockClient(clients.cfn),
    ec2: mockClient(clients.ec2),
    ssm: mockClient(clients.ssm),
    logs: mockClient(clients.logs),
    cw: mockClient(clients.cw),
    asg: mockClient(clients.asg),
  };
  everyMock.push({ service: 'cloudformation', mock: mocks.cfn }, { service: 'ec2', mock: mocks.ec2 }, { service: 'ssm', mock: mocks.ssm }, { service: 'logs', mock: mocks.logs }, { service: 'cloudwatch', mock: mocks.cw }, { service: 'autoscaling', mock: mocks.asg });
  return { clients, ...mocks };
}

/** A clock that sleeping advances, and a print that collects lines. */
export function fakeIO() {
  let clock = Date.parse('2026-01-05T10:00:00Z');
  const lines: string[] = [];
  return {
    lines,
    text: () => lines.join('\n'),
    io: {
      print: (line: string) => { lines.push(line); },
      sleep: async (ms: number) => { clock += ms; },
      now: () => clock,
      pollMs: 5000,
    },
  };
}

/** A stack event as CloudFormation reports it. */
export function stackEvent(token: string, n: number, logicalId: string, type: string, status: string, reason?: string): StackEvent {
  return {
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/proton-beam/0a1b2c3d-0000-11ef-9f5b-0e1a2b3c4d5e',
    EventId: `${logicalId}-${status}-${n}`,
    StackName: 'proton-beam',
    LogicalResourceId: logicalId,
    PhysicalResourceId: logicalId === 'proton-beam' ? 'arn:aws:cloudformation:us-east-1:123456789012:stack/proton-beam/0a1b2c3d' : '',
    ResourceType: type,
    Timestamp: new Date(Date.parse('2026-01-05T10:00:00Z') + n * 1000),
    ResourceStatus: status as StackEvent['ResourceStatus'],
    ResourceStatusReason: reason,
    ClientRequestToken: token,
  };
}

export const STACK_ID = 'arn:aws:cloudformation:us-east-1:123456789012:stack/proton-beam/0a1b2c3d-0000-11ef-9f5b-0e1a2b3c4d5e';
export const INSTANCE_ID = 'i-0123456789abcdef0';
export const DOCUMENT = 'proton-beam-JobDocument-AbCdEf123456';
export const LOG_GROUP = '/proton-beam/proton-beam';

export const GROUP = 'proton-beam-job';
export const ASSOCIATION_ID = '8dfe3659-4309-493a-8755-0123456789ab';

export const OUTPUTS = [
  { OutputKey: 'GroupName', OutputValue: GROUP },
  { OutputKey: 'AssociationId', OutputValue: ASSOCIATION_ID },
  { OutputKey: 'DocumentName', OutputValue: DOCUMENT },
  { OutputKey: 'LogGroupName', OutputValue: LOG_GROUP },
  { OutputKey: 'OutputLocation', OutputValue: 's3://out-bucket/run-1/' },
];

export function stack(status: string, extra: object = {}): { Stacks: Stack[] } {
  return {
    Stacks: [{
      StackId: STACK_ID, StackName: 'proton-beam', StackStatus: status as StackStatus,
      CreationTime: new Date('2026-01-05T09:00:00Z'), Outputs: status.endsWith('COMPLETE') ? OUTPUTS : [], ...extra,
    }],
  };
}

export const missingStack = () => Object.assign(new Error('Stack with id proton-beam does not exist'), { name: 'ValidationError' });

type Mocks = ReturnType<typeof mockedClients>;

/** The group's answers, one per DescribeAutoScalingGroups (the last repeats): wanted size and instances. */
export function mockGroup(m: Mocks, steps: { desired: number; instances: [string, string][] }[]) {
  let call = 0;
  m.asg.on(DescribeAutoScalingGroupsCommand).callsFake(() => {
    const step = steps[Math.min(call++, steps.length - 1)];
    return { AutoScalingGroups: [{
      AutoScalingGroupName: GROUP, MinSize: step.desired, MaxSize: step.desired, DesiredCapacity: step.desired, DefaultCooldown: 300,
      AvailabilityZones: ['us-east-1b'], HealthCheckType: 'EC2', CreatedTime: new Date('2026-01-05T09:00:00Z'),
      Instances: step.instances.map(([InstanceId, LifecycleState]) => ({
        InstanceId, LifecycleState: LifecycleState as 'InService', HealthStatus: 'Healthy', AvailabilityZone: 'us-east-1b', ProtectedFromScaleIn: false,
      })),
    }] };
  });
  m.asg.on(UpdateAutoScalingGroupCommand).resolves({});
}

/** The association: an execution per instance, created after make deploy began, whose target output is the command. */
export function mockAssociation(m: Mocks, commands: Record<string, string>) {
  const ids = Object.keys(commands);
  m.ssm.on(DescribeAssociationExecutionsCommand).resolves({
    AssociationExecutions: ids.map((id, n) => ({
      AssociationId: ASSOCIATION_ID, ExecutionId: `exec-${n}`, Status: 'InProgress', CreatedTime: new Date(Date.parse('2026-01-05T10:00:30Z') + n * 600_000),
    })),
  });
  m.ssm.on(DescribeAssociationExecutionTargetsCommand).callsFake((input: { ExecutionId: string; Filters?: { Key: string; Value: string }[] }) => {
    const instance = ids[Number(input.ExecutionId.split('-')[1])];
    const wanted = input.Filters?.find((f) => f.Key === 'ResourceId')?.Value;
    if (wanted && wanted !== instance) return { AssociationExecutionTargets: [] };
    return { AssociationExecutionTargets: [{
      AssociationId: ASSOCIATION_ID, ExecutionId: input.ExecutionId, ResourceId: instance, ResourceType: 'ManagedInstance', Status: 'InProgress',
      OutputSource: { OutputSourceId: commands[instance], OutputSourceType: 'RunCommand' },
    }] };
  });
}

