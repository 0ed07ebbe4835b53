/**
 * The instance side of the job: run the converter (streaming from the input, building the index,
 * uploading to OUTPUT), and publish its --status-file to OUTPUT/_status.json every few seconds,
 * with the job's own phases around it. Used by scripts/job.ts on EC2 and by make run-local.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Print } from './aws.ts';
import { fromConverterStatus, progressLine, summaryLines, writeJobStatus, type ConverterStatus, type JobStatus } from './status.ts';
import { splitS3Url } from '../s3/url.ts';
import { uploadResults } from '../s3/output.ts';
import { watchSpotNotice, type SpotNotice } from './spot.ts';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { startMetrics } from './metrics.ts';

export interface JobOptions {
  input: string;
  /** s3://bucket/prefix/ */
  output: string;
  workDir: string;
  validateSignatures: boolean;
  validateIds: boolean;
  compressionLevel: number;
  kmsKeyArn?: string;
  /** The converter's --checkpoint-every (30s, 5m, 4GiB, off); its own default (5 min) when undefined. */
  checkpointEvery?: string;
  /** The make deploy run this job belongs to (published in _status.json). */
  runId?: string;
  /** The converter command: program and leading arguments (INPUT and options are appended). */
  converter: string[];
  statusIntervalMs: number;
  /** How often the job's output gets a progress line while the converter runs (default 15 s). */
  progressLineMs?: number;
  s3: S3Client;
  print: Print;
  /** Environment for the converter (defaults to this process's). */
  env?: NodeJS.ProcessEnv;
  /** Poll the instance metadata for a spot interruption notice (IMDSv2) at this endpoint. */
  spot?: { endpoint: string; intervalMs: number };
  /** Publish the job's metrics to CloudWatch (the stack's namespace) every intervalMs. */
  metrics?: { client: CloudWatchClient; namespace: string; intervalMs: number };
}

/** The exit code of a job stopped by a spot interruption notice. */
export const INTERRUPTED_EXIT = 3;

/** The converter's arguments, per its command-line contract. */
export function converterArgs(o: Pick<JobOptions, 'input' | 'output' | 'workDir' | 'validateSignatures' | 'validateIds' | 'compressionLevel' | 'kmsKeyArn' | 'checkpointEvery'>, statusFile: string): string[] {
  const args = [
    o.input,
    '-o', path.join(o.workDir, 'out'),
    `--validate-signatures=${o.validateSignatures}`,
    `--validate-event-ids=${o.validateIds}`,
    '--compression-level', String(o.compressionLevel),
    '--no-progress',
    '--status-file', statusFile,
    '--s3-output', o.output,
  ];
  if (o.kmsKeyArn) args.push('--sse-kms-key-id', o.kmsKeyArn);
  if (o.checkpointEvery) args.push('--checkpoint-every', o.checkpointEvery);
  return args;
}

function readConverterStatus(file: string): Partial<ConverterStatus> | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ConverterStatus>;
  } catch {
    return undefined; // not written yet (or mid-rename on a non-atomic writer): next tick
  }
}

/** Runs the job; resolves with the converter's exit code (1 when it could not start). */
export async function runJob(o: JobOptions): Promise<{ exitCode: number; status: JobStatus }> {
  const { bucket, key: prefix } = splitS3Url(o.output)!;
  const statusKey = `${prefix}_status.json`;
  fs.mkdirSync(o.workDir, { recursive: true });
  const statusFile = path.join(o.workDir, 'converter-status.json');
  fs.rmSync(statusFile, { force: true });

  let status: JobStatus = {
    phase: 'converting',
    input: o.input,
    output: o.output,
    ...(o.runId ? { runId: o.runId } : {}),
    host: os.hostname(),
    startedAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
  };
  let published = '';
  let publishing: Promise<void> = Promise.resolve();
  const publish = (next: JobStatus) => {
    status = next;
    const text = JSON.stringify(next);
    if (text === published) return publishing;
    published = text;
    publishing = publishing.then(() => writeJobStatus(o.s3, bucket, statusKey, next)).catch((err) => {
      o.print(`job: could not publish s3://${bucket}/${statusKey}: ${(err as Error).message}`);
    });
    return publishing;
  };
  const refresh = () => {
    const c = readConverterStatus(statusFile);
    if (!c) return;
    const merged = { ...status, ...fromConverterStatus(c), updatedAt: c.updatedAt ?? new Date().toISOString() };
    // The job decides done/failed from the converter's exit code.
    if (merged.phase === 'done' || merged.phase === 'failed') merged.phase = status.phase;
    void publish(merged);
    // The job's output (make logs, make run-local) says how far it is, not only when it ends.
    if (Date.now() - lastProgressLine >= (o.progressLineMs ?? 15_000)) {
      lastProgressLine = Date.now();
      o.print(`job: ${merged.phase} ${progressLine(merged)}`);
    }
  };
  let lastProgressLine = Date.now();

  await publish(status);
  // The converter's folder starts empty: what an earlier run committed is in OUTPUT (its
  // checkpoint and parts, docs/S3.md), and a resume from there needs an empty folder.
  fs.rmSync(path.join(o.workDir, 'out'), { recursive: true, force: true });
  const args = [...o.converter.slice(1), ...converterArgs(o, statusFile)];
  o.print(`job: ${o.converter[0]} ${args.join(' ')}`);
  const timer = setInterval(refresh, o.statusIntervalMs);
  const metrics = o.metrics && startMetrics({ ...o.metrics, dataDir: o.workDir, status: () => status, print: o.print });
  let notice: SpotNotice | undefined;
  const exit = await new Promise<{ code: number; error?: string }>((resolve) => {
    const child = spawn(o.converter[0], args, { stdio: ['ignore', 'inherit', 'inherit'], env: o.env ?? process.env });
    // A spot notice gives two minutes: the converter stops reading (SIGINT, its Ctrl-C), closes
    // its files, so that what it wrote is complete, and writes its checkpoint (_checkpoint.json,
    // lib/checkpoint); the job uploads that below.
    const watch = o.spot && watchSpotNotice(o.spot.endpoint, o.spot.intervalMs, (n) => {
      notice = n;
      o.print(`job: spot interruption notice (${n.action} at ${n.time || '?'}): stopping the conversion, keeping what is complete`);
      child.kill('SIGINT');
    });
    child.on('error', (err) => { watch?.stop(); resolve({ code: 1, error: `cannot start the converter: ${err.message}` }); });
    child.on('exit', (code, signal) => {
      watch?.stop();
      resolve(code === 0
        ? { code: 0 }
        : { code: code ?? 1, error: signal ? `converter killed by ${signal}` : `converter exited with code ${code}` });
    });
  });
  clearInterval(timer);
  const c = readConverterStatus(statusFile);
  if (notice) {
    const result = await interrupted(o, { ...status, ...(c ? fromConverterStatus(c) : {}) }, notice, publish);
    await metrics?.stop();
    return result;
  }
  const finishedAt = new Date().toISOString();
  const final: JobStatus = {
    ...status,
    ...(c ? fromConverterStatus(c) : {}),
    phase: exit.code === 0 ? 'done' : 'failed',
    updatedAt: finishedAt,
    finishedAt,
    exitCode: exit.code,
  };
  if (exit.error) final.error = exit.error;
  if (exit.code === 0 && final.etaSeconds !== undefined) final.etaSeconds = 0;
  await publish(final);
  await metrics?.stop();
  for (const line of summaryLines(final)) o.print(`job: ${line}`);
  o.print(`job: results in ${o.output}`);
  return { exitCode: exit.code, status: final };
}

/**
 * After a spot notice: the complete files the converter closed are uploaded (each checked, no
 * manifest.json: the prefix must not look complete), and _status.json says `interrupted` with the
 * input offset reached. Resolves with INTERRUPTED_EXIT.
 */
async function interrupted(o: JobOptions, reached: JobStatus, notice: SpotNotice, publish: (s: JobStatus) => Promise<void>): Promise<{ exitCode: number; status: JobStatus }> {
  const base: JobStatus = {
    ...reached, phase: 'interrupted', interruption: notice, inputOffset: reached.processedBytes ?? 0, updatedAt: new Date().toISOString(),
  };
  await publish({ ...base, uploadedFiles: 0 });
  let uploadedFiles = 0;
  let error: string | undefined;
  try {
    const report = await uploadResults({
      dir: path.join(o.workDir, 'out'), target: o.output, sseKmsKeyId: o.kmsKeyArn, partial: true, client: o.s3,
      manifest: {},
    });
    uploadedFiles = report.files.length;
    o.print(`job: uploaded ${uploadedFiles} complete files to ${o.output} (no manifest.json: the run is incomplete)`);
  } catch (err) {
    error = `the upload after the spot notice failed: ${(err as Error).message}`;
    o.print(`job: ${error}`);
  }
  const finishedAt = new Date().toISOString();
  const final: JobStatus = { ...base, uploadedFiles, updatedAt: finishedAt, finishedAt, exitCode: INTERRUPTED_EXIT, ...(error ? { error } : {}) };
  await publish(final);
  for (const line of summaryLines(final)) o.print(`job: ${line}`);
  return { exitCode: INTERRUPTED_EXIT, status: final };
}
