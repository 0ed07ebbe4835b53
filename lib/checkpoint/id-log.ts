/**
 * DIR/_checkpoint.ids: the 32-byte ids of the events a conversion stored, in the order it stored
 * them, kept while the run is unfinished. A checkpoint syncs it and records its length; a resume
 * of a run that began in an empty folder loads the ids from it (2 MB per 65,536 events, read in
 * one go) instead of inflating every day file for them. Written through a 1 MiB buffer: one
 * copy of 32 bytes per stored event on the converter's main thread.
 */
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { IdSet } from '../convert/id-set.ts';

const fdatasync = promisify(fs.fdatasync);

export const ID_LOG_NAME = '_checkpoint.ids';
const BUFFER_BYTES = 1 << 20;

export const idLogPathOf = (dir: string): string => path.join(dir, ID_LOG_NAME);

export class IdLog {
  private fd: number;
  private buffer = Buffer.from(new ArrayBuffer(BUFFER_BYTES));
  private words = new Uint32Array(this.buffer.buffer);
  private held = 0;
  /** The ids array of the batch being taken, as 32-bit words when aligned (8 word copies beat a subarray and set: ~8 ns an id against ~45). */
  private source: Uint8Array | undefined;
  private sourceWords: Uint32Array | undefined;
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

  add(ids: Uint8Array, offset: number): void {
    if (this.held + 32 > BUFFER_BYTES) this.write();
    if (this.failed) return;
    if (ids !== this.source) {
      this.source = ids;
      this.sourceWords = (ids.byteOffset & 3) === 0 ? new Uint32Array(ids.buffer, ids.byteOffset, ids.length >> 2) : undefined;
    }
    const from = this.sourceWords;
    if (from) {
      const a = offset >> 2;
      const b = this.held >> 2;
      const to = this.words;
      for (let j = 0; j < 8; j++) to[b + j] = from[a + j];
    } else {
      this.buffer.set(ids.subarray(offset, offset + 32), this.held);
    }
    this.held += 32;
    this.bytes += 32;
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

/** Adds the first `bytes` of DIR/_checkpoint.ids to `seen`; false when the file is shorter (then the folder is read instead). */
export function loadIdLog(dir: string, bytes: number, seen: IdSet): boolean {
  let fd: number;
  try {
    fd = fs.openSync(idLogPathOf(dir), 'r');
  } catch {
    return false;
  }
  try {
    if (fs.fstatSync(fd).size < bytes || bytes % 32 !== 0) return false;
    const chunk = Buffer.allocUnsafe(16 << 20);
    for (let pos = 0; pos < bytes;) {
      let got = 0;
      const want = Math.min(chunk.length, bytes - pos);
      while (got < want) got += fs.readSync(fd, chunk, got, want - got, pos + got);
      for (let at = 0; at < got; at += 32) seen.add(chunk, at);
      pos += got;
    }
    return true;
  } finally {
    fs.closeSync(fd);
  }
}
