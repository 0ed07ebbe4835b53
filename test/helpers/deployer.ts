// The person deploying: docs/deployer-policy.json filled in for the tests' account, region, stack
// and output, and what IAM action(s) each control-plane command of the deploy flows needs.
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../lib/paths.ts';
import { sentCommands } from './aws.ts';
import { ACCOUNT, REGION, S3Authorizer, decide, type Authorization, type Policy } from './iam.ts';
import type { SeenRequest } from './s3.ts';

export const DEPLOYER_POLICY = path.join(ROOT, 'docs', 'deployer-policy.json');

/** The policy with its placeholders filled in. */
export function deployerPolicy(v: { stack: string; bucket: string; prefix: string }): Policy {
  const text = fs.readFileSync(DEPLOYER_POLICY, 'utf8')
    .replaceAll('ACCOUNT_ID', ACCOUNT).replaceAll('REGION', REGION).replaceAll('STACK_NAME', v.stack)
    .replaceAll('OUTPUT_BUCKET', v.bucket).replaceAll('OUTPUT_PREFIX', v.prefix);
  return { name: 'deployer', policy: JSON.parse(text) };
}

const str = (x: unknown) => String(x);

/** The condition keys Auto Scaling sets from an UpdateAutoScalingGroup request (only those it carries). */
export function groupSizeContext(input: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  if (input.MinSize !== undefined) out['autoscaling:MinSize'] = String(input.MinSize);
  if (input.MaxSize !== undefined) out['autoscaling:MaxSize'] = String(input.MaxSize);
  return out;
}

/**
 * The authorizations of one command (Service Authorization Reference): resource-level where the
 * action supports it, '*' where it does not (EC2 Describe*, SSM's command queries). Throws on a
 * command it does not know, so a new call cannot slip through unjudged.
 */
export function commandAuthorizations(c: { service: string; name: string; input: Record<string, unknown> }, stack: string): Authorization[] {
  const action = `${c.service}:${c.name}`;
  const why = `${c.name} ${JSON.stringify(c.input).slice(0, 120)}`;
  const stackArn = (nameOrId: unknown) => (str(nameOrId).startsWith('arn:') ? str(nameOrId) : `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${str(nameOrId)}/0a1b2c3d-0000-11ef-9f5b-0e1a2b3c4d5e`);
  const logGroup = (name: unknown) => `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${str(name)}`;
  switch (action) {
    case 'cloudformation:CreateStack': case 'cloudformation:UpdateStack': case 'cloudformation:DeleteStack':
    case 'cloudformation:DescribeStacks': case 'cloudformation:DescribeStackEvents':
      return [{ action, resource: stackArn(c.input.StackName), why }];
    case 'ec2:DescribeVpcs': case 'ec2:DescribeSubnets': case 'ec2:DescribeInstances': case 'ec2:DescribeInstanceTypeOfferings':
    case 'ec2:DescribeInstanceStatus':
    case 'ssm:DescribeInstanceInformation': case 'ssm:ListCommands': case 'ssm:ListCommandInvocations': case 'ssm:GetCommandInvocation':
      return [{ action, resource: '*', why }];
    case 'ssm:SendCommand':
      return [
        { action, resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:document/${str(c.input.DocumentName)}`, why },
        // The instance carries the template's Stack tag.
        ...(c.input.InstanceIds as string[]).map((id) => ({ action, resource: `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/${id}`, context: { 'aws:ResourceTag/Stack': stack }, why })),
      ];
    case 'ssm:DescribeAssociationExecutions': case 'ssm:DescribeAssociationExecutionTargets':
      return [{ action, resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:association/${str(c.input.AssociationId)}`, why }];
    case 'autoscaling:DescribeAutoScalingGroups': case 'autoscaling:DescribeScalingActivities':
      return [{ action, resource: '*', why }];
    case 'autoscaling:UpdateAutoScalingGroup': case 'autoscaling:SetInstanceProtection':
      return [{
        action, resource: `arn:aws:autoscaling:${REGION}:${ACCOUNT}:autoScalingGroup:7d1c2b3a-0000-4a5b-8c7d-0e1a2b3c4d5e:autoScalingGroupName/${str(c.input.AutoScalingGroupName)}`,
        context: groupSizeContext(c.input), why,
      }];
    case 'cloudwatch:DescribeAlarms':
      return [{ action, resource: `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:*`, why }];
    case 'logs:DescribeLogStreams':
      return [{ action, resource: logGroup(c.input.logGroupName), why }];
    case 'logs:GetLogEvents':
      return [{ action, resource: `${logGroup(c.input.logGroupName)}:log-stream:${str(c.input.logStreamName)}`, why }];
    default:
      throw new Error(`no mapping of ${action} to IAM in test/helpers/deployer.ts: add it, and to docs/deployer-policy.json if the deploy flows need it`);
  }
}

/** Every command sent through mockedClients() in this process, and the S3 requests, that the deployer policy does not allow. */
export async function deployerDenials(v: { stack: string; bucket: string; prefix: string }, s3Requests: SeenRequest[]): Promise<{ denied: string[]; checked: number }> {
  const policy = [deployerPolicy(v)];
  const denied: string[] = [];
  const all = [...sentCommands().flatMap((c) => commandAuthorizations(c, v.stack)), ...s3Requests.flatMap((r) => new S3Authorizer().authorizations(r))];
  for (const a of all) {
    const d = await decide(policy, a);
    if (d !== 'Allowed') denied.push(`${d}: ${a.action} on ${a.resource} (for ${a.why})`);
  }
  return { denied: [...new Set(denied)], checked: all.length };
}
