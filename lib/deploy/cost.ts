/**
 * The cost estimate of `make plan`: instance hours from the input size and the measured
 * throughput per vCPU (docs/BENCHMARKS.md), times the hourly price (data/prices.json), plus EBS
 * for those hours and S3 storage per month for the results. On-demand beside spot.
 */
import fs from 'node:fs';
import path from 'node:path';
import { formatBytes, formatDuration } from '../cli/format.ts';
import { ROOT } from '../paths.ts';

export const PRICES_PATH = path.join(ROOT, 'data', 'prices.json');
export const BENCHMARKS_PATH = path.join(ROOT, 'docs', 'BENCHMARKS.md');

export interface InstancePrice { vcpu: number; memoryGib: number; onDemandHourly: number }
export interface Prices {
  asOf: string;
  region: string;
  currency: string;
  source: string;
  spotFractionOfOnDemand: number;
  spotNote: string;
  ebsGp3PerGibMonth: number;
  s3StandardPerGibMonth: number;
  cloudWatchLogsIngestPerGib: number;
  /** gp3 above what is included: per provisioned IOPS over 3,000 and per MiB/s over 125, per month. */
  gp3IopsPerMonth: number;
  gp3ThroughputPerMibsMonth: number;
  /** The instance's public IPv4 address, per hour (charged since February 2024). */
  publicIpv4PerHour: number;
  hoursPerMonth: number;
  instances: Record<string, InstancePrice>;
}

export function loadPrices(file = PRICES_PATH): Prices {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Prices;
}

/**
 * Throughput figures. The converter's benchmark writes a machine-readable line into
 * docs/BENCHMARKS.md, `<!-- plan: bytes_per_second_per_vcpu=N [key=value ...] -->`; missing keys
 * take these documented defaults (docs/DEPLOY.md, "How the estimate is made").
 */
export interface Throughput {
  /** Uncompressed JSONL bytes converted per second per vCPU (validation on). */
  bytes_per_second_per_vcpu: number;
  /** Uncompressed size / gzip size of a .jsonl.gz dump of Nostr events. */
  gzip_ratio: number;
  /** Size of the results (.pb.gz files and index.db) / uncompressed JSONL size. */
  output_ratio: number;
  /** Ceiling on the raw input read rate, bytes/s: one stream from S3 or HTTPS, one gunzip. */
  max_input_bytes_per_second: number;
  /** Upload rate of the results to S3, bytes/s. */
  upload_bytes_per_second: number;
  /** Minutes from launch to the converter's start: boot, packages, Node.js, npm ci. */
  setup_minutes: number;
  /**
   * The converter's serial ceiling in JSONL bytes/s: 1 / the CPU per line of its serial threads
   * (the main thread; with the index on, the default, the index's thread, the lower ceiling),
   * times the bytes of a line. No number of vCPUs goes past it.
   */
  serial_bytes_per_second: number;
  /** Average uncompressed bytes per event (line), to estimate the events of an input from its size. */
  bytes_per_event: number;
}

export const DEFAULT_THROUGHPUT: Throughput = {
  bytes_per_second_per_vcpu: 8_000_000,
  gzip_ratio: 4,
  output_ratio: 0.35,
  max_input_bytes_per_second: 150_000_000,
  upload_bytes_per_second: 200_000_000,
  setup_minutes: 10,
  serial_bytes_per_second: 1e12, // no ceiling unless the benchmark measured one
  // test/fixtures/real-events.jsonl: 252,864 bytes for 150 events as relays served them.
  bytes_per_event: 1686,
};

export interface ThroughputSource { throughput: Throughput; measured: (keyof Throughput)[]; source: string }

/** Reads the plan line of docs/BENCHMARKS.md; keys it does not give keep their defaults. */
export function parseBenchmarks(markdown: string | undefined, source = 'docs/BENCHMARKS.md'): ThroughputSource {
  const throughput = { ...DEFAULT_THROUGHPUT };
  const measured: (keyof Throughput)[] = [];
  const line = markdown === undefined ? null : /<!--\s*plan:([^>]*)-->/.exec(markdown);
  if (line) {
    for (const [, key, value] of line[1].matchAll(/([a-z_]+)\s*=\s*([0-9.eE+_]+)/g)) {
      const n = Number(value.replace(/_/g, ''));
      if (key in throughput && Number.isFinite(n) && n > 0) {
        throughput[key as keyof Throughput] = n;
        measured.push(key as keyof Throughput);
      }
    }
  }
  return { throughput, measured, source: line ? source : `defaults (${source} has no plan line)` };
}

export function loadThroughput(file = BENCHMARKS_PATH): ThroughputSource {
  let text: string | undefined;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    text = undefined;
  }
  return parseBenchmarks(text, path.relative(ROOT, file));
}

export interface CostLine { instance: number; ebs: number; ipv4: number; logs: number; total: number; hourly: number }

/** The job's output in CloudWatch Logs: a line per phase and progress report, the summary; generously 10 MB. */
export const JOB_LOG_BYTES = 10 * 1024 ** 2;
export interface Estimate {
  inputBytes: number;
  compressed: boolean;
  uncompressedBytes: number;
  outputBytes: number;
  vcpu: number;
  bytesPerSecond: number;
  hours: { setup: number; convert: number; upload: number; total: number };
  /** True when the data volume's throughput, not the CPUs or the input, sets the pace. */
  volumeBound: boolean;
  onDemand: CostLine;
  spot: CostLine;
  s3PerMonth: number;
  volumeTooSmall: boolean;
}

export interface EstimateInput {
  inputBytes: number;
  compressed: boolean;
  instanceType: string;
  volumeSizeGib: number;
  /** The data volume's gp3 throughput (MiB/s) and IOPS; the defaults are gp3's included 125 and 3000. */
  volumeThroughputMibs?: number;
  volumeIops?: number;
}

const GIB = 1024 ** 3;
const ROOT_VOLUME_GIB = 16;

export function estimate(input: EstimateInput, prices: Prices, t: Throughput): Estimate {
  const type = prices.instances[input.instanceType];
  if (!type) throw new Error(`no price for ${input.instanceType} in data/prices.json`);
  const uncompressedBytes = input.compressed ? input.inputBytes * t.gzip_ratio : input.inputBytes;
  const outputBytes = uncompressedBytes * t.output_ratio;
  const cpuBound = t.bytes_per_second_per_vcpu * type.vcpu;
  // Raw bytes arrive at most at max_input_bytes_per_second; compressed ones expand gzip_ratio times.
  const readBound = t.max_input_bytes_per_second * (input.compressed ? t.gzip_ratio : 1);
  // The day files and index.db are written to the data volume at output_ratio x the input rate,
  // and read back from it by the upload: its throughput caps both.
  const volumeBytes = (input.volumeThroughputMibs ?? 125) * 1024 ** 2;
  const volumeBound = volumeBytes / t.output_ratio;
  const bytesPerSecond = Math.min(cpuBound, readBound, volumeBound, t.serial_bytes_per_second);
  const setup = t.setup_minutes / 60;
  const convert = uncompressedBytes / bytesPerSecond / 3600;
  const upload = outputBytes / Math.min(t.upload_bytes_per_second, volumeBytes) / 3600;
  const total = setup + convert + upload;
  const ebsGib = input.volumeSizeGib + ROOT_VOLUME_GIB;
  const provisioned = Math.max(0, (input.volumeIops ?? 3000) - 3000) * prices.gp3IopsPerMonth +
    Math.max(0, (input.volumeThroughputMibs ?? 125) - 125) * prices.gp3ThroughputPerMibsMonth;
  const ebs = (ebsGib * prices.ebsGp3PerGibMonth + provisioned) * (total / prices.hoursPerMonth);
  const ipv4 = prices.publicIpv4PerHour * total;
  const logs = (JOB_LOG_BYTES / GIB) * prices.cloudWatchLogsIngestPerGib;
  const line = (hourly: number): CostLine => {
    const instance = hourly * total;
    return { hourly, instance, ebs, ipv4, logs, total: instance + ebs + ipv4 + logs };
  };
  return {
    inputBytes: input.inputBytes,
    compressed: input.compressed,
    uncompressedBytes,
    outputBytes,
    vcpu: type.vcpu,
    bytesPerSecond,
    hours: { setup, convert, upload, total },
    volumeBound: volumeBound < Math.min(cpuBound, readBound),
    onDemand: line(type.onDemandHourly),
    spot: line(type.onDemandHourly * prices.spotFractionOfOnDemand),
    s3PerMonth: (outputBytes / GIB) * prices.s3StandardPerGibMonth,
    volumeTooSmall: outputBytes * 1.2 > input.volumeSizeGib * GIB,
  };
}

const money = (n: number) => `$${n < 10 ? n.toFixed(2) : n.toFixed(0)}`;

/** The estimate as the lines `make plan` prints. */
export function formatEstimate(e: Estimate, prices: Prices, tp: ThroughputSource, region: string | undefined): string[] {
  const rows = [
    ['', 'on-demand', 'spot (estimate)'],
    ['instance per hour', money(e.onDemand.hourly), money(e.spot.hourly)],
    [`instance, ${formatDuration(e.hours.total * 3600)}`, money(e.onDemand.instance), money(e.spot.instance)],
    ['EBS for those hours', money(e.onDemand.ebs), money(e.spot.ebs)],
    ['public IPv4 address', money(e.onDemand.ipv4), money(e.spot.ipv4)],
    ['CloudWatch Logs ingestion', money(e.onDemand.logs), money(e.spot.logs)],
    ['total for the run', money(e.onDemand.total), money(e.spot.total)],
  ];
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  const lines = [
    `input: ${formatBytes(e.inputBytes)}${e.compressed ? ` gzip, about ${formatBytes(e.uncompressedBytes)} of JSONL` : ' of JSONL'}`,
    `throughput: ${formatBytes(e.bytesPerSecond)}/s on ${e.vcpu} vCPU (${tp.source}${tp.measured.length ? `: ${tp.measured.join(', ')}` : ''})`,
    `time: ${formatDuration(e.hours.setup * 3600)} setup + ${formatDuration(e.hours.convert * 3600)} converting + ${formatDuration(e.hours.upload * 3600)} uploading = ${formatDuration(e.hours.total * 3600)}`,
    ...rows.map((r) => `  ${r[0].padEnd(w0)}  ${r[1].padStart(w1)}  ${r[2]}`),
    `results: about ${formatBytes(e.outputBytes)} in S3, ${money(e.s3PerMonth)} per month (S3 Standard)`,
    `prices: ${prices.region}, ${prices.currency}, as of ${prices.asOf} (data/prices.json)${region && region !== prices.region ? `; ${region} prices differ` : ''}`,
    `spot: ${prices.spotNote}`,
  ];
  if (e.volumeBound) lines.push('the data volume\'s throughput sets the pace: raise VOLUME_THROUGHPUT (and VOLUME_IOPS) for a faster run');
  if (e.volumeTooSmall) {
    lines.push(`WARNING: the results (about ${formatBytes(e.outputBytes)}) may not fit on the data volume; raise VOLUME_SIZE`);
  }
  return lines;
}
