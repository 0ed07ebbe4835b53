/**
 * `make deploy` and `make destroy`, as functions of settings and AWS clients (mocked in tests).
 */
import { FatalError } from '../cli/errors.ts';
import { isExpiredCredentials, type AwsClients, type Print } from './aws.ts';
import type { Sleep } from '../net/retry.ts';
import { createBundle, listBundleFiles, uploadBundle, type Bundle } from './bundle.ts';
import { InstanceLostError, followCommand, instanceState, tailOutput, waitForAssociationCommand, waitForSsmRegistration } from './command.ts';
import { releaseGroup, startGroup, waitForGroupInstance } from './group.ts';
import { resumeLines } from './history.ts';
import { jobStreamPrefix } from './log-ship.ts';
import { findNetwork } from './network.ts';
import { outputKeys, type DeploySettings } from './settings.ts';
import { deployStack, describeStack, destroyStack, stackOutputs } from './stack.ts';
import { summaryLines, writeJobStatus } from './status.ts';
import { STACK_TAGS, bundleHttpsUrl, newRunId, stackParameters } from './template.ts';

export interface FlowIO {
  print: Print;
  sleep?: Sleep;
  /** Poll interval for stack events, SSM registration and the command. */
  pollMs?: number;
  now?: () => number;
}

export interface DeployOptions {
  templateBody: string;
  /** The working tree to bundle. */
  root: string;
  /** A bundle made beforehand (tests); else made from root. */
  bundle?: Bundle;
  /** Lines of output to print when the job fails. */
  tailLines?: number;
}

/** Runs make deploy; resolves with the exit code (0 when the job succeeded). */
export async function deploy(s: DeploySettings, aws: AwsClients, io: FlowIO, opts: DeployOptions): Promise<number> {
  const { print } = io;
  const region = s.region!;
  const keys = outputKeys(s);
  const now = io.now ?? Date.now;

  const network = await findNetwork(aws.ec2, { vpcId: s.vpcId, subnetId: s.subnetId, instanceType: s.instanceType }, print);
  print(`network: ${network.vpcId}, ${network.subnetId}`);

  const bundle = opts.bundle ?? await createBundle(opts.root, await listBundleFiles(opts.root, print));
  const bundleKey = await uploadBundle(aws.s3, s.outputBucket, keys.bundleDir, bundle, print);

  // The run's name goes to the association with the bundle: each instance of the group runs it,
  // a replacement resumes it, and a run that finished is not started again (scripts/job.ts).
  const runId = newRunId(now());
  const since = new Date(now());
  await writeJobStatus(aws.s3, s.outputBucket, keys.status, {
    phase: 'starting', input: s.inputUrl, output: s.outputUrl, runId, updatedAt: since.toISOString(),
  });
  const { stack } = await deployStack(aws.cfn, {
    stackName: s.stackName,
    templateBody: opts.templateBody,
    parameters: stackParameters(s, network, { bundleUrl: bundleHttpsUrl(region, s.outputBucket, bundleKey), bundleSha256: bundle.sha256, runId }),
    tags: STACK_TAGS(s),
  }, { print, sleep: io.sleep, pollMs: io.pollMs });
  const out = stackOutputs(stack);
  if (!out.GroupName || !out.AssociationId || !out.DocumentName || !out.LogGroupName) {
    throw new FatalError(`stack ${s.stackName} has no GroupName, AssociationId, DocumentName or LogGroupName output: is it a Proton Beam stack?`);
  }
  const job = { group: out.GroupName, association: out.AssociationId, logGroupName: out.LogGroupName };
  print(`group ${job.group}, association ${job.association}, logs ${job.logGroupName}`);
  await startGroup(aws.asg, job.group, print);
  print(`run ${runId}: the association starts the job on the group's instance. Ctrl-C stops following, not the job (make status, make logs)`);

  // One pass per instance: a reclaimed one is replaced by the group, and the job resumes there.
  const gone = new Set<string>();
  for (;;) {
    const instanceId = await waitForGroupInstance(aws.asg, job.group, {
      print, sleep: io.sleep, pollMs: io.pollMs, now: io.now, timeoutMs: s.ssmWaitMinutes * 60_000, exclude: gone,
    });
    try {
      await waitForSsmRegistration(aws.ssm, aws.ec2, instanceId, {
        print, sleep: io.sleep, pollMs: io.pollMs, now: io.now, timeoutMs: s.ssmWaitMinutes * 60_000,
      });
    } catch (err) {
      if (!(err instanceof InstanceLostError)) throw err;
      print(`${err.message}: the group replaces it`);
      gone.add(instanceId);
      continue;
    }
    const commandId = await waitForAssociationCommand(aws.ssm, job.association, instanceId, since, {
      print, sleep: io.sleep, pollMs: io.pollMs, now: io.now, timeoutMs: s.ssmWaitMinutes * 60_000,
    });
    print(`job started on ${instanceId}: command ${commandId}`);
    const result = await follow(s, aws, io, { ...job, instanceId, commandId, since, runId, tailLines: opts.tailLines ?? 40 });
    if (result !== 'replaced') return result;
    gone.add(instanceId);
  }
}

interface Followed { group: string; logGroupName: string; instanceId: string; commandId: string; since: Date; runId: string; tailLines: number }

/** Follows the job on one instance: its exit code, or 'replaced' when the instance was lost mid-run. */
async function follow(s: DeploySettings, aws: AwsClients, io: FlowIO, j: Followed): Promise<number | 'replaced'> {
  const { print } = io;
  const keys = outputKeys(s);
  let followed: Awaited<ReturnType<typeof followCommand>>;
  try {
    followed = await followCommand(aws.ssm, aws.s3, j.commandId, j.instanceId, {
      print, sleep: io.sleep, pollMs: io.pollMs, now: io.now,
      statusBucket: s.outputBucket, statusKey: keys.status, since: j.since, ec2: aws.ec2,
    });
  } catch (err) {
    if (!isExpiredCredentials(err)) throw err;
    throw new FatalError([
      'your AWS credentials expired while following the job; the job is not affected and continues on its own on the instance.',
      `Renew them (aws sso login, or new keys), then follow it with make status (and make logs); the results and ${s.outputUrl}_status.json appear in ${s.outputUrl}.`,
    ].join('\n'));
  }
  const { invocation, status, lostInstance } = followed;
  if (lostInstance && status?.phase !== 'done') {
    print('');
    print(lostInstance);
    print(`the group ${j.group} replaces it; the job resumes there from ${s.outputUrl}_checkpoint.json`);
    return 'replaced';
  }

  if ((invocation?.Status === 'Success' || lostInstance) && (!status || status.phase === 'done')) {
    print('');
    print(`results: ${s.outputUrl}`);
    if (status) for (const line of summaryLines(status)) print(line);
    for (const line of await resumeLines(aws.s3, s)) print(line);
    print(s.shutdownWhenDone
      ? `the job set group ${j.group} to 0 instances and the instance is shutting itself down; make destroy removes the stack (the results stay)`
      : `the job set group ${j.group} to 0 instances; the instance is still running (SHUTDOWN_WHEN_DONE=false): make destroy when you are done`);
    return 0;
  }

  print('');
  print(`job ${invocation?.Status ?? 'ended'}${invocation?.StatusDetails && invocation.StatusDetails !== invocation.Status ? ` (${invocation.StatusDetails})` : ''}`);
  if (status) for (const line of summaryLines(status)) print(line);
  const failedStep = invocation?.CommandPlugins?.find((p) => p.Status && p.Status !== 'Success' && p.Status !== 'Pending');
  if (failedStep) print(`failed step: ${failedStep.Name} (${failedStep.Status}${failedStep.ResponseCode !== undefined ? `, exit code ${failedStep.ResponseCode}` : ''})`);
  const tail = await tailOutput(aws.logs, aws.ssm, {
    logGroupName: j.logGroupName, commandId: j.commandId, instanceId: j.instanceId, lines: j.tailLines, streamPrefix: jobStreamPrefix(j.instanceId, j.runId),
  });
  if (tail.length > 0) {
    print('last lines of the job output:');
    for (const line of tail) print(`  ${line}`);
  }
  const { state } = await instanceState(aws.ec2, j.instanceId);
  print(state === 'running' ? 'the instance is still running: make ssm to look around, make destroy when done'
    : `the instance is ${state}; make destroy removes the stack (the results stay)`);
  return 1;
}

/** Runs make destroy. The output bucket is not part of the stack and is never touched. */
export async function destroy(s: DeploySettings, aws: AwsClients, io: FlowIO): Promise<number> {
  const group = stackOutputs(await describeStack(aws.cfn, s.stackName)).GroupName;
  if (group) await releaseGroup(aws.asg, group, io.print);
  const existed = await destroyStack(aws.cfn, s.stackName, { print: io.print, sleep: io.sleep, pollMs: io.pollMs });
  if (!existed) io.print(`no stack ${s.stackName} in ${s.region}: nothing to delete`);
  else io.print(`stack ${s.stackName} deleted`);
  if (s.outputBucket) io.print(`results, bundles and _status.json stay in ${s.outputUrl}`);
  return 0;
}
