/**
 * OUTPUT/_status.json: the job's progress as the instance publishes it and as `make status` and
 * `make deploy` read it. Built from the converter's --status-file plus the job's own phases.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { formatBytes, formatDuration } from '../cli/format.ts';

export type JobPhase =
  | 'starting' | 'fetching bundle' | 'installing'
  | 'converting' | 'indexing' | 'uploading' | 'done' | 'failed' | 'interrupted';

/** What the converter writes to --status-file. */
import type { Status as ConverterStatus } from '../convert/status-file.ts';
export type { ConverterStatus };

export interface JobStatus {
  phase: JobPhase;
  input?: string;
  output?: string;
  /** The make deploy run (template parameter RunId) the job belongs to; a replacement instance runs the same run. */
  runId?: string;
  /** Raw input bytes read so far, and the input's size when known. */
  bytesRead?: number;
  totalBytes?: number | null;
  lines?: number;
  /** Valid events (the converter's `valid`: duplicates included). */
  events?: number;
  rejected?: number;
  duplicates?: number;
  eventsPerSecond?: number;
  /** Which Schnorr verifier the converter runs: "native (...)", "wasm (...)" or "off". */
  verifier?: string;
  etaSeconds?: number | null;
  /** For an s3://bucket/prefix/ input: the object being read. */
  object?: string;
  host?: string;
  startedAt?: string;
  updatedAt: string;
  finishedAt?: string;
  exitCode?: number;
  error?: string;
  /** Bytes of the decompressed input up to the end of the last line converted. */
  processedBytes?: number;
  /** Phase interrupted: the spot notice; inputOffset, the byte of the decompressed input after the last line converted (`lines` lines); what was uploaded. */
  interruption?: { action: string; time: string };
  inputOffset?: number;
  uploadedFiles?: number;
}

/** The converter's fields under the job's names. */
export function fromConverterStatus(c: Partial<ConverterStatus>): Partial<JobStatus> {
  const out: Partial<JobStatus> = {};
  if (c.phase) out.phase = c.phase;
  if (typeof c.bytesRead === 'number') out.bytesRead = c.bytesRead;
  if (c.totalBytes !== undefined) out.totalBytes = c.totalBytes;
  if (typeof c.lines === 'number') out.lines = c.lines;
  if (typeof c.valid === 'number') out.events = c.valid;
  if (typeof c.rejected === 'number') out.rejected = c.rejected;
  if (typeof c.duplicates === 'number') out.duplicates = c.duplicates;
  if (typeof c.eventsPerSecond === 'number') out.eventsPerSecond = c.eventsPerSecond;
  if (c.etaSeconds !== undefined) out.etaSeconds = c.etaSeconds;
  if (typeof c.verifier === 'string') out.verifier = c.verifier;
  if (typeof c.object === 'string') out.object = c.object;
  if (typeof c.processedBytes === 'number') out.processedBytes = c.processedBytes;
  return out;
}

/**
 * OUTPUT/_status.json, or undefined before the job wrote one. Existence by ListObjectsV2 with
 * Prefix: a GetObject of a missing key answers 404 only to a caller allowed s3:ListBucket on the
 * whole bucket, and 403 to one limited to the output prefix (docs/deployer-policy.json).
 */
export async function readJobStatus(s3: S3Client, bucket: string, key: string): Promise<JobStatus | undefined> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }));
  if (!(listed.Contents ?? []).some((o) => o.Key === key)) return undefined;
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const text = await res.Body!.transformToString();
    return JSON.parse(text) as JobStatus;
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'NoSuchKey' || name === 'NotFound') return undefined;
    throw err;
  }
}

export async function writeJobStatus(s3: S3Client, bucket: string, key: string, status: JobStatus): Promise<void> {
  await s3.send(new PutObjectCommand({
    Bucket: bucket,
    Key: key,
    Body: `${JSON.stringify(status, null, 2)}\n`,
    ContentType: 'application/json',
    CacheControl: 'no-cache',
  }));
}

const num = (n: number) => Math.round(n).toLocaleString('en-US');

/** `[########------------]  40.0%` */
export function progressBar(fraction: number, width = 30): string {
  const f = Math.min(1, Math.max(0, fraction));
  const filled = Math.round(f * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(f * 100).toFixed(1).padStart(5)}%`;
}

/** One line: bar (or bytes), events, events/s, ETA. */
export function progressLine(s: JobStatus): string {
  const parts: string[] = [];
  if (s.bytesRead !== undefined) {
    if (s.totalBytes) {
      const fraction = s.phase === 'done' ? 1 : s.bytesRead / s.totalBytes;
      parts.push(`${progressBar(fraction)} ${formatBytes(s.bytesRead)} / ${formatBytes(s.totalBytes)}`);
    } else parts.push(`${formatBytes(s.bytesRead)} read`);
  }
  if (s.events !== undefined) parts.push(`${num(s.events)} events`);
  if (s.eventsPerSecond !== undefined && s.phase !== 'done' && s.phase !== 'failed' && s.phase !== 'interrupted') parts.push(`${num(s.eventsPerSecond)} events/s`);
  if (s.etaSeconds !== undefined && s.etaSeconds !== null && s.phase === 'converting') parts.push(`ETA ${formatDuration(s.etaSeconds)}`);
  if (s.object && s.phase === 'converting') parts.push(`reading ${s.object}`);
  return parts.join('  ');
}

/** The summary printed when the job ends. */
export function summaryLines(s: JobStatus): string[] {
  const lines = [`phase: ${s.phase}${s.error ? ` (${s.error})` : ''}`];
  if (s.phase === 'interrupted') {
    lines.push(`spot interruption notice${s.interruption ? ` (${s.interruption.action} at ${s.interruption.time || '?'})` : ''}: the conversion stopped after line ${num(s.lines ?? 0)}, byte ${num(s.inputOffset ?? 0)} of the decompressed input${s.object ? ` (reading ${s.object})` : ''}`);
    lines.push(`${s.uploadedFiles ?? 0} complete files uploaded to ${s.output ?? 'OUTPUT'} without manifest.json (the run is incomplete): on AWS the group's next instance resumes it (make status); elsewhere run it again`);
  }
  if (s.lines !== undefined) {
    lines.push(`lines read: ${num(s.lines)}; valid events: ${num(s.events ?? 0)}; duplicates: ${num(s.duplicates ?? 0)}; rejected: ${num(s.rejected ?? 0)}`);
  }
  if (s.bytesRead !== undefined) lines.push(`input read: ${formatBytes(s.bytesRead)}`);
  if (s.verifier) lines.push(`signatures: ${s.verifier === 'off' ? 'not checked' : `${s.verifier} verifier`}`);
  if (s.object) lines.push(`${s.phase === 'done' ? 'last object read' : 'reading object'}: ${s.object}`);
  if (s.startedAt && (s.finishedAt ?? s.updatedAt)) {
    const seconds = (Date.parse(s.finishedAt ?? s.updatedAt) - Date.parse(s.startedAt)) / 1000;
    if (Number.isFinite(seconds)) lines.push(`job time: ${formatDuration(seconds)}`);
  }
  return lines;
}

/** How old the status is, for `make status` (a stale status on a live job means trouble). */
export function ageSeconds(s: JobStatus, now = Date.now()): number {
  return Math.max(0, (now - Date.parse(s.updatedAt)) / 1000);
}
