/** Drops the first `n` bytes of a stream: a resume of a compressed input, decompressed from its start, goes on at a JSONL offset. */
import type { Readable } from 'node:stream';
import { byteStream } from './resumable.ts';

export function skipBytes(stream: Readable, n: number): Readable {
  async function* rest(): AsyncGenerator<Buffer> {
    let left = n;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (left >= chunk.length) { left -= chunk.length; continue; }
        yield left > 0 ? chunk.subarray(left) : chunk;
        left = 0;
      }
    } finally {
      stream.destroy();
    }
  }
  return byteStream(rest(), () => stream.destroy());
}
