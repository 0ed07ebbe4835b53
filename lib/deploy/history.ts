/**
 * Interruptions and resumes of a run, for make status and make deploy: the `history` of
 * OUTPUT/_checkpoint.json (lib/checkpoint/record.ts), which the converter appends to at its
 * start, at each checkpoint, on a spot notice or SIGTERM, on a resume and at the end, and which
 * manifest.json keeps once the run is finished and the record deleted.
 */
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { CheckpointHistoryEntry, CheckpointRecord } from '../checkpoint/record.ts';
import { formatBytes } from '../cli/format.ts';
import { outputKeys, type DeploySettings } from './settings.ts';

/** A JSON object of the output, or undefined when there is none. */
async function readJsonObject<T>(s3: S3Client, bucket: string, key: string): Promise<T | undefined> {
  // Existence by listing, as for _status.json: a GET of a missing key is a 403 to a prefix-limited caller.
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }));
  if (!(listed.Contents ?? []).some((o) => o.Key === key)) return undefined;
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse(await res.Body!.transformToString()) as T;
}

/** OUTPUT/_checkpoint.json, or undefined when there is none (a run without checkpoints, or finished and removed). */
export const readCheckpoint = (s3: S3Client, bucket: string, key: string) => readJsonObject<CheckpointRecord>(s3, bucket, key);

export interface RunHistory {
  /** Stops the converter saw coming (spot notice, SIGTERM): an `interrupted` entry. */
  interruptions: CheckpointHistoryEntry[];
  /** Each start on another machine or after a kill, from a saved position. */
  resumes: CheckpointHistoryEntry[];
  /** The instances the run went through, in order. */
  instances: string[];
}

export function runHistory(history: CheckpointHistoryEntry[]): RunHistory {
  const instances: string[] = [];
  for (const e of history) if (e.instanceId && instances[instances.length - 1] !== e.instanceId) instances.push(e.instanceId);
  return {
    interruptions: history.filter((e) => e.event === 'interrupted'),
    resumes: history.filter((e) => e.event === 'resume'),
    instances,
  };
}

const num = (n: number) => n.toLocaleString('en-US');
const when = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
const on = (e: CheckpointHistoryEntry) => (e.instanceId ? ` on ${e.instanceId}` : '');
const at = (e: CheckpointHistoryEntry) => `line ${num(e.line)}, byte ${num(e.offset)} (${formatBytes(e.offset)})`;

/** The lines make status prints: a count, then one line per interruption and per resume, in order. */
export function historyLines(history: CheckpointHistoryEntry[]): string[] {
  const h = runHistory(history);
  if (h.interruptions.length === 0 && h.resumes.length === 0) return ['no interruption'];
  const lines = [`${h.interruptions.length} interruption${h.interruptions.length === 1 ? '' : 's'}, ${h.resumes.length} resume${h.resumes.length === 1 ? '' : 's'}` +
    (h.instances.length > 1 ? `, ${h.instances.length} instances: ${h.instances.join(', ')}` : '')];
  for (const e of history) {
    if (e.event === 'interrupted') lines.push(`${when(e.at)}  interrupted${on(e)}${e.reason ? ` (${e.reason})` : ''} at ${at(e)}`);
    if (e.event === 'resume') lines.push(`${when(e.at)}  resumed${on(e)} from ${at(e)}`);
  }
  return lines;
}

/**
 * The run's interruptions and resumes, read from OUTPUT/_checkpoint.json while the run goes on, and
 * from manifest.json once it is finished (the record is deleted then; the manifest keeps its history).
 */
export async function resumeLines(s3: S3Client, s: Pick<DeploySettings, 'outputBucket' | 'outputPrefix'>): Promise<string[]> {
  const keys = outputKeys(s);
  const record = await readCheckpoint(s3, s.outputBucket, keys.checkpoint).catch(() => undefined);
  const history = record?.history
    ?? (await readJsonObject<{ history?: CheckpointHistoryEntry[] }>(s3, s.outputBucket, keys.manifest).catch(() => undefined))?.history;
  return history ? historyLines(history) : [];
}
