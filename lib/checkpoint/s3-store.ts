/**
 * The S3 objects of checkpoints under OUTPUT (`_parts/...`, `_checkpoint.json`): verified writes of
 * a byte range of a local file or of a buffer, reads, listing and deletion. Every write is checked
 * as lib/s3/output.ts checks an upload (verifyStored: size, x-amz-meta-sha256, then S3's SHA-256
 * checksum or the ETag), so a part that S3 did not store whole is never recorded.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import {
  DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand,
  type S3Client, type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { FatalError } from '../cli/errors.ts';
import { describeS3Error } from '../s3/client.ts';
import { parseS3Prefix } from '../s3/url.ts';
import { contentType, headObject, newFileHasher, partSizeFor, sseParams, verifyStored, type FileHash } from '../s3/output.ts';
import { errorPhrase, isTransient, withRetries } from '../net/retry.ts';

const MiB = 1024 * 1024;

export interface StoredObject {
  key: string;
  size: number;
  /** Hex SHA-256 and MD5 of the bytes, as computed locally before the upload. */
  sha256: string;
  md5: string;
}

export class CheckpointStore {
  readonly bucket: string;
  /** OUTPUT's key prefix ('' or ending in '/'). */
  readonly prefix: string;
  readonly sse: ReturnType<typeof sseParams>;

  constructor(readonly s3: S3Client, target: string, sseKmsKeyId?: string) {
    const loc = parseS3Prefix(target);
    this.bucket = loc.bucket;
    this.prefix = loc.key;
    this.sse = sseParams(sseKmsKeyId);
  }

  /** s3://bucket/OUTPUT/rel */
  url(rel: string): string {
    return `s3://${this.bucket}/${this.prefix}${rel}`;
  }

  /** Uploads bytes [start, end) of `file` as OUTPUT/`rel`, then checks what S3 stored. */
  async putFileRange(rel: string, file: string, start: number, end: number): Promise<StoredObject> {
    const size = end - start;
    const partSize = partSizeFor(size);
    const h = await hashRange(file, start, end, partSize);
    return this.put(rel, h, partSize, () => (size === 0 ? Buffer.alloc(0) : fs.createReadStream(file, { start, end: end - 1, highWaterMark: MiB })));
  }

  /** Uploads `body` as OUTPUT/`rel`, then checks what S3 stored. */
  async putBuffer(rel: string, body: Buffer): Promise<StoredObject> {
    const partSize = partSizeFor(body.length);
    return this.put(rel, hashBuffer(body, partSize), partSize, () => body);
  }

  private async put(rel: string, h: FileHash, partSize: number, body: () => Buffer | fs.ReadStream): Promise<StoredObject> {
    const key = this.prefix + rel;
    const url = this.url(rel);
    const sha256 = h.sha256.toString('hex');
    await withRetries(url, async () => {
      const params = {
        Bucket: this.bucket, Key: key, ContentLength: h.size, ContentType: contentType(rel),
        ChecksumAlgorithm: 'SHA256' as const, Metadata: { sha256 }, ...this.sse,
      };
      try {
        if (h.size <= partSize) {
          const b = body();
          await this.s3.send(new PutObjectCommand({ ...params, Body: Buffer.isBuffer(b) ? b : await streamToBuffer(b) }));
        } else {
          await new Upload({ client: this.s3, partSize, queueSize: 4, params: { ...params, Body: body() } }).done();
        }
      } catch (err) {
        if (!isTransient(err)) throw new FatalError(describeS3Error(err, url, 'write to'));
        throw err;
      }
    }, { maxTries: 3, baseDelayMs: 1000, maxDelayMs: 10_000 }).catch((err: unknown) => {
      if (err instanceof FatalError) throw err;
      throw new FatalError(`cannot write to ${url}: gave up after 3 tries: ${errorPhrase(err)}`);
    });
    verifyStored(await headObject(this.s3, this.bucket, key, url), h, partSize, url, this.sse.ServerSideEncryption as ServerSideEncryption);
    return { key: rel, size: h.size, sha256, md5: h.md5.toString('hex') };
  }

  /**
   * Whether OUTPUT/`rel` exists, by listing (as lib/s3/output.ts does): a GET of a missing key is
   * answered 404 only to a caller allowed an unconditional s3:ListBucket, else 403.
   */
  async exists(rel: string): Promise<boolean> {
    const key = this.prefix + rel;
    try {
      const res = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: key, MaxKeys: 1 }));
      return (res.Contents ?? []).some((o) => o.Key === key);
    } catch (err) {
      throw new FatalError(describeS3Error(err, this.url(rel), 'list'));
    }
  }

  /** The bytes of OUTPUT/`rel`, or undefined when there is no such object. */
  async get(rel: string): Promise<Buffer | undefined> {
    return (await this.getWithSha(rel))?.body;
  }

  /** The bytes of OUTPUT/`rel` and the SHA-256 its writer recorded (x-amz-meta-sha256), or undefined when there is no such object. */
  async getWithSha(rel: string): Promise<{ body: Buffer; sha256?: string } | undefined> {
    try {
      const res = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + rel }));
      return { body: Buffer.from(await res.Body!.transformToByteArray()), sha256: res.Metadata?.sha256 };
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return undefined;
      throw new FatalError(describeS3Error(err, this.url(rel), 'read'));
    }
  }

  /** Reads OUTPUT/`rel` and checks it against the size and SHA-256 recorded when it was written. */
  async getChecked(rel: string, expected: { bytes: number; sha256: string }): Promise<Buffer> {
    const body = await this.get(rel);
    if (!body) throw new FatalError(`cannot read ${this.url(rel)}: the checkpoint lists it but it is missing`);
    const sha = crypto.createHash('sha256').update(body).digest('hex');
    if (body.length !== expected.bytes || sha !== expected.sha256) {
      throw new FatalError(`${this.url(rel)} is not what the checkpoint recorded: ${body.length} bytes with SHA-256 ${sha}, expected ${expected.bytes} bytes with ${expected.sha256}`);
    }
    return body;
  }

  /** Keys (relative to OUTPUT) of every object under OUTPUT/`relPrefix`. */
  async list(relPrefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      let res;
      try {
        res = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + relPrefix, ContinuationToken: token }));
      } catch (err) {
        throw new FatalError(describeS3Error(err, this.url(relPrefix), 'list'));
      }
      for (const o of res.Contents ?? []) if (o.Key) keys.push(o.Key.slice(this.prefix.length));
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  /** Deletes OUTPUT/`rel` for each of `rels`, 8 at a time (one DeleteObject each: s3:DeleteObject per key, as IAM judges it). */
  async delete(rels: string[]): Promise<void> {
    const queue = [...rels];
    const worker = async () => {
      for (let rel = queue.shift(); rel !== undefined; rel = queue.shift()) {
        try {
          await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + rel }));
        } catch (err) {
          throw new FatalError(describeS3Error(err, this.url(rel), 'delete'));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, queue.length) }, worker));
  }
}

async function streamToBuffer(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
}

/** SHA-256 and MD5 of bytes [start, end) of a file, whole and per part of `partSize`. */
export async function hashRange(file: string, start: number, end: number, partSize: number): Promise<FileHash> {
  const h = newFileHasher(partSize);
  if (end > start) {
    for await (const chunk of fs.createReadStream(file, { start, end: end - 1, highWaterMark: MiB }) as AsyncIterable<Buffer>) h.update(chunk);
  }
  const out = h.digest();
  if (out.size !== end - start) throw new FatalError(`${file} is shorter than expected: ${start + out.size} bytes, needed ${end}`);
  return out;
}

export function hashBuffer(body: Buffer, partSize: number): FileHash {
  const h = newFileHasher(partSize);
  h.update(body);
  return h.digest();
}

