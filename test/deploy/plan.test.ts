// make plan and its cost estimate: no AWS call, numbers from data/prices.json and the
// benchmark line of docs/BENCHMARKS.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../../lib/paths.ts';
import { formatBytes, formatDuration } from '../../lib/cli/format.ts';
import { promisify } from 'node:util';
import {
  DEFAULT_THROUGHPUT, estimate, loadPrices, parseBenchmarks,
} from '../../lib/deploy/cost.ts';
import { collectSettings, validateSettings } from '../../lib/deploy/settings.ts';
import { credentialsConfigured, planLines, probeInputSize } from '../../lib/deploy/plan.ts';
import { stackParameters } from '../../lib/deploy/template.ts';

const prices = loadPrices();
const GIB = 1024 ** 3;


test('the prices file is dated and covers every c6i and c7i size the settings accept', () => {
  assert.match(prices.asOf, /^\d{4}-\d{2}-\d{2}$/);
  assert.ok(Object.keys(prices.instances).length >= 20);
  for (const [type, p] of Object.entries(prices.instances)) {
    assert.match(type, /^c[67]i\./);
    assert.ok(p.vcpu >= 2 && p.onDemandHourly > 0, type);
  }
  assert.ok(prices.spotFractionOfOnDemand > 0 && prices.spotFractionOfOnDemand < 1);
});

test('the benchmark line is read, with defaults for what it does not give', () => {
  const md = '# Benchmarks\n\n| x | y |\n<!-- plan: bytes_per_second_per_vcpu=12000000 gzip_ratio=5 -->\n';
  const t = parseBenchmarks(md);
  assert.equal(t.throughput.bytes_per_second_per_vcpu, 12_000_000);
  assert.equal(t.throughput.gzip_ratio, 5);
  assert.equal(t.throughput.output_ratio, DEFAULT_THROUGHPUT.output_ratio);
  assert.deepEqual(t.measured, ['bytes_per_second_per_vcpu', 'gzip_ratio']);
  const none = parseBenchmarks('# Benchmarks\nnothing machine-readable here\n');
  assert.deepEqual(none.throughput, DEFAULT_THROUGHPUT);
  assert.match(none.source, /defaults/);
  assert.deepEqual(parseBenchmarks(undefined).throughput, DEFAULT_THROUGHPUT);
  assert.equal(parseBenchmarks('<!-- plan: bytes_per_second_per_vcpu=-3 unknown_key=7 -->').measured.length, 0);
});

test('instance hours come from the input size and the throughput per vCPU', () => {
  const t = { ...DEFAULT_THROUGHPUT, bytes_per_second_per_vcpu: 10 * 1024 * 1024, max_input_bytes_per_second: 1e12, setup_minutes: 6 };
  // 16 vCPU x 10 MiB/s = 160 MiB/s; 360 GiB of JSONL -> 2304 s = 0.64 h.
  const e = estimate({ inputBytes: 360 * GIB, compressed: false, instanceType: 'c7i.4xlarge', volumeSizeGib: 500 }, prices, t);
  assert.equal(e.vcpu, 16);
  assert.ok(Math.abs(e.hours.convert - 0.64) < 1e-9);
  assert.equal(e.hours.setup, 0.1);
  assert.ok(Math.abs(e.hours.total - (0.1 + 0.64 + e.hours.upload)) < 1e-9);
  assert.ok(Math.abs(e.onDemand.instance - e.hours.total * 0.714) < 1e-9);
  assert.ok(e.spot.instance < e.onDemand.instance);
  assert.ok(Math.abs(e.onDemand.ebs - 516 * 0.08 * e.hours.total / 730) < 1e-9);
  assert.ok(Math.abs(e.s3PerMonth - 360 * t.output_ratio * 0.023) < 1e-9);
  assert.equal(e.volumeTooSmall, false);
  // Twice the vCPUs, half the conversion time.
  const big = estimate({ inputBytes: 360 * GIB, compressed: false, instanceType: 'c7i.8xlarge', volumeSizeGib: 500 }, prices, t);
  assert.ok(Math.abs(big.hours.convert - 0.32) < 1e-9);
  // gzip input expands gzip_ratio times; the read ceiling caps a huge machine.
  const gz = estimate({ inputBytes: 100 * GIB, compressed: true, instanceType: 'c7i.48xlarge', volumeSizeGib: 20, volumeThroughputMibs: 1000, volumeIops: 4000 },
    prices, { ...t, max_input_bytes_per_second: 100 * 1024 * 1024 });
  assert.equal(gz.uncompressedBytes, 400 * GIB);
  assert.equal(gz.bytesPerSecond, 400 * 1024 * 1024);
  assert.equal(gz.volumeTooSmall, true);
  // The converter's serial ceiling (its main and index threads) caps any number of vCPUs.
  const capped = estimate({ inputBytes: 360 * GIB, compressed: false, instanceType: 'c7i.48xlarge', volumeSizeGib: 500 },
    prices, { ...t, serial_bytes_per_second: 300 * 1024 * 1024 });
  assert.equal(capped.bytesPerSecond, 300 * 1024 * 1024);
  assert.equal(estimate({ inputBytes: 360 * GIB, compressed: false, instanceType: 'c7i.4xlarge', volumeSizeGib: 500 },
    prices, { ...t, serial_bytes_per_second: 300 * 1024 * 1024 }).bytesPerSecond, 160 * 1024 * 1024);
  assert.equal(gz.volumeBound, false);
  // The same on gp3's included 125 MiB/s: the volume takes the results at 125 MiB/s, so the input
  // goes at 125 / output_ratio MiB/s, and the upload reads them back at 125 MiB/s at most.
  const slow = estimate({ inputBytes: 100 * GIB, compressed: true, instanceType: 'c7i.48xlarge', volumeSizeGib: 20 },
    prices, { ...t, max_input_bytes_per_second: 100 * 1024 * 1024 });
  assert.equal(slow.volumeBound, true);
  assert.ok(Math.abs(slow.bytesPerSecond - 125 * 1024 * 1024 / t.output_ratio) < 1e-6);
  assert.ok(Math.abs(slow.hours.upload - slow.outputBytes / (125 * 1024 * 1024) / 3600) < 1e-9);
  // Provisioned throughput and IOPS above gp3's included figures are priced for the run's hours.
  const extra = (1000 - 125) * prices.gp3ThroughputPerMibsMonth + (4000 - 3000) * prices.gp3IopsPerMonth;
  assert.ok(Math.abs(gz.onDemand.ebs - (36 * 0.08 + extra) * gz.hours.total / 730) < 1e-9);
});

test('formatting', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(200 * GIB), '200 GiB');
  assert.equal(formatDuration(0.5 * 3600), '30 min 00 s');
  assert.equal(formatDuration(2.25 * 3600), '2 h 15 min');
});

function planFor(env: Record<string, string>) {
  const raw = collectSettings({ 'env-file': '/dev/null' }, env);
  const settings = validateSettings(raw, { input: true, output: true });
  return { raw, settings };
}

test('plan prints settings, stack parameters, Run Command parameters and the estimate', async () => {
  const { raw, settings } = planFor({ INPUT_URL: 's3://my-dumps/relay-2025.jsonl.gz', OUTPUT: 's3://my-results/run-1', INPUT_SIZE: '50G', SPOT: 'true' });
  const inputSize = await probeInputSize(settings, undefined);
  assert.deepEqual(inputSize, { bytes: 50 * GIB, note: 'from INPUT_SIZE' });
  const text = planLines({ settings, raw, bundleHash: '0123456789abcdef', inputSize, prices, throughput: parseBenchmarks(undefined) }).join('\n');
  assert.match(text, /INPUT_URL +s3:\/\/my-dumps\/relay-2025.jsonl.gz +\(env\)/);
  assert.match(text, /OUTPUT +s3:\/\/my-results\/run-1\/ /);
  assert.match(text, /INSTANCE_TYPE +c7i.4xlarge +\(default\)/);
  assert.match(text, /InputBucket +my-dumps/);
  assert.match(text, /OutputPrefix +run-1\//);
  assert.match(text, /Spot +true/);
  assert.match(text, /VpcId +- +\(the default VPC/);
  assert.match(text, /bundleUrl +https:\/\/s3\.us-east-1\.amazonaws\.com\/my-results\/run-1\/_deploy\/0123456789abcdef\.tgz/);
  assert.match(text, /on-demand +spot \(estimate\)/);
  assert.match(text, /total for the run +\$\d+\.\d\d +\$\d+\.\d\d/);
  assert.match(text, /as of \d{4}-\d{2}-\d{2}/);
});

test('without a size and without credentials, plan says how to get an estimate', async () => {
  const { raw, settings } = planFor({ INPUT_URL: 's3://my-dumps/relay-2025.jsonl.gz', OUTPUT: 's3://my-results/run-1/' });
  assert.equal(credentialsConfigured({ HOME: '/nonexistent' }), false);
  assert.equal(credentialsConfigured({ HOME: '/nonexistent', AWS_PROFILE: 'x' }), true);
  const inputSize = await probeInputSize(settings, undefined);
  assert.equal(inputSize.bytes, undefined);
  assert.match(inputSize.note, /no AWS credentials.*INPUT_SIZE/);
  const text = planLines({ settings, raw, bundleHash: '0123456789abcdef', inputSize, prices, throughput: parseBenchmarks(undefined) }).join('\n');
  assert.match(text, /per GiB of input: about [\d.]+ min of c7i.4xlarge/);
});

test('make plan runs end to end with no AWS credentials and no network', async () => {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH, HOME: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true',
    INPUT_URL: 'https://dumps.example.org/relay.jsonl', OUTPUT: 's3://my-results/run-1/', INPUT_SIZE: '10G',
    AWS_REGION: 'eu-central-1', DEPLOY_ENV_FILE: '/dev/null',
  };
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/plan.ts'], { cwd: ROOT, env });
  assert.match(stdout, /Proton Beam plan: nothing is created or changed/);
  assert.match(stdout, /InputBucket +''/);
  assert.match(stdout, /eu-central-1 prices differ/);
  await assert.rejects(promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/plan.ts'], {
    cwd: ROOT, env: { ...env, INPUT_URL: 's3://my-dumps/$(reboot)' },
  }), (err: { code: number; stderr: string }) => {
    assert.equal(err.code, 2);
    assert.match(err.stderr, /error: invalid settings:\n  INPUT_URL=s3:\/\/my-dumps\/\$\(reboot\): .*contains '\$'/);
    return true;
  });
});

test('plan warns when its time estimate exceeds MAX_JOB_HOURS (the watchdog would end the job), and passes MaxJobHours on', async () => {
  const run = (env: Record<string, string>, gib = 50) => {
    const { raw, settings } = planFor({ INPUT_URL: 's3://my-dumps/relay-2025.jsonl.gz', OUTPUT: 's3://my-results/run-1/', INPUT_SIZE: '50G', ...env });
    return planLines({ settings, raw, bundleHash: '0123456789abcdef', inputSize: { bytes: gib * GIB, note: 'from INPUT_SIZE' }, prices, throughput: parseBenchmarks(undefined) }).join('\n');
  };
  assert.doesNotMatch(run({}), /exceeds MAX_JOB_HOURS/);
  assert.match(run({}), /MaxJobHours +48/);
  assert.match(run({}), /maxJobHours +48/);
  assert.doesNotMatch(run({ MAX_JOB_HOURS: '1' }), /exceeds MAX_JOB_HOURS/, '44 min fit in 1 h');
  assert.match(run({ MAX_JOB_HOURS: '1' }, 200), /warning: the estimate \(.*\) exceeds MAX_JOB_HOURS=1: the watchdog would terminate the instance before the job ends/);
  assert.throws(() => planFor({ INPUT_URL: 's3://my-dumps/x.jsonl', OUTPUT: 's3://my-results/run-1/', MAX_JOB_HOURS: '0' }), /MAX_JOB_HOURS=0/);
});

test('the memory rule: 1 billion events do not fit the default c7i.4xlarge; plan names the smallest type that can; EVENT_BYTES corrects the estimate', async () => {
  const run = (env: Record<string, string>, bytes: number) => {
    const { raw, settings } = planFor({ INPUT_URL: 's3://my-dumps/relay-2025.jsonl', OUTPUT: 's3://my-results/run-1/', ...env });
    return planLines({ settings, raw, bundleHash: '0123456789abcdef', inputSize: { bytes, note: 'from INPUT_SIZE' }, prices, throughput: parseBenchmarks(undefined) }).join('\n');
  };
  const billion = run({}, 1686 * 1e9);
  assert.match(billion, /memory: about 1,000,000,000 events \(1686 bytes each, the real sample\), 41\.9 GiB of dedup table/);
  assert.match(billion, /error: c7i\.4xlarge \(32\.0 GiB\) cannot hold the dedup table and the converter \(46\.\d GiB, at most 85 % of memory\): the smallest instance type that can is c6i\.8xlarge/);
  assert.doesNotMatch(run({ INSTANCE_TYPE: 'c7i.8xlarge' }, 1686 * 1e9), /error:/);
  // 100 million events fit; the same bytes as 3x smaller events do not.
  assert.doesNotMatch(run({}, 1686 * 1e8), /error:/);
  assert.match(run({ EVENT_BYTES: '300' }, 1686 * 1e8), /about 562,000,000 events \(300 bytes each, EVENT_BYTES\)[^]*error: c7i\.4xlarge/);
  assert.throws(() => planFor({ INPUT_URL: 's3://my-dumps/x.jsonl', OUTPUT: 's3://my-results/run-1/', EVENT_BYTES: 'big' }), /EVENT_BYTES=big/);
});

test('the estimate counts the public IPv4 address and CloudWatch Logs ingestion; a given subnet gets the NAT warning', () => {
  const { raw, settings } = planFor({ INPUT_URL: 's3://my-dumps/relay-2025.jsonl', OUTPUT: 's3://my-results/run-1/', SUBNET_ID: 'subnet-0aaaaaaaaaaaaaaa1' });
  const text = planLines({ settings, raw, bundleHash: '0123456789abcdef', inputSize: { bytes: 50 * GIB, note: 'from INPUT_SIZE' }, prices, throughput: parseBenchmarks(undefined) }).join('\n');
  assert.match(text, /public IPv4 address +\$0\.\d\d +\$0\.\d\d/);
  assert.match(text, /CloudWatch Logs ingestion +\$0\.\d\d/);
  assert.match(text, /subnet-0aaaaaaaaaaaaaaa1 is set; if it is not a default subnet: if it reaches the internet through a NAT gateway, every byte read and uploaded pays NAT processing/);
  const e = estimate({ inputBytes: 50 * GIB, compressed: false, instanceType: 'c7i.4xlarge', volumeSizeGib: 200 }, prices, parseBenchmarks(undefined).throughput);
  assert.ok(Math.abs(e.onDemand.ipv4 - e.hours.total * prices.publicIpv4PerHour) < 1e-9);
  assert.ok(Math.abs(e.onDemand.total - (e.onDemand.instance + e.onDemand.ebs + e.onDemand.ipv4 + e.onDemand.logs)) < 1e-9);
});

test('make deploy warns about a given subnet that is not a default one', async () => {
  const { mockClient } = await import('aws-sdk-client-mock');
  const { EC2Client, DescribeSubnetsCommand } = await import('@aws-sdk/client-ec2');
  const { findNetwork } = await import('../../lib/deploy/network.ts');
  const ec2 = new EC2Client({ region: 'us-east-1' });
  const m = mockClient(ec2);
  const printed: string[] = [];
  m.on(DescribeSubnetsCommand).resolves({ Subnets: [{ SubnetId: 'subnet-0ddddddddddddddd4', VpcId: 'vpc-0a1b2c3d4e5f60718', DefaultForAz: false }] });
  assert.deepEqual(await findNetwork(ec2, { subnetId: 'subnet-0ddddddddddddddd4', instanceType: 'c7i.4xlarge' }, (l) => printed.push(l)), { vpcId: 'vpc-0a1b2c3d4e5f60718', subnetId: 'subnet-0ddddddddddddddd4' });
  assert.match(printed.join('\n'), /warning: subnet-0ddddddddddddddd4 is not a default subnet: .*NAT processing/);
  m.on(DescribeSubnetsCommand).resolves({ Subnets: [{ SubnetId: 'subnet-0ddddddddddddddd4', VpcId: 'vpc-0a1b2c3d4e5f60718', DefaultForAz: true }] });
  printed.length = 0;
  await findNetwork(ec2, { subnetId: 'subnet-0ddddddddddddddd4', instanceType: 'c7i.4xlarge' }, (l) => printed.push(l));
  assert.deepEqual(printed, []);
});

test('the data volume\'s throughput and IOPS are sized from the instance type, within gp3\'s rules', async () => {
  const { volumePerformanceFor } = await import('../../lib/deploy/volume.ts');
  assert.deepEqual(volumePerformanceFor(2), { throughput: 125, iops: 3000 });
  assert.deepEqual(volumePerformanceFor(16), { throughput: 256, iops: 3000 });
  assert.deepEqual(volumePerformanceFor(192), { throughput: 1000, iops: 4000 });
  const { settings } = planFor({ INPUT_URL: 's3://my-dumps/x.jsonl', OUTPUT: 's3://my-results/run-1/', INSTANCE_TYPE: 'c7i.48xlarge' });
  assert.equal(settings.volumeThroughput, 1000);
  assert.equal(settings.volumeIops, 4000);
  const params = Object.fromEntries(stackParameters(settings).map((p) => [p.ParameterKey, p.ParameterValue]));
  assert.equal(params.VolumeThroughput, '1000');
  assert.equal(params.VolumeIops, '4000');
  assert.throws(() => planFor({ INPUT_URL: 's3://my-dumps/x.jsonl', OUTPUT: 's3://my-results/run-1/', VOLUME_THROUGHPUT: '1000', VOLUME_IOPS: '3000' }),
    /VOLUME_THROUGHPUT=1000, VOLUME_IOPS=3000: gp3 needs at least 4 IOPS per MiB\/s/);
});

test('spot: the time an interruption adds (checkpoint interval + the replacement\'s way back) and the saving net of it', async () => {
  const { spotRisk, REPLACEMENT_STEPS, CHECKPOINT_MINUTES, INTERRUPTIONS_PER_HOUR } = await import('../../lib/deploy/spot-cost.ts');
  const t = parseBenchmarks(undefined).throughput;
  const e = estimate({ inputBytes: 500 * GIB, compressed: true, instanceType: 'c7i.4xlarge', volumeSizeGib: 2000 }, prices, t);
  const r = spotRisk(e, t, prices);
  // The preparation steps are the setup every instance has (setup_minutes), the last one the resume itself.
  const steps = REPLACEMENT_STEPS.map(([, m]) => m);
  assert.equal(steps.slice(0, -1).reduce((a, b) => a + b, 0), t.setup_minutes);
  assert.equal(r.replacementMinutes, t.setup_minutes + steps[steps.length - 1]);
  assert.equal(r.perInterruptionMinutes, CHECKPOINT_MINUTES + r.replacementMinutes);
  assert.equal(r.expected, e.hours.total * INTERRUPTIONS_PER_HOUR);
  const perHour = e.spot.hourly + (e.spot.ebs + e.spot.ipv4) / e.hours.total;
  assert.ok(Math.abs(r.netSavingWithOne - (e.onDemand.total - e.spot.total - perHour * r.perInterruptionMinutes / 60)) < 1e-9);
  assert.ok(r.netSaving > r.netSavingWithOne && r.netSavingWithOne > 0, 'spot still pays with an interruption');
  // A measured setup time scales the way back; a longer interval costs more per interruption.
  const slow = spotRisk(e, { ...t, setup_minutes: 20 }, prices, 15);
  assert.equal(slow.perInterruptionMinutes, 15 + 20 + steps[steps.length - 1]);

  const { raw, settings } = planFor({ INPUT_URL: 's3://my-dumps/relay-2025.jsonl.gz', OUTPUT: 's3://my-results/run-1/', INPUT_SIZE: '500G', SPOT: 'true' });
  const text = planLines({ settings, raw, bundleHash: '0123456789abcdef', inputSize: { bytes: 500 * GIB, note: 'INPUT_SIZE' }, prices, throughput: parseBenchmarks(undefined) }).join('\n');
  assert.match(text, /spot interruption: about 16 min more per interruption \(up to 5 min of work since the last checkpoint, done again, \+ 11 min for the replacement to boot, prepare and resume/);
  assert.match(text, /spot saving net of it: \$\d+\.\d\d \(\d+ %\) with the 0\.\d{3} interruptions to expect \(20 % per month\), \$\d+\.\d\d \(\d+ %\) even with one/);
});
