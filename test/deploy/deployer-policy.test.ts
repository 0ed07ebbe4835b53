// docs/deployer-policy.json, the negative side: what the person deploying may NOT do with it.
// (The positive side: flow.test.ts and inspect.test.ts check every command their flows send.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ACCOUNT, REGION, decide } from '../helpers/iam.ts';
import { deployerPolicy } from '../helpers/deployer.ts';

const policy = [deployerPolicy({ stack: 'proton-beam', bucket: 'out-bucket', prefix: 'run-1/' })];
const allowed = async (action: string, resource: string, context: Record<string, string> = {}) =>
  (await decide(policy, { action, resource, context, why: '' })) === 'Allowed';

test('the deployer policy is limited to the stack, its role, its document, its instance and the output prefix', async () => {
  const role = `arn:aws:iam::${ACCOUNT}:role/proton-beam-InstanceRole-ABC123`;
  assert.ok(await allowed('iam:PassRole', role, { 'iam:PassedToService': 'ec2.amazonaws.com' }));
  assert.ok(!await allowed('iam:PassRole', role, { 'iam:PassedToService': 'lambda.amazonaws.com' }), 'the role goes to EC2 only');
  assert.ok(!await allowed('iam:PassRole', `arn:aws:iam::${ACCOUNT}:role/Admin`, { 'iam:PassedToService': 'ec2.amazonaws.com' }));
  assert.ok(!await allowed('iam:CreateRole', `arn:aws:iam::${ACCOUNT}:role/Admin`));
  assert.ok(!await allowed('iam:AttachRolePolicy', `arn:aws:iam::${ACCOUNT}:role/other-stack-InstanceRole-X`));

  const instance = `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`;
  assert.ok(await allowed('ssm:SendCommand', `arn:aws:ssm:${REGION}:${ACCOUNT}:document/proton-beam-JobDocument-AbCdEf123456`));
  assert.ok(!await allowed('ssm:SendCommand', `arn:aws:ssm:${REGION}:${ACCOUNT}:document/AWS-RunShellScript`), 'no arbitrary shell through SSM');
  assert.ok(!await allowed('ssm:SendCommand', instance, { 'aws:ResourceTag/Stack': 'another-stack' }), 'not on another instance');
  assert.ok(!await allowed('ec2:TerminateInstances', instance, { 'aws:ResourceTag/Stack': 'another-stack' }));
  assert.ok(await allowed('ec2:TerminateInstances', instance, { 'aws:ResourceTag/Stack': 'proton-beam' }));
  const group = (name: string) => `arn:aws:autoscaling:${REGION}:${ACCOUNT}:autoScalingGroup:7d1c2b3a-0000-4a5b-8c7d-0e1a2b3c4d5e:autoScalingGroupName/${name}`;
  assert.ok(await allowed('autoscaling:UpdateAutoScalingGroup', group('proton-beam-job')));
  assert.ok(!await allowed('autoscaling:UpdateAutoScalingGroup', group('web-servers')), 'not another group');
  assert.ok(!await allowed('autoscaling:DeleteAutoScalingGroup', group('proton-beam-other')));
  assert.ok(!await allowed('iam:CreateServiceLinkedRole', `arn:aws:iam::${ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`, { 'iam:AWSServiceName': 'ec2.amazonaws.com' }));
  assert.ok(!await allowed('cloudformation:DeleteStack', `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/production/0a1b`));

  assert.ok(await allowed('s3:PutObject', 'arn:aws:s3:::out-bucket/run-1/_deploy/0123456789abcdef.tgz'));
  assert.ok(!await allowed('s3:PutObject', 'arn:aws:s3:::out-bucket/other/x'));
  assert.ok(!await allowed('s3:DeleteObject', 'arn:aws:s3:::out-bucket/run-1/index.db'), 'the deployer never deletes results');
  assert.ok(!await allowed('s3:ListBucket', 'arn:aws:s3:::out-bucket', { 's3:prefix': 'other/' }));
  assert.ok(!await allowed('logs:GetLogEvents', `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/other:log-stream:x`));
});
