// cloudformation/proton-beam.yaml: references resolve, types and property names exist in the
// current CloudFormation resource specification (@aws-cdk/aws-service-spec), and the security
// properties hold: no wildcard S3 write, no inbound rule, IMDSv2, encrypted volumes, tags on
// everything, parameters that reach the instance only as SSM environment variables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { loadSpec, parseCfnYaml, walk } from '../helpers/cfn.ts';
import {
  TEMPLATE_PATH, USERDATA_PATH, commandParameters, embeddedUserData, readTemplate, stackParameters, withUserData,
} from '../../lib/deploy/template.ts';
import * as S from '../../lib/deploy/settings.ts';
import { newRunId } from '../../lib/deploy/template.ts';

const S_newRunId = () => newRunId(Date.parse('2026-01-05T10:00:00Z'));

const text = fs.readFileSync(TEMPLATE_PATH, 'utf8');
const t = parseCfnYaml(text);
const resources: Record<string, { Type: string; Properties: Record<string, unknown>; Condition?: string }> = t.Resources;
const parameters: Record<string, { Type: string; AllowedPattern?: string; AllowedValues?: unknown[]; Default?: unknown }> = t.Parameters;
const PSEUDO = new Set(['AWS::AccountId', 'AWS::NoValue', 'AWS::NotificationARNs', 'AWS::Partition', 'AWS::Region', 'AWS::StackId', 'AWS::StackName', 'AWS::URLSuffix']);
const REQUIRED_TAGS = ['Project', 'Stack', 'ManagedBy', 'CostCenter'];

function settings(values: Record<string, string>) {
  return S.validateSettings(S.collectSettings({ 'env-file': '/dev/null' }, values));
}
const sample = settings({ INPUT_URL: 's3://in-bucket/dumps/relay.jsonl.gz', OUTPUT: 's3://out-bucket/run-1/', AWS_REGION: 'us-east-1' });

test('the template is plain YAML with the expected sections', () => {
  assert.equal(t.AWSTemplateFormatVersion, '2010-09-09');
  for (const output of ['GroupName', 'AssociationId', 'DocumentName', 'LogGroupName', 'OutputLocation']) assert.ok(t.Outputs[output], output);
  for (const p of ['InputUrl', 'OutputBucket', 'OutputPrefix', 'InstanceType', 'VolumeSize', 'Spot', 'ValidateSignatures',
    'ValidateIds', 'CompressionLevel', 'ShutdownWhenDone', 'VpcId', 'SubnetId', 'CostCenter']) {
    assert.ok(parameters[p], `parameter ${p}`);
  }
});

test('every Ref, GetAtt, Sub variable and condition names something that exists', async () => {
  const spec = await loadSpec();
  const conditions = new Set(Object.keys(t.Conditions ?? {}));
  const refable = new Set([...Object.keys(parameters), ...Object.keys(resources), ...PSEUDO]);
  const problems: string[] = [];
  const checkGetAtt = (name: string, attr: string, where: string) => {
    const r = resources[name];
    if (!r) return problems.push(`${where}: GetAtt of unknown resource ${name}`);
    const type = spec.lookup('resource', 'cloudFormationType', 'equals', r.Type).only();
    if (!(attr in type.attributes)) problems.push(`${where}: ${r.Type} has no attribute ${attr}`);
  };
  for (const { node, path } of walk(t)) {
    if (!node || typeof node !== 'object' || Array.isArray(node)) continue;
    const where = path.join('.');
    const n = node as Record<string, unknown>;
    if (typeof n.Ref === 'string' && !refable.has(n.Ref)) problems.push(`${where}: Ref to unknown ${n.Ref}`);
    if (Array.isArray(n['Fn::GetAtt'])) checkGetAtt(n['Fn::GetAtt'][0] as string, n['Fn::GetAtt'][1] as string, where);
    if ('Fn::Sub' in n) {
      const [str, vars] = Array.isArray(n['Fn::Sub']) ? n['Fn::Sub'] as [string, Record<string, unknown>] : [n['Fn::Sub'] as string, {}];
      for (const [, v] of str.matchAll(/\$\{([^!}][^}]*)\}/g)) {
        if (v in (vars ?? {})) continue;
        if (v.includes('.')) checkGetAtt(v.split('.')[0], v.split('.').slice(1).join('.'), where);
        else if (!refable.has(v)) problems.push(`${where}: Sub variable \${${v}} names nothing`);
      }
    }
    if (Array.isArray(n['Fn::If']) && !conditions.has(n['Fn::If'][0] as string)) problems.push(`${where}: unknown condition ${n['Fn::If'][0]}`);
  }
  for (const [name, r] of Object.entries(resources)) {
    if (r.Condition && !conditions.has(r.Condition)) problems.push(`${name}: unknown condition ${r.Condition}`);
  }
  assert.deepEqual(problems, []);
});

/** Checks a property value against the spec's type; returns the problems. */
function checkValue(spec: Awaited<ReturnType<typeof loadSpec>>, type: any, value: unknown, where: string): string[] {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'))) {
      if (keys[0] === 'Fn::If') {
        const [, a, b] = (value as { 'Fn::If': unknown[] })['Fn::If'];
        return [a, b].flatMap((branch) => isNoValue(branch) ? [] : checkValue(spec, type, branch, where));
      }
      return []; // resolved by CloudFormation at deploy time
    }
  }
  switch (type.type) {
    case 'json': return [];
    case 'union': {
      const results = type.types.map((t2: unknown) => checkValue(spec, t2, value, where));
      return results.some((r: string[]) => r.length === 0) ? [] : results[0];
    }
    case 'array':
      if (!Array.isArray(value)) return [`${where}: expected a list`];
      return value.flatMap((v, i) => isNoValue(v) ? [] : checkValue(spec, type.element, v, `${where}[${i}]`));
    case 'map':
      if (!value || typeof value !== 'object') return [`${where}: expected a map`];
      return Object.entries(value).flatMap(([k, v]) => checkValue(spec, type.element, v, `${where}.${k}`));
    case 'tag':
      return value && typeof value === 'object' && 'Key' in value && 'Value' in value ? [] : [`${where}: expected {Key, Value}`];
    case 'ref': {
      const def = spec.get('typeDefinition', type.reference.$ref);
      if (!value || typeof value !== 'object' || Array.isArray(value)) return [`${where}: expected an object (${def.name})`];
      return checkProperties(spec, def.properties, value as Record<string, unknown>, where);
    }
    default: // string, number, integer, boolean, date-time
      if (value && typeof value === 'object') return [`${where}: expected a ${type.type}, got an object`];
      if (type.allowedValues && !type.allowedValues.includes(value)) return [`${where}: ${String(value)} is not one of ${type.allowedValues.join(', ')}`];
      return [];
  }
}

function isNoValue(v: unknown): boolean {
  return !!v && typeof v === 'object' && (v as { Ref?: string }).Ref === 'AWS::NoValue';
}

function checkProperties(spec: Awaited<ReturnType<typeof loadSpec>>, props: Record<string, any>, value: Record<string, unknown>, where: string): string[] {
  const problems: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (!(k in props)) problems.push(`${where}: no property ${k} (known: ${Object.keys(props).join(', ')})`);
    else problems.push(...checkValue(spec, props[k].type, v, `${where}.${k}`));
  }
  for (const [k, p] of Object.entries(props)) {
    if (p.required && !(k in value)) problems.push(`${where}: required property ${k} missing`);
  }
  return problems;
}

test('resource types and property names exist in the current CloudFormation resource specification', async () => {
  const spec = await loadSpec();
  const problems: string[] = [];
  for (const [name, r] of Object.entries(resources)) {
    const found = spec.lookup('resource', 'cloudFormationType', 'equals', r.Type);
    if (found.length !== 1) {
      problems.push(`${name}: unknown resource type ${r.Type}`);
      continue;
    }
    problems.push(...checkProperties(spec, found.only().properties, r.Properties ?? {}, name));
  }
  assert.deepEqual(problems, []);
  // The spec is current: it knows Tags on AWS::IAM::Role (which the npm cfn-lint spec rejects).
  const role = spec.lookup('resource', 'cloudFormationType', 'equals', 'AWS::IAM::Role').only();
  assert.ok('Tags' in role.properties);
});

test('the property check catches a misspelt or misplaced property', async () => {
  const spec = await loadSpec();
  const type = spec.lookup('resource', 'cloudFormationType', 'equals', 'AWS::EC2::SecurityGroup').only();
  const problems = checkProperties(spec, type.properties, { GroupDescription: 'x', SecurityGroupEgres: [] }, 'SG');
  assert.match(problems.join('\n'), /no property SecurityGroupEgres/);
  const lt = spec.lookup('resource', 'cloudFormationType', 'equals', 'AWS::EC2::LaunchTemplate').only();
  const nested = checkProperties(spec, lt.properties, { LaunchTemplateData: { MetadataOptions: { HttpToken: 'required' } } }, 'LT');
  assert.match(nested.join('\n'), /no property HttpToken/);
});

test('S3 writes are limited to the output prefix: no wildcard write anywhere, the only deletes are manifest.json and the checkpoints (_parts/*, _checkpoint.json), _deploy/ denied', () => {
  const statements = [...walk(resources.InstanceRole.Properties.Policies)]
    .filter(({ node }) => node && typeof node === 'object' && 'Effect' in (node as object))
    .map(({ node }) => node as { Effect: string; Action: string | string[]; Resource: unknown; Sid?: string });
  assert.ok(statements.length > 0);
  const output = (tail: string) => JSON.stringify({ 'Fn::Sub': `arn:\${AWS::Partition}:s3:::\${OutputBucket}/\${OutputPrefix}${tail}` });
  for (const s of statements) {
    const actions = [s.Action].flat();
    const resourcesText = JSON.stringify(s.Resource);
    if (s.Effect === 'Deny') {
      assert.deepEqual(actions, ['s3:PutObject', 's3:DeleteObject']);
      assert.equal(resourcesText, output('_deploy/*'));
      continue;
    }
    assert.equal(s.Effect, 'Allow');
    assert.ok(!actions.some((a) => a === '*' || a === 's3:*' || /\*$/.test(a)), `wildcard action in ${JSON.stringify(s)}`);
    if (s.Sid === 'PublishJobMetrics') {
      // PutMetricData has no resource-level permission: '*' with the namespace condition is the least there is.
      assert.deepEqual(actions, ['cloudwatch:PutMetricData']);
      assert.deepEqual((s as unknown as { Condition: unknown }).Condition, { StringEquals: { 'cloudwatch:namespace': { 'Fn::Sub': 'ProtonBeam/${AWS::StackName}' } } });
      continue;
    }
    const writes = actions.some((a) => /^s3:(Put|Abort|Replicate|Restore|Create)/.test(a));
    if (writes) assert.equal(resourcesText, output('*'));
    if (actions.some((a) => a.startsWith('s3:Delete'))) {
      assert.deepEqual(actions, ['s3:DeleteObject']);
      // manifest.json (replaced by a new run), and the checkpoints' parts and record (docs/S3.md).
      if (s.Sid === 'CleanUpCheckpoints') assert.equal(resourcesText, `[${output('_parts/*')},${output('_checkpoint.json')}]`);
      else assert.equal(resourcesText, output('manifest.json'));
    }
    assert.ok(!/"\*"|:::\*|s3:::\$\{[A-Za-z]+\}\/\*"/.test(resourcesText), `wildcard resource in ${resourcesText}`);
  }
  assert.equal(statements.filter((s) => s.Effect === 'Deny').length, 1, 'the _deploy/ deny');
  // The output prefix parameter cannot be empty, so OutputBucket/OutputPrefix* is never the whole bucket.
  assert.ok(!new RegExp(parameters.OutputPrefix.AllowedPattern!).test(''));
  assert.ok(!new RegExp(parameters.OutputPrefix.AllowedPattern!).test('/'));
  assert.deepEqual(resources.InstanceRole.Properties.ManagedPolicyArns,
    [{ 'Fn::Sub': 'arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore' }]);
});

test('no inbound rule: only a security group without ingress, and no SSH key', () => {
  const groups = Object.values(resources).filter((r) => r.Type === 'AWS::EC2::SecurityGroup');
  assert.equal(groups.length, 1);
  assert.equal(groups[0].Properties.SecurityGroupIngress, undefined);
  assert.ok(!Object.values(resources).some((r) => r.Type === 'AWS::EC2::SecurityGroupIngress'));
  for (const { node } of walk(resources)) {
    if (node && typeof node === 'object' && !Array.isArray(node)) assert.ok(!('KeyName' in node), 'no SSH key pair');
  }
  const egressPorts = (groups[0].Properties.SecurityGroupEgress as { FromPort: number }[]).map((e) => e.FromPort).sort((a, b) => a - b);
  assert.deepEqual(egressPorts, [80, 443]);
});

test('IMDSv2 is required and every volume is encrypted gp3', () => {
  const data = (resources.InstanceLaunchTemplate.Properties.LaunchTemplateData as any);
  assert.equal(data.MetadataOptions.HttpTokens, 'required');
  assert.equal(data.MetadataOptions.HttpPutResponseHopLimit, 1);
  assert.equal(data.InstanceInitiatedShutdownBehavior, 'terminate');
  assert.equal(data.BlockDeviceMappings.length, 2);
  for (const m of data.BlockDeviceMappings) {
    assert.equal(m.Ebs.Encrypted, true);
    assert.equal(m.Ebs.VolumeType, 'gp3');
    assert.equal(m.Ebs.DeleteOnTermination, true);
  }
  // The group launches everything from the launch template: no override of volumes, metadata options or market.
  const group = resources.InstanceGroup.Properties;
  for (const key of ['MixedInstancesPolicy', 'LaunchConfigurationName', 'LaunchTemplateData']) assert.equal(group[key], undefined, key);
  assert.ok(!Object.values(resources).some((r) => r.Type === 'AWS::EC2::Instance'), 'no instance outside the group');
  assert.deepEqual(data.ImageId, { Ref: 'AmiId' });
  assert.equal(parameters.AmiId.Type, 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>');
  assert.match(String(parameters.AmiId.Default), /^\/aws\/service\/canonical\/ubuntu\/server\/\d\d\.04\/stable\/current\/amd64\//);
  assert.equal(data.InstanceMarketOptions['Fn::If'][0], 'UseSpot');
});

test('every resource that can carry tags carries Project, Stack, ManagedBy and CostCenter', async () => {
  const spec = await loadSpec();
  const tagKeys = (tags: unknown) => (tags as { Key: string }[]).map((x) => x.Key);
  const untaggable: string[] = [];
  for (const [name, r] of Object.entries(resources)) {
    const type = spec.lookup('resource', 'cloudFormationType', 'equals', r.Type).only();
    if (type.tagInformation) {
      const keys = tagKeys(r.Properties[type.tagInformation.tagPropertyName]);
      for (const k of REQUIRED_TAGS) assert.ok(keys.includes(k), `${name} lacks tag ${k}`);
    } else if ('TagSpecifications' in type.properties) {
      const specs = r.Properties.TagSpecifications as { ResourceType: string; Tags: unknown }[];
      assert.ok(specs?.length, `${name} has no TagSpecifications`);
      for (const s of specs) for (const k of REQUIRED_TAGS) assert.ok(tagKeys(s.Tags).includes(k), `${name} ${s.ResourceType} lacks ${k}`);
    } else untaggable.push(r.Type);
  }
  // CloudFormation offers no tags on instance profiles and SNS subscriptions; everything else is tagged.
  assert.deepEqual(untaggable.sort(), ['AWS::IAM::InstanceProfile', 'AWS::SNS::Subscription']);
  // What the instance launches (volumes, network interface, spot request) is tagged too.
  const launched = (resources.InstanceLaunchTemplate.Properties.LaunchTemplateData as any).TagSpecifications;
  const kinds = launched.map((s: any) => s.ResourceType ?? s['Fn::If'][1].ResourceType);
  assert.deepEqual(kinds.sort(), ['instance', 'network-interface', 'spot-instances-request', 'volume']);
  for (const s of launched) {
    const tags = s.Tags ?? s['Fn::If'][1].Tags;
    for (const k of REQUIRED_TAGS) assert.ok(tagKeys(tags).includes(k));
  }
});

test('the SSM document: typed, pattern-checked parameters, passed to the shell only as environment variables', () => {
  const doc = resources.JobDocument.Properties as any;
  assert.equal(doc.DocumentType, 'Command');
  const content = doc.Content;
  assert.equal(content.schemaVersion, '2.2');
  for (const [name, p] of Object.entries<any>(content.parameters)) {
    assert.equal(p.type, 'String', name);
    assert.ok(p.allowedPattern || p.allowedValues, `${name} has no allowedPattern or allowedValues`);
    if (name !== 'bundleUrl') assert.equal(p.interpolationType, 'ENV_VAR', name);
  }
  const steps = content.mainSteps as any[];
  assert.deepEqual(steps.map((s) => s.name), ['prepare', 'fetchBundle', 'install', 'runJob']);
  for (const step of steps.filter((s) => s.action === 'aws:runShellScript')) {
    const shell = JSON.stringify(step.inputs.runCommand);
    assert.ok(!shell.includes('{{'), `step ${step.name} pastes a parameter into the shell`);
    // One exception: the bundle's SHA-256 (64 hex digits by its pattern), double-quoted, for sha256sum -c.
    const other = shell.replaceAll('\\"$SSM_bundleSha256  /data/proton-beam/bundle.tgz\\"', '');
    assert.ok(!/\$\{?SSM_/.test(other), `step ${step.name} uses a parameter in the shell itself`);
  }
  // The only {{ }} reference is the bundle URL in the download step (not a shell).
  const fetch = steps.find((s) => s.name === 'fetchBundle');
  assert.equal(fetch.action, 'aws:downloadContent');
  assert.deepEqual([...JSON.stringify(content).matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]), ['bundleUrl']);
  assert.equal(steps.find((s) => s.name === 'runJob').inputs.timeoutSeconds, '172800');
  // The bundle is checked against the digest make deploy computed before anything of it runs.
  assert.equal(content.parameters.bundleSha256.allowedPattern, '^[0-9a-f]{64}$');
  const install = steps.find((s) => s.name === 'install').inputs.runCommand as string[];
  const check = install.findIndex((l) => l === 'echo "$SSM_bundleSha256  /data/proton-beam/bundle.tgz" | sha256sum -c --strict -');
  assert.ok(check >= 0 && check < install.findIndex((l) => l.startsWith('tar ')), install.join('\n'));
});

test('SSM document patterns reject shell metacharacters and accept what settings accept', () => {
  const params = (resources.JobDocument.Properties as any).Content.parameters;
  const bad = ['s3://b-b-b/k;rm -rf /', 's3://b-b-b/$(id)', 's3://b-b-b/`id`', 's3://b-b-b/a b', 's3://b-b-b/a|b',
    's3://b-b-b/a&b', "s3://b-b-b/a'b", 's3://b-b-b/a"b', 'https://h/x?y=1', 's3://b-b-b/a\nb', 'file:///etc/passwd'];
  for (const v of bad) {
    assert.ok(!new RegExp(params.inputUrl.allowedPattern).test(v), `inputUrl accepts ${JSON.stringify(v)}`);
    assert.ok(!new RegExp(params.outputUrl.allowedPattern).test(`${v}/`), `outputUrl accepts ${JSON.stringify(v)}`);
  }
  const good = commandParameters(sample, 'https://s3.us-east-1.amazonaws.com/out-bucket/run-1/_deploy/0123456789abcdef.tgz', 'ab'.repeat(32));
  assert.ok(!new RegExp(params.bundleSha256.allowedPattern).test('ab'.repeat(31)));
  assert.ok(!new RegExp(params.bundleSha256.allowedPattern).test(`${'ab'.repeat(32)}\n`));
  for (const [name, [value]] of Object.entries(good)) {
    const p = params[name];
    assert.ok(p, `document has no parameter ${name}`);
    if (p.allowedPattern) assert.match(value, new RegExp(p.allowedPattern), name);
    else assert.ok(p.allowedValues.includes(value), name);
  }
  assert.deepEqual(Object.keys(good).sort(), Object.keys(params).sort());
});

test('template patterns are the settings patterns', () => {
  const opt = (p: string) => `^(${p.slice(1, -1)})?$`;
  assert.equal(parameters.InputUrl.AllowedPattern, S.INPUT_URL_PATTERN);
  assert.equal(parameters.InputBucket.AllowedPattern, opt(S.BUCKET_PATTERN));
  assert.equal(parameters.InputKey.AllowedPattern, opt(S.KEY_PATTERN));
  assert.equal(parameters.OutputBucket.AllowedPattern, S.BUCKET_PATTERN);
  assert.equal(parameters.OutputPrefix.AllowedPattern, S.PREFIX_PATTERN);
  assert.equal(parameters.InstanceType.AllowedPattern, S.INSTANCE_TYPE_PATTERN);
  // Required when the template is used directly: no default, no empty value (make deploy fills it in).
  assert.equal(parameters.VpcId.AllowedPattern, S.VPC_PATTERN);
  assert.equal((parameters.VpcId as { Default?: string }).Default, undefined);
  // No port in an https input: the security group lets the instance out on 443 only.
  assert.ok(!new RegExp(S.INPUT_URL_PATTERN).test('https://dumps.example.org:8443/relay.jsonl'));
  assert.ok(new RegExp(S.INPUT_URL_PATTERN).test('https://dumps.example.org/relay.jsonl'));
  assert.equal(parameters.SubnetId.AllowedPattern, opt(S.SUBNET_PATTERN));
  assert.equal(parameters.CostCenter.AllowedPattern, S.TAG_VALUE_PATTERN);
  assert.equal(parameters.KmsKeyArn.AllowedPattern, opt(S.KMS_KEY_ARN_PATTERN));
  assert.deepEqual(parameters.LogRetentionDays.AllowedValues, S.LOG_RETENTION_DAYS);
  const doc = (resources.JobDocument.Properties as any).Content.parameters;
  assert.equal(doc.inputUrl.allowedPattern, S.INPUT_URL_PATTERN);
  assert.equal(doc.outputUrl.allowedPattern, S.OUTPUT_URL_PATTERN);
  assert.equal(doc.kmsKeyArn.allowedPattern, opt(S.KMS_KEY_ARN_PATTERN));
  for (const type of S.knownInstanceTypes()) assert.match(type, new RegExp(S.INSTANCE_TYPE_PATTERN));
});

test('make deploy passes exactly the template parameters, each within its constraints', () => {
  const passed = stackParameters(sample, { vpcId: 'vpc-0123456789abcdef0', subnetId: 'subnet-0123456789abcdef0' });
  assert.deepEqual(passed.map((p) => p.ParameterKey).sort(), Object.keys(parameters).sort());
  for (const { ParameterKey, ParameterValue } of passed) {
    const p = parameters[ParameterKey];
    if (p.AllowedPattern) assert.match(ParameterValue, new RegExp(p.AllowedPattern), ParameterKey);
    if (p.AllowedValues) assert.ok(p.AllowedValues.map(String).includes(ParameterValue), ParameterKey);
  }
  const https = stackParameters(settings({ INPUT_URL: 'https://example.org/dump.jsonl', OUTPUT: 's3://out-bucket/x/' }));
  const get = (k: string) => https.find((p) => p.ParameterKey === k)!.ParameterValue;
  assert.equal(get('InputBucket'), '');
  const prefix = stackParameters(settings({ INPUT_URL: 's3://in-bucket/dumps/', OUTPUT: 's3://out-bucket/x/' }));
  assert.equal(prefix.find((p) => p.ParameterKey === 'InputIsPrefix')!.ParameterValue, 'true');
});

test('the template embeds userdata/prepare-instance.sh verbatim', () => {
  const script = fs.readFileSync(USERDATA_PATH, 'utf8');
  assert.equal(embeddedUserData(text), script, 'run make userdata');
  const data = (resources.InstanceLaunchTemplate.Properties.LaunchTemplateData as any);
  assert.equal(data.UserData['Fn::Base64'], script);
  assert.ok(Buffer.byteLength(script) < 16 * 1024, 'user data is limited to 16 KB');
  assert.doesNotThrow(() => readTemplate());
  const stale = withUserData(text, '#!/bin/bash\necho old\n');
  assert.equal(embeddedUserData(stale), '#!/bin/bash\necho old\n');
  assert.equal(withUserData(stale, script), text);
});

test('the data volume takes its gp3 throughput and IOPS from parameters within gp3\'s range', () => {
  const lt = resources.InstanceLaunchTemplate.Properties as any;
  const data = lt.LaunchTemplateData.BlockDeviceMappings.find((b: any) => b.DeviceName === '/dev/sdf').Ebs;
  assert.deepEqual([data.VolumeType, data.Throughput, data.Iops], ['gp3', { Ref: 'VolumeThroughput' }, { Ref: 'VolumeIops' }]);
  const range = (p: unknown) => { const { MinValue, MaxValue } = p as { MinValue: number; MaxValue: number }; return [MinValue, MaxValue]; };
  assert.deepEqual(range(parameters.VolumeThroughput), [125, 1000]);
  assert.deepEqual(range(parameters.VolumeIops), [3000, 16000]);
});

test('monitoring: four alarms on the job\'s metrics and the instance, an optional e-mail topic, a dashboard; the job publishes in the namespace the role allows', () => {
  const alarms = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');
  const byName = Object.fromEntries(alarms.map(([id, r]) => [id, r.Properties as any]));
  assert.deepEqual(Object.keys(byName).sort(), ['DataVolumeFullAlarm', 'MemoryAlarm', 'StatusCheckAlarm', 'StuckAlarm']);
  const ns = { 'Fn::Sub': 'ProtonBeam/${AWS::StackName}' };
  assert.deepEqual([byName.DataVolumeFullAlarm.Namespace, byName.DataVolumeFullAlarm.MetricName, byName.DataVolumeFullAlarm.Threshold], [ns, 'DataVolumeUsedPercent', 90]);
  assert.deepEqual([byName.MemoryAlarm.Namespace, byName.MemoryAlarm.MetricName, byName.MemoryAlarm.Threshold], [ns, 'MemoryUsedPercent', 90]);
  assert.deepEqual([byName.StuckAlarm.MetricName, byName.StuckAlarm.Threshold, byName.StuckAlarm.ComparisonOperator], ['ProgressStalledMinutes', 15, 'GreaterThanOrEqualToThreshold']);
  assert.deepEqual([byName.StatusCheckAlarm.Namespace, byName.StatusCheckAlarm.MetricName, byName.StatusCheckAlarm.Dimensions], ['AWS/EC2', 'StatusCheckFailed', [{ Name: 'AutoScalingGroupName', Value: { Ref: 'InstanceGroup' } }]]);
  for (const a of Object.values(byName)) {
    assert.match(a.AlarmName['Fn::Sub'], /^\$\{AWS::StackName\}-/, 'make status finds them by the stack-name prefix');
    assert.deepEqual(a.AlarmActions, { 'Fn::If': ['HasAlarmEmail', [{ Ref: 'AlarmTopic' }], { Ref: 'AWS::NoValue' }] });
  }
  assert.equal(resources.AlarmTopic.Condition, 'HasAlarmEmail');
  assert.equal(resources.AlarmSubscription.Condition, 'HasAlarmEmail');
  assert.equal(parameters.AlarmEmail.Default, '');
  const body = (resources.Dashboard.Properties as any).DashboardBody['Fn::Sub'][0] as string;
  // By group, not by instance: a replacement instance has a new id, the group keeps its name.
  assert.ok(!/InstanceId/.test(body), 'no instance id in the dashboard');
  assert.equal([...body.matchAll(/"AutoScalingGroupName", "\$\{InstanceGroup\}"/g)].length, 5);
  for (const metric of ['CPUUtilization', 'MemoryUsedPercent', 'DataVolumeUsedPercent', 'EBSWriteBytes', 'NetworkIn', 'EventsPerSecond', 'BytesRead']) assert.ok(body.includes(metric), metric);
  assert.deepEqual(t.Outputs.DashboardName.Value, { Ref: 'Dashboard' });
  // The runJob step tells the job the namespace the role lets it write to.
  const run = (resources.JobDocument.Properties as any).Content.mainSteps.find((x: any) => x.name === 'runJob').inputs.runCommand;
  assert.ok(run.some((l: any) => typeof l === 'object' && /PB_METRICS_NAMESPACE=ProtonBeam\/\$\{AWS::StackName\}/.test(l['Fn::Sub'])));
});

test('the instance runs in an Auto Scaling group of one, from the launch template\'s latest version, tagged at launch', () => {
  const group = resources.InstanceGroup.Properties as any;
  assert.equal(resources.InstanceGroup.Type, 'AWS::AutoScaling::AutoScalingGroup');
  assert.deepEqual([group.MinSize, group.MaxSize, group.DesiredCapacity], ['1', '1', '1']);
  assert.deepEqual(group.LaunchTemplate, {
    LaunchTemplateId: { Ref: 'InstanceLaunchTemplate' }, Version: { 'Fn::GetAtt': ['InstanceLaunchTemplate', 'LatestVersionNumber'] },
  });
  // The instance role names the group: its name is fixed, the same string in both places.
  assert.deepEqual(group.AutoScalingGroupName, { 'Fn::Sub': '${AWS::StackName}-job' });
  // A changed launch template (make deploy with another INSTANCE_TYPE) replaces the instance.
  assert.deepEqual((resources.InstanceGroup as any).UpdatePolicy, { AutoScalingRollingUpdate: { MinInstancesInService: 0, MaxBatchSize: 1 } });
  // Every tag reaches the instances it launches (make status, make ssm and the deployer policy find them by Stack).
  for (const tag of group.Tags) assert.equal(tag.PropagateAtLaunch, true, tag.Key);
  assert.deepEqual(group.Tags.map((x: any) => x.Key).sort(), ['CostCenter', 'ManagedBy', 'Name', 'Project', 'Stack']);
  // The subnet make deploy chose, or the region's default subnets.
  assert.deepEqual(group.VPCZoneIdentifier, { 'Fn::If': ['HasSubnet', [{ Ref: 'SubnetId' }], { Ref: 'AWS::NoValue' }] });
  assert.deepEqual(group.AvailabilityZones, { 'Fn::If': ['HasSubnet', { Ref: 'AWS::NoValue' }, { 'Fn::GetAZs': '' }] });
  // The security group moved into the launch template (the group has no property for it).
  const data = (resources.InstanceLaunchTemplate.Properties as any).LaunchTemplateData;
  assert.deepEqual(data.SecurityGroupIds, [{ 'Fn::GetAtt': ['InstanceSecurityGroup', 'GroupId'] }]);
  assert.equal(data.InstanceMarketOptions['Fn::If'][1].SpotOptions.InstanceInterruptionBehavior, 'terminate');
});

test('a State Manager association starts the job document on every instance of the group, with the run\'s bundle', () => {
  const a = resources.JobAssociation as any;
  assert.equal(a.Type, 'AWS::SSM::Association');
  assert.equal(a.Condition, 'HasBundle');
  assert.deepEqual(a.Properties.Name, { Ref: 'JobDocument' });
  assert.deepEqual(a.Properties.Targets, [{ Key: 'tag:aws:autoscaling:groupName', Values: [{ Ref: 'InstanceGroup' }] }]);
  assert.equal(a.Properties.ScheduleExpression, undefined, 'no schedule: it runs when created or updated, and on each new instance');
  assert.deepEqual(a.Properties.Parameters, { bundleUrl: [{ Ref: 'BundleUrl' }], bundleSha256: [{ Ref: 'BundleSha256' }], runId: [{ Ref: 'RunId' }] });
  // Every other document parameter defaults to the stack parameter of the same setting: one source of truth.
  const doc = (resources.JobDocument.Properties as any).Content.parameters;
  for (const [name, p] of Object.entries<any>(doc)) {
    if (name in a.Properties.Parameters) continue;
    assert.ok(p.default && (p.default.Ref || p.default['Fn::Sub']), `document parameter ${name} has no stack default`);
  }
  // The association's parameters pass the document's own patterns.
  assert.equal(parameters.BundleUrl.AllowedPattern, `^(${doc.bundleUrl.allowedPattern.slice(1, -1)})?$`);
  assert.equal(parameters.BundleSha256.AllowedPattern, `^(${doc.bundleSha256.allowedPattern.slice(1, -1)})?$`);
  assert.equal(parameters.RunId.AllowedPattern, doc.runId.allowedPattern);
  assert.match(S_newRunId(), new RegExp(doc.runId.allowedPattern));
  // The job learns its group from the runJob step, to scale it to zero at the end.
  const run = (resources.JobDocument.Properties as any).Content.mainSteps.find((x: any) => x.name === 'runJob').inputs.runCommand;
  assert.ok(run.some((l: any) => typeof l === 'object' && /PB_AUTOSCALING_GROUP=\$\{InstanceGroup\}/.test(l['Fn::Sub'])));
  // An association has no CloudWatch output: the job ships its own into the stack's log group (lib/deploy/log-ship.ts).
  assert.ok(run.some((l: any) => typeof l === 'object' && /PB_LOG_GROUP=\$\{JobLogGroup\}/.test(l['Fn::Sub'])));
  assert.deepEqual(t.Outputs.AssociationId, { Condition: 'HasBundle', Description: t.Outputs.AssociationId.Description, Value: { 'Fn::GetAtt': ['JobAssociation', 'AssociationId'] } });
});

test('the instance may scale only its own group, and only to zero', () => {
  const policy = (resources.InstanceRole.Properties.Policies as any[]).find((p) => p.PolicyName === 'end-the-group').PolicyDocument;
  const arn = { 'Fn::Sub': 'arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/${AWS::StackName}-job' };
  assert.deepEqual(policy.Statement.map((s: any) => [s.Action, s.Resource]), [
    ['autoscaling:SetInstanceProtection', arn], ['autoscaling:UpdateAutoScalingGroup', arn],
  ]);
  assert.deepEqual(policy.Statement[1].Condition, { NumericEquals: { 'autoscaling:MinSize': 0, 'autoscaling:MaxSize': 0 } });
});
