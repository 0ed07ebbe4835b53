/**
 * Appends events to their day files as a sequence of bounded gzip members.
 *
 * Each day collects its events' length-delimited messages in memory until about
 * `memberBytes`; then they are gzip'd as one member (on libuv's thread pool, on the calling
 * thread, or by `compress`: the converter's writer threads hand them to compressor threads) and
 * appended to YYYY_MM_DD.pb.gz. Appends to one file happen in order, so the output does not
 * depend on timing. When the days together hold more than `pendingBudget` bytes, the largest
 * are flushed early, which bounds memory for dumps that span thousands of days (the converter
 * has one DayWriter per day partition, so that this depends on the partition's events alone).
 */
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { cutDayFileBack, dayFileName } from './names.ts';
import { FatalError, describeFsError } from '../cli/errors.ts';
import { appendDurably } from './durable.ts';
import { failpoint } from '../failpoints.ts';
import { PackedRowsBuilder, type PackedRows } from './packed-rows.ts';

const gzip = promisify(zlib.gzip);

/** What the index needs to know of one stored event. */
export interface StoredEvent {
  id: string;
  pubkey: string;
  kind: number;
  createdAt: number;
  /** Offset of the event's length prefix in the member's uncompressed bytes. */
  offsetInMember: number;
}

/** One gzip member appended to a day file. */
export interface WrittenMember {
  fileName: string;
  /** Byte offset of the member in the day file. */
  memberOffset: number;
  memberBytes: number;
  /** The events' index fields, when `append` was given them (empty otherwise). */
  events: StoredEvent[];
  /** The same rows in packed form, from appendRow (writer threads), instead of `events`. */
  rows?: PackedRows;
  /** Events in the member (known whether or not `events` or `rows` was filled). */
  eventCount?: number;
  /** The member's uncompressed bytes (the events' length-delimited messages): the index reads their tags. */
  data?: Buffer;
}

export interface DayWriterOptions {
  compressionLevel: number;
  memberBytes?: number;
  pendingBudget?: number;
  /**
   * Called for each member once it is on disk, in file order per day. It may return a promise:
   * the member then counts as in flight (see capacity) until it settles.
   */
  onMember?: (member: WrittenMember) => unknown;
  /**
   * Compress on the calling thread (zlib sync) rather than on libuv's pool, whose 4 threads per
   * process would cap a large machine: for writer threads, each compressing its own members.
   */
  syncCompression?: boolean;
  /** Compress elsewhere (the writer threads' compressor threads); takes precedence over syncCompression. */
  compress?: (data: Buffer, level: number) => Promise<Buffer>;
  /**
   * Shared by the DayWriters of one thread: their appends run one at a time, and after one
   * fails no other starts (on a full disk, the members written so far stay whole and no more
   * are begun).
   */
  appends?: AppendQueue;
}

export class AppendQueue {
  private last: Promise<unknown> = Promise.resolve();
  failure: Error | undefined;

  run(append: () => Promise<void>): Promise<void> {
    const next = this.last.then(() => (this.failure ? undefined : append()));
    this.last = next.catch(() => {});
    return next;
  }
}

interface Day {
  fileName: string;
  buffer: Buffer;
  length: number;
  events: StoredEvent[];
  rows?: PackedRowsBuilder;
  /** Events held, counted with or without their index fields. */
  count: number;
  /** Size of the file with every member written so far. */
  fileSize: number;
  /** The last queued write: the next one waits for it. */
  tail: Promise<void>;
}

const DEFAULT_MEMBER_BYTES = 1 << 20;
const DEFAULT_PENDING_BUDGET = 32 << 20;
const MAX_MEMBERS_IN_FLIGHT = 16;

/** PROTON_BEAM_MEMBER_BYTES: smaller members for the crash tests (many members from a small input). */
function memberBytesFromEnv(): number | undefined {
  const n = Number(process.env.PROTON_BEAM_MEMBER_BYTES);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

export class DayWriter {
  private days = new Map<number, Day>();
  private pendingBytes = 0;
  private inFlight = 0;
  private waiters: (() => void)[] = [];
  private failure: Error | undefined;
  readonly memberBytes: number;
  private readonly pendingBudget: number;
  filesTouched = new Set<string>();
  bytesWritten = 0;
  membersWritten = 0;

  constructor(private dir: string, private options: DayWriterOptions) {
    this.memberBytes = options.memberBytes ?? memberBytesFromEnv() ?? DEFAULT_MEMBER_BYTES;
    this.pendingBudget = options.pendingBudget ?? DEFAULT_PENDING_BUDGET;
  }

  /** Adds one event's length-delimited message to its day. `stored` is kept for the index. */
  append(day: number, message: Uint8Array, stored?: Omit<StoredEvent, 'offsetInMember'>): void {
    const d = this.days.get(day) ?? this.openDay(day);
    if (d.length + message.length > d.buffer.length) {
      const bigger = Buffer.allocUnsafe(Math.max(d.buffer.length * 2, d.length + message.length));
      d.buffer.copy(bigger, 0, 0, d.length);
      d.buffer = bigger;
    }
    if (stored) d.events.push({ ...stored, offsetInMember: d.length });
    d.count++;
    d.buffer.set(message, d.length);
    d.length += message.length;
    this.pendingBytes += message.length;
    if (d.length >= this.memberBytes) this.flushDay(d);
    if (this.pendingBytes > this.pendingBudget) this.flushLargest();
  }

  /**
   * Adds the i-th event of packed columns (ids and pubkeys 32 bytes each) to its day; its index
   * row is kept packed (WrittenMember.rows), without making strings.
   */
  appendRow(day: number, message: Uint8Array, ids: Uint8Array, pubkeys: Uint8Array, i: number, kind: number, createdAt: number): void {
    const d = this.days.get(day) ?? this.openDay(day);
    (d.rows ??= new PackedRowsBuilder()).add(ids, pubkeys, i, kind, createdAt, d.length);
    this.append(day, message);
  }

  /** Resolves when fewer members are being compressed and written than the limit. */
  async capacity(): Promise<void> {
    while (this.inFlight >= MAX_MEMBERS_IN_FLIGHT && !this.failure) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.failure) throw this.failure;
  }

  /**
   * Writes every day's held events as a member and waits until all are on disk (synced) and
   * `onMember` has returned for each: a checkpoint's boundary. Appending may go on afterwards.
   */
  async flush(): Promise<void> {
    for (const d of this.days.values()) if (d.length > 0) this.flushDay(d);
    await Promise.all([...this.days.values()].map((d) => d.tail));
    if (this.failure) throw this.failure;
  }

  /** Writes everything still held and waits until it is on disk. */
  close(): Promise<void> {
    return this.flush();
  }

  /** Resolves once no member is being written (whether or not one failed), holding the rest back. */
  async settled(): Promise<void> {
    await Promise.all([...this.days.values()].map((d) => d.tail));
  }

  private openDay(day: number): Day {
    const fileName = dayFileName(day);
    let fileSize = 0;
    try {
      fileSize = fs.statSync(path.join(this.dir, fileName)).size;
    } catch {
      // a new file
    }
    const d: Day = { fileName, buffer: Buffer.allocUnsafe(16 << 10), length: 0, events: [], count: 0, fileSize, tail: Promise.resolve() };
    this.days.set(day, d);
    return d;
  }

  private flushLargest(): void {
    const bySize = [...this.days.values()].filter((d) => d.length > 0).sort((a, b) => b.length - a.length);
    for (const d of bySize) {
      if (this.pendingBytes <= this.pendingBudget / 2) break;
      this.flushDay(d);
    }
  }

  private flushDay(d: Day): void {
    const data = Buffer.from(d.buffer.subarray(0, d.length));
    const events = d.events;
    const rows = d.rows?.take();
    const eventCount = d.count;
    d.count = 0;
    this.pendingBytes -= d.length;
    d.length = 0;
    d.events = [];
    if (d.buffer.length > this.memberBytes * 2) d.buffer = Buffer.allocUnsafe(16 << 10);
    this.inFlight++;
    const gzipOptions = { level: this.options.compressionLevel, memLevel: 9 };
    const compressed = this.options.compress ? this.options.compress(data, gzipOptions.level)
      : this.options.syncCompression ? syncGzip(data, gzipOptions) : gzip(data, gzipOptions);
    compressed.catch(() => {}); // reported through the write below
    const filePath = path.join(this.dir, d.fileName);
    let appendingAt: number | undefined;
    d.tail = d.tail
      .then(async () => {
        const member = await compressed;
        if (this.failure) return;
        const memberOffset = d.fileSize; // appends to one file run one after the other
        const append = async () => {
          if (this.failure) return;
          appendingAt = memberOffset;
          failpoint('member-append-before');
          // On disk (fsync) before the index is told: its rows never point past a file's end.
          await appendDurably(filePath, member);
          appendingAt = undefined;
          failpoint('member-append-after');
        };
        await (this.options.appends ? this.options.appends.run(append) : append());
        if (this.failure || this.options.appends?.failure) return;
        d.fileSize += member.length;
        this.filesTouched.add(d.fileName);
        this.bytesWritten += member.length;
        this.membersWritten++;
        await this.options.onMember?.({ fileName: d.fileName, memberOffset, memberBytes: member.length, events, rows, eventCount, data });
      })
      .catch((err) => {
        this.failure ??= err instanceof FatalError ? err : new FatalError(`cannot write ${describeFsError(err, filePath)}`);
        if (this.options.appends) this.options.appends.failure ??= this.failure;
        // A member written in part (a full disk) would end the file in a cut-off member: take it back.
        if (appendingAt !== undefined) {
          try {
            cutDayFileBack(filePath, appendingAt);
          } catch {
            // the next conversion into the folder cuts the member off (lib/convert/existing-days.ts)
          }
        }
      })
      .finally(() => {
        this.inFlight--;
        this.waiters.shift()?.();
      });
  }
}

function syncGzip(data: Buffer, options: zlib.ZlibOptions): Promise<Buffer> {
  try {
    return Promise.resolve(zlib.gzipSync(data, options));
  } catch (err) {
    return Promise.reject(err);
  }
}
