/**
 * The job's own CloudWatch metrics, every minute, in the stack's namespace (ProtonBeam/<stack>,
 * the only one the instance role may write to): progress, memory and the data volume's fill, and
 * how long progress has stalled; the template's alarms and dashboard read them.
 */
import fs from 'node:fs';
import os from 'node:os';
import { PutMetricDataCommand, type CloudWatchClient, type MetricDatum } from '@aws-sdk/client-cloudwatch';
import type { JobStatus } from './status.ts';

/** Phases as numbers, for a graph: 1 converting ... 4 done, -1 failed, -2 interrupted. */
export const PHASE_CODE: Record<string, number> = {
  starting: 0, 'fetching bundle': 0, installing: 0, converting: 1, indexing: 2, uploading: 3, done: 4, failed: -1, interrupted: -2,
};

/** Used % of the memory (MemAvailable where Linux says it) and of the file system holding `dir`. */
export function resourceUse(dir: string): { memoryUsedPercent: number; dataVolumeUsedPercent?: number } {
  let available = os.freemem();
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m) available = Number(m[1]) * 1024;
  } catch {
    // not Linux: os.freemem() it is
  }
  const memoryUsedPercent = 100 * (1 - available / os.totalmem());
  try {
    const s = fs.statfsSync(dir);
    return { memoryUsedPercent, dataVolumeUsedPercent: 100 * (1 - s.bavail / s.blocks) };
  } catch {
    return { memoryUsedPercent };
  }
}

/** Counts the minutes without a new line read while the job converts (the "stuck" alarm's metric). */
export class StallClock {
  private lastLines = -1;
  private since = 0;
  minutes(status: JobStatus, now: number): number {
    if (status.phase !== 'converting') {
      this.lastLines = -1;
      return 0;
    }
    const lines = status.lines ?? 0;
    if (lines !== this.lastLines) {
      this.lastLines = lines;
      this.since = now;
    }
    return Math.floor((now - this.since) / 60_000);
  }
}

export function metricData(status: JobStatus, use: ReturnType<typeof resourceUse>, stalledMinutes: number, at: Date): MetricDatum[] {
  const d = (MetricName: string, Value: number, Unit: MetricDatum['Unit']): MetricDatum => ({ MetricName, Value, Unit, Timestamp: at });
  const out = [
    d('EventsPerSecond', status.eventsPerSecond ?? 0, 'Count/Second'),
    d('BytesRead', status.bytesRead ?? 0, 'Bytes'),
    d('EventsStored', (status.events ?? 0) - (status.duplicates ?? 0), 'Count'),
    d('Rejected', status.rejected ?? 0, 'Count'),
    d('Phase', PHASE_CODE[status.phase] ?? 0, 'None'),
    d('ProgressStalledMinutes', stalledMinutes, 'Count'),
    d('MemoryUsedPercent', use.memoryUsedPercent, 'Percent'),
  ];
  if (use.dataVolumeUsedPercent !== undefined) out.push(d('DataVolumeUsedPercent', use.dataVolumeUsedPercent, 'Percent'));
  return out;
}

/** Publishes every `intervalMs` (and once more at stop) until stopped; a failure is printed once, never fatal. */
export function startMetrics(o: {
  client: CloudWatchClient; namespace: string; dataDir: string; intervalMs: number;
  status: () => JobStatus; print: (line: string) => void; now?: () => number;
}): { stop(): Promise<void> } {
  const clock = new StallClock();
  const now = o.now ?? Date.now;
  let warned = false;
  let sending: Promise<void> = Promise.resolve();
  const publish = () => {
    const s = o.status();
    const t = now();
    const data = metricData(s, resourceUse(o.dataDir), clock.minutes(s, t), new Date(t));
    sending = sending.then(() => o.client.send(new PutMetricDataCommand({ Namespace: o.namespace, MetricData: data }))).then(() => {}, (err: Error) => {
      if (!warned) o.print(`job: could not publish metrics to ${o.namespace}: ${err.message}`);
      warned = true;
    });
  };
  publish();
  const timer = setInterval(publish, o.intervalMs);
  return {
    stop: async () => {
      clearInterval(timer);
      publish();
      await sending;
    },
  };
}
