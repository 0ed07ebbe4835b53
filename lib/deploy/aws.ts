/**
 * The AWS clients the deploy scripts use, made in one place so that tests can swap them for
 * aws-sdk-client-mock instances; the S3 client is the one lib/s3/client.ts makes for everything.
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { EC2Client } from '@aws-sdk/client-ec2';
import type { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { createS3Client } from '../s3/client.ts';

export interface AwsClients {
  cfn: CloudFormationClient;
  ec2: EC2Client;
  ssm: SSMClient;
  s3: S3Client;
  logs: CloudWatchLogsClient;
  cw: CloudWatchClient;
  asg: AutoScalingClient;
}

export function makeClients(region: string): AwsClients {
  return {
    cfn: new CloudFormationClient({ region }),
    ec2: new EC2Client({ region }),
    ssm: new SSMClient({ region }),
    s3: createS3Client({ region }),
    logs: new CloudWatchLogsClient({ region }),
    cw: new CloudWatchClient({ region }),
    asg: new AutoScalingClient({ region }),
  };
}

/** Where the flows print: one line at a time. */
export type Print = (line: string) => void;

const EXPIRED = new Set(['ExpiredToken', 'ExpiredTokenException', 'RequestExpired', 'TokenRefreshRequired', 'InvalidToken', 'UnrecognizedClientException']);

/** True for an error saying the caller's credentials expired (an STS session, an SSO login). */
export function isExpiredCredentials(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; message?: string };
  if (EXPIRED.has(e?.name ?? '') || EXPIRED.has(e?.Code ?? '')) return true;
  return /security token included in the request is expired|token (has|is) expired|sso session .* expired|refresh .*sso/i.test(e?.message ?? '');
}
