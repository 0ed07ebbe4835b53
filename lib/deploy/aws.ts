/**
 * The AWS clients the deploy scripts use, made in one place so that tests can swap them for
 * aws-sdk-client-mock instances and so that an S3 endpoint override (s3rver) works everywhere.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';

export interface AwsClients {
  cfn: CloudFormationClient;
  ec2: EC2Client;
  ssm: SSMClient;
  s3: S3Client;
  logs: CloudWatchLogsClient;
}

/**
 * An S3 client. With AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL set (a local S3 such as s3rver) it
 * uses path-style addressing, which such servers need; the SDK reads the endpoint itself.
 */
export function makeS3Client(region: string | undefined, env: NodeJS.ProcessEnv = process.env): S3Client {
  const local = Boolean(env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL);
  return new S3Client({ region: region ?? 'us-east-1', forcePathStyle: local || undefined, followRegionRedirects: true });
}

export function makeClients(region: string): AwsClients {
  return {
    cfn: new CloudFormationClient({ region }),
    ec2: new EC2Client({ region }),
    ssm: new SSMClient({ region }),
    s3: makeS3Client(region),
    logs: new CloudWatchLogsClient({ region }),
  };
}

/** Milliseconds to wait; tests pass a function that does not wait. */
export type Sleep = (ms: number) => Promise<void>;
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Where the flows print: one line at a time. */
export type Print = (line: string) => void;

/** The error's name and message, for one-line reports. */
export function describeAwsError(err: unknown): string {
  const e = err as { name?: string; message?: string };
  if (e?.name === 'CredentialsProviderError') {
    return 'no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run aws sso login';
  }
  return e?.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : String(e?.message ?? err);
}
