/**
 * A local S3 (s3rver, a real S3 protocol server; the maintained fork @20minutes/s3rver, which implements UploadPartCopy) on 127.0.0.1 for make run-local and the tests,
 * and the environment that points the AWS SDK (ours and the converter's) at it.
 */
import S3rver from '@20minutes/s3rver';

export interface LocalS3 {
  endpoint: string;
  /** The server itself (tests add middleware to it). */
  server: S3rver;
  /** Environment variables for a process that should use this server. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** Starts s3rver on 127.0.0.1 (port 0: any free port) with the given buckets. */
/** `prepare` runs before the server listens (Koa composes its middleware then): tests add theirs. */
export async function startLocalS3(directory: string, buckets: string[], port = 0, prepare?: (server: S3rver) => void): Promise<LocalS3> {
  const server = new S3rver({
    address: '127.0.0.1',
    port,
    silent: true,
    directory,
    vhostBuckets: false,
    // The fork (UploadPartCopy) miscomputes the V4 signature of requests with a query string
    // (ListObjectsV2): 403 SignatureDoesNotMatch. Authorization is tested with the IAM simulator instead.
    allowMismatchedSignatures: true,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  prepare?.(server);
  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  return {
    endpoint,
    server,
    env: {
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
      // s3rver predates the SDK's default CRC32 checksums and aws-chunked uploads.
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
      // Never look for credentials or a region on an instance metadata service.
      AWS_EC2_METADATA_DISABLED: 'true',
    },
    close: () => server.close(),
  };
}
