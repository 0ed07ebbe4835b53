/**
 * `make status`, `make logs` and the instance lookup of `make ssm`: read-only views of a stack.
 * The job's instance is the current one of the stack's Auto Scaling group (its id changes when
 * the group replaces it).
 */
import { DescribeInstanceInformationCommand } from '@aws-sdk/client-ssm';
import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeLogStreamsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { FatalError } from '../cli/errors.ts';
import type { AwsClients } from './aws.ts';
import { sleep as realSleep } from '../net/retry.ts';
import { associationCommand, commandInvocation, currentPhase, instanceState, latestCommand, tailOutput } from './command.ts';
import { activityLines, currentInstance, describeGroup } from './group.ts';
import { resumeLines } from './history.ts';
import { jobStreamPrefix } from './log-ship.ts';
import type { FlowIO } from './flow.ts';
import { outputKeys, type DeploySettings } from './settings.ts';
import { describeStack, stackOutputs, type StackOutputs } from './stack.ts';
import { formatDuration } from '../cli/format.ts';
import { ageSeconds, progressLine, readJobStatus, summaryLines } from './status.ts';

async function ssmPing(aws: AwsClients, instanceId: string): Promise<string> {
  const res = await aws.ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }));
  return res.InstanceInformationList?.[0]?.PingStatus ?? 'not registered';
}

/** Prints stack, group, instance, job phase and progress, and the run's interruptions. Exit code 0 unless the job failed. */
export async function status(s: DeploySettings, aws: AwsClients, io: FlowIO): Promise<number> {
  const { print } = io;
  const stack = await describeStack(aws.cfn, s.stackName);
  const out: StackOutputs = stackOutputs(stack);
  print(`stack     ${s.stackName}: ${stack ? stack.StackStatus : `none in ${s.region}`}`);
  const job = s.outputBucket ? await readJobStatus(aws.s3, s.outputBucket, outputKeys(s).status) : undefined;
  let phase: string | undefined;
  let groupWants = 0;
  if (out.GroupName) {
    const group = await describeGroup(aws.asg, out.GroupName);
    groupWants = group?.desired ?? 0;
    const current = currentInstance(group);
    print(`group     ${out.GroupName}: ${group ? `${group.desired} instance${group.desired === 1 ? '' : 's'} wanted${group.desired === 0 ? ' (the job ended, or make deploy has not started one)' : ''}` : 'gone'}`);
    for (const i of group?.instances ?? []) {
      const { state, reason } = await instanceState(aws.ec2, i.id);
      const ping = state === 'running' ? `, SSM ${await ssmPing(aws, i.id)}` : '';
      const lifecycle = i.lifecycle === 'InService' ? '' : `, ${i.lifecycle} in the group`;
      print(`instance  ${i.id}: ${state}${reason && state !== 'running' ? ` (${reason})` : ''}${ping}${lifecycle}${i === current ? '' : ' (replaced)'}`);
    }
    const activities = group ? await activityLines(aws.asg, out.GroupName).catch(() => []) : [];
    if (activities.length > 0) print(`activity  ${activities[0]}`);
    for (const line of activities.slice(1)) print(`          ${line}`);
    if (current && out.DocumentName) {
      const commandId = await jobCommand(aws, out, current.id);
      if (commandId) {
        const inv = await commandInvocation(aws.ssm, commandId, current.id);
        phase = currentPhase(inv, job);
        print(`command   ${commandId}: ${inv?.StatusDetails ?? inv?.Status ?? 'unknown'}`);
      } else {
        print('command   none started yet on this instance (the association starts it once the instance is online)');
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
  print(`job       ${phase ?? job.phase}${job.runId ? ` (run ${job.runId})` : ''}`);
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
  const resumes = await resumeLines(aws.s3, s);
  if (resumes.length > 0) {
    print(`resumes   ${resumes[0]}`);
    for (const line of resumes.slice(1)) print(`          ${line}`);
  }
  print(`results   ${s.outputUrl}`);
  if (job.phase === 'interrupted' && groupWants > 0) print('          the group replaces the instance and the job resumes from its checkpoint');
  // An interrupted job on a group that still wants an instance resumes on its own: not a failure.
  return job.phase === 'failed' || (job.phase === 'interrupted' && groupWants === 0) ? 1 : 0;
}

/** The job's command on the instance: the association's, else (a job sent by hand) the latest run of the document. */
async function jobCommand(aws: AwsClients, out: StackOutputs, instanceId: string): Promise<string | undefined> {
  if (out.AssociationId) {
    const id = await associationCommand(aws.ssm, out.AssociationId, instanceId);
    if (id) return id;
  }
  return out.DocumentName ? (await latestCommand(aws.ssm, instanceId, out.DocumentName))?.CommandId : undefined;
}

interface JobHandles { InstanceId: string; DocumentName: string; LogGroupName: string; AssociationId?: string; GroupName: string; streamPrefix?: string }

async function requireJob(s: DeploySettings, aws: AwsClients): Promise<JobHandles> {
  const stack = await describeStack(aws.cfn, s.stackName);
  if (!stack) throw new FatalError(`no stack ${s.stackName} in ${s.region}: make deploy first`);
  const out = stackOutputs(stack);
  if (!out.GroupName || !out.DocumentName || !out.LogGroupName) {
    throw new FatalError(`stack ${s.stackName} (${stack.StackStatus}) has no group outputs`);
  }
  const current = currentInstance(await describeGroup(aws.asg, out.GroupName));
  if (!current) throw new FatalError(`group ${out.GroupName} has no instance now: the job ended (make status), or make deploy starts one`);
  // The association's job ships its output under the run's name (lib/deploy/log-ship.ts); a job sent by hand has Run Command's streams.
  const runId = stack.Parameters?.find((p) => p.ParameterKey === 'RunId')?.ParameterValue;
  return {
    InstanceId: current.id, DocumentName: out.DocumentName, LogGroupName: out.LogGroupName, AssociationId: out.AssociationId, GroupName: out.GroupName,
    streamPrefix: out.AssociationId && runId ? jobStreamPrefix(current.id, runId) : undefined,
  };
}

export interface LogsOptions { lines: number; follow: boolean }

const FINISHED = new Set(['Success', 'Failed', 'Cancelled', 'TimedOut', 'Undeliverable', 'Terminated']);

/** Prints the latest job's output so far; with follow, keeps printing until the job ends. */
export async function logs(s: DeploySettings, aws: AwsClients, io: FlowIO, opts: LogsOptions): Promise<number> {
  const job = await requireJob(s, aws);
  const commandId = await jobCommand(aws, { ...job }, job.InstanceId);
  if (!commandId) {
    io.print(`no job has started on ${job.InstanceId} yet (the association starts it once the instance is online)`);
    return 0;
  }
  io.print(`command ${commandId} on ${job.InstanceId}, log group ${job.LogGroupName}`);
  if (!opts.follow) {
    for (const line of await tailOutput(aws.logs, aws.ssm, { logGroupName: job.LogGroupName, commandId, instanceId: job.InstanceId, lines: opts.lines, streamPrefix: job.streamPrefix })) {
      io.print(line);
    }
    return 0;
  }
  // Follow: read every stream of the command forward from its start, then poll for more.
  const sleep = io.sleep ?? realSleep;
  const tokens = new Map<string, string | undefined>();
  for (;;) {
    const streams = await aws.logs.send(new DescribeLogStreamsCommand({
      logGroupName: job.LogGroupName, logStreamNamePrefix: job.streamPrefix ?? `${commandId}/${job.InstanceId}/`,
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
