#!/usr/bin/env -S npx tsx
// The job that the SSM document runs on the instance (and make run-local runs here):
// convert INPUT streaming, build the index, upload to OUTPUT, publish OUTPUT/_status.json every
// few seconds, then, when asked, shut the instance down (it terminates: no more billing).
//
// Settings come from flags or, on the instance, from the document's parameters, which the SSM
// agent passes as environment variables (SSM_inputUrl, SSM_outputUrl, ...): never through a shell.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { FatalError, UsageError } from '../lib/cli/errors.ts';
import { createS3Client } from '../lib/s3/client.ts';
import { inputUrlProblem, outputUrlProblem } from '../lib/deploy/settings.ts';
import { splitS3Url } from '../lib/s3/url.ts';
import { readJobStatus, writeJobStatus } from '../lib/deploy/status.ts';
import { ROOT } from '../lib/paths.ts';
import { runScript } from '../lib/cli/run.ts';
import { parseBool, parseIntInRange } from '../lib/cli/flags.ts';
import { parseCheckpointEvery } from '../lib/checkpoint/interval.ts';
import { runJob } from '../lib/deploy/job-runner.ts';
import { endGroupOnWatchdogShutdown, endWatchdog, extendWatchdog } from '../lib/deploy/watchdog.ts';
import { Imds, imdsEndpoint } from '../lib/deploy/spot.ts';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { jobStreamPrefix, runShippingOutput } from '../lib/deploy/log-ship.ts';
import { endOwnGroup, endsTheRun } from '../lib/deploy/group.ts';

/** SSM_<name>, matched without regard to case (the agent's spelling of the prefix varies). */
function ssmParam(name: string): string | undefined {
  const wanted = `ssm_${name}`.toLowerCase();
  const key = Object.keys(process.env).find((k) => k.toLowerCase() === wanted);
  const value = key === undefined ? undefined : process.env[key];
  return value === '' ? undefined : value;
}

/** A flag, else the document parameter's environment variable, else the fallback. */
const setting = (flag: string | undefined, param: string, fallback: string) => flag ?? ssmParam(param) ?? fallback;

/** Why the converter ended, when it failed (the exit code alone does not say it was killed by a signal). */
let lastError: string | undefined;

// Until the flags are parsed, the document parameter decides (a job that cannot start still stops billing).
let shutdownAsked = ssmParam('shutdownWhenDone') === 'true';

/**
 * On the instance, the runJob step names the stack's Auto Scaling group: when the run ends (not
 * when it is interrupted), the group goes to 0/0/0 so that nothing replaces the instance.
 */
async function endGroupIfTheRunEnded(code: number, error?: string): Promise<void> {
  const group = process.env.PB_AUTOSCALING_GROUP;
  if (!group) return;
  if (!endsTheRun(code, error)) {
    console.log(`job: interrupted (exit code ${code}): group ${group} keeps its instance count, so that a new instance resumes the run`);
    return;
  }
  const endpoint = imdsEndpoint();
  await endOwnGroup({ asg: new AutoScalingClient({}), group, imds: endpoint ? new Imds(endpoint) : undefined, print: (line) => console.log(line) });
}

/** The launch template says terminate on shutdown: the instance and its volumes go away. */
async function shutdownIfAsked(): Promise<void> {
  if (!shutdownAsked) return;
  // One minute lets the SSM agent report the result and ship the last output lines.
  console.log('job: shutting the instance down in 1 minute (SHUTDOWN_WHEN_DONE=true)');
  await $`shutdown -h +1 ${'Proton Beam job finished'}`.nothrow();
}

/** A job that cannot even start still says so in _status.json when it knows where that is. */
async function publishStartFailure(message: string): Promise<void> {
  const output = ssmParam('outputUrl');
  if (!output || outputUrlProblem(output)) return;
  const { bucket, key } = splitS3Url(output)!;
  const now = new Date().toISOString();
  await writeJobStatus(createS3Client(), bucket, `${key}_status.json`, {
    phase: 'failed', input: ssmParam('inputUrl'), output, error: message, updatedAt: now, finishedAt: now,
  }).catch(() => undefined);
}

// Started by the stack's association (no CloudWatch output of its own): run as a child whose
// output goes to CloudWatch Logs as well (lib/deploy/log-ship.ts).
if (process.env.PB_LOG_GROUP && process.env.PB_LOG_SHIPPING !== 'child') {
  const endpoint = imdsEndpoint();
  const instanceId = (endpoint && await new Imds(endpoint).get('instance-id').catch(() => undefined)) || os.hostname();
  process.exit(await runShippingOutput({
    logs: new CloudWatchLogsClient({}),
    group: process.env.PB_LOG_GROUP,
    prefix: jobStreamPrefix(instanceId, ssmParam('runId') ?? ''),
    argv: [process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    childEnv: { ...process.env, PB_LOG_SHIPPING: 'child' },
  }));
}

await runScript({
  command: 'npx tsx scripts/job.ts',
  synopsis: '[options]',
  about: `
The job that the SSM document runs on the instance (and make run-local runs here): convert
INPUT streaming, build the index, upload to OUTPUT, publish OUTPUT/_status.json every few
seconds, then, when asked, shut the instance down. Each setting falls back to the SSM document
parameter's environment variable (SSM_inputUrl, SSM_outputUrl, ...).`,
  flags: {
    input: { kind: 'string', value: 'URL|PATH', help: 'what to convert (SSM_inputUrl)' },
    output: { kind: 'string', value: 's3://BUCKET/PREFIX/', help: 'where the results go (SSM_outputUrl)' },
    'work-dir': { kind: 'string', value: 'DIR', default: '/data/proton-beam/work', help: 'local folder of the conversion' },
    'validate-signatures': { kind: 'string', value: 'BOOL', defaultText: 'true', help: 'check Schnorr signatures (SSM_validateSignatures)' },
    'validate-event-ids': { kind: 'string', value: 'BOOL', defaultText: 'true', help: 'check event ids (SSM_validateIds)' },
    'compression-level': { kind: 'string', value: 'N', defaultText: '6', help: 'gzip level 0..9 (SSM_compressionLevel)' },
    'kms-key-arn': { kind: 'string', value: 'ARN', help: 'SSE-KMS key for the uploads (SSM_kmsKeyArn)' },
    'checkpoint-every': { kind: 'string', value: 'TIME|SIZE|off', defaultText: "the converter's, 5m", help: 'how often the converter checkpoints (30s, 5m, 4GiB, off; SSM_checkpointEvery)' },
    'shutdown-when-done': { kind: 'string', value: 'BOOL', defaultText: 'false', help: 'shut the instance down at the end (SSM_shutdownWhenDone)' },
    converter: { kind: 'string', value: 'SCRIPT', help: 'the converter script (default scripts/convert.ts; tests use a fake)' },
    'status-interval': { kind: 'string', value: 'SECONDS', default: '5', help: 'how often _status.json is written' },
    'progress-every': { kind: 'string', value: 'SECONDS', default: '15', help: 'how often the output gets a progress line' },
    'spot-poll-seconds': { kind: 'string', value: 'SECONDS', default: '5', help: 'how often the instance metadata is asked for a spot interruption notice' },
    'max-job-hours': { kind: 'string', value: 'HOURS', defaultText: '48', help: 'the instance watchdog shuts the instance down if the job still runs after HOURS (SSM_maxJobHours)' },
    'run-id': { kind: 'string', value: 'ID', help: 'the make deploy run (SSM_runId): a run whose _status.json says done is not started again' },
  },
  exitWhenDone: true,
  finally: async (code, error) => {
    if (error !== undefined) await publishStartFailure(error);
    await endGroupIfTheRunEnded(code, error ?? lastError);
    await endWatchdog((line) => console.log(line));
    await shutdownIfAsked();
  },
}, async ({ flags }) => {
  shutdownAsked = parseBool('shutdown-when-done', setting(flags['shutdown-when-done'], 'shutdownWhenDone', 'false'));
  const input = setting(flags.input, 'inputUrl', '');
  const output = setting(flags.output, 'outputUrl', '');
  if (!input) throw new UsageError('no input: pass --input or set SSM_inputUrl');
  if (!output) throw new UsageError('no output: pass --output or set SSM_outputUrl');
  const isUrl = /^[a-z0-9+.-]+:\/\//i.test(input);
  if (isUrl && inputUrlProblem(input)) throw new UsageError(inputUrlProblem(input));
  if (!isUrl && !fs.existsSync(input)) throw new UsageError(`input ${input}: no such file`);
  if (outputUrlProblem(output)) throw new UsageError(outputUrlProblem(output));
  const level = parseIntInRange('compression-level', setting(flags['compression-level'], 'compressionLevel', '6'), 0, 9);
  const interval = Number(flags['status-interval']);
  if (!(interval > 0)) throw new UsageError(`--status-interval takes a positive number of seconds, not '${flags['status-interval']}'`);
  const progressEvery = Number(flags['progress-every']);
  if (!(progressEvery > 0)) throw new UsageError(`--progress-every takes a positive number of seconds, not '${flags['progress-every']}'`);
  const kmsKeyArn = setting(flags['kms-key-arn'], 'kmsKeyArn', '');
  const checkpointEvery = setting(flags['checkpoint-every'], 'checkpointEvery', '');
  if (checkpointEvery) parseCheckpointEvery(checkpointEvery); // a usage error before anything starts
  const converterScript = path.resolve(flags.converter ?? process.env.PB_CONVERTER ?? path.join(ROOT, 'scripts', 'convert.ts'));
  if (!fs.existsSync(converterScript)) throw new FatalError(`converter ${converterScript} not found`);

  const spotPoll = Number(flags['spot-poll-seconds']);
  if (!(spotPoll > 0)) throw new UsageError(`--spot-poll-seconds takes a positive number of seconds, not '${flags['spot-poll-seconds']}'`);
  const endpoint = imdsEndpoint();
  const spotWatch = endpoint ? { endpoint, intervalMs: spotPoll * 1000 } : undefined;
  const maxJobHours = parseIntInRange('max-job-hours', setting(flags['max-job-hours'], 'maxJobHours', '48'), 1, 720);
  await extendWatchdog(maxJobHours, (line) => console.log(line));
  if (process.env.PB_AUTOSCALING_GROUP) {
    await endGroupOnWatchdogShutdown(process.env.PB_AUTOSCALING_GROUP, ROOT, process.env.AWS_REGION, (line) => console.log(line));
  }

  // The group's next instance runs the same run (the association's runId): a run that finished
  // (its instance lost before the group was set to 0) is not started again.
  const runId = setting(flags['run-id'], 'runId', '') || undefined;
  if (runId) {
    const { bucket, key } = splitS3Url(output)!;
    const last = await readJobStatus(createS3Client(), bucket, `${key}_status.json`).catch(() => undefined);
    if (last?.runId === runId && last.phase === 'done') {
      console.log(`job: run ${runId} already finished at ${last.finishedAt ?? last.updatedAt}: not started again (results in ${output})`);
      return 0;
    }
  }

  const { exitCode, status: final } = await runJob({
    runId,
    input: isUrl ? input : path.resolve(input),
    output,
    workDir: path.resolve(flags['work-dir']),
    validateSignatures: parseBool('validate-signatures', setting(flags['validate-signatures'], 'validateSignatures', 'true')),
    validateIds: parseBool('validate-event-ids', setting(flags['validate-event-ids'], 'validateIds', 'true')),
    compressionLevel: level,
    kmsKeyArn: kmsKeyArn || undefined,
    checkpointEvery: checkpointEvery || undefined,
    converter: [process.execPath, '--import', 'tsx', converterScript],
    statusIntervalMs: interval * 1000,
    progressLineMs: progressEvery * 1000,
    spot: spotWatch,
    // The document's runJob step sets the stack's namespace; make run-local and tests do not.
    metrics: process.env.PB_METRICS_NAMESPACE
      ? { client: new CloudWatchClient({}), namespace: process.env.PB_METRICS_NAMESPACE, intervalMs: 60_000 }
      : undefined,
    s3: createS3Client(),
    print: (line) => console.log(line),
  });
  lastError = final.error;
  return exitCode;
});
