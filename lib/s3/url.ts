import { FatalError } from '../cli/errors.ts';

/** A parsed `s3://bucket/key` address. */
export interface S3Location {
  bucket: string;
  /** Object key (input) or key prefix (output, '' or ending in '/'). Taken literally, no %-decoding. */
  key: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function splitS3(url: string): S3Location {
  if (!url.startsWith('s3://')) {
    throw new FatalError(`${url}: not an S3 URL; expected s3://bucket/key`);
  }
  const rest = url.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const key = slash < 0 ? '' : rest.slice(slash + 1);
  if (bucket === '') throw new FatalError(`${url}: malformed S3 URL, the bucket name is missing; expected s3://bucket/key`);
  if (!BUCKET.test(bucket) || bucket.includes('..')) {
    throw new FatalError(`${url}: malformed S3 URL, "${bucket}" is not a valid bucket name (3-63 characters: a-z, 0-9, '.', '-')`);
  }
  return { bucket, key };
}

/** `s3://bucket/key` for an input object: the key must name an object. */
export function parseS3Url(url: string): S3Location {
  const loc = splitS3(url);
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
  const loc = splitS3(url);
  let key = loc.key.replace(/^\/+/, '');
  if (key !== '' && !key.endsWith('/')) key += '/';
  if (key.includes('//')) throw new FatalError(`${url}: malformed S3 URL, empty path segment in the prefix`);
  return { bucket: loc.bucket, key };
}

export function formatS3Url(loc: S3Location): string {
  return `s3://${loc.bucket}/${loc.key}`;
}
