/**
 * `make status`, `make logs` and the instance lookup of `make ssm`: read-only views of a stack.
 */
import { DescribeInstanceInformationCommand } from '@aws-sdk/client-ssm';
import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeLogStreamsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { FatalError } from '../cli/errors.ts';
import type { AwsClients } from './aws.ts';
import { sleep as realSleep } from '../net/retry.ts';
import { commandInvocation, currentPhase, instanceState, latestCommand, tailOutput } from './command.ts';
import type { FlowIO } from './flow.ts';
import { outputKeys, type DeploySettings } from './settings.ts';
import { describeStack, stackOutputs, type StackOutputs } from './stack.ts';
import { formatDuration } from '../cli/format.ts';
import { ageSeconds, progressLine, readJobStatus, summaryLines } from './status.ts';

async function ssmPing(aws: AwsClients, instanceId: string): Promise<string> {
  const res = await aws.ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }));
  return res.InstanceInformationList?.[0]?.PingStatus ?? 'not registered';
}

/** Prints stack, instance, job phase and progress. Exit code 0 unless the job failed. */
export async function status(s: DeploySettings, aws: AwsClients, io: FlowIO): Promise<number> {
  const { print } = io;
  const stack = await describeStack(aws.cfn, s.stackName);
  const out: StackOutputs = stackOutputs(stack);
  print(`stack     ${s.stackName}: ${stack ? stack.StackStatus : `none in ${s.region}`}`);
  const job = s.outputBucket ? await readJobStatus(aws.s3, s.outputBucket, outputKeys(s).status) : undefined;
  let phase: string | undefined;
  if (out.InstanceId) {
    const { state, reason } = await instanceState(aws.ec2, out.InstanceId);
    const ping = state === 'running' ? `, SSM ${await ssmPing(aws, out.InstanceId)}` : '';
    print(`instance  ${out.InstanceId}: ${state}${reason && state !== 'running' ? ` (${reason})` : ''}${ping}`);
    if (out.DocumentName) {
      const command = await latestCommand(aws.ssm, out.InstanceId, out.DocumentName);
      if (command?.CommandId) {
        const inv = await commandInvocation(aws.ssm, command.CommandId, out.InstanceId);
        phase = currentPhase(inv, job);
        print(`command   ${command.CommandId}: ${inv?.StatusDetails ?? command.Status} (sent ${command.RequestedDateTime?.toISOString() ?? '?'})`);
      } else {
        print('command   none sent yet (make deploy sends it)');
      }
    }
  }
  if (stack) {
    const region = s.region ?? 'us-east-1';
    print(`dashboard https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards/dashboard/${encodeURIComponent(out.DashboardName ?? s.stackName)}`);
    const alarms = await aws.cw.send(new DescribeAlarmsCommand({ AlarmNamePrefix: `${s.stackName}-`, StateValue: 'ALARM' }));
    const firing = alarms?.MetricAlarms ?? [];
    if (firing.length === 0) print('alarms    none in ALARM');
    for (const a of firing) print(`alarm     ${a.AlarmName} in ALARM since ${a.StateUpdatedTimestamp?.toISOString() ?? '?'}: ${a.AlarmDescription ?? a.StateReason ?? ''}`);
  }
  if (!s.outputBucket) return 0;
  if (!job) {
    print(`job       no ${s.outputUrl}_status.json yet`);
    return 0;
  }
  print(`job       ${phase ?? job.phase}`);
  const progress = progressLine(job);
  if (progress) print(`          ${progress}`);
  const age = ageSeconds(job, (io.now ?? Date.now)());
  print(`          updated ${formatDuration(age)} ago${job.host ? ` by ${job.host}` : ''}`);
  if (job.phase !== 'done' && job.phase !== 'failed' && job.phase !== 'interrupted' && age > 120) {
    print(`          no progress report for ${formatDuration(age)}: make logs shows what the job is doing`);
  }
  if (job.phase === 'done' || job.phase === 'failed' || job.phase === 'interrupted') {
    for (const line of summaryLines(job)) print(`          ${line}`);
  }
  print(`results   ${s.outputUrl}`);
  return job.phase === 'failed' || job.phase === 'interrupted' ? 1 : 0;
}

async function requireJob(s: DeploySettings, aws: AwsClients): Promise<Required<Pick<StackOutputs, 'InstanceId' | 'DocumentName' | 'LogGroupName'>>> {
  const stack = await describeStack(aws.cfn, s.stackName);
  if (!stack) throw new FatalError(`no stack ${s.stackName} in ${s.region}: make deploy first`);
  const out = stackOutputs(stack);
  if (!out.InstanceId || !out.DocumentName || !out.LogGroupName) {
    throw new FatalError(`stack ${s.stackName} (${stack.StackStatus}) has no instance outputs`);
  }
  return { InstanceId: out.InstanceId, DocumentName: out.DocumentName, LogGroupName: out.LogGroupName };
}

export interface LogsOptions { lines: number; follow: boolean }

const FINISHED = new Set(['Success', 'Failed', 'Cancelled', 'TimedOut', 'Undeliverable', 'Terminated']);

/** Prints the latest job's output so far; with follow, keeps printing until the job ends. */
export async function logs(s: DeploySettings, aws: AwsClients, io: FlowIO, opts: LogsOptions): Promise<number> {
  const job = await requireJob(s, aws);
  const command = await latestCommand(aws.ssm, job.InstanceId, job.DocumentName);
  if (!command?.CommandId) {
    io.print('no job has been sent to the instance yet (make deploy sends it)');
    return 0;
  }
  const commandId = command.CommandId;
  io.print(`command ${commandId} (${command.Status}), log group ${job.LogGroupName}`);
  if (!opts.follow) {
    for (const line of await tailOutput(aws.logs, aws.ssm, { logGroupName: job.LogGroupName, commandId, instanceId: job.InstanceId, lines: opts.lines })) {
      io.print(line);
    }
    return 0;
  }
  // Follow: read every stream of the command forward from its start, then poll for more.
  const sleep = io.sleep ?? realSleep;
  const tokens = new Map<string, string | undefined>();
  for (;;) {
    const streams = await aws.logs.send(new DescribeLogStreamsCommand({
      logGroupName: job.LogGroupName, logStreamNamePrefix: `${commandId}/${job.InstanceId}/`,
    })).catch(() => ({ logStreams: [] }));
    for (const stream of streams.logStreams ?? []) {
      const name = stream.logStreamName!;
      for (;;) {
        const res = await aws.logs.send(new GetLogEventsCommand({
          logGroupName: job.LogGroupName, logStreamName: name, startFromHead: true, nextToken: tokens.get(name),
        }));
        for (const e of res.events ?? []) io.print(`${name.endsWith('/stderr') ? '! ' : ''}${(e.message ?? '').replace(/\n$/, '')}`);
        const same = res.nextForwardToken === tokens.get(name);
        tokens.set(name, res.nextForwardToken);
        if (same || (res.events ?? []).length === 0) break;
      }
    }
    const inv = await commandInvocation(aws.ssm, commandId, job.InstanceId);
    if (FINISHED.has(inv?.Status ?? '')) {
      io.print(`command ${inv!.Status}`);
      return inv!.Status === 'Success' ? 0 : 1;
    }
    await sleep(io.pollMs ?? 5000);
  }
}

/** The instance `make ssm` opens a session on; it must be running and online in SSM. */
export async function sessionTarget(s: DeploySettings, aws: AwsClients): Promise<string> {
  const job = await requireJob(s, aws);
  const { state } = await instanceState(aws.ec2, job.InstanceId);
  if (state !== 'running') throw new FatalError(`instance ${job.InstanceId} is ${state}: there is nothing to open a session on (make destroy, make deploy)`);
  const ping = await ssmPing(aws, job.InstanceId);
  if (ping !== 'Online') throw new FatalError(`instance ${job.InstanceId} is running but its SSM agent is ${ping}: try again in a minute, or see make status`);
  return job.InstanceId;
}
