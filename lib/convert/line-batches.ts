/**
 * Cuts a byte stream of JSONL into batches of whole lines for the workers, numbering lines
 * from 1. A batch ends at the limits or at the end of a chunk of input, whichever comes first. (A byte-order mark at the start of a line is the
 * workers' to drop, lib/convert/batch.ts.) A line longer than
 * `maxLineBytes` is never held in memory: it is skipped and reported as its own batch.
 */
import type { Readable } from 'node:stream';

export interface LineBatch {
  /** Position in the input, from 0: results are put back in this order. */
  seq: number;
  /** Line number of the batch's first line. */
  firstLine: number;
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

export async function* lineBatches(stream: Readable, limits: BatchLimits): AsyncGenerator<LineBatch> {
  let seq = 0;
  let nextLine = limits.firstLine ?? 1; // number of the line that starts next
  let pieces: Buffer[] = []; // complete lines of the batch being filled
  let batchBytes = 0;
  let batchLines = 0;
  let batchFirstLine = nextLine;
  let partial: Buffer[] = []; // the current, unfinished line
  let lineBytes = 0; // its length so far (also while skipping it)
  let skipping = false;

  const takeBatch = (): LineBatch => {
    const batch = { seq: seq++, firstLine: batchFirstLine, bytes: Buffer.concat(pieces, batchBytes) };
    pieces = [];
    batchBytes = 0;
    batchLines = 0;
    batchFirstLine = nextLine;
    return batch;
  };
  const tooLong = (): LineBatch => {
    const batch = { seq: seq++, firstLine: nextLine, bytes: Buffer.alloc(0), tooLongBytes: lineBytes };
    nextLine++;
    batchFirstLine = nextLine;
    return batch;
  };

  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, pos);
      const end = nl === -1 ? chunk.length : nl + 1;
      lineBytes += end - pos;
      if (!skipping && lineBytes > limits.maxLineBytes) {
        partial = [];
        skipping = true;
      }
      if (!skipping) partial.push(chunk.subarray(pos, end));
      pos = end;
      if (nl === -1) break;
      if (skipping) {
        if (batchLines > 0) yield takeBatch();
        yield tooLong();
        skipping = false;
      } else {
        for (const p of partial) pieces.push(p);
        partial = [];
        batchBytes += lineBytes;
        batchLines++;
        nextLine++;
        if (batchLines >= limits.maxLines || batchBytes >= limits.maxBytes) yield takeBatch();
      }
      lineBytes = 0;
    }
    // Hand out what a chunk completed without waiting for more: a slow stream (a pipe from a
    // live source) is then converted as it arrives.
    if (batchLines > 0) yield takeBatch();
  }
  // A stream destroyed on purpose (Ctrl-C, a spot notice) did not end: its unfinished last line is
  // cut, not the input's last line; it is left for the next run instead of being rejected.
  if (stream.destroyed && !stream.readableEnded) return;
  // A last line without a newline.
  if (skipping) {
    yield tooLong();
  } else if (lineBytes > 0) {
    for (const p of partial) pieces.push(p);
    batchBytes += lineBytes;
    nextLine++;
    yield takeBatch();
  }
}
