/**
 * The job's command on the instance: wait for the instance to register with SSM, find the command
 * the stack's association started, follow it to the end with the progress from
 * OUTPUT/_status.json, and fetch the tail of its output from CloudWatch Logs.
 */
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import {
  DescribeAssociationExecutionTargetsCommand, DescribeAssociationExecutionsCommand,
  DescribeInstanceInformationCommand, GetCommandInvocationCommand, ListCommandInvocationsCommand, ListCommandsCommand,
  type Command, type CommandInvocation, type SSMClient,
} from '@aws-sdk/client-ssm';
import { DescribeLogStreamsCommand, GetLogEventsCommand, type CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { S3Client } from '@aws-sdk/client-s3';
import { FatalError } from '../cli/errors.ts';
import type { Print } from './aws.ts';
import { sleep as realSleep, type Sleep } from '../net/retry.ts';
import { progressLine, readJobStatus, type JobPhase, type JobStatus } from './status.ts';

/** What instanceState says of an instance that EC2 no longer knows (about an hour after termination). */
export const GONE = 'terminated (gone)';

/** True for an instance that is over: terminated, or gone altogether. */
export const isTerminated = (state: string) => state === 'terminated' || state === GONE;

/** The instance's EC2 state (running, shutting-down, terminated, terminated (gone), ...) and why, if it says. */
export async function instanceState(ec2: EC2Client, instanceId: string): Promise<{ state: string; reason?: string }> {
  let res;
  try {
    res = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  } catch (err) {
    const e = err as { name?: string; Code?: string };
    if (e.name === 'InvalidInstanceID.NotFound' || e.Code === 'InvalidInstanceID.NotFound') return { state: GONE };
    throw err;
  }
  const instance = res.Reservations?.[0]?.Instances?.[0];
  if (!instance) return { state: GONE };
  return { state: instance.State?.Name ?? 'unknown', reason: instance.StateReason?.Message };
}

/** The instance went away while make deploy waited for it: its group replaces it. */
export class InstanceLostError extends FatalError {}

export interface SsmWaitOptions { print: Print; sleep?: Sleep; pollMs?: number; timeoutMs: number; now?: () => number }

/** Waits until the instance's SSM agent is Online. Throws with advice when it never is. */
export async function waitForSsmRegistration(ssm: SSMClient, ec2: EC2Client, instanceId: string, opts: SsmWaitOptions): Promise<void> {
  const sleep = opts.sleep ?? realSleep;
  const now = opts.now ?? Date.now;
  const pollMs = opts.pollMs ?? 10_000;
  const deadline = now() + opts.timeoutMs;
  let announced = false;
  for (;;) {
    const res = await ssm.send(new DescribeInstanceInformationCommand({
      Filters: [{ Key: 'InstanceIds', Values: [instanceId] }],
    }));
    const info = res.InstanceInformationList?.[0];
    if (info?.PingStatus === 'Online') {
      opts.print(`instance ${instanceId} is registered with SSM (agent ${info.AgentVersion ?? '?'}, ${info.PlatformName ?? ''} ${info.PlatformVersion ?? ''})`.trimEnd());
      return;
    }
    const { state, reason } = await instanceState(ec2, instanceId);
    if (state === 'shutting-down' || isTerminated(state) || state === 'stopped' || state === 'stopping') {
      throw new InstanceLostError(`instance ${instanceId} is ${state}${reason ? ` (${reason})` : ''} before the job started on it`);
    }
    if (!announced) {
      opts.print(`waiting for instance ${instanceId} (${state}) to register with SSM`);
      announced = true;
    }
    if (now() >= deadline) {
      const minutes = Math.round(opts.timeoutMs / 60000);
      throw new FatalError([
        `instance ${instanceId} did not register with SSM within ${minutes} min (it is ${state}).`,
        'Check, in this order:',
        `  - its boot log: aws ec2 get-console-output --instance-id ${instanceId} --latest --output text`,
        '  - that its subnet reaches the internet (a public IP and an internet gateway, or a NAT gateway),',
        '    or has VPC endpoints for ssm, ssmmessages, ec2messages, s3 and logs (SUBNET_ID chooses the subnet)',
        '  - that no SCP or permissions boundary blocks the AmazonSSMManagedInstanceCore policy of its role',
        'then run make deploy again (SSM_WAIT_MINUTES waits longer), or make destroy.',
      ].join('\n'));
    }
    await sleep(pollMs);
  }
}

/** The most recent run of the job document on the instance. */
export async function latestCommand(ssm: SSMClient, instanceId: string, documentName: string): Promise<Command | undefined> {
  const res = await ssm.send(new ListCommandsCommand({
    InstanceId: instanceId,
    Filters: [{ key: 'DocumentName', value: documentName }],
    MaxResults: 50,
  }));
  const commands = [...(res.Commands ?? [])];
  commands.sort((a, b) => (b.RequestedDateTime?.getTime() ?? 0) - (a.RequestedDateTime?.getTime() ?? 0));
  return commands[0];
}

/**
 * The Run Command that the stack's association started on the instance (State Manager runs a
 * Command document as a command: the execution target's output source), the newest one created
 * at or after `since`.
 */
export async function associationCommand(ssm: SSMClient, associationId: string, instanceId: string, since = new Date(0)): Promise<string | undefined> {
  const res = await ssm.send(new DescribeAssociationExecutionsCommand({ AssociationId: associationId, MaxResults: 50 }));
  const executions = (res.AssociationExecutions ?? [])
    .filter((e) => e.ExecutionId && (e.CreatedTime?.getTime() ?? 0) >= since.getTime())
    .sort((a, b) => (b.CreatedTime?.getTime() ?? 0) - (a.CreatedTime?.getTime() ?? 0));
  for (const e of executions) {
    const targets = await ssm.send(new DescribeAssociationExecutionTargetsCommand({
      AssociationId: associationId, ExecutionId: e.ExecutionId, Filters: [{ Key: 'ResourceId', Value: instanceId }],
    }));
    const target = targets.AssociationExecutionTargets?.find((x) => x.ResourceId === instanceId && x.OutputSource?.OutputSourceType === 'RunCommand');
    if (target?.OutputSource?.OutputSourceId) return target.OutputSource.OutputSourceId;
  }
  return undefined;
}

/** Waits until the association has started its command on the instance. */
export async function waitForAssociationCommand(ssm: SSMClient, associationId: string, instanceId: string, since: Date, opts: SsmWaitOptions): Promise<string> {
  const sleep = opts.sleep ?? realSleep;
  const now = opts.now ?? Date.now;
  const deadline = now() + opts.timeoutMs;
  let announced = false;
  for (;;) {
    const id = await associationCommand(ssm, associationId, instanceId, since);
    if (id) return id;
    if (!announced) {
      opts.print(`waiting for association ${associationId} to start the job on ${instanceId}`);
      announced = true;
    }
    if (now() >= deadline) {
      throw new FatalError(`association ${associationId} started no job on ${instanceId} within ${Math.round(opts.timeoutMs / 60000)} min: aws ssm describe-association-executions --association-id ${associationId} says why; then make deploy again, or make destroy`);
    }
    await sleep(opts.pollMs ?? 10_000);
  }
}

export async function commandInvocation(ssm: SSMClient, commandId: string, instanceId: string): Promise<CommandInvocation | undefined> {
  const res = await ssm.send(new ListCommandInvocationsCommand({ CommandId: commandId, InstanceId: instanceId, Details: true }));
  return res.CommandInvocations?.[0];
}

const DONE = new Set(['Success', 'Failed', 'Cancelled', 'TimedOut', 'Undeliverable', 'Terminated', 'DeliveryTimedOut', 'ExecutionTimedOut']);

/** The job's phase: the document step in progress until the job itself publishes _status.json. */
export function currentPhase(inv: CommandInvocation | undefined, status: JobStatus | undefined): JobPhase | string {
  const plugins = inv?.CommandPlugins ?? [];
  const running = plugins.find((p) => p.Status === 'InProgress');
  const failed = plugins.find((p) => p.Status === 'Failed' || p.Status === 'TimedOut' || p.Status === 'Cancelled');
  const stepPhase: Record<string, JobPhase> = { prepare: 'starting', fetchBundle: 'fetching bundle', install: 'installing' };
  if (failed && failed.Name !== 'runJob') return `failed in step ${failed.Name}`;
  if (running && stepPhase[running.Name ?? '']) return stepPhase[running.Name!];
  if (status && (running?.Name === 'runJob' || DONE.has(inv?.Status ?? ''))) return status.phase;
  if (!inv) return 'not started';
  return inv.StatusDetails ?? inv.Status ?? 'unknown';
}

export interface FollowOptions {
  print: Print;
  sleep?: Sleep;
  pollMs?: number;
  /** Print the progress line at most this often while it changes. */
  progressEveryMs?: number;
  now?: () => number;
  statusBucket: string;
  statusKey: string;
  /** Only a status written after this time belongs to this run. */
  since: Date;
  /** With it, the instance's state is checked every minute: a spot reclaim ends the wait. */
  ec2?: EC2Client;
}

/** Follows the command until it ends; returns its final invocation and the last job status. */
export async function followCommand(ssm: SSMClient, s3: S3Client, commandId: string, instanceId: string, opts: FollowOptions):
Promise<{ invocation: CommandInvocation | undefined; status: JobStatus | undefined; lostInstance?: string }> {
  const sleep = opts.sleep ?? realSleep;
  const now = opts.now ?? Date.now;
  const pollMs = opts.pollMs ?? 5000;
  const every = opts.progressEveryMs ?? 30_000;
  let lastPhase = '';
  let lastProgress = '';
  let lastPrinted = 0;
  let lastStateCheck = now();
  for (;;) {
    let inv: CommandInvocation | undefined;
    try {
      inv = await commandInvocation(ssm, commandId, instanceId);
    } catch (err) {
      if ((err as { name?: string }).name !== 'InvocationDoesNotExist') throw err;
    }
    let status: JobStatus | undefined;
    // Progress is best effort (the command's own status decides), but the final summary is worth
    // a few more tries of a read that failed (throttling, a connection reset).
    const finalRead = inv && DONE.has(inv.Status ?? '');
    for (let attempt = 0; ; attempt++) {
      try {
        status = await readJobStatus(s3, opts.statusBucket, opts.statusKey);
        break;
      } catch {
        status = undefined;
        if (!finalRead || attempt >= 3) break;
        await sleep(1000);
      }
    }
    if (status && Date.parse(status.updatedAt) < opts.since.getTime()) status = undefined;
    const phase = currentPhase(inv, status);
    if (phase !== lastPhase) {
      opts.print(`job: ${phase}`);
      lastPhase = phase;
    }
    const progress = status ? progressLine(status) : '';
    if (progress && progress !== lastProgress && now() - lastPrinted >= every) {
      opts.print(`  ${progress}`);
      lastProgress = progress;
      lastPrinted = now();
    }
    if (inv && DONE.has(inv.Status ?? '')) return { invocation: inv, status };
    if (opts.ec2 && now() - lastStateCheck >= 60_000) {
      lastStateCheck = now();
      const { state, reason } = await instanceState(opts.ec2, instanceId);
      if (state !== 'running' && state !== 'pending') {
        // The command would only time out much later: a reclaimed spot instance, a manual stop.
        return { invocation: inv, status, lostInstance: `instance ${instanceId} is ${state}${reason ? ` (${reason})` : ''} while the job was running` };
      }
    }
    await sleep(pollMs);
  }
}

/** The last `lines` lines of the job's output: CloudWatch Logs first, else what SSM kept (the first 24,000 characters of each step). */
export async function tailOutput(logs: CloudWatchLogsClient, ssm: SSMClient, input: {
  logGroupName: string; commandId: string; instanceId: string; lines: number;
  /** The streams' common prefix: the job's own (lib/deploy/log-ship.ts) when the association started it; else Run Command's. */
  streamPrefix?: string;
}): Promise<string[]> {
  const prefix = input.streamPrefix ?? `${input.commandId}/${input.instanceId}/`;
  const events: { timestamp: number; message: string; order: number }[] = [];
  try {
    const streams = await logs.send(new DescribeLogStreamsCommand({
      logGroupName: input.logGroupName, logStreamNamePrefix: prefix,
    }));
    let order = 0;
    for (const stream of streams.logStreams ?? []) {
      const res = await logs.send(new GetLogEventsCommand({
        logGroupName: input.logGroupName, logStreamName: stream.logStreamName, startFromHead: false, limit: input.lines,
      }));
      const isErr = stream.logStreamName?.endsWith('/stderr');
      for (const e of res.events ?? []) {
        for (const line of (e.message ?? '').replace(/\n$/, '').split('\n')) {
          events.push({ timestamp: e.timestamp ?? 0, message: isErr ? `! ${line}` : line, order: order++ });
        }
      }
    }
  } catch (err) {
    if ((err as { name?: string }).name !== 'ResourceNotFoundException') throw err;
  }
  if (events.length > 0) {
    events.sort((a, b) => a.timestamp - b.timestamp || a.order - b.order);
    return events.slice(-input.lines).map((e) => e.message);
  }
  // No CloudWatch output (yet): SSM keeps the first 24,000 characters of each step's output.
  const out: string[] = [];
  for (const step of ['prepare', 'fetchBundle', 'install', 'runJob']) {
    try {
      const res = await ssm.send(new GetCommandInvocationCommand({ CommandId: input.commandId, InstanceId: input.instanceId, PluginName: step }));
      const text = [res.StandardOutputContent, res.StandardErrorContent].filter(Boolean).join('\n').trimEnd();
      if (text) out.push(`--- ${step} (${res.Status})`, ...text.split('\n'));
    } catch {
      // a step that never ran has no invocation
    }
  }
  return out.slice(-input.lines);
}
