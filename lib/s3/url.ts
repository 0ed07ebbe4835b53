/** S3 addresses: `s3://bucket/key` for inputs, `s3://bucket/prefix/` for outputs, and bucket names. */
import { FatalError } from '../cli/errors.ts';

/** A parsed `s3://bucket/key` address. */
export interface S3Location {
  bucket: string;
  /** Object key (input) or key prefix (output, '' or ending in '/'). Taken literally, no %-decoding. */
  key: string;
}

/** S3 bucket names: 3..63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit. */
export const BUCKET_PATTERN = '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$';

/** Explains what is wrong with a bucket name, or '' when it is valid. */
export function bucketNameProblem(name: string): string {
  if (name.length < 3 || name.length > 63) return 'must be 3 to 63 characters long';
  if (/[A-Z]/.test(name)) return 'must be lowercase';
  if (!new RegExp(BUCKET_PATTERN).test(name)) return 'may only contain a-z, 0-9, dots and hyphens, and must start and end with a letter or digit';
  if (name.includes('..')) return 'must not contain two adjacent dots';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return 'must not look like an IP address';
  if (name.startsWith('xn--') || name.startsWith('sthree-') || name.endsWith('-s3alias') || name.endsWith('--ol-s3') || name.endsWith('--x-s3')) {
    return 'uses a prefix or suffix reserved by S3';
  }
  return '';
}

/** Splits s3://bucket/key without judging either part (key may be ''); undefined when not s3://. */
export function splitS3Url(url: string): S3Location | undefined {
  const m = /^s3:\/\/([^/]*)\/?(.*)$/s.exec(url);
  return m ? { bucket: m[1], key: m[2] } : undefined;
}

function splitS3(url: string, expected: string): S3Location {
  const loc = splitS3Url(url);
  if (!loc) throw new FatalError(`${url}: not an S3 URL; expected ${expected}`);
  if (loc.bucket === '') throw new FatalError(`${url}: malformed S3 URL, the bucket name is missing; expected ${expected}`);
  const problem = bucketNameProblem(loc.bucket);
  if (problem) throw new FatalError(`${url}: malformed S3 URL, "${loc.bucket}" is not a valid bucket name (it ${problem})`);
  return loc;
}

/** `s3://bucket/key` for an input object: the key must name an object. */
export function parseS3Url(url: string): S3Location {
  const loc = splitS3(url, 's3://bucket/key');
  if (loc.key === '' || loc.key.endsWith('/')) {
    throw new FatalError(`${url}: malformed S3 URL, no object key; expected s3://bucket/key`);
  }
  return loc;
}

/**
 * `s3://bucket/prefix/` for an output folder. `s3://bucket` and `s3://bucket/` mean the bucket's
 * top level; a prefix without a trailing slash gets one (`s3://b/run1` = `s3://b/run1/`).
 */
export function parseS3Prefix(url: string): S3Location {
  const loc = splitS3(url, 's3://bucket/prefix/');
  let key = loc.key.replace(/^\/+/, '');
  if (key !== '' && !key.endsWith('/')) key += '/';
  if (key.includes('//')) throw new FatalError(`${url}: malformed S3 URL, empty path segment in the prefix`);
  return { bucket: loc.bucket, key };
}

export function formatS3Url(loc: S3Location): string {
  return `s3://${loc.bucket}/${loc.key}`;
}
