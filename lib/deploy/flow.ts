/**
 * `make deploy` and `make destroy`, as functions of settings and AWS clients (mocked in tests).
 */
import { FatalError } from '../cli/errors.ts';
import { isExpiredCredentials, type AwsClients, type Print } from './aws.ts';
import type { Sleep } from '../net/retry.ts';
import { createBundle, listBundleFiles, uploadBundle, type Bundle } from './bundle.ts';
import { followCommand, instanceState, isTerminated, sendJob, tailOutput, waitForSsmRegistration } from './command.ts';
import { findNetwork } from './network.ts';
import { outputKeys, type DeploySettings } from './settings.ts';
import { deployStack, destroyStack, stackOutputs } from './stack.ts';
import { readJobStatus, summaryLines, writeJobStatus } from './status.ts';
import { STACK_TAGS, bundleHttpsUrl, commandParameters, stackParameters } from './template.ts';

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

  const network = await findNetwork(aws.ec2, { vpcId: s.vpcId, subnetId: s.subnetId, instanceType: s.instanceType }, print);
  print(`network: ${network.vpcId}, ${network.subnetId}`);

  const bundle = opts.bundle ?? await createBundle(opts.root, await listBundleFiles(opts.root, print));
  const bundleKey = await uploadBundle(aws.s3, s.outputBucket, keys.bundleDir, bundle, print);

  const { stack } = await deployStack(aws.cfn, {
    stackName: s.stackName,
    templateBody: opts.templateBody,
    parameters: stackParameters(s, network),
    tags: STACK_TAGS(s),
  }, { print, sleep: io.sleep, pollMs: io.pollMs });
  const out = stackOutputs(stack);
  if (!out.InstanceId || !out.DocumentName || !out.LogGroupName) {
    throw new FatalError(`stack ${s.stackName} has no InstanceId, DocumentName or LogGroupName output: is it a Proton Beam stack?`);
  }
  print(`instance ${out.InstanceId}, document ${out.DocumentName}, logs ${out.LogGroupName}`);

  // A finished job terminated the stack's instance: report its last status instead of waiting.
  const before = await instanceState(aws.ec2, out.InstanceId);
  if (isTerminated(before.state) || before.state === 'shutting-down') {
    print(`instance ${out.InstanceId}: ${before.state}${before.reason ? ` (${before.reason})` : ''}`);
    await printLastStatus(aws, s, print);
    print('its stack outlives it: run make destroy, then make deploy for a fresh instance');
    return 1;
  }

  await waitForSsmRegistration(aws.ssm, aws.ec2, out.InstanceId, {
    print, sleep: io.sleep, pollMs: io.pollMs, now: io.now, timeoutMs: s.ssmWaitMinutes * 60_000,
  });

  const since = new Date((io.now ?? Date.now)());
  await writeJobStatus(aws.s3, s.outputBucket, keys.status, {
    phase: 'starting', input: s.inputUrl, output: s.outputUrl, updatedAt: since.toISOString(),
  });
  const commandId = await sendJob(aws.ssm, {
    instanceId: out.InstanceId,
    documentName: out.DocumentName,
    parameters: commandParameters(s, bundleHttpsUrl(region, s.outputBucket, bundleKey), bundle.sha256),
    logGroupName: out.LogGroupName,
    comment: `Proton Beam ${s.stackName}`,
  });
  print(`job sent: command ${commandId}. Ctrl-C stops following, not the job (make status, make logs)`);

  let followed: Awaited<ReturnType<typeof followCommand>>;
  try {
    followed = await followCommand(aws.ssm, aws.s3, commandId, out.InstanceId, {
      print, sleep: io.sleep, pollMs: io.pollMs, now: io.now,
      statusBucket: s.outputBucket, statusKey: keys.status, since, ec2: aws.ec2,
    });
  } catch (err) {
    if (!isExpiredCredentials(err)) throw err;
    throw new FatalError([
      'your AWS credentials expired while following the job; the job is not affected and continues on its own on the instance.',
      `Renew them (aws sso login, or new keys), then follow it with make status (and make logs); the results and ${s.outputUrl}_status.json appear in ${s.outputUrl}.`,
    ].join('\n'));
  }
  const { invocation, status, lostInstance } = followed;
  if (lostInstance) {
    print('');
    print(lostInstance);
    if (status) for (const line of summaryLines(status)) print(line);
    print(s.spot ? 'AWS may have reclaimed the spot instance: run make destroy, then make deploy (SPOT=false avoids this)'
      : 'run make destroy, then make deploy to start again');
    return 1;
  }

  if (invocation?.Status === 'Success' && (!status || status.phase === 'done')) {
    print('');
    print(`results: ${s.outputUrl}`);
    if (status) for (const line of summaryLines(status)) print(line);
    print(s.shutdownWhenDone
      ? 'the instance is shutting itself down; make destroy removes the stack (the results stay)'
      : 'the instance is still running (SHUTDOWN_WHEN_DONE=false): make destroy when you are done');
    return 0;
  }

  print('');
  print(`job ${invocation?.Status ?? 'ended'}${invocation?.StatusDetails && invocation.StatusDetails !== invocation.Status ? ` (${invocation.StatusDetails})` : ''}`);
  if (status) for (const line of summaryLines(status)) print(line);
  const failedStep = invocation?.CommandPlugins?.find((p) => p.Status && p.Status !== 'Success' && p.Status !== 'Pending');
  if (failedStep) print(`failed step: ${failedStep.Name} (${failedStep.Status}${failedStep.ResponseCode !== undefined ? `, exit code ${failedStep.ResponseCode}` : ''})`);
  const tail = await tailOutput(aws.logs, aws.ssm, {
    logGroupName: out.LogGroupName, commandId, instanceId: out.InstanceId, lines: opts.tailLines ?? 40,
  });
  if (tail.length > 0) {
    print('last lines of the job output:');
    for (const line of tail) print(`  ${line}`);
  }
  const { state } = await instanceState(aws.ec2, out.InstanceId);
  print(state === 'running' ? 'the instance is still running: make ssm to look around, make destroy when done'
    : `the instance is ${state}; make destroy removes the stack (the results stay)`);
  return 1;
}

/** The job's last status from S3 (the instance may be long gone), or a line saying there is none. */
async function printLastStatus(aws: AwsClients, s: DeploySettings, print: (line: string) => void): Promise<void> {
  const last = await readJobStatus(aws.s3, s.outputBucket, outputKeys(s).status).catch(() => undefined);
  if (!last) {
    print(`no ${s.outputUrl}_status.json: the job never reported`);
    return;
  }
  print(`last job status (${last.updatedAt}):`);
  for (const line of summaryLines(last)) print(`  ${line}`);
}

/** Runs make destroy. The output bucket is not part of the stack and is never touched. */
export async function destroy(s: DeploySettings, aws: AwsClients, io: FlowIO): Promise<number> {
  const existed = await destroyStack(aws.cfn, s.stackName, { print: io.print, sleep: io.sleep, pollMs: io.pollMs });
  if (!existed) io.print(`no stack ${s.stackName} in ${s.region}: nothing to delete`);
  else io.print(`stack ${s.stackName} deleted`);
  if (s.outputBucket) io.print(`results, bundles and _status.json stay in ${s.outputUrl}`);
  return 0;
}
