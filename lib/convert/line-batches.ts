/**
 * Cuts a byte stream of JSONL into batches of whole lines for the workers, numbering lines
 * from 1. A batch ends at the limits or at the end of a chunk of input, whichever comes first. (A
 * byte-order mark at the start of a line is the workers' to drop, lib/convert/batch.ts.) A line
 * longer than `maxLineBytes` is never held in memory: it is skipped and reported as its own batch.
 *
 * Every line passes through here on the main thread, so the common case copies nothing: the
 * lines a chunk completes go out as a view of the chunk (movable to a worker when the chunk owns
 * its memory, as a file's chunks do), with the line begun in the chunk before as a small `head`
 * copied in front; only the unfinished line at the chunk's end is copied for the next one. A
 * chunk cut into several batches by the limits is copied but for its last, and chunks sharing
 * their memory are copied.
 */
import type { Readable } from 'node:stream';

export interface LineBatch {
  /** Position in the input, from 0: results are put back in this order. */
  seq: number;
  /** Line number of the batch's first line. */
  firstLine: number;
  /** Whole lines that come before `bytes` (a line begun in an earlier chunk): the batch is head + bytes. */
  head?: Buffer;
  /** Whole lines, each ending in \n except possibly the input's last line. Empty for a too-long line. */
  bytes: Buffer;
  /** Set when this batch stands for one skipped line longer than the limit. */
  tooLongBytes?: number;
}

export interface BatchLimits {
  /** Number of the stream's first line (a resumed run goes on from its checkpoint's); default 1. */
  firstLine?: number;
  maxLines: number;
  maxBytes: number;
  maxLineBytes: number;
}

const NEWLINE = 0x0a;

/** The batch's lines as one buffer (for a consumer that does not take head and bytes apart). */
export const batchBytes = (b: LineBatch): Buffer => (b.head ? Buffer.concat([b.head, b.bytes]) : b.bytes);

export async function* lineBatches(stream: Readable, limits: BatchLimits): AsyncGenerator<LineBatch> {
  let seq = 0;
  let nextLine = limits.firstLine ?? 1; // number of the line that starts next
  let partial: Buffer[] = []; // the unfinished line, copied out of earlier chunks
  let partialBytes = 0; // its length so far (also while skipping it)
  let skipping = false;

  const tooLong = (bytes: number): LineBatch => ({ seq: seq++, firstLine: nextLine++, bytes: Buffer.alloc(0), tooLongBytes: bytes });

  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let pos = 0;
    // The batch being filled: `head` (a line finished in this chunk), then chunk[from, end).
    let head: Buffer | undefined;
    let firstLine = nextLine;
    let from = 0;
    let end = 0;
    let lines = 0;
    const owned = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength;
    const take = (last: boolean): LineBatch => {
      // The rest of a chunk of its own is moved as it is (the batches cut from it before were
      // copied out of it, as was its unfinished last line); anything else is copied.
      const view = chunk.subarray(from, end);
      const bytes = last && owned ? view : Buffer.from(view);
      const batch: LineBatch = { seq: seq++, firstLine, bytes, ...(head ? { head } : {}) };
      head = undefined;
      from = end;
      lines = 0;
      firstLine = nextLine;
      return batch;
    };

    if (partialBytes > 0 || skipping) {
      const nl = chunk.indexOf(NEWLINE);
      const upTo = nl === -1 ? chunk.length : nl + 1;
      partialBytes += upTo;
      if (!skipping && partialBytes > limits.maxLineBytes) {
        partial = [];
        skipping = true;
      }
      if (nl === -1) {
        if (!skipping) partial.push(Buffer.from(chunk));
        continue;
      }
      if (skipping) {
        yield tooLong(partialBytes);
        firstLine = nextLine;
        skipping = false;
      } else {
        partial.push(chunk.subarray(0, upTo));
        head = Buffer.concat(partial, partialBytes);
        nextLine++;
        lines = 1;
      }
      partial = [];
      partialBytes = 0;
      pos = from = end = upTo;
    }

    const last = chunk.lastIndexOf(NEWLINE);
    // The unfinished line at the end is copied first: the chunk may then move to a worker.
    if (last + 1 < chunk.length && last + 1 >= pos) {
      const rest = chunk.subarray(Math.max(pos, last + 1));
      partialBytes = rest.length;
      if (partialBytes > limits.maxLineBytes) skipping = true;
      else partial.push(Buffer.from(rest));
    }
    while (pos <= last) {
      const nl = chunk.indexOf(NEWLINE, pos);
      if (nl + 1 - pos > limits.maxLineBytes) {
        if (lines > 0) yield take(false);
        yield tooLong(nl + 1 - pos);
        pos = from = end = nl + 1;
        firstLine = nextLine;
        continue;
      }
      pos = end = nl + 1;
      nextLine++;
      lines++;
      const bytes = end - from + (head?.length ?? 0);
      if ((lines >= limits.maxLines || bytes >= limits.maxBytes) && pos <= last) yield take(false);
    }
    // Hand out what a chunk completed without waiting for more: a slow stream (a pipe from a
    // live source) is then converted as it arrives.
    if (lines > 0) yield take(true);
  }
  // A stream destroyed on purpose (Ctrl-C, a spot notice) did not end: its unfinished last line is
  // cut, not the input's last line; it is left for the next run instead of being rejected.
  if (stream.destroyed && !stream.readableEnded) return;
  // A last line without a newline.
  if (skipping) {
    yield tooLong(partialBytes);
  } else if (partialBytes > 0) {
    yield { seq: seq++, firstLine: nextLine++, bytes: Buffer.concat(partial, partialBytes) };
  }
}
