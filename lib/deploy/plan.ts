/**
 * `make plan`: the resolved settings, the stack parameters, the Run Command parameters and the
 * cost estimate. Changes nothing anywhere; asks AWS at most for the input's size (read-only,
 * and only when credentials are configured), so it works without credentials.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SETTINGS, outputKeys, type DeploySettings, type RawSettings } from './settings.ts';
import { splitS3Url } from '../s3/url.ts';
import { bundleHttpsUrl, commandParameters, stackParameters } from './template.ts';
import { formatBytes, formatDuration } from '../cli/format.ts';
import { estimate, formatEstimate, type Prices, type ThroughputSource } from './cost.ts';
import { checkMemory } from './memory.ts';
import { spotRisk, spotRiskLines } from './spot-cost.ts';
import { NAT_WARNING } from './network.ts';

/** True when the environment or ~/.aws names credentials; plan asks S3 nothing otherwise. */
export function credentialsConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.AWS_ACCESS_KEY_ID || env.AWS_PROFILE || env.AWS_WEB_IDENTITY_TOKEN_FILE || env.AWS_CONTAINER_CREDENTIALS_FULL_URI) return true;
  const home = env.HOME ?? os.homedir();
  return ['credentials', 'config'].some((f) => fs.existsSync(path.join(home, '.aws', f)));
}

export interface InputSize { bytes?: number; note: string }

/** INPUT_SIZE if given; else the object's size (s3://, read-only HEAD, if credentials exist). */
export async function probeInputSize(s: DeploySettings, s3: S3Client | undefined): Promise<InputSize> {
  if (s.inputSize !== undefined) return { bytes: s.inputSize, note: 'from INPUT_SIZE' };
  const parsed = s.inputUrl.startsWith('s3://') ? splitS3Url(s.inputUrl) : undefined;
  if (!parsed || parsed.key.endsWith('/')) {
    return { note: 'unknown: set INPUT_SIZE (for example INPUT_SIZE=120G) for an estimate' };
  }
  if (!s3) return { note: 'unknown (no AWS credentials configured): set INPUT_SIZE for an estimate' };
  try {
    const res = await s3.send(new HeadObjectCommand({ Bucket: parsed.bucket, Key: parsed.key }), { abortSignal: AbortSignal.timeout(5000) });
    return { bytes: res.ContentLength, note: 'from S3 (HeadObject)' };
  } catch (err) {
    return { note: `unknown (HeadObject failed: ${(err as Error).name}): set INPUT_SIZE for an estimate` };
  }
}

function table(rows: [string, string, string?][]): string[] {
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([k, v, note]) => `  ${k.padEnd(w)}  ${v === '' ? "''" : v}${note ? `   (${note})` : ''}`);
}

export interface PlanInput {
  settings: DeploySettings;
  raw: RawSettings;
  bundleHash: string;
  inputSize: InputSize;
  prices: Prices;
  throughput: ThroughputSource;
}

export function planLines(p: PlanInput): string[] {
  const s = p.settings;
  const region = s.region ?? '(AWS_REGION not set)';
  const lines: string[] = ['Proton Beam plan: nothing is created or changed.', '', 'settings'];
  lines.push(...table(Object.entries(SETTINGS).map(([name, spec]): [string, string, string?] => {
    const value = p.raw.values[name];
    const shown = name === 'output' && value !== undefined ? s.outputUrl : value;
    return [spec.env, shown ?? '-', value === undefined ? 'not set' : p.raw.sources[name]];
  })));

  lines.push('', `stack ${s.stackName} in ${region} (cloudformation/proton-beam.yaml, CAPABILITY_IAM)`);
  lines.push(...table(stackParameters(s).map(({ ParameterKey, ParameterValue }): [string, string, string?] => {
    if (ParameterKey === 'VpcId' && !ParameterValue) return [ParameterKey, '-', 'the default VPC, looked up by make deploy'];
    if (ParameterKey === 'SubnetId' && !ParameterValue) return [ParameterKey, '-', 'a default subnet offering the instance type, looked up by make deploy'];
    return [ParameterKey, ParameterValue];
  })));

  const keys = outputKeys(s);
  const bundleKey = `${keys.bundleDir}${p.bundleHash}.tgz`;
  const bundleUrl = bundleHttpsUrl(s.region ?? 'us-east-1', s.outputBucket, bundleKey);
  lines.push('', 'job document parameters (the stack\'s association runs its JobDocument on each instance of the group; output to CloudWatch Logs /proton-beam/' + s.stackName + ')');
  lines.push(...table(Object.entries(commandParameters(s, bundleUrl, '(SHA-256 of the .tgz, computed when make deploy packs it)', '(a new one at each make deploy)')).map(([k, v]): [string, string] => [k, v[0]])));
  lines.push('', `code bundle: this working tree as s3://${s.outputBucket}/${bundleKey}`);
  lines.push(`progress:    s3://${s.outputBucket}/${keys.status} (make status)`);
  lines.push(`results:     ${s.outputUrl}`);

  lines.push('', 'cost estimate');
  if (p.inputSize.bytes === undefined) {
    lines.push(`  input size ${p.inputSize.note}`);
    const perGib = estimate({ inputBytes: 1024 ** 3, compressed: /\.gz$/.test(s.inputUrl), instanceType: s.instanceType, volumeSizeGib: s.volumeSize, volumeThroughputMibs: s.volumeThroughput, volumeIops: s.volumeIops }, p.prices, p.throughput.throughput);
    lines.push(`  per GiB of input: about ${((perGib.hours.convert + perGib.hours.upload) * 60).toFixed(1)} min of ${s.instanceType} after ${Math.round(perGib.hours.setup * 60)} min of setup`);
  } else {
    lines.push(`  input size ${formatBytes(p.inputSize.bytes)} (${p.inputSize.note})`);
    const e = estimate({ inputBytes: p.inputSize.bytes, compressed: /\.gz$/.test(s.inputUrl), instanceType: s.instanceType, volumeSizeGib: s.volumeSize, volumeThroughputMibs: s.volumeThroughput, volumeIops: s.volumeIops }, p.prices, p.throughput.throughput);
    lines.push(...formatEstimate(e, p.prices, p.throughput, s.region).map((l) => `  ${l}`));
    lines.push(...spotRiskLines(spotRisk(e, p.throughput.throughput, p.prices), e.onDemand.total).map((l) => `  ${l}`));
    const bytesPerEvent = s.eventBytes ?? p.throughput.throughput.bytes_per_event;
    const mem = checkMemory(e.uncompressedBytes, bytesPerEvent, s.instanceType, p.prices);
    const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GiB`;
    lines.push(`  memory: about ${mem.events.toLocaleString('en-US')} events (${bytesPerEvent} bytes each, ${s.eventBytes ? 'EVENT_BYTES' : p.throughput.measured.includes('bytes_per_event') ? p.throughput.source : 'the real sample'}), ` +
      `${gib(mem.tableBytes)} of dedup table (45 bytes per distinct event) + the converter: ${gib(mem.needBytes)} of ${gib(mem.haveBytes)}`);
    if (!mem.fits) {
      lines.push(`  error: ${s.instanceType} (${gib(mem.haveBytes)}) cannot hold the dedup table and the converter (${gib(mem.needBytes)}, at most 85 % of memory): ` +
        (mem.smallest ? `the smallest instance type that can is ${mem.smallest}; set INSTANCE_TYPE=${mem.smallest}` : 'no c6i/c7i type can; split the input') +
        ' (EVENT_BYTES corrects the bytes per event if your dump differs)');
    }
    if (e.hours.total > s.maxJobHours) {
      lines.push(`  warning: the estimate (${formatDuration(e.hours.total * 3600)}) exceeds MAX_JOB_HOURS=${s.maxJobHours}: the watchdog would terminate the instance before the job ends; raise MAX_JOB_HOURS or choose a larger INSTANCE_TYPE`);
    }
  }
  if (s.subnetId) lines.push(`  ${NAT_WARNING(s.subnetId).replace(' is not a default subnet', ' is set; if it is not a default subnet')}`);
  if (!s.shutdownWhenDone) lines.push('  SHUTDOWN_WHEN_DONE=false: the instance bills until make destroy');
  return lines;
}
