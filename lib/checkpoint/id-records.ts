/**
 * Id records: an event's 32-byte id followed by its day (days since 1970-01-01, int32 little
 * endian), 36 bytes each. Deduplication is exact per day partition (lib/convert/partitions.ts:
 * every copy of an event falls on its day), so an id stored before a run must reach the writer
 * thread that owns its day: the id lists a checkpoint keeps (DIR/_checkpoint.ids, and the S3
 * side's `_parts/ids/*.bin`) hold ids with their days for that reason.
 */
import { FatalError } from '../cli/errors.ts';
import type { IdSet } from '../convert/id-set.ts';

export const ID_RECORD_BYTES = 36;

/** Records for `ids` (32 bytes each, all of one day). */
export function idRecordsOf(ids: Uint8Array, day: number): Buffer {
  const n = ids.length / 32;
  const out = Buffer.allocUnsafe(n * ID_RECORD_BYTES);
  for (let i = 0; i < n; i++) {
    out.set(ids.subarray(i * 32, i * 32 + 32), i * ID_RECORD_BYTES);
    out.writeInt32LE(day, i * ID_RECORD_BYTES + 32);
  }
  return out;
}

/** The day of the record at `at`. */
export const dayOfRecord = (records: Uint8Array, at: number): number =>
  (records[at + 32] | (records[at + 33] << 8) | (records[at + 34] << 16) | (records[at + 35] << 24));

/**
 * Adds the ids of `records` whose day `owns` (all when omitted) to `seen`; returns how many of
 * those were not there yet.
 */
export function addIdRecords(seen: IdSet, records: Uint8Array, owns?: (day: number) => boolean): number {
  if (records.length % ID_RECORD_BYTES !== 0) throw new FatalError(`id records: ${records.length} bytes is not a whole number of ${ID_RECORD_BYTES}-byte records`);
  let added = 0;
  for (let at = 0; at < records.length; at += ID_RECORD_BYTES) {
    if (owns && !owns(dayOfRecord(records, at))) continue;
    if (seen.add(records, at)) added++;
  }
  return added;
}
