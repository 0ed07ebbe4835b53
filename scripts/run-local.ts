#!/usr/bin/env -S npx tsx
// make run-local: the instance side of make deploy, end to end, on this machine and without AWS.
// Starts s3rver on 127.0.0.1, then does what the SSM document's steps do on the instance:
// bundle the working tree to OUTPUT/_deploy/<hash>.tgz, fetch and unpack it, install, and run
// scripts/job.ts with the document's parameters as SSM_* environment variables. The results,
// _status.json and the bundle stay in the s3rver directory (--s3-dir) afterwards.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { $ } from 'zx';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { FatalError, UsageError } from '../lib/cli/errors.ts';
import { createS3Client } from '../lib/s3/client.ts';
import { createBundle, listBundleFiles, uploadBundle } from '../lib/deploy/bundle.ts';
import { formatBytes } from '../lib/cli/format.ts';
import { outputUrlProblem } from '../lib/deploy/settings.ts';
import { splitS3Url } from '../lib/s3/url.ts';
import { readJobStatus, summaryLines } from '../lib/deploy/status.ts';
import { ROOT } from '../lib/paths.ts';
import { startLocalS3 } from '../lib/dev/local-s3.ts';

const USAGE = `usage: run-local.ts --input PATH [--output s3://bucket/prefix/] [--s3-dir DIR]
  [--validate-signatures true|false] [--validate-ids true|false] [--compression-level 0..9]
  [--converter SCRIPT] [--npm-ci] [--status-interval SECONDS]`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      input: { type: 'string', default: process.env.INPUT },
      output: { type: 'string', default: 's3://local-results/run-local/' },
      's3-dir': { type: 'string', default: path.join(ROOT, '.local-s3') },
      'validate-signatures': { type: 'string', default: 'true' },
      'validate-ids': { type: 'string', default: 'true' },
      'compression-level': { type: 'string', default: '6' },
      converter: { type: 'string' },
      'npm-ci': { type: 'boolean', default: false },
      'status-interval': { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.input) throw new UsageError(`no input: pass --input PATH (or INPUT=PATH)\n${USAGE}`);
  const input = path.resolve(values.input);
  if (!fs.existsSync(input)) throw new UsageError(`input ${values.input}: no such file`);
  const output = values.output!.endsWith('/') ? values.output! : `${values.output}/`;
  if (outputUrlProblem(output)) throw new UsageError(outputUrlProblem(output));
  const { bucket, key: prefix } = splitS3Url(output)!;

  const s3dir = path.resolve(values['s3-dir']!);
  fs.mkdirSync(s3dir, { recursive: true });
  const local = await startLocalS3(s3dir, [bucket]);
  console.log(`local S3 (s3rver) at ${local.endpoint}, objects in ${s3dir}`);
  Object.assign(process.env, local.env);
  const s3 = createS3Client({ region: 'us-east-1' });
  const machine = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-instance-'));
  try {
    // make deploy's side: the bundle.
    const files = await listBundleFiles(ROOT, (l) => console.log(l));
    const bundle = await createBundle(ROOT, files);
    const bundleKey = await uploadBundle(s3, bucket, `${prefix}_deploy/`, bundle, (l) => console.log(l));

    // Step fetchBundle.
    console.log('step fetchBundle');
    const app = path.join(machine, 'app');
    fs.mkdirSync(app, { recursive: true });
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: bundleKey }));
    fs.writeFileSync(path.join(machine, 'bundle.tgz'), await object.Body!.transformToByteArray());

    // Step install.
    console.log('step install');
    await $({ cwd: app })`tar -xzf ${path.join(machine, 'bundle.tgz')}`;
    if (values['npm-ci']) {
      await $({ cwd: app, stdio: 'inherit' })`npm ci --omit=dev --no-audit --no-fund --loglevel=warn`;
    } else {
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(app, 'node_modules'), 'dir');
      console.log('  (node_modules linked from this checkout; --npm-ci installs them as the instance does)');
    }

    // Step runJob, with the document's parameters as the SSM agent passes them.
    console.log('step runJob');
    const jobArgs = ['--import', 'tsx', 'scripts/job.ts', '--work-dir', path.join(machine, 'work'),
      '--status-interval', values['status-interval']!];
    if (values.converter) jobArgs.push('--converter', path.resolve(values.converter));
    const job = await $({
      cwd: app,
      stdio: 'inherit',
      env: {
        ...process.env,
        SSM_inputUrl: input,
        SSM_outputUrl: output,
        SSM_validateSignatures: values['validate-signatures']!,
        SSM_validateIds: values['validate-ids']!,
        SSM_compressionLevel: values['compression-level']!,
        SSM_shutdownWhenDone: 'false',
        SSM_kmsKeyArn: '',
      },
    })`${process.execPath} ${jobArgs}`.nothrow();

    const status = await readJobStatus(s3, bucket, `${prefix}_status.json`);
    const listing = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    console.log(`\n${output}`);
    for (const o of listing.Contents ?? []) console.log(`  ${o.Key!.slice(prefix.length).padEnd(40)} ${formatBytes(o.Size ?? 0)}`);
    if (status) for (const line of summaryLines(status)) console.log(line);
    return job.exitCode ?? 1;
  } finally {
    await local.close();
    fs.rmSync(machine, { recursive: true, force: true });
  }
}

main().then((code) => process.exit(code), (err) => {
  if (err instanceof UsageError || err instanceof FatalError) {
    console.error(`run-local: ${err.message}`);
    process.exit(err.exitCode);
  }
  console.error(err);
  process.exit(1);
});
