#!/usr/bin/env -S npx tsx
// make run-local: the instance side of make deploy, end to end, on this machine and without AWS.
// Starts s3rver on 127.0.0.1, then does what the SSM document's steps do on the instance:
// bundle the working tree to OUTPUT/_deploy/<hash>.tgz, fetch and unpack it, install, and run
// scripts/job.ts with the document's parameters as SSM_* environment variables. The results,
// _status.json and the bundle stay in the s3rver directory (--s3-dir) afterwards.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { UsageError } from '../lib/cli/errors.ts';
import { runScript } from '../lib/cli/run.ts';
import { createS3Client } from '../lib/s3/client.ts';
import { createBundle, listBundleFiles, uploadBundle } from '../lib/deploy/bundle.ts';
import { formatBytes } from '../lib/cli/format.ts';
import { outputUrlProblem } from '../lib/deploy/settings.ts';
import { splitS3Url } from '../lib/s3/url.ts';
import { readJobStatus, summaryLines } from '../lib/deploy/status.ts';
import { ROOT } from '../lib/paths.ts';
import { startLocalS3 } from '../lib/dev/local-s3.ts';

await runScript({
  command: 'npx tsx scripts/run-local.ts',
  synopsis: '--input PATH [options]   (or: make run-local INPUT=PATH)',
  about: `
The instance side of make deploy, end to end, on this machine and without AWS: s3rver on
127.0.0.1, the bundle of this working tree, then scripts/job.ts as the SSM document runs it.
The results, _status.json and the bundle stay in the s3rver folder (--s3-dir) afterwards.`,
  flags: {
    input: { kind: 'string', value: 'PATH', help: 'the JSONL file to convert (or INPUT=PATH)' },
    output: { kind: 'string', value: 's3://BUCKET/PREFIX/', default: 's3://local-results/run-local/', help: 'where in the local S3 the results go' },
    's3-dir': { kind: 'string', value: 'DIR', default: path.join(ROOT, '.local-s3'), defaultText: '.local-s3', help: "the local S3's folder" },
    'validate-signatures': { kind: 'bool', default: true, help: 'check Schnorr signatures' },
    'validate-event-ids': { kind: 'bool', default: true, help: 'check event ids' },
    'compression-level': { kind: 'int', default: 6, min: 0, max: 9, help: 'gzip level' },
    converter: { kind: 'string', value: 'SCRIPT', help: 'the converter script (tests use a fake)' },
    'npm-ci': { kind: 'switch', help: 'install node_modules as the instance does, instead of linking them' },
    'status-interval': { kind: 'string', value: 'SECONDS', default: '1', help: 'how often the job writes _status.json' },
    'progress-every': { kind: 'string', value: 'SECONDS', default: '5', help: 'how often the job prints a progress line' },
  },
  exitWhenDone: true,
}, async ({ flags: values }) => {
  const inputArg = values.input ?? process.env.INPUT;
  if (!inputArg) throw new UsageError('no input: pass --input PATH (or INPUT=PATH)');
  const input = path.resolve(inputArg);
  if (!fs.existsSync(input)) throw new UsageError(`input ${inputArg}: no such file`);
  const output = values.output.endsWith('/') ? values.output : `${values.output}/`;
  if (outputUrlProblem(output)) throw new UsageError(outputUrlProblem(output));
  const { bucket, key: prefix } = splitS3Url(output)!;

  const s3dir = path.resolve(values['s3-dir']);
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

    // Step install: the document's check of the bundle's SHA-256 first.
    console.log('step install');
    await $({ cwd: machine, input: `${bundle.sha256}  bundle.tgz\n` })`sha256sum -c --strict -`;
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
      '--status-interval', values['status-interval'], '--progress-every', values['progress-every']];
    if (values.converter) jobArgs.push('--converter', path.resolve(values.converter));
    const job = await $({
      cwd: app,
      stdio: 'inherit',
      env: {
        ...process.env,
        SSM_inputUrl: input,
        SSM_outputUrl: output,
        SSM_validateSignatures: String(values['validate-signatures']),
        SSM_validateIds: String(values['validate-event-ids']),
        SSM_compressionLevel: String(values['compression-level']),
        SSM_shutdownWhenDone: 'false',
        SSM_kmsKeyArn: '',
        // This process has said once that the AWS SDK wants Node 22; the job and the converter need not again.
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
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
});
