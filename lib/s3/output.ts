/** --s3-output: uploads the results (multipart, SSE, every object checked), then manifest.json last. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  DeleteObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand,
  type HeadObjectCommandOutput, type S3Client, type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { FatalError, describeFsError } from '../cli/errors.ts';
import { formatBytes, formatDuration } from '../cli/format.ts';
import { PACKAGE_JSON } from '../paths.ts';
import { createS3Client, describeS3Error } from './client.ts';
import { formatS3Url, parseS3Prefix, type S3Location } from './url.ts';
import { errorPhrase, isTransient, printRetry, withRetries, type RetryInfo, type RetryOptions } from '../net/retry.ts';
import { failpoint } from '../failpoints.ts';

const MiB = 1024 * 1024;
/** S3's limits: parts of 5 MiB at least (but the last), 10,000 parts at most. */
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PARTS = 10_000;
export const DEFAULT_PART_SIZE = 16 * MiB;
export const MANIFEST_NAME = 'manifest.json';

const DAY_FILE = /^\d{4}_\d{2}_\d{2}\.pb\.gz$/;
const FIXED_FILES = ['index.db', 'proton-beam.log'];

export interface UploadProgress {
  /** The file the event is about. */
  file: string;
  fileBytes: number;
  fileSize: number;
  /** All files: bytes sent so far and in total. */
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
}

export interface UploadOptions {
  /** Folder the converter wrote: YYYY_MM_DD.pb.gz, index.db, proton-beam.log (anything else is left alone). */
  dir: string;
  /** s3://bucket/prefix/ (a missing trailing slash is added). */
  target: string;
  /** SSE-KMS with this key (id, ARN or alias); else SSE-S3 (AES256). */
  sseKmsKeyId?: string;
  /** Delete the uploaded local files once manifest.json is in place. */
  deleteLocalAfterUpload?: boolean;
  /** What the converter knows: input, counts, timings... merged into manifest.json. */
  manifest: Record<string, unknown>;
  /** An interrupted run: upload (and check) the complete files, but write no manifest.json, so the prefix never looks complete. */
  partial?: boolean;
  /** Multipart part size in bytes (default 16 MiB, at least 5 MiB; raised so a file needs at most 10,000 parts). */
  partSize?: number;
  /** Parts in flight per file (default 4). */
  queueSize?: number;
  /** Files in flight (default 2). Memory bound: fileConcurrency x (queueSize + 1) x partSize. */
  fileConcurrency?: number;
  /** Tries of a whole file after the SDK's own retries gave up (default 3). */
  fileRetry?: Partial<RetryOptions>;
  client?: S3Client;
  /** Day files already in place under the target (assembled from checkpoint parts): not uploaded again, listed in the manifest. */
  assembled?: UploadedFile[];
  onProgress?: (p: UploadProgress) => void;
  onRetry?: (info: RetryInfo) => void;
}

export interface UploadedFile {
  name: string;
  key: string;
  size: number;
  /** Hex SHA-256 of the whole file. */
  sha256: string;
  parts: number;
  /** What S3 reported that matched our local hash: its SHA-256 checksum, or the ETag (MD5). */
  verifiedBy: 'sha256' | 'etag-md5';
}

export interface UploadReport {
  /** s3://bucket/prefix/ */
  target: string;
  bucket: string;
  prefix: string;
  files: UploadedFile[];
  manifestKey: string;
  manifest: Record<string, unknown>;
  bytes: number;
  seconds: number;
  deletedLocal: string[];
}

export interface FileHash {
  size: number;
  sha256: Buffer;
  md5: Buffer;
  partSha256: Buffer[];
  partMd5: Buffer[];
}

/** The part size used for a file of `size` bytes: at least `requested`, few enough parts. */
export function partSizeFor(size: number, requested = DEFAULT_PART_SIZE): number {
  const needed = Math.ceil(Math.ceil(size / MAX_PARTS) / MiB) * MiB;
  return Math.max(requested, MIN_PART_SIZE, needed);
}

/** The files of `dir` this tool uploads, in order: day files, index.db, proton-beam.log. */
export async function resultFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch (err) {
    throw new FatalError(`cannot upload results: ${describeFsError(err, dir)}`);
  }
  const days = names.filter((n) => DAY_FILE.test(n)).sort();
  const fixed = FIXED_FILES.filter((n) => names.includes(n));
  const wal = path.join(dir, 'index.db-wal');
  if (names.includes('index.db-wal') && fs.statSync(wal).size > 0) {
    throw new FatalError(`cannot upload results: ${wal} is not empty, index.db was not closed; close the database before uploading`);
  }
  return [...days, ...fixed];
}

/** SHA-256 and MD5 of a file, whole and per part of `partSize`, in one read. */
export async function hashFile(file: string, partSize: number): Promise<FileHash> {
  const h = newFileHasher(partSize);
  for await (const chunk of fs.createReadStream(file, { highWaterMark: MiB }) as AsyncIterable<Buffer>) h.update(chunk);
  return h.digest();
}

/** The running form of hashFile, for bytes that come from elsewhere (a range of a file, a buffer). */
export function newFileHasher(partSize: number): { update(chunk: Buffer): void; digest(): FileHash } {
  const sha = crypto.createHash('sha256');
  const md5 = crypto.createHash('md5');
  const partSha256: Buffer[] = [];
  const partMd5: Buffer[] = [];
  let pSha = crypto.createHash('sha256');
  let pMd5 = crypto.createHash('md5');
  let inPart = 0;
  let size = 0;
  return {
    update(chunk: Buffer) {
      sha.update(chunk);
      md5.update(chunk);
      size += chunk.length;
      let c = chunk;
      while (c.length > 0) {
        const take = Math.min(c.length, partSize - inPart);
        pSha.update(c.subarray(0, take));
        pMd5.update(c.subarray(0, take));
        inPart += take;
        c = c.subarray(take);
        if (inPart === partSize) {
          partSha256.push(pSha.digest());
          partMd5.push(pMd5.digest());
          pSha = crypto.createHash('sha256');
          pMd5 = crypto.createHash('md5');
          inPart = 0;
        }
      }
    },
    digest(): FileHash {
      if (inPart > 0) {
        partSha256.push(pSha.digest());
        partMd5.push(pMd5.digest());
      }
      return { size, sha256: sha.digest(), md5: md5.digest(), partSha256, partMd5 };
    },
  };
}

/** lib-storage sends a file of at most one part size as one PutObject, else as a multipart upload. */
function partCount(size: number, partSize: number): number {
  return size <= partSize ? 1 : Math.ceil(size / partSize);
}

/**
 * Compares what S3 says it stored with the local file. Required: the size, and our SHA-256 in the
 * object's metadata (so the object is the one this run wrote). Then a content check, the first
 * that S3 offers:
 * - ChecksumSHA256 (real S3, since we upload with ChecksumAlgorithm SHA256): the SHA-256 of the
 *   file for one part, or for a multipart upload the SHA-256 of the parts' SHA-256s, "-N".
 * - the ETag: the MD5 of the file (single PutObject with SSE-S3; s3rver also for multipart), or
 *   S3's multipart ETag, the MD5 of the parts' MD5s, "-N". Not an MD5 under SSE-KMS on real S3.
 * Returns which one matched; throws a FatalError if any check fails or none could be made.
 */
export function verifyStored(head: HeadObjectCommandOutput, h: FileHash, partSize: number, url: string, sse: ServerSideEncryption): UploadedFile['verifiedBy'] {
  const fail = (what: string) => new FatalError(`upload of ${url} did not check out: ${what}; the upload is not trusted, run again`);
  if (head.ContentLength !== h.size) throw fail(`S3 has ${head.ContentLength} bytes, the file ${h.size}`);
  const hex = h.sha256.toString('hex');
  if (head.Metadata?.sha256 !== hex) throw fail(`the object's x-amz-meta-sha256 is ${head.Metadata?.sha256 ?? 'missing'}, expected ${hex}`);
  if (head.ServerSideEncryption && head.ServerSideEncryption !== sse) {
    throw fail(`it is encrypted with ${head.ServerSideEncryption}, not ${sse}`);
  }
  const n = partCount(h.size, partSize);
  if (head.ChecksumSHA256) {
    const want = n === 1 ? h.sha256.toString('base64') : crypto.createHash('sha256').update(Buffer.concat(h.partSha256)).digest('base64');
    const got = head.ChecksumSHA256.replace(/-\d+$/, '');
    if (got !== want) throw fail(`S3's SHA-256 checksum ${head.ChecksumSHA256} is not the file's ${want}`);
    return 'sha256';
  }
  const etag = (head.ETag ?? '').replace(/"/g, '');
  if (etag) {
    const md5 = h.md5.toString('hex');
    const composite = `${crypto.createHash('md5').update(Buffer.concat(h.partMd5)).digest('hex')}-${n}`;
    if (etag === md5 || (n > 1 && etag === composite)) return 'etag-md5';
    if (sse === 'aws:kms') throw fail('S3 reported no SHA-256 checksum and under SSE-KMS the ETag is not an MD5');
    throw fail(`the ETag ${etag} is neither the file's MD5 ${md5} nor its multipart ETag ${composite}`);
  }
  throw fail('S3 reported neither a checksum nor an ETag');
}

export function contentType(name: string): string {
  if (name.endsWith('.pb.gz')) return 'application/gzip';
  if (name.endsWith('.db')) return 'application/vnd.sqlite3';
  if (name.endsWith('.json')) return 'application/json';
  return 'text/plain; charset=utf-8';
}

export function sseParams(kmsKeyId?: string): { ServerSideEncryption: ServerSideEncryption; SSEKMSKeyId?: string } {
  return kmsKeyId ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKeyId } : { ServerSideEncryption: 'AES256' };
}

function status(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/**
 * Whether `key` exists, by ListObjectsV2 with Prefix = key: an instance role whose s3:ListBucket
 * is limited to the output prefix (an s3:prefix condition) may send it, where HeadBucket (no
 * prefix) and a HeadObject of a missing key (404 only with an unconditional s3:ListBucket, else
 * 403) would be denied. A missing bucket: NoSuchBucket.
 */
async function objectExists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }));
  return (res.Contents ?? []).some((o) => o.Key === key);
}

/**
 * Checks, before any work, everything about `target` (s3://bucket/prefix/) that can fail on
 * permissions, so a run fails in seconds and not after hours of converting:
 * - the bucket exists and the prefix may be listed (ListObjectsV2 with Prefix: s3:ListBucket);
 * - an earlier run's manifest.json is removed (s3:DeleteObject on it), so the prefix never
 *   looks complete while it is being rewritten;
 * - with `write`, a placeholder manifest.json is written with the run's encryption and removed
 *   again (s3:PutObject, and kms:GenerateDataKey under SSE-KMS), the only object this tool may
 *   delete, so nothing is left behind.
 * Throws a one-line FatalError naming the URL and what to check.
 */
export async function checkS3Target(target: string, client?: S3Client, write?: { sseKmsKeyId?: string }): Promise<S3Location> {
  const loc = parseS3Prefix(target);
  const url = formatS3Url(loc);
  const manifestKey = loc.key + MANIFEST_NAME;
  const manifestUrl = `s3://${loc.bucket}/${manifestKey}`;
  const s3 = client ?? createS3Client();
  try {
    let exists: boolean;
    try {
      exists = await objectExists(s3, loc.bucket, manifestKey);
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'NoSuchBucket' || status(err) === 404) throw new FatalError(`cannot write to ${url}: the bucket ${loc.bucket} does not exist; check the bucket name and AWS_REGION`);
      throw new FatalError(describeS3Error(err, url, 'write to'));
    }
    if (exists) await deleteManifest(s3, loc.bucket, manifestKey, manifestUrl);
    if (write) {
      try {
        await s3.send(new PutObjectCommand({
          Bucket: loc.bucket, Key: manifestKey, ContentType: 'application/json',
          Body: '{"placeholder": "write check before converting; the real manifest.json comes last"}\n',
          ...sseParams(write.sseKmsKeyId),
        }));
      } catch (err) {
        throw new FatalError(describeS3Error(err, url, 'write to'));
      }
      await deleteManifest(s3, loc.bucket, manifestKey, manifestUrl);
    }
  } finally {
    if (!client) s3.destroy();
  }
  return loc;
}

async function toolVersion(): Promise<{ name: string; version: string }> {
  try {
    const pkg = JSON.parse(await fs.promises.readFile(PACKAGE_JSON, 'utf8')) as { name: string; version: string };
    return { name: pkg.name, version: pkg.version };
  } catch {
    return { name: 'proton-beam-aws', version: 'unknown' };
  }
}

/**
 * Uploads the converter's results from `dir` to `target` and writes manifest.json last:
 * 1. checks the target (checkS3Target: list, and removes a manifest.json left there by an
 *    earlier run, so the prefix never looks complete while it is being rewritten);
 * 2. for each file (fileConcurrency at a time): SHA-256/MD5 locally, then a lib-storage upload
 *    (PutObject or multipart, queueSize parts in flight) with SSE, ChecksumAlgorithm SHA256 and
 *    x-amz-meta-sha256; the SDK retries throttling and 5xx, and a failed file is tried again
 *    whole (fileRetry); then HeadObject checks size and checksum (verifyStored);
 * 3. only when every file checked out: manifest.json (input, counts, timings from `manifest`,
 *    every file's key, size and SHA-256, tool version, upload timing), itself checked;
 * 4. with deleteLocalAfterUpload, deletes the uploaded local files.
 * Any failure: a one-line FatalError, and no manifest.json.
 */
export async function uploadResults(opts: UploadOptions): Promise<UploadReport> {
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const s3 = opts.client ?? createS3Client();
  try {
    const loc = await checkS3Target(opts.target, s3);
    const targetUrl = formatS3Url(loc);
    const assembled = opts.assembled ?? [];
    const local = await resultFiles(opts.dir);
    const names = local.filter((n) => !assembled.some((f) => f.name === n));
    if (names.length === 0 && assembled.length === 0) throw new FatalError(`cannot upload results: ${opts.dir} has no day files, index.db or proton-beam.log`);
    const manifestKey = loc.key + MANIFEST_NAME;
    const manifestUrl = `s3://${loc.bucket}/${manifestKey}`;

    const sse = sseParams(opts.sseKmsKeyId);
    const requested = opts.partSize ?? DEFAULT_PART_SIZE;
    if (requested < MIN_PART_SIZE) throw new FatalError(`part size ${requested} is below S3's minimum of ${MIN_PART_SIZE} bytes`);
    const queueSize = Math.max(1, opts.queueSize ?? 4);
    const fileConcurrency = Math.max(1, opts.fileConcurrency ?? 2);
    const fileRetry: RetryOptions = { maxTries: 3, baseDelayMs: 1000, maxDelayMs: 10_000, ...opts.fileRetry };

    const sizes = new Map<string, number>();
    for (const name of names) sizes.set(name, (await fs.promises.stat(path.join(opts.dir, name))).size);
    const bytesTotal = [...sizes.values()].reduce((a, b) => a + b, 0);
    const loaded = new Map<string, number>();
    let filesDone = 0;
    const progress = (file: string, fileBytes: number) => {
      loaded.set(file, fileBytes);
      opts.onProgress?.({
        file, fileBytes, fileSize: sizes.get(file)!,
        bytesDone: [...loaded.values()].reduce((a, b) => a + b, 0), bytesTotal,
        filesDone, filesTotal: names.length,
      });
    };

    const uploads = new Set<Upload>();
    let failed = false;
    const uploadOne = async (name: string): Promise<UploadedFile> => {
      const file = path.join(opts.dir, name);
      const key = loc.key + name;
      const url = `s3://${loc.bucket}/${key}`;
      const size = sizes.get(name)!;
      const partSize = partSizeFor(size, requested);
      const h = await hashFile(file, partSize);
      if (h.size !== size) throw new FatalError(`cannot upload ${file}: it changed size while being uploaded`);
      const hex = h.sha256.toString('hex');
      await withRetries(url, async () => {
        if (failed) throw new FatalError(`upload of ${url} cancelled`);
        const upload = new Upload({
          client: s3,
          partSize,
          queueSize,
          params: {
            Bucket: loc.bucket,
            Key: key,
            Body: fs.createReadStream(file, { highWaterMark: MiB }),
            ContentLength: size,
            ContentType: contentType(name),
            ChecksumAlgorithm: 'SHA256',
            Metadata: { sha256: hex },
            ...sse,
          },
        });
        uploads.add(upload);
        upload.on('httpUploadProgress', (p) => progress(name, p.loaded ?? 0));
        try {
          await upload.done();
        } catch (err) {
          if (err instanceof FatalError || !isTransient(err)) throw new FatalError(describeS3Error(err, url, 'write to'));
          throw err;
        } finally {
          uploads.delete(upload);
        }
      }, { ...fileRetry, onRetry: opts.onRetry ?? printRetry }).catch((err: unknown) => {
        if (err instanceof FatalError) throw err;
        throw new FatalError(`cannot write to ${url}: gave up after ${fileRetry.maxTries} tries: ${errorPhrase(err)}`);
      });
      const head = await headObject(s3, loc.bucket, key, url);
      const verifiedBy = verifyStored(head, h, partSize, url, sse.ServerSideEncryption);
      failpoint('upload-object');
      filesDone++;
      progress(name, size);
      return { name, key, size, sha256: hex, parts: partCount(size, partSize), verifiedBy };
    };

    // A small pool: at most fileConcurrency files at once; the first failure stops the rest.
    const results = new Map<string, UploadedFile>();
    const queue = [...names];
    let firstError: unknown;
    const worker = async () => {
      for (let name = queue.shift(); name !== undefined && !failed; name = queue.shift()) {
        try {
          results.set(name, await uploadOne(name));
        } catch (err) {
          if (!failed) firstError = err;
          failed = true;
          for (const u of uploads) void u.abort();
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(fileConcurrency, names.length) }, worker));
    if (failed) throw firstError;

    // In the folder's order (day files, index.db, proton-beam.log), assembled or uploaded here.
    const files = [...assembled.filter((f) => !local.includes(f.name)), ...local.map((n) => assembled.find((f) => f.name === n) ?? results.get(n)!)];
    const bytes = files.reduce((a, f) => a + f.size, 0);
    const finished = Date.now();
    const manifest: Record<string, unknown> = {
      manifestVersion: 1,
      tool: await toolVersion(),
      ...opts.manifest,
      target: targetUrl,
      createdAt: new Date(finished).toISOString(),
      files: files.map((f) => ({ name: f.name, key: f.key, size: f.size, sha256: f.sha256 })),
      upload: {
        startedAt,
        finishedAt: new Date(finished).toISOString(),
        seconds: (finished - started) / 1000,
        bytes,
        serverSideEncryption: sse.ServerSideEncryption,
        ...(sse.SSEKMSKeyId ? { sseKmsKeyId: sse.SSEKMSKeyId } : {}),
      },
    };
    if (!opts.partial) await putManifest(s3, loc.bucket, manifestKey, manifestUrl, manifest, sse);

    const deletedLocal: string[] = [];
    if (opts.deleteLocalAfterUpload) {
      for (const f of files) {
        const file = path.join(opts.dir, f.name);
        try {
          await fs.promises.unlink(file);
          deletedLocal.push(file);
        } catch (err) {
          throw new FatalError(`uploaded, but cannot delete ${describeFsError(err, file)}`);
        }
      }
    }
    return {
      target: targetUrl, bucket: loc.bucket, prefix: loc.key, files, manifestKey: opts.partial ? '' : manifestKey, manifest,
      bytes, seconds: (Date.now() - started) / 1000, deletedLocal,
    };
  } finally {
    if (!opts.client) s3.destroy();
  }
}

export async function headObject(s3: S3Client, bucket: string, key: string, url: string): Promise<HeadObjectCommandOutput> {
  try {
    return await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
  } catch (err) {
    throw new FatalError(describeS3Error(err, url, 'check the upload of'));
  }
}

async function deleteManifest(s3: S3Client, bucket: string, key: string, url: string): Promise<void> {
  try {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  } catch (err) {
    throw new FatalError(`${describeS3Error(err, url, 'delete the earlier run\'s')} (it must go before the prefix is rewritten)`);
  }
}

async function putManifest(
  s3: S3Client, bucket: string, key: string, url: string, manifest: Record<string, unknown>,
  sse: ReturnType<typeof sseParams>,
): Promise<void> {
  const body = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
  const h: FileHash = {
    size: body.length,
    sha256: crypto.createHash('sha256').update(body).digest(),
    md5: crypto.createHash('md5').update(body).digest(),
    partSha256: [],
    partMd5: [],
  };
  try {
    await s3.send(new PutObjectCommand({
      Bucket: bucket, Key: key, Body: body, ContentType: 'application/json',
      ChecksumAlgorithm: 'SHA256', Metadata: { sha256: h.sha256.toString('hex') }, ...sse,
    }));
  } catch (err) {
    throw new FatalError(describeS3Error(err, url, 'write to'));
  }
  const head = await headObject(s3, bucket, key, url);
  try {
    verifyStored(head, h, body.length, url, sse.ServerSideEncryption);
  } catch (err) {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => {});
    throw err;
  }
}

/** The lines printed after an upload. */
export function formatUploadReport(r: UploadReport): string {
  return `Uploaded ${r.files.length} files (${formatBytes(r.bytes)}) to ${r.target} in ${formatDuration(r.seconds)}, each checked; ` +
    (r.manifestKey ? `manifest: s3://${r.bucket}/${r.manifestKey}` : 'no manifest.json (an incomplete run)') + (r.deletedLocal.length ? `; deleted ${r.deletedLocal.length} local files` : '');
}

/** An onProgress that redraws one line on a terminal (at most 4 times a second). */
export function terminalUploadProgress(out: NodeJS.WriteStream = process.stderr): (p: UploadProgress) => void {
  let last = 0;
  return (p) => {
    const now = Date.now();
    const done = p.filesDone === p.filesTotal;
    if (!done && now - last < 250) return;
    last = now;
    out.write(`\r\x1b[2Kupload ${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}, ${p.filesDone}/${p.filesTotal} files${done ? '\n' : ''}`);
  };
}
