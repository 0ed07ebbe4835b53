/**
 * An s3://bucket/prefix/ input: every object under the prefix whose name ends in .jsonl, .json or
 * .ndjson (or those plus .gz), in key order, each read resumably (openS3) and decompressed on its
 * own, streamed one after another as one JSONL stream.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { FatalError } from '../cli/errors.ts';
import { decompress } from './decompress.ts';
import { byteStream, type ResumableSource, type ResumableStats } from './resumable.ts';
import { openS3 } from './s3.ts';
import type { NetworkOptions } from '../net/retry.ts';
import { createS3Client, describeS3Error } from '../s3/client.ts';
import { parseS3Prefix } from '../s3/url.ts';

/** The object names a prefix input reads. */
export const INPUT_OBJECT = /\.(jsonl|json|ndjson)(\.gz)?$/i;

export interface S3Object {
  key: string;
  size: number;
  etag: string;
}

/** The input objects under `prefix`, in S3's key order (UTF-8 bytes). ListObjectsV2 with Prefix only. */
export async function listInputObjects(s3: S3Client, bucket: string, prefix: string): Promise<S3Object[]> {
  const found: S3Object[] = [];
  let token: string | undefined;
  do {
    const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of res.Contents ?? []) {
      if (o.Key && INPUT_OBJECT.test(o.Key)) found.push({ key: o.Key, size: o.Size ?? 0, etag: o.ETag ?? '' });
    }
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  return found.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
}

export interface PrefixSource extends ResumableSource {
  /** The object being read (s3://bucket/key), and how many there are. */
  current(): string;
  objects: string[];
  /** Every object with its size and ETag, in order (the input's identity). */
  listed: S3Object[];
  /** Which object the JSONL byte `offset` of the whole stream is in, and where in it (for a checkpoint). */
  positionOf(offset: number): { index: number; key: string; offset: number };
}

/** Where a prefix input starts again: the object (by index) and the JSONL bytes of it to skip. */
export interface PrefixStart {
  index: number;
  offset: number;
  /** JSONL bytes of the whole stream before that point (the stream's offsets go on from it). */
  streamOffset: number;
}

/**
 * Opens s3://bucket/prefix/ as one decompressed JSONL stream. Each object is read with the same
 * resume-on-error as a single object; a line is never joined across two objects (a newline is
 * added after an object that does not end with one). bytesRead counts raw (compressed) bytes.
 */
export async function openS3Prefix(url: string, opts: NetworkOptions, client?: S3Client, start?: PrefixStart): Promise<PrefixSource> {
  const { bucket, key: prefix } = parseS3Prefix(url);
  const lister = client ?? createS3Client();
  let objects: S3Object[];
  try {
    objects = await listInputObjects(lister, bucket, prefix);
  } catch (err) {
    throw new FatalError(describeS3Error(err, url, 'list'));
  } finally {
    if (!client) lister.destroy();
  }
  if (objects.length === 0) {
    throw new FatalError(`cannot read input ${url}: no object under the prefix ends in .jsonl, .json or .ndjson (optionally .gz)`);
  }
  const urls = objects.map((o) => `s3://${bucket}/${o.key}`);
  const totalBytes = objects.reduce((n, o) => n + o.size, 0);
  if (start && start.index >= objects.length) throw new FatalError(`cannot resume ${url} at object ${start.index + 1}: the prefix lists ${objects.length}`);
  let index = start?.index ?? 0;
  // Raw bytes of the objects before the start count as read (progress, the summary).
  let done = objects.slice(0, index).reduce((n, o) => n + o.size, 0);
  // JSONL offset in the whole stream where each object read so far starts (and where the last one ended).
  const starts = new Map<number, number>();
  const ends = new Map<number, number>();
  let streamOffset = start?.streamOffset ?? 0;
  let current: ResumableSource | undefined;
  const stats: ResumableStats = { resumes: 0, rangeIgnored: 0, bytesSkipped: 0 };
  let closed = false;

  async function* bytes(): AsyncGenerator<Buffer> {
    for (; index < objects.length && !closed; index++) {
      const src = current = await openS3(urls[index], opts, client);
      try {
        const { stream } = await decompress(src.stream, urls[index], objects[index].key);
        // The start object of a resume: read from its beginning (it may be compressed), its first bytes dropped.
        let skip = start && index === start.index ? start.offset : 0;
        starts.set(index, streamOffset - skip);
        let last = 0x0a;
        for await (const whole of stream as AsyncIterable<Buffer>) {
          let chunk = whole;
          if (skip > 0) {
            if (chunk.length <= skip) { skip -= chunk.length; continue; }
            chunk = chunk.subarray(skip);
            skip = 0;
          }
          if (chunk.length === 0) continue;
          last = chunk[chunk.length - 1];
          streamOffset += chunk.length;
          yield chunk;
        }
        if (last !== 0x0a) {
          streamOffset++;
          yield Buffer.from('\n');
        }
        ends.set(index, streamOffset);
      } finally {
        const s = src.stats();
        stats.resumes += s.resumes;
        stats.rangeIgnored += s.rangeIgnored;
        stats.bytesSkipped += s.bytesSkipped;
        done += src.bytesRead();
        current = undefined;
        src.stream.destroy();
      }
    }
  }

  const stream = byteStream(bytes(), () => {
    closed = true;
    current?.stream.destroy();
  });
  return {
    stream,
    totalBytes,
    objects: urls,
    listed: objects,
    positionOf(offset: number) {
      // The last object begun at or before `offset`; past its end (its added newline included): the next one's start.
      let i = -1;
      for (const [k, at] of starts) if (at <= offset && k > i) i = k;
      if (i < 0) i = start?.index ?? 0;
      const end = ends.get(i);
      if (end !== undefined && offset >= end && i + 1 < objects.length) return { index: i + 1, key: objects[i + 1].key, offset: offset - end };
      return { index: i, key: objects[i].key, offset: offset - (starts.get(i) ?? offset) };
    },
    bytesRead: () => done + (current?.bytesRead() ?? 0),
    current: () => urls[Math.min(index, urls.length - 1)],
    stats: () => {
      const s = current?.stats();
      return s ? { resumes: stats.resumes + s.resumes, rangeIgnored: stats.rangeIgnored + s.rangeIgnored, bytesSkipped: stats.bytesSkipped + s.bytesSkipped } : { ...stats };
    },
  };
}
