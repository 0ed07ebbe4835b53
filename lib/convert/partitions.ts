/**
 * Days split into a fixed number of partitions, each written by one writer thread in input order.
 *
 * An event's id covers its created_at, so every copy of an event falls on the same day, hence in
 * the same partition: each partition's writer dedups exactly with an id set of its own. The
 * partition of a day is a fixed hash, independent of -j and of the number of writer threads, and
 * each partition's day files depend only on the partition's own stream of events, so the output
 * is byte-identical for any -j and any number of writer threads.
 */
import { dayOf } from '../day-files/names.ts';

/** Partitions of the days; writer threads own them round-robin (so at most this many writers). */
export const PARTITIONS = 32;

export const partitionOfDay = (day: number): number => (Math.imul(day | 0, 0x9e3779b1) >>> 0) % PARTITIONS;
export const partitionOfCreatedAt = (createdAt: number): number => partitionOfDay(dayOf(createdAt));
export const writerOfPartition = (partition: number, writers: number): number => partition % writers;

/**
 * Writer threads for `parallel` workers: 3 per 4, within 1..PARTITIONS. Each compresses its own
 * members (zlib level 6 costs about 3/4 of a worker's parse, hash and encode of the same events
 * with signatures off, docs/BENCHMARKS.md); a writer with nothing to do costs no CPU.
 */
export const defaultWriters = (parallel: number): number => Math.min(PARTITIONS, Math.max(1, Math.ceil((parallel * 3) / 4)));

/** The valid events of one batch that fall in one partition, column by column, in input order. */
export interface PartitionPart {
  partition: number;
  count: number;
  ids: Uint8Array; // 32 bytes each
  pubkeys: Uint8Array; // 32 bytes each
  createdAt: Float64Array;
  kinds: Int32Array;
  /** End offset in `messages` of each event's varint(length) + ProtoEvent bytes. */
  messageEnds: Uint32Array;
  messages: Uint8Array;
  /**
   * Lines of the batch (numbers) with a bad signature whose day is in this partition, their ids,
   * and how many of the part's events come before each: the writer tells which name an event
   * stored before them in input order (those are duplicates, the rest rejections).
   */
  badLines: Float64Array;
  badIds: Uint8Array;
  badBefore: Uint32Array;
}

/** A part's columns (all views of one ArrayBuffer), for movableBuffers (lib/workers/transfer.ts). */
export const partViews = (p: PartitionPart): ArrayBufferView[] =>
  [p.ids, p.pubkeys, p.createdAt, p.kinds, p.messageEnds, p.messages, p.badLines, p.badIds, p.badBefore];

/**
 * Bytes a partition's days may hold before its largest are written early: a budget per
 * partition (not one shared by all), so that a day's members depend only on its partition's
 * own stream. PARTITIONS x this bounds the pending bytes of a run, whatever the writer threads.
 */
export const PARTITION_PENDING_BUDGET = 2 << 20;
