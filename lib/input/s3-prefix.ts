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
}

/** The input objects under `prefix`, in S3's key order (UTF-8 bytes). ListObjectsV2 with Prefix only. */
export async function listInputObjects(s3: S3Client, bucket: string, prefix: string): Promise<S3Object[]> {
  const found: S3Object[] = [];
  let token: string | undefined;
  do {
    const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of res.Contents ?? []) {
      if (o.Key && INPUT_OBJECT.test(o.Key)) found.push({ key: o.Key, size: o.Size ?? 0 });
    }
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  return found.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
}

export interface PrefixSource extends ResumableSource {
  /** The object being read (s3://bucket/key), and how many there are. */
  current(): string;
  objects: string[];
}

/**
 * Opens s3://bucket/prefix/ as one decompressed JSONL stream. Each object is read with the same
 * resume-on-error as a single object; a line is never joined across two objects (a newline is
 * added after an object that does not end with one). bytesRead counts raw (compressed) bytes.
 */
export async function openS3Prefix(url: string, opts: NetworkOptions, client?: S3Client): Promise<PrefixSource> {
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
  let index = 0;
  let done = 0;
  let current: ResumableSource | undefined;
  const stats: ResumableStats = { resumes: 0, rangeIgnored: 0, bytesSkipped: 0 };
  let closed = false;

  async function* bytes(): AsyncGenerator<Buffer> {
    for (; index < objects.length && !closed; index++) {
      const src = current = await openS3(urls[index], opts, client);
      try {
        const { stream } = await decompress(src.stream, urls[index], objects[index].key);
        let last = 0x0a;
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          if (chunk.length === 0) continue;
          last = chunk[chunk.length - 1];
          yield chunk;
        }
        if (last !== 0x0a) yield Buffer.from('\n');
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
    bytesRead: () => done + (current?.bytesRead() ?? 0),
    current: () => urls[Math.min(index, urls.length - 1)],
    stats: () => {
      const s = current?.stats();
      return s ? { resumes: stats.resumes + s.resumes, rangeIgnored: stats.rangeIgnored + s.rangeIgnored, bytesSkipped: stats.bytesSkipped + s.bytesSkipped } : { ...stats };
    },
  };
}
