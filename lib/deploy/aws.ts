/**
 * The AWS clients the deploy scripts use, made in one place so that tests can swap them for
 * aws-sdk-client-mock instances; the S3 client is the one lib/s3/client.ts makes for everything.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
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
}

export function makeClients(region: string): AwsClients {
  return {
    cfn: new CloudFormationClient({ region }),
    ec2: new EC2Client({ region }),
    ssm: new SSMClient({ region }),
    s3: createS3Client({ region }),
    logs: new CloudWatchLogsClient({ region }),
  };
}

/** Where the flows print: one line at a time. */
export type Print = (line: string) => void;
