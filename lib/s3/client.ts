/** The one way this tool makes an S3 client, and one-line descriptions of S3 errors. */
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { errorPhrase } from '../net/retry.ts';

export const DEFAULT_REGION = 'us-east-1';

/** True when AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL points the SDK at another S3 server. */
export function customEndpoint(): string | undefined {
  return process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined;
}

/**
 * The one way this tool makes an S3 client.
 * - Credentials: only the SDK's default provider chain (environment, profile, SSO, web identity,
 *   ECS/EC2 instance role). Never from flags.
 * - Region: AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1; a bucket in another region is
 *   followed through S3's redirect.
 * - Endpoint: the SDK reads AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL itself; when either is set,
 *   path-style addressing is used so a local S3 server (s3rver, MinIO) works.
 * `overrides` is for tests and for tuning (maxAttempts, requestHandler).
 */
export function createS3Client(overrides: Partial<S3ClientConfig> = {}): S3Client {
  const region = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || DEFAULT_REGION;
  const config: S3ClientConfig = {
    region,
    followRegionRedirects: true,
    retryMode: 'standard',
    maxAttempts: 5,
    ...(customEndpoint() ? { forcePathStyle: true } : {}),
    ...overrides,
  };
  return new S3Client(config);
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

/**
 * One line naming `url` and what to check, for an error from the S3 client.
 * `action` says what was tried, e.g. "read", "write to".
 */
export function describeS3Error(err: unknown, url: string, action = 'access'): string {
  const e = (err ?? {}) as SdkError;
  const status = e.$metadata?.httpStatusCode;
  const name = e.name ?? e.Code ?? '';
  const where = customEndpoint() ? ` at ${customEndpoint()}` : '';
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(e.message ?? '')) {
    return `cannot ${action} ${url}: no AWS credentials found; on EC2 attach an instance role, elsewhere set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY`;
  }
  if (name === 'NoSuchBucket' || (name === 'NotFound' && /^s3:\/\/[^/]+\/?$/.test(url))) {
    return `cannot ${action} ${url}: the bucket does not exist${where}; check the bucket name`;
  }
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) {
    return `cannot ${action} ${url}: no such object (404)${where}; check the key`;
  }
  if (status === 403 || ['AccessDenied', 'Forbidden', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken'].includes(name)) {
    return `cannot ${action} ${url}: access denied (403, ${name || 'Forbidden'}); check that the credentials or instance role allow it and that the bucket policy / KMS key policy permit it`;
  }
  if (name === 'PermanentRedirect' || status === 301) {
    return `cannot ${action} ${url}: the bucket is in another region; set AWS_REGION to the bucket's region`;
  }
  if (name === 'KMS.NotFoundException' || name === 'KMSNotFoundException' || /KMS/i.test(name)) {
    return `cannot ${action} ${url}: KMS error (${name}); check --sse-kms-key-id and the key policy`;
  }
  const code = e.code ?? '';
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH'].includes(code)) {
    return `cannot ${action} ${url}: cannot reach the S3 endpoint${where} (${code}); check the network, AWS_REGION and AWS_ENDPOINT_URL`;
  }
  return `cannot ${action} ${url}: ${errorPhrase(err)}`;
}
