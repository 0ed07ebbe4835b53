// A checkpoint record (lib/checkpoint/record.ts) as the converter leaves it in OUTPUT/_checkpoint.json
// after a run that was interrupted on one instance and resumed on another.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CHECKPOINT_VERSION, type CheckpointHistoryEntry, type CheckpointRecord } from '../../lib/checkpoint/record.ts';

export const OLD_INSTANCE = 'i-0123456789abcdef0';
export const NEW_INSTANCE = 'i-0fedcba9876543210';

export const HISTORY: CheckpointHistoryEntry[] = [
  { event: 'start', at: '2026-01-05T10:05:00.000Z', line: 1, offset: 0, instanceId: OLD_INSTANCE },
  { event: 'checkpoint', at: '2026-01-05T10:10:00.000Z', line: 2_000_001, offset: 3_400_000_000, instanceId: OLD_INSTANCE, reason: 'every 5 min' },
  { event: 'interrupted', at: '2026-01-05T10:12:10.000Z', line: 2_900_001, offset: 4_930_000_000, instanceId: OLD_INSTANCE, reason: 'spot interruption notice' },
  { event: 'resume', at: '2026-01-05T10:21:40.000Z', line: 2_900_001, offset: 4_930_000_000, instanceId: NEW_INSTANCE },
  { event: 'checkpoint', at: '2026-01-05T10:26:40.000Z', line: 4_800_001, offset: 8_160_000_000, instanceId: NEW_INSTANCE, reason: 'every 5 min' },
];

export function record(history = HISTORY): CheckpointRecord {
  const last = history[history.length - 1];
  return {
    version: CHECKPOINT_VERSION,
    input: { spec: 's3://in-bucket/dumps/relay-2025.jsonl.gz', kind: 's3-object', size: 2_400_000_000, validator: '"9b2cf535f27731c974343645a3985328"' },
    next: { line: last.line, offset: last.offset },
    counts: {
      lines: last.line - 1, valid: last.line - 1, duplicates: 0, duplicatesUnverified: 0, rejected: 0, rejectedByReason: {},
      preexisting: 0, repaired: 0, bytesIn: 0, bytesOut: 0, files: 0, seconds: 0,
    } as CheckpointRecord['counts'],
    parts: [],
    logParts: [],
    history,
    writtenAt: last.at,
  };
}

export async function putCheckpoint(s3: S3Client, bucket: string, key: string, r: CheckpointRecord = record()): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify(r), ContentType: 'application/json' }));
}
