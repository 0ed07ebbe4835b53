#!/usr/bin/env -S npx tsx
// The job that the SSM document runs on the instance (and make run-local runs here):
// convert INPUT streaming, build the index, upload to OUTPUT, publish OUTPUT/_status.json every
// few seconds, then, when asked, shut the instance down (it terminates: no more billing).
//
// Settings come from flags or, on the instance, from the document's parameters, which the SSM
// agent passes as environment variables (SSM_inputUrl, SSM_outputUrl, ...): never through a shell.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { $ } from 'zx';
import { FatalError, UsageError } from '../lib/cli/errors.ts';
import { createS3Client } from '../lib/s3/client.ts';
import { inputUrlProblem, outputUrlProblem } from '../lib/deploy/settings.ts';
import { splitS3Url } from '../lib/s3/url.ts';
import { writeJobStatus } from '../lib/deploy/status.ts';
import { ROOT } from '../lib/paths.ts';
import { runJob } from '../lib/deploy/job-runner.ts';

const USAGE = `usage: job.ts [--input URL|PATH] [--output s3://bucket/prefix/] [--work-dir DIR]
  [--validate-signatures true|false] [--validate-ids true|false] [--compression-level 0..9]
  [--kms-key-arn ARN] [--shutdown-when-done true|false] [--converter SCRIPT] [--status-interval SECONDS]
Each setting falls back to the SSM document parameter's environment variable (SSM_inputUrl, ...).`;

/** SSM_<name>, matched without regard to case (the agent's spelling of the prefix varies). */
function ssmParam(name: string): string | undefined {
  const wanted = `ssm_${name}`.toLowerCase();
  const key = Object.keys(process.env).find((k) => k.toLowerCase() === wanted);
  return key === undefined ? undefined : process.env[key];
}

function bool(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new UsageError(`${name} must be true or false, not ${value}`);
}

// Until the flags are parsed, the document parameter decides (a job that cannot start still stops billing).
let shutdownAsked = ssmParam('shutdownWhenDone') === 'true';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      input: { type: 'string' },
      output: { type: 'string' },
      'work-dir': { type: 'string', default: '/data/proton-beam/work' },
      'validate-signatures': { type: 'string' },
      'validate-ids': { type: 'string' },
      'compression-level': { type: 'string' },
      'kms-key-arn': { type: 'string' },
      'shutdown-when-done': { type: 'string' },
      converter: { type: 'string' },
      'status-interval': { type: 'string', default: '5' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const input = values.input ?? ssmParam('inputUrl') ?? '';
  const output = values.output ?? ssmParam('outputUrl') ?? '';
  if (!input) throw new UsageError(`no input: pass --input or set SSM_inputUrl\n${USAGE}`);
  if (!output) throw new UsageError(`no output: pass --output or set SSM_outputUrl\n${USAGE}`);
  const isUrl = /^[a-z0-9+.-]+:\/\//i.test(input);
  if (isUrl && inputUrlProblem(input)) throw new UsageError(inputUrlProblem(input));
  if (!isUrl && !fs.existsSync(input)) throw new UsageError(`input ${input}: no such file`);
  if (outputUrlProblem(output)) throw new UsageError(outputUrlProblem(output));
  const level = values['compression-level'] ?? ssmParam('compressionLevel') ?? '6';
  if (!/^[0-9]$/.test(level)) throw new UsageError(`--compression-level must be 0..9, not ${level}`);
  const interval = Number(values['status-interval']);
  if (!(interval > 0)) throw new UsageError(`--status-interval must be a positive number of seconds`);
  const kmsKeyArn = values['kms-key-arn'] ?? ssmParam('kmsKeyArn') ?? '';
  shutdownAsked = bool('shutdown-when-done', values['shutdown-when-done'] ?? ssmParam('shutdownWhenDone'), false);
  const converterScript = path.resolve(values.converter ?? process.env.PB_CONVERTER ?? path.join(ROOT, 'scripts', 'convert.ts'));
  if (!fs.existsSync(converterScript)) throw new FatalError(`converter ${converterScript} not found`);

  const { exitCode } = await runJob({
    input: isUrl ? input : path.resolve(input),
    output,
    workDir: path.resolve(values['work-dir']!),
    validateSignatures: bool('validate-signatures', values['validate-signatures'] ?? ssmParam('validateSignatures'), true),
    validateIds: bool('validate-ids', values['validate-ids'] ?? ssmParam('validateIds'), true),
    compressionLevel: Number(level),
    kmsKeyArn: kmsKeyArn || undefined,
    converter: [process.execPath, '--import', 'tsx', converterScript],
    statusIntervalMs: interval * 1000,
    s3: createS3Client(),
    print: (line) => console.log(line),
  });

  return exitCode;
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

main().then(async (code) => {
  await shutdownIfAsked();
  process.exit(code);
}, async (err) => {
  const expected = err instanceof UsageError || err instanceof FatalError;
  console.error(expected ? `job: ${err.message}` : err);
  await publishStartFailure(expected ? err.message : String(err));
  await shutdownIfAsked();
  process.exit(expected ? err.exitCode : 1);
});
