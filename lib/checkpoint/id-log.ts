/**
 * DIR/_checkpoint.ids: the ids of the events a conversion stored, each with its day (36-byte
 * records, lib/checkpoint/id-records.ts: dedup is per day partition, so a resume routes each id to
 * the writer thread that owns its day), kept while the run is unfinished. A checkpoint syncs it
 * and records its length; a resume of a run that began in an empty folder loads the ids from it
 * (each writer thread those of its days) instead of inflating every day file for them. The writer
 * threads build each batch's records; the main thread copies them, one buffer per batch.
 */
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { IdSet } from '../convert/id-set.ts';
import { ID_RECORD_BYTES, addIdRecords } from './id-records.ts';

const fdatasync = promisify(fs.fdatasync);

export const ID_LOG_NAME = '_checkpoint.ids';
const BUFFER_BYTES = 1 << 20;

export const idLogPathOf = (dir: string): string => path.join(dir, ID_LOG_NAME);

export class IdLog {
  private fd: number;
  private buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  private held = 0;
  /** Bytes of the file with what is held. */
  bytes: number;
  /** Set when a write failed (a full disk): the list is then given up, never the conversion (a resume reads the day files). */
  private failed = false;

  /** Opens DIR/_checkpoint.ids to append to, cut back to `from` bytes (what the record covers; 0: a new list). */
  constructor(dir: string, from: number) {
    const file = idLogPathOf(dir);
    this.fd = fs.openSync(file, from === 0 ? 'w' : 'r+');
    fs.ftruncateSync(this.fd, from);
    this.bytes = from;
  }

  /** Appends id records (lib/checkpoint/id-records.ts), as a writer thread sends them for one batch. */
  addRecords(records: Uint8Array): void {
    for (let at = 0; at < records.length;) {
      if (this.held === BUFFER_BYTES) this.write();
      const n = Math.min(records.length - at, BUFFER_BYTES - this.held);
      if (!this.failed) this.buffer.set(records.subarray(at, at + n), this.held);
      this.held += n;
      this.bytes += n;
      at += n;
    }
  }

  /** Everything added so far written and synced; returns the file's length, or undefined once the list was given up. */
  async sync(): Promise<number | undefined> {
    this.write();
    const bytes = this.bytes;
    if (!this.failed) {
      try {
        await fdatasync(this.fd);
      } catch {
        this.failed = true;
      }
    }
    return this.failed ? undefined : bytes;
  }

  /** Idempotent and never throws: after the run's end, or on its failure. */
  close(): void {
    if (this.fd < 0) return;
    this.write();
    try {
      fs.closeSync(this.fd);
    } catch {
      // nothing left to lose: the list is only a shortcut
    }
    this.fd = -1;
  }

  private write(): void {
    if (this.failed || this.held === 0) {
      this.held = 0;
      return;
    }
    const at = this.bytes - this.held;
    try {
      for (let done = 0; done < this.held;) done += fs.writeSync(this.fd, this.buffer, done, this.held - done, at + done);
    } catch {
      this.failed = true;
    }
    this.held = 0;
  }
}

/** An id log to append to from `from` bytes on, or undefined when the file holds fewer (the run then keeps none). */
export function openIdLog(dir: string, from: number | undefined): IdLog | undefined {
  if (from === undefined) return undefined;
  if (from > 0) {
    try {
      if (fs.statSync(idLogPathOf(dir)).size < from) return undefined;
    } catch {
      return undefined;
    }
  }
  return new IdLog(dir, from);
}

/**
 * Adds the ids of the first `bytes` of DIR/_checkpoint.ids whose day `owns` to `seen`; returns how
 * many, or undefined when the file is shorter (then the folder is read instead).
 */
export function loadIdLog(dir: string, bytes: number, seen: IdSet, owns?: (day: number) => boolean): number | undefined {
  let fd: number;
  try {
    fd = fs.openSync(idLogPathOf(dir), 'r');
  } catch {
    return undefined;
  }
  try {
    if (fs.fstatSync(fd).size < bytes || bytes % ID_RECORD_BYTES !== 0) return undefined;
    const chunk = Buffer.allocUnsafe(ID_RECORD_BYTES << 19);
    let added = 0;
    for (let pos = 0; pos < bytes;) {
      let got = 0;
      const want = Math.min(chunk.length, bytes - pos);
      while (got < want) got += fs.readSync(fd, chunk, got, want - got, pos + got);
      added += addIdRecords(seen, chunk.subarray(0, got), owns);
      pos += got;
    }
    return added;
  } finally {
    fs.closeSync(fd);
  }
}
