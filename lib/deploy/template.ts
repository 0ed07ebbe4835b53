/**
 * The CloudFormation template and what `make plan` / `make deploy` pass to it: the stack
 * parameters and the Run Command parameters, both derived from validated settings.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FatalError } from '../cli/errors.ts';
import { CLOUDFORMATION_TEMPLATE, ROOT } from '../paths.ts';
import type { DeploySettings } from './settings.ts';
import { splitS3Url } from '../s3/url.ts';

export const TEMPLATE_PATH = CLOUDFORMATION_TEMPLATE;
export const USERDATA_PATH = path.join(ROOT, 'userdata', 'prepare-instance.sh');

const USERDATA_LINE = /^( *)Fn::Base64: \|$/;

/** The user data script embedded in the template (the literal block under Fn::Base64: |). */
export function embeddedUserData(templateText: string): string | undefined {
  const lines = templateText.split('\n');
  const start = lines.findIndex((l) => USERDATA_LINE.test(l));
  if (start < 0) return undefined;
  const keyIndent = USERDATA_LINE.exec(lines[start])![1].length;
  const body: string[] = [];
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() !== '' && line.length - line.trimStart().length <= keyIndent) break;
    body.push(line);
  }
  while (body.length > 0 && body[body.length - 1].trim() === '') body.pop();
  const indent = Math.min(...body.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length));
  return body.map((l) => l.slice(indent)).join('\n') + '\n';
}

/** Returns the template text with the user data block replaced by `script`. */
export function withUserData(templateText: string, script: string): string {
  const lines = templateText.split('\n');
  const start = lines.findIndex((l) => USERDATA_LINE.test(l));
  if (start < 0) throw new FatalError('the template has no "Fn::Base64: |" user data block');
  const keyIndent = USERDATA_LINE.exec(lines[start])![1].length;
  let end = start + 1;
  while (end < lines.length && (lines[end].trim() === '' || lines[end].length - lines[end].trimStart().length > keyIndent)) end++;
  while (end > start + 1 && lines[end - 1].trim() === '') end--;
  const pad = ' '.repeat(keyIndent + 2);
  const block = script.replace(/\n$/, '').split('\n').map((l) => (l === '' ? '' : pad + l));
  return [...lines.slice(0, start + 1), ...block, ...lines.slice(end)].join('\n');
}

/** Reads the template and checks that its user data is the current userdata/ script. */
export function readTemplate(): string {
  const text = fs.readFileSync(TEMPLATE_PATH, 'utf8');
  const script = fs.readFileSync(USERDATA_PATH, 'utf8');
  if (embeddedUserData(text) !== script) {
    throw new FatalError(`${path.relative(process.cwd(), TEMPLATE_PATH)} embeds an old copy of ${path.relative(process.cwd(), USERDATA_PATH)}: run make userdata`);
  }
  return text;
}

export interface NetworkChoice { vpcId?: string; subnetId?: string }

/** What the stack's association runs on each instance of the group: the bundle, and the run it belongs to. */
export interface RunChoice { bundleUrl: string; bundleSha256: string; runId: string }

export function amiParameterName(ubuntuRelease: string): string {
  return `/aws/service/canonical/ubuntu/server/${ubuntuRelease}/stable/current/amd64/hvm/ebs-gp3/ami-id`;
}

/** The stack parameters, in template order, as CloudFormation wants them. */
export function stackParameters(s: DeploySettings, network: NetworkChoice = {}, run?: RunChoice): { ParameterKey: string; ParameterValue: string }[] {
  const input = s.inputUrl.startsWith('s3://') ? splitS3Url(s.inputUrl)! : { bucket: '', key: '' };
  const values: Record<string, string> = {
    InputUrl: s.inputUrl,
    InputBucket: input.bucket,
    InputKey: input.key,
    InputIsPrefix: String(input.key.endsWith('/')),
    OutputBucket: s.outputBucket,
    OutputPrefix: s.outputPrefix,
    KmsKeyArn: s.kmsKeyArn ?? '',
    InstanceType: s.instanceType,
    Spot: String(s.spot),
    VolumeSize: String(s.volumeSize),
    VolumeThroughput: String(s.volumeThroughput),
    VolumeIops: String(s.volumeIops),
    AmiId: amiParameterName(s.ubuntuRelease),
    VpcId: network.vpcId ?? s.vpcId ?? '',
    SubnetId: network.subnetId ?? s.subnetId ?? '',
    ValidateSignatures: String(s.validateSignatures),
    ValidateIds: String(s.validateIds),
    CompressionLevel: String(s.compressionLevel),
    ShutdownWhenDone: String(s.shutdownWhenDone),
    MaxJobHours: String(s.maxJobHours),
    BundleUrl: run?.bundleUrl ?? '',
    BundleSha256: run?.bundleSha256 ?? '',
    RunId: run?.runId ?? '',
    CostCenter: s.costCenter,
    LogRetentionDays: String(s.logRetentionDays),
    AlarmEmail: s.alarmEmail ?? '',
  };
  return Object.entries(values).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue }));
}

/** The HTTPS form of s3://bucket/key that the SSM agent's aws:downloadContent understands. */
export function bundleHttpsUrl(region: string, bucket: string, key: string): string {
  const suffix = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  return `https://s3.${region}.${suffix}/${bucket}/${key}`;
}

/** The Run Command parameters (each value a one-element list, as SendCommand wants). */
export function commandParameters(s: DeploySettings, bundleUrl: string, bundleSha256: string, runId = ''): Record<string, string[]> {
  return {
    inputUrl: [s.inputUrl],
    outputUrl: [s.outputUrl],
    bundleUrl: [bundleUrl],
    bundleSha256: [bundleSha256],
    validateSignatures: [String(s.validateSignatures)],
    validateIds: [String(s.validateIds)],
    compressionLevel: [String(s.compressionLevel)],
    shutdownWhenDone: [String(s.shutdownWhenDone)],
    maxJobHours: [String(s.maxJobHours)],
    runId: [runId],
    kmsKeyArn: [s.kmsKeyArn ?? ''],
  };
}

/** A new name for each make deploy: base 36 of its start time in ms, e.g. `r-mf3k2a1b`. */
export const newRunId = (now: number) => `r-${now.toString(36)}`;

export const STACK_TAGS = (s: DeploySettings) => [
  { Key: 'Project', Value: 'proton-beam' },
  { Key: 'ManagedBy', Value: 'cloudformation' },
  { Key: 'CostCenter', Value: s.costCenter },
];
