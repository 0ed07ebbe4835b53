/**
 * A day file of a checkpointed --s3-output run put in S3 at the end by one multipart upload that
 * copies the parts of the last record S3 can copy server-side (UploadPartCopy: 5 MiB to 5 GiB,
 * not behind a smaller run of local bytes) and sends everything else from the local day file,
 * in order (gzip members concatenate): smaller parts merged with their neighbours and the bytes
 * written since the last checkpoint, in UploadParts of at least 5 MiB but the last. The local
 * file is first checked part by part against the sizes and SHA-256s of the record (a resumed run
 * builds it by downloading the earlier parts, each checked). The result is checked like every
 * upload: size, x-amz-meta-sha256, then S3's composite SHA-256 checksum or its multipart ETag,
 * computed here from the expected bytes of each part. A day file with nothing to copy is not
 * assembled: it goes up whole with the run's other files (lib/s3/output.ts, s3-finish.ts).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, UploadPartCommand,
  UploadPartCopyCommand, type CompletedPart, type HeadObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { FatalError } from '../cli/errors.ts';
import { describeS3Error } from '../s3/client.ts';
import { MIN_PART_SIZE, headObject, partSizeFor, type UploadedFile } from '../s3/output.ts';
import { failpoint } from '../failpoints.ts';
import type { CheckpointPart } from './record.ts';
import type { CheckpointStore } from './s3-store.ts';

const MiB = 1024 * 1024;
/** Parts of one assembly sent at once. */
const PARTS_IN_FLIGHT = 4;

/** One part of the multipart upload: a copy of a part object, or bytes [start, end) of the local file. */
type Segment = { copy: CheckpointPart; start: number; end: number } | { copy?: undefined; start: number; end: number };

/** SHA-256 and MD5 of consecutive ranges of a file, fed its bytes in order from byte 0. */
class RangeHasher {
  readonly sha256: string[] = [];
  readonly md5: string[] = [];
  private i = 0;
  private pos = 0;
  private sha = crypto.createHash('sha256');
  private m = crypto.createHash('md5');

  constructor(private ranges: { start: number; end: number }[]) {
    this.close();
  }

  update(chunk: Buffer): void {
    let c = chunk;
    while (c.length > 0 && this.i < this.ranges.length) {
      const take = Math.min(c.length, this.ranges[this.i].end - this.pos);
      this.sha.update(c.subarray(0, take));
      this.m.update(c.subarray(0, take));
      this.pos += take;
      c = c.subarray(take);
      this.close();
    }
    this.pos += c.length;
  }

  private close(): void {
    while (this.i < this.ranges.length && this.pos >= this.ranges[this.i].end) {
      this.sha256.push(this.sha.digest('hex'));
      this.md5.push(this.m.digest('hex'));
      this.sha = crypto.createHash('sha256');
      this.m = crypto.createHash('md5');
      this.i++;
    }
  }
}

/** Hex SHA-256 and MD5 of each range of each set (consecutive ranges from byte 0), and of the whole file, in one read. */
async function hashRanges(file: string, sets: { start: number; end: number }[][]): Promise<{ sets: RangeHasher[]; whole: { sha256: string; md5: string; size: number } }> {
  const sha = crypto.createHash('sha256');
  const md5 = crypto.createHash('md5');
  const hashers = sets.map((r) => new RangeHasher(r));
  let size = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: MiB }) as AsyncIterable<Buffer>) {
    sha.update(chunk);
    md5.update(chunk);
    size += chunk.length;
    for (const h of hashers) h.update(chunk);
  }
  return { sets: hashers, whole: { sha256: sha.digest('hex'), md5: md5.digest('hex'), size } };
}

/** S3's largest part (UploadPart and UploadPartCopy). */
const MAX_PART_SIZE = 5 * 1024 * MiB;

/**
 * How a day file of `size` bytes whose first bytes are `parts` (in file order) goes up: a part of
 * 5 MiB to 5 GiB is copied when no local bytes wait before it; all other bytes (smaller parts,
 * the tail after the parts) are sent from the local file, in runs of at least `minPart` (but the
 * last) and at most about `chunk`.
 */
export function planSegments(parts: CheckpointPart[], size: number, minPart = MIN_PART_SIZE, chunk = partSizeFor(size)): Segment[] {
  const segments: Segment[] = [];
  let pending: { start: number; end: number } | undefined;
  const local = (start: number, end: number) => {
    let s = pending ? pending.start : start;
    while (end - s >= minPart) {
      // The last piece takes what is left when that would be under the minimum.
      const e = end - s < chunk + minPart ? end : s + chunk;
      segments.push({ start: s, end: e });
      s = e;
    }
    pending = end > s ? { start: s, end } : undefined;
  };
  let at = 0;
  for (const p of parts) {
    at = p.offsetInFile + p.bytes;
    if (!pending && p.bytes >= minPart && p.bytes <= MAX_PART_SIZE) segments.push({ copy: p, start: p.offsetInFile, end: at });
    else local(p.offsetInFile, at);
  }
  if (size > at) local(at, size);
  if (pending) segments.push(pending);
  return segments;
}

/**
 * Checks that `file` (the local day file) begins with the parts in order: offsets contiguous from
 * 0, each part's SHA-256; what follows the parts is the bytes written since the last checkpoint.
 * Hashes the ranges of `segments` in the same read. Returns the file's own SHA-256, MD5 and size,
 * and the segments' digests. A FatalError names the first difference.
 */
export async function checkLocalAgainstParts(file: string, parts: CheckpointPart[], segments: { start: number; end: number }[] = []) {
  let at = 0;
  for (const p of parts) {
    if (p.offsetInFile !== at) throw new FatalError(`${p.key} starts at byte ${p.offsetInFile} of ${p.fileName}, where ${at} was expected`);
    at += p.bytes;
  }
  const size = fs.statSync(file).size;
  if (size < at) throw new FatalError(`${file} has ${size} bytes, its parts ${at}`);
  const h = await hashRanges(file, [parts.map((p) => ({ start: p.offsetInFile, end: p.offsetInFile + p.bytes })), segments]);
  parts.forEach((p, k) => {
    const got = h.sets[0].sha256[k];
    if (got !== p.sha256) throw new FatalError(`${file}: bytes ${p.offsetInFile}..${p.offsetInFile + p.bytes} are not ${p.key} (SHA-256 ${got}, recorded ${p.sha256})`);
  });
  return { ...h.whole, segments: { sha256: h.sets[1].sha256, md5: h.sets[1].md5 } };
}

/** Whether planSegments copies any of `parts` into a day file of `size` bytes (else it goes up whole). */
export const copiesAPart = (parts: CheckpointPart[], size: number, minPart = MIN_PART_SIZE): boolean =>
  planSegments(parts, size, minPart).some((s) => s.copy);

/**
 * Puts OUTPUT/`fileName` together from `parts` (the last record's parts of that file, in file
 * order) and `file`, the whole local day file, checked here against them. Returns what the
 * manifest lists of it.
 */
export async function assembleDayFile(store: CheckpointStore, fileName: string, parts: CheckpointPart[], file: string, minPart = MIN_PART_SIZE): Promise<UploadedFile> {
  const segments = planSegments(parts, fs.statSync(file).size, minPart);
  const { segments: sums, ...whole } = await checkLocalAgainstParts(file, parts, segments);
  const key = store.prefix + fileName;
  const url = store.url(fileName);
  const { s3, bucket } = store;
  let uploadId: string | undefined;
  try {
    const created = await s3.send(new CreateMultipartUploadCommand({
      Bucket: bucket, Key: key, ContentType: 'application/gzip', ChecksumAlgorithm: 'SHA256',
      Metadata: { sha256: whole.sha256 }, ...store.sse,
    }));
    uploadId = created.UploadId!;
    const completed: CompletedPart[] = new Array(segments.length);
    const send = async (k: number) => {
      const seg = segments[k];
      const PartNumber = k + 1;
      const wantSha = Buffer.from(sums.sha256[k], 'hex').toString('base64');
      if (seg.copy) {
        const res = await s3.send(new UploadPartCopyCommand({
          Bucket: bucket, Key: key, UploadId: uploadId, PartNumber,
          CopySource: `${bucket}/${encodeURIComponent(store.prefix + seg.copy.key).replace(/%2F/g, '/')}`,
        }));
        const got = res.CopyPartResult?.ChecksumSHA256;
        if (got && got !== wantSha) throw new FatalError(`upload of ${url} did not check out: S3 copied ${seg.copy.key} with SHA-256 ${got}, expected ${wantSha}`);
        completed[k] = { PartNumber, ETag: res.CopyPartResult?.ETag, ...(got ? { ChecksumSHA256: got } : {}) };
      } else {
        const res = await s3.send(new UploadPartCommand({
          Bucket: bucket, Key: key, UploadId: uploadId, PartNumber, ContentLength: seg.end - seg.start,
          Body: fs.createReadStream(file, { start: seg.start, end: seg.end - 1, highWaterMark: MiB }),
          ChecksumSHA256: wantSha,
        }));
        completed[k] = { PartNumber, ETag: res.ETag, ...(res.ChecksumSHA256 ? { ChecksumSHA256: res.ChecksumSHA256 } : {}) };
      }
      failpoint('assembly-part-copied');
    };
    // Parts in flight as lib-storage sends them for a whole file; the first failure stops the rest.
    let next = 0;
    let failed = false;
    await Promise.all(Array.from({ length: Math.min(PARTS_IN_FLIGHT, segments.length) }, async () => {
      while (!failed && next < segments.length) {
        try {
          await send(next++);
        } catch (err) {
          failed = true;
          throw err;
        }
      }
    }));
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: completed } }));
    uploadId = undefined;
  } catch (err) {
    if (uploadId) await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => {});
    if (err instanceof FatalError) throw err;
    throw new FatalError(describeS3Error(err, url, 'assemble'));
  }
  const head = await headObject(s3, bucket, key, url);
  const verifiedBy = verifyAssembled(head, whole, sums, url, store.sse.ServerSideEncryption === 'aws:kms');
  return { name: fileName, key, size: whole.size, sha256: whole.sha256, parts: segments.length, verifiedBy };
}

/** verifyStored's checks for an object made of parts of any sizes. */
export function verifyAssembled(
  head: HeadObjectCommandOutput, whole: { sha256: string; md5: string; size: number }, sums: { sha256: string[]; md5: string[] }, url: string, kms: boolean,
): UploadedFile['verifiedBy'] {
  const fail = (what: string) => new FatalError(`upload of ${url} did not check out: ${what}; the upload is not trusted, run again`);
  if (head.ContentLength !== whole.size) throw fail(`S3 has ${head.ContentLength} bytes, the parts ${whole.size}`);
  if (head.Metadata?.sha256 !== whole.sha256) throw fail(`the object's x-amz-meta-sha256 is ${head.Metadata?.sha256 ?? 'missing'}, expected ${whole.sha256}`);
  const n = sums.sha256.length;
  if (head.ChecksumSHA256) {
    const want = crypto.createHash('sha256').update(Buffer.concat(sums.sha256.map((h) => Buffer.from(h, 'hex')))).digest('base64');
    if (head.ChecksumSHA256.replace(/-\d+$/, '') !== want) throw fail(`S3's SHA-256 checksum ${head.ChecksumSHA256} is not the parts' ${want}-${n}`);
    return 'sha256';
  }
  const etag = (head.ETag ?? '').replace(/"/g, '');
  const composite = `${crypto.createHash('md5').update(Buffer.concat(sums.md5.map((h) => Buffer.from(h, 'hex')))).digest('hex')}-${n}`;
  // S3's multipart ETag; s3rver answers the MD5 of the whole object.
  if (etag === composite || etag === whole.md5) return 'etag-md5';
  if (kms) throw fail('S3 reported no SHA-256 checksum and under SSE-KMS the ETag is not an MD5');
  throw fail(`the ETag ${etag || 'missing'} is not the multipart ETag ${composite} of the parts`);
}
