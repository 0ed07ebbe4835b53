/** An s3://bucket/key input: GetObject streamed, resumed with a Range from the byte reached, the object's ETag pinned. */
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { FatalError } from '../cli/errors.ts';
import { discard, openResumable, type ResumableSource, type Segment } from './resumable.ts';
import { TransientError, errorPhrase, isTransient, type NetworkOptions } from '../net/retry.ts';
import { createS3Client, describeS3Error } from '../s3/client.ts';
import { parseS3Url } from '../s3/url.ts';

const CONTENT_RANGE = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i;

/**
 * Reads s3://bucket/key as a resumable byte stream (see openResumable) with GetObject and
 * `Range: bytes=N-` after a failure. The SDK itself does not retry (maxAttempts 1): the retry
 * policy is ours, the same as for HTTP. `client` is for tests; by default one is made by
 * createS3Client (default credential chain, AWS_ENDPOINT_URL honoured).
 */
export async function openS3(url: string, opts: NetworkOptions, client?: S3Client, startAt = 0): Promise<ResumableSource> {
  const { bucket, key } = parseS3Url(url);
  const s3 = client ?? createS3Client({ maxAttempts: 1 });

  const open = async (offset: number, signal: AbortSignal): Promise<Segment> => {
    let out;
    try {
      out = await s3.send(new GetObjectCommand({
        Bucket: bucket,
        Key: key,
        ...(offset > 0 ? { Range: `bytes=${offset}-` } : {}),
      }), { abortSignal: signal });
    } catch (err) {
      if (signal.aborted) throw err;
      if (isTransient(err)) throw new TransientError(errorPhrase(err), err);
      throw new FatalError(describeS3Error(err, url, 'read'));
    }
    const body = out.Body as Readable | undefined;
    if (!body) throw new TransientError('GetObject answered without a body');
    const validator = out.ETag;
    if (out.$metadata.httpStatusCode === 206 || out.ContentRange) {
      const m = CONTENT_RANGE.exec(out.ContentRange ?? '');
      if (!m) {
        discard(body);
        throw new FatalError(`cannot read input ${url}: the answer to a Range request has no valid Content-Range`);
      }
      return { body, start: Number(m[1]), total: m[3] === '*' ? undefined : Number(m[3]), validator };
    }
    return { body, start: 0, total: out.ContentLength, validator };
  };

  return openResumable(url, open, opts, () => { if (!client) s3.destroy(); }, startAt);
}
