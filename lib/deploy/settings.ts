/**
 * Settings for `make plan/deploy/status/logs/ssm/destroy`: read from flags, the environment and a
 * `deploy.env` file (in that order of precedence), then validated before any AWS call.
 *
 * Every value that reaches AWS is checked against a strict character set here, and the
 * CloudFormation template and SSM document repeat the same patterns (test/deploy/template.test.ts
 * checks that they agree), so no shell metacharacter ever gets as far as the instance.
 */
import fs from 'node:fs';
import { parseEnv } from 'node:util';
import { UsageError } from '../cli/errors.ts';
import { parseBool as parseFlagBool, parseIntInRange as parseFlagInt } from '../cli/flags.ts';
import { PRICES_JSON } from '../paths.ts';
import { volumePerformanceFor, volumePerformanceProblem } from './volume.ts';
import { BUCKET_PATTERN, bucketNameProblem, splitS3Url } from '../s3/url.ts';

export interface DeploySettings {
  /** s3://bucket/key, s3://bucket/prefix/ or https://host/path: what the job converts. */
  inputUrl: string;
  /** s3://bucket/prefix/ (always ends with '/'): where results, the bundle and _status.json go. */
  outputUrl: string;
  outputBucket: string;
  outputPrefix: string;
  stackName: string;
  /** undefined when no region is configured (plan then prices us-east-1). */
  region?: string;
  instanceType: string;
  /** GiB of the encrypted gp3 data volume mounted at /data. */
  volumeSize: number;
  /** Its throughput (MiB/s) and IOPS: given, or sized from the instance type (lib/deploy/volume.ts). */
  volumeThroughput: number;
  volumeIops: number;
  spot: boolean;
  validateSignatures: boolean;
  validateIds: boolean;
  compressionLevel: number;
  shutdownWhenDone: boolean;
  vpcId?: string;
  subnetId?: string;
  costCenter: string;
  logRetentionDays: number;
  /** The instance watchdog's deadline for the job, in hours from its start. */
  maxJobHours: number;
  /** E-mail address the alarms notify (optional). */
  alarmEmail?: string;
  ubuntuRelease: string;
  kmsKeyArn?: string;
  /** Minutes to wait for the instance to register with SSM. */
  ssmWaitMinutes: number;
  /** Input size in bytes when given (plan uses it instead of asking S3). */
  inputSize?: number;
  /** Average bytes per event of the input when given (plan's memory rule), else the benchmark's figure. */
  eventBytes?: number;
}

/** One setting: its environment name, its flag, its default, and how to check it. */
interface SettingSpec {
  env: string;
  flag: string;
  help: string;
  default?: string;
}

export const SETTINGS: Record<string, SettingSpec> = {
  inputUrl: { env: 'INPUT_URL', flag: 'input-url', help: 's3://bucket/key(.jsonl|.jsonl.gz), s3://bucket/prefix/ or https://host/path' },
  output: { env: 'OUTPUT', flag: 'output', help: 's3://bucket/prefix/ for results (never deleted by destroy)' },
  stackName: { env: 'STACK_NAME', flag: 'stack-name', help: 'CloudFormation stack name', default: 'proton-beam' },
  region: { env: 'AWS_REGION', flag: 'region', help: 'AWS region (also read from AWS_DEFAULT_REGION)' },
  instanceType: { env: 'INSTANCE_TYPE', flag: 'instance-type', help: 'c6i.* or c7i.* instance type', default: 'c7i.4xlarge' },
  volumeSize: { env: 'VOLUME_SIZE', flag: 'volume-size', help: 'data volume size in GiB (20..16384)', default: '200' },
  volumeThroughput: { env: 'VOLUME_THROUGHPUT', flag: 'volume-throughput', help: 'gp3 data volume throughput in MiB/s, 125..1000 (default: 16 per vCPU)' },
  volumeIops: { env: 'VOLUME_IOPS', flag: 'volume-iops', help: 'gp3 data volume IOPS, 3000..16000, at least 4 per MiB/s (default: sized with the throughput)' },
  spot: { env: 'SPOT', flag: 'spot', help: 'true for a spot instance, false for on-demand', default: 'false' },
  validateSignatures: { env: 'VALIDATE_SIGNATURES', flag: 'validate-signatures', help: 'true|false', default: 'true' },
  validateIds: { env: 'VALIDATE_EVENT_IDS', flag: 'validate-event-ids', help: 'true|false', default: 'true' },
  compressionLevel: { env: 'COMPRESSION_LEVEL', flag: 'compression-level', help: 'gzip level 0..9', default: '6' },
  shutdownWhenDone: { env: 'SHUTDOWN_WHEN_DONE', flag: 'shutdown-when-done', help: 'true: the instance terminates itself when the job ends', default: 'true' },
  vpcId: { env: 'VPC_ID', flag: 'vpc-id', help: 'vpc-... (default: the default VPC)' },
  subnetId: { env: 'SUBNET_ID', flag: 'subnet-id', help: 'subnet-... (default: a default subnet of the VPC)' },
  costCenter: { env: 'COST_CENTER', flag: 'cost-center', help: 'value of the CostCenter tag on every resource', default: 'proton-beam' },
  alarmEmail: { env: 'ALARM_EMAIL', flag: 'alarm-email', help: 'e-mail address the CloudWatch alarms notify (optional; confirm the subscription mail)' },
  maxJobHours: { env: 'MAX_JOB_HOURS', flag: 'max-job-hours', help: 'the instance terminates itself if the job still runs after this many hours (1..720)', default: '48' },
  logRetentionDays: { env: 'LOG_RETENTION_DAYS', flag: 'log-retention-days', help: 'CloudWatch log retention in days', default: '30' },
  ubuntuRelease: { env: 'UBUNTU_RELEASE', flag: 'ubuntu-release', help: 'Ubuntu LTS release of the AMI', default: '24.04' },
  kmsKeyArn: { env: 'KMS_KEY_ARN', flag: 'kms-key-arn', help: 'KMS key ARN for SSE-KMS on the results (optional)' },
  ssmWaitMinutes: { env: 'SSM_WAIT_MINUTES', flag: 'ssm-wait-minutes', help: 'minutes to wait for the instance to register with SSM', default: '15' },
  eventBytes: { env: 'EVENT_BYTES', flag: 'event-bytes', help: 'average bytes per event of the input, for the memory rule (optional; default from docs/BENCHMARKS.md or 1686)' },
  inputSize: { env: 'INPUT_SIZE', flag: 'input-size', help: 'input size for the estimate, e.g. 120G (optional)' },
};

/** The options every deploy script accepts, for node:util parseArgs. */
export function settingsParseArgsOptions(): Record<string, { type: 'string' }> {
  const options: Record<string, { type: 'string' }> = { 'env-file': { type: 'string' } };
  for (const spec of Object.values(SETTINGS)) options[spec.flag] = { type: 'string' };
  return options;
}

export function settingsUsage(): string {
  const lines = Object.values(SETTINGS).map((s) =>
    `  --${s.flag.padEnd(20)} ${s.env.padEnd(20)} ${s.help}${s.default !== undefined ? ` (default ${s.default})` : ''}`);
  return ['settings (flag, environment variable or deploy.env line, meaning):',
    '  --env-file PATH        DEPLOY_ENV_FILE      settings file (default ./deploy.env)', ...lines].join('\n');
}

/** The raw strings, before validation, with where each one came from. */
export interface RawSettings {
  values: Record<string, string | undefined>;
  sources: Record<string, 'flag' | 'env' | 'file' | 'default'>;
}

/**
 * Collects settings: flags beat the environment, which beats the settings file, which beats the
 * defaults. The file is KEY=VALUE lines (# comments, optional quotes, no shell expansion).
 */
export function collectSettings(flags: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): RawSettings {
  const explicitFile = (flags['env-file'] as string | undefined) ?? env.DEPLOY_ENV_FILE;
  const filePath = explicitFile ?? `${cwd}/deploy.env`;
  let file: Record<string, string> = {};
  let text: string | undefined;
  try {
    text = fs.readFileSync(filePath, 'utf8');
  } catch (err) {
    if (explicitFile !== undefined || (err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new UsageError(`cannot read settings file ${filePath}: ${(err as Error).message}`);
    }
  }
  if (text !== undefined) {
    file = parseEnv(text) as Record<string, string>;
    const known = new Set(Object.values(SETTINGS).map((s) => s.env).concat('AWS_DEFAULT_REGION', 'AWS_PROFILE'));
    const unknown = Object.keys(file).filter((k) => !known.has(k));
    if (unknown.length > 0) throw new UsageError(`${filePath}: unknown setting ${unknown.join(', ')}`);
  }
  const values: RawSettings['values'] = {};
  const sources: RawSettings['sources'] = {};
  for (const [name, spec] of Object.entries(SETTINGS)) {
    const fromFlag = flags[spec.flag];
    const envNames = name === 'region' ? [spec.env, 'AWS_DEFAULT_REGION'] : [spec.env];
    const fromEnv = envNames.map((n) => env[n]).find((v) => v !== undefined && v !== '');
    const fromFile = envNames.map((n) => file[n]).find((v) => v !== undefined && v !== '');
    if (typeof fromFlag === 'string') [values[name], sources[name]] = [fromFlag, 'flag'];
    else if (fromEnv !== undefined) [values[name], sources[name]] = [fromEnv, 'env'];
    else if (fromFile !== undefined) [values[name], sources[name]] = [fromFile, 'file'];
    else if (spec.default !== undefined) [values[name], sources[name]] = [spec.default, 'default'];
  }
  return { values, sources };
}

// ---------------------------------------------------------------------------------------------
// Patterns. The template's AllowedPatterns are the same strings (checked by the template test).

export { BUCKET_PATTERN, bucketNameProblem };
/** Object keys and prefixes: a conservative set with no shell metacharacter, no space, no quote. */
export const KEY_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._/=+@,%:-]{0,1000}$';
/** Output prefixes: the same characters, always ending with '/'. */
export const PREFIX_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._/=+@,%:-]{0,1000}/$';
/** https input URLs: host and path only, no query, no fragment, no credentials. */
export const HTTPS_URL_PATTERN = '^https://[A-Za-z0-9.-]{1,253}/[A-Za-z0-9._/=+@,%:~-]{0,2000}$';
/** The SSM document's input URL: s3:// or https://, same characters. */
export const INPUT_URL_PATTERN = '^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[A-Za-z0-9][A-Za-z0-9._/=+@,%:-]{0,1000}|https://[A-Za-z0-9.-]{1,253}/[A-Za-z0-9._/=+@,%:~-]{0,2000})$';
export const OUTPUT_URL_PATTERN = '^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[A-Za-z0-9][A-Za-z0-9._/=+@,%:-]{0,1000}/$';
export const INSTANCE_TYPE_PATTERN = '^c(6|7)i\\.(large|[0-9]{0,2}xlarge|metal|metal-(24|48)xl)$';
export const STACK_NAME_PATTERN = '^[A-Za-z][A-Za-z0-9-]{0,127}$';
export const REGION_PATTERN = '^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$';
export const VPC_PATTERN = '^vpc-[0-9a-f]{8,17}$';
export const SUBNET_PATTERN = '^subnet-[0-9a-f]{8,17}$';
export const TAG_VALUE_PATTERN = '^[A-Za-z0-9_.:/=+@-]{1,256}$';
export const KMS_KEY_ARN_PATTERN = '^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]{1,128}$';
/** The instance types data/prices.json knows (c6i and c7i sizes). */
export function knownInstanceTypes(): string[] {
  const file = PRICES_JSON;
  return Object.keys((JSON.parse(fs.readFileSync(file, 'utf8')) as { instances: object }).instances);
}

/** vCPUs and memory of a known instance type (data/prices.json). */
export function instanceSpecs(type: string): { vcpu: number; memoryGib: number } {
  return (JSON.parse(fs.readFileSync(PRICES_JSON, 'utf8')) as { instances: Record<string, { vcpu: number; memoryGib: number }> }).instances[type];
}

export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];
export const UBUNTU_RELEASES = ['24.04', '26.04'];

/** Characters a shell would interpret; named in error messages so the user sees why. */
const SHELL_METACHARACTERS = /[\s;&|`$<>(){}[\]\\'"*?!#~^]/;

function describeShellCharacter(value: string): string {
  const m = SHELL_METACHARACTERS.exec(value);
  if (!m) return '';
  const c = m[0];
  const name = /\s/.test(c) ? 'whitespace' : `'${c}'`;
  return ` (contains ${name}, which is not allowed)`;
}

/** A true/false or whole-number setting, parsed as the flags are (lib/cli/flags.ts); a problem is collected. */
function parseBool(name: string, value: string, problems: string[]): boolean {
  return collecting(problems, name, value, false, () => parseFlagBool(name, value));
}

function parseIntIn(name: string, value: string, min: number, max: number, problems: string[]): number {
  return collecting(problems, name, value, min, () => parseFlagInt(name, value, min, max));
}

function collecting<T>(problems: string[], name: string, value: string, fallback: T, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    problems.push(`${name}=${value}: ${(err as Error).message.replace(/^--\S+ takes /, 'must be ').replace(/, not '.*'$/s, '')}`);
    return fallback;
  }
}

/** Parses a size such as 123456, 500M, 120G, 1.5T (powers of 1024). */
export function parseSize(value: string): number | undefined {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kmgt]i?b?|b)?$/i.exec(value.trim());
  if (!m) return undefined;
  const unit = (m[2] ?? 'b')[0].toLowerCase();
  const mult = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[unit] ?? 1;
  return Math.round(Number(m[1]) * mult);
}

/** What is wrong with an input URL, or '' when it is fine. */
export function inputUrlProblem(url: string): string {
  const problems: string[] = [];
  checkInputUrl('input', url, problems);
  return problems[0] ?? '';
}

/** What is wrong with an output URL, or '' when it is fine. */
export function outputUrlProblem(url: string): string {
  return new RegExp(OUTPUT_URL_PATTERN).test(url) && bucketNameProblem(splitS3Url(url)!.bucket) === '' && !url.slice(5).includes('//')
    ? '' : `output ${url}: must be s3://bucket/prefix/ with a valid bucket name and a prefix of letters, digits and . _ / = + @ , % : -`;
}

function checkInputUrl(name: string, url: string, problems: string[]): void {
  if (url.startsWith('s3://')) {
    const parsed = splitS3Url(url)!;
    const bucketProblem = bucketNameProblem(parsed.bucket);
    if (bucketProblem) problems.push(`${name}=${url}: bucket name ${bucketProblem}`);
    else if (parsed.key === '') problems.push(`${name}=${url}: needs an object key or a prefix ending in '/' after the bucket`);
    else if (!new RegExp(KEY_PATTERN).test(parsed.key)) {
      problems.push(`${name}=${url}: the key may only contain letters, digits and . _ / = + @ , % : -${describeShellCharacter(parsed.key)}`);
    }
  } else if (url.startsWith('https://')) {
    if (/^https:\/\/[^/]*:/.test(url)) {
      problems.push(`${name}=${url}: no port: the instance may only connect out on 443, use https://host/path`);
    } else if (!new RegExp(HTTPS_URL_PATTERN).test(url)) {
      problems.push(`${name}=${url}: https URLs may only contain a host and a path of letters, digits and . _ / = + @ , % : ~ - (no query string)${describeShellCharacter(url)}`);
    }
  } else {
    const scheme = /^([a-z0-9+.-]+):/i.exec(url)?.[1];
    problems.push(`${name}=${url}: ${scheme ? `scheme ${scheme}:// is not supported` : 'not a URL'}; use s3://bucket/key or https://host/path`);
  }
}

/**
 * Validates raw settings. All problems are reported at once, as one UsageError.
 * `require` names the settings that the calling command cannot do without.
 */
export function validateSettings(raw: RawSettings, require: { input?: boolean; output?: boolean; region?: boolean } = {}): DeploySettings {
  const v = raw.values;
  const problems: string[] = [];
  const env = (name: string) => SETTINGS[name].env;

  const inputUrl = v.inputUrl ?? '';
  if (inputUrl === '') {
    if (require.input) problems.push(`${env('inputUrl')} is not set (s3://bucket/key or https://host/path)`);
  } else checkInputUrl(env('inputUrl'), inputUrl, problems);

  let outputUrl = v.output ?? '';
  let outputBucket = '';
  let outputPrefix = '';
  if (outputUrl === '') {
    if (require.output) problems.push(`${env('output')} is not set (s3://bucket/prefix/)`);
  } else if (!outputUrl.startsWith('s3://')) {
    problems.push(`${env('output')}=${outputUrl}: must be an s3://bucket/prefix/ URL`);
  } else {
    const parsed = splitS3Url(outputUrl)!;
    const bucketProblem = bucketNameProblem(parsed.bucket);
    if (bucketProblem) problems.push(`${env('output')}=${outputUrl}: bucket name ${bucketProblem}`);
    else if (parsed.key === '' || parsed.key === '/') {
      problems.push(`${env('output')}=${outputUrl}: needs a prefix after the bucket (s3://${parsed.bucket}/run-1/): the instance may only write under it`);
    } else {
      outputBucket = parsed.bucket;
      outputPrefix = parsed.key.endsWith('/') ? parsed.key : `${parsed.key}/`;
      if (!new RegExp(PREFIX_PATTERN).test(outputPrefix) || outputPrefix.includes('//')) {
        problems.push(`${env('output')}=${outputUrl}: the prefix may only contain letters, digits and . _ / = + @ , % : - (no empty path segment)${describeShellCharacter(outputPrefix)}`);
      }
      outputUrl = `s3://${outputBucket}/${outputPrefix}`;
    }
  }

  const stackName = v.stackName!;
  if (!new RegExp(STACK_NAME_PATTERN).test(stackName)) {
    problems.push(`${env('stackName')}=${stackName}: must start with a letter and contain only letters, digits and hyphens (at most 128)${describeShellCharacter(stackName)}`);
  }
  const region = v.region;
  if (region !== undefined && !new RegExp(REGION_PATTERN).test(region)) problems.push(`${env('region')}=${region}: not an AWS region name such as us-east-1`);
  if (region === undefined && require.region) problems.push(`${env('region')} is not set (for example us-east-1); AWS_DEFAULT_REGION works too`);

  const instanceType = v.instanceType!;
  if (!new RegExp(INSTANCE_TYPE_PATTERN).test(instanceType) || !knownInstanceTypes().includes(instanceType)) {
    problems.push(`${env('instanceType')}=${instanceType}: must be a c6i or c7i instance type, one of ${knownInstanceTypes().join(' ')}`);
  }
  const volumeSize = parseIntIn(env('volumeSize'), v.volumeSize!, 20, 16384, problems);
  const sized = volumePerformanceFor(knownInstanceTypes().includes(instanceType) ? instanceSpecs(instanceType).vcpu : 2);
  const volumeThroughput = v.volumeThroughput === undefined ? sized.throughput : parseIntIn(env('volumeThroughput'), v.volumeThroughput, 125, 1000, problems);
  const volumeIops = v.volumeIops === undefined ? Math.max(sized.iops, volumeThroughput * 4) : parseIntIn(env('volumeIops'), v.volumeIops, 3000, 16000, problems);
  const perfProblem = volumePerformanceProblem(volumeThroughput, volumeIops);
  if (perfProblem) problems.push(`${env('volumeThroughput')}=${volumeThroughput}, ${env('volumeIops')}=${volumeIops}: ${perfProblem}`);
  const spot = parseBool(env('spot'), v.spot!, problems);
  const validateSignatures = parseBool(env('validateSignatures'), v.validateSignatures!, problems);
  const validateIds = parseBool(env('validateIds'), v.validateIds!, problems);
  const compressionLevel = parseIntIn(env('compressionLevel'), v.compressionLevel!, 0, 9, problems);
  const shutdownWhenDone = parseBool(env('shutdownWhenDone'), v.shutdownWhenDone!, problems);
  const vpcId = v.vpcId;
  if (vpcId !== undefined && !new RegExp(VPC_PATTERN).test(vpcId)) problems.push(`${env('vpcId')}=${vpcId}: must look like vpc-0123456789abcdef0`);
  const subnetId = v.subnetId;
  if (subnetId !== undefined && !new RegExp(SUBNET_PATTERN).test(subnetId)) problems.push(`${env('subnetId')}=${subnetId}: must look like subnet-0123456789abcdef0`);
  const costCenter = v.costCenter!;
  if (!new RegExp(TAG_VALUE_PATTERN).test(costCenter)) {
    problems.push(`${env('costCenter')}=${costCenter}: tag values may only contain letters, digits and _ . : / = + @ -${describeShellCharacter(costCenter)}`);
  }
  const maxJobHours = parseIntIn(env('maxJobHours'), v.maxJobHours!, 1, 720, problems);
  const alarmEmail = v.alarmEmail;
  if (alarmEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alarmEmail)) problems.push(`${env('alarmEmail')}=${alarmEmail}: not an e-mail address`);
  const logRetentionDays = Number(v.logRetentionDays);
  if (!LOG_RETENTION_DAYS.includes(logRetentionDays) || !/^[0-9]+$/.test(v.logRetentionDays!)) {
    problems.push(`${env('logRetentionDays')}=${v.logRetentionDays}: must be one of ${LOG_RETENTION_DAYS.join(', ')}`);
  }
  const ubuntuRelease = v.ubuntuRelease!;
  if (!UBUNTU_RELEASES.includes(ubuntuRelease)) problems.push(`${env('ubuntuRelease')}=${ubuntuRelease}: must be one of ${UBUNTU_RELEASES.join(', ')}`);
  const kmsKeyArn = v.kmsKeyArn;
  if (kmsKeyArn !== undefined && !new RegExp(KMS_KEY_ARN_PATTERN).test(kmsKeyArn)) {
    problems.push(`${env('kmsKeyArn')}=${kmsKeyArn}: must be a key ARN, arn:aws:kms:REGION:ACCOUNT:key/ID`);
  }
  const ssmWaitMinutes = parseIntIn(env('ssmWaitMinutes'), v.ssmWaitMinutes!, 1, 120, problems);
  const eventBytes = v.eventBytes === undefined ? undefined : parseIntIn(env('eventBytes'), v.eventBytes, 50, 100_000_000, problems);
  let inputSize: number | undefined;
  if (v.inputSize !== undefined) {
    inputSize = parseSize(v.inputSize);
    if (inputSize === undefined) problems.push(`${env('inputSize')}=${v.inputSize}: must be a size such as 123456789, 500M or 120G`);
  }

  if (problems.length > 0) {
    throw new UsageError(`invalid settings:\n  ${problems.join('\n  ')}`);
  }
  return {
    inputUrl, outputUrl, outputBucket, outputPrefix, stackName, region, instanceType, volumeSize, volumeThroughput, volumeIops, spot,
    validateSignatures, validateIds, compressionLevel, shutdownWhenDone, vpcId, subnetId, costCenter,
    logRetentionDays, maxJobHours, alarmEmail, ubuntuRelease, kmsKeyArn, ssmWaitMinutes, inputSize, eventBytes,
  };
}

/** Where the job's bundles, status and results live under OUTPUT. */
export function outputKeys(settings: Pick<DeploySettings, 'outputPrefix'>) {
  return {
    status: `${settings.outputPrefix}_status.json`,
    checkpoint: `${settings.outputPrefix}_checkpoint.json`,
    bundleDir: `${settings.outputPrefix}_deploy/`,
  };
}
