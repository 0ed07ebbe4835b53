/**
 * Cuts a byte stream of JSONL into batches of whole lines for the workers, numbering lines
 * from 1. A UTF-8 byte-order mark at the very start is dropped. A line longer than
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
  maxLines: number;
  maxBytes: number;
  maxLineBytes: number;
}

const NEWLINE = 0x0a;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

export async function* lineBatches(stream: Readable, limits: BatchLimits): AsyncGenerator<LineBatch> {
  let seq = 0;
  let nextLine = 1; // number of the line that starts next
  let pieces: Buffer[] = [];
  let batchBytes = 0;
  let batchLines = 0;
  let batchFirstLine = 1;
  let lineBytes = 0; // bytes of the current, unfinished line (in pieces, or skipped)
  let skipping = false;
  let head: Buffer | null = Buffer.alloc(0); // first bytes until the BOM check is done

  const takeBatch = (): LineBatch => {
    const batch = { seq: seq++, firstLine: batchFirstLine, bytes: Buffer.concat(pieces, batchBytes) };
    pieces = [];
    batchBytes = 0;
    batchLines = 0;
    batchFirstLine = nextLine;
    return batch;
  };

  for await (let chunk of stream as AsyncIterable<Buffer>) {
    if (head) {
      head = Buffer.concat([head, chunk]);
      if (head.length < BOM.length && BOM.subarray(0, head.length).equals(head)) continue;
      chunk = head.subarray(0, BOM.length).equals(BOM) ? head.subarray(BOM.length) : head;
      head = null;
    }
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, pos);
      const end = nl === -1 ? chunk.length : nl + 1;
      lineBytes += end - pos;
      if (!skipping && lineBytes > limits.maxLineBytes) {
        // Drop what is held of this line; its batch-mates go out first.
        const held = lineBytes - (end - pos);
        pieces = trimTo(pieces, batchBytes - held);
        batchBytes -= held;
        skipping = true;
      }
      if (!skipping) {
        pieces.push(chunk.subarray(pos, end));
        batchBytes += end - pos;
      }
      pos = end;
      if (nl === -1) break;
      // A line ended.
      if (skipping) {
        if (batchLines > 0) yield takeBatch();
        yield { seq: seq++, firstLine: nextLine, bytes: Buffer.alloc(0), tooLongBytes: lineBytes };
        nextLine++;
        batchFirstLine = nextLine;
        skipping = false;
      } else {
        nextLine++;
        batchLines++;
        if (batchLines >= limits.maxLines || batchBytes >= limits.maxBytes) yield takeBatch();
      }
      lineBytes = 0;
    }
  }
  if (head && head.length > 0) {
    pieces.push(head);
    batchBytes += head.length;
    lineBytes += head.length;
  }
  // A last line without a newline.
  if (skipping) {
    if (batchLines > 0) yield takeBatch();
    yield { seq: seq++, firstLine: nextLine, bytes: Buffer.alloc(0), tooLongBytes: lineBytes };
  } else if (batchBytes > 0) {
    if (lineBytes > 0) nextLine++;
    yield takeBatch();
  }
}

/** Keeps the first `keepBytes` bytes of the pieces. */
function trimTo(pieces: Buffer[], keepBytes: number): Buffer[] {
  const kept: Buffer[] = [];
  let total = 0;
  for (const p of pieces) {
    if (total >= keepBytes) break;
    const take = Math.min(p.length, keepBytes - total);
    kept.push(take === p.length ? p : p.subarray(0, take));
    total += take;
  }
  return kept;
}
