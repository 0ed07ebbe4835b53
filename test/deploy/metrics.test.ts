// The job's CloudWatch metrics (PutMetricData mocked at the SDK boundary): what is sent, in which
// namespace, and the "stuck" metric on a fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { StallClock, metricData, resourceUse, startMetrics } from '../../lib/deploy/metrics.ts';
import type { JobStatus } from '../../lib/deploy/status.ts';

const converting = (lines: number): JobStatus => ({
  phase: 'converting', lines, events: lines, duplicates: 10, rejected: 3, bytesRead: lines * 1000, eventsPerSecond: 5000, updatedAt: '',
});

test('memory and the data volume\'s fill are measured for real', () => {
  const use = resourceUse(os.tmpdir());
  assert.ok(use.memoryUsedPercent > 0 && use.memoryUsedPercent < 100, String(use.memoryUsedPercent));
  assert.ok(use.dataVolumeUsedPercent! >= 0 && use.dataVolumeUsedPercent! <= 100);
  assert.equal(resourceUse('/no/such/dir').dataVolumeUsedPercent, undefined);
});

test('progress stalled: minutes without a new line while converting, 0 otherwise', () => {
  const clock = new StallClock();
  const t0 = Date.parse('2026-01-05T10:00:00Z');
  assert.equal(clock.minutes(converting(100), t0), 0);
  assert.equal(clock.minutes(converting(100), t0 + 14 * 60_000), 14);
  assert.equal(clock.minutes(converting(100), t0 + 15 * 60_000), 15);
  assert.equal(clock.minutes(converting(101), t0 + 16 * 60_000), 0);
  assert.equal(clock.minutes({ ...converting(101), phase: 'uploading' }, t0 + 60 * 60_000), 0);
});

test('the metrics go to the stack\'s namespace every interval and once more at the end; a failure is said once and is not fatal', async () => {
  const client = new CloudWatchClient({ region: 'us-east-1' });
  const cw = mockClient(client);
  cw.on(PutMetricDataCommand).resolves({});
  let status = converting(1000);
  const lines: string[] = [];
  const m = startMetrics({ client, namespace: 'ProtonBeam/pb-test', dataDir: os.tmpdir(), intervalMs: 20, status: () => status, print: (l) => lines.push(l) });
  await new Promise((r) => setTimeout(r, 70));
  status = { ...status, phase: 'done' };
  await m.stop();
  const calls = cw.commandCalls(PutMetricDataCommand);
  assert.ok(calls.length >= 3, `${calls.length} publications`);
  const first = calls[0].args[0].input;
  assert.equal(first.Namespace, 'ProtonBeam/pb-test');
  const value = (name: string) => first.MetricData!.find((d) => d.MetricName === name)?.Value;
  assert.equal(value('EventsPerSecond'), 5000);
  assert.equal(value('BytesRead'), 1_000_000);
  assert.equal(value('EventsStored'), 990);
  assert.equal(value('Rejected'), 3);
  assert.equal(value('Phase'), 1);
  assert.ok(value('MemoryUsedPercent')! > 0);
  assert.equal(calls.at(-1)!.args[0].input.MetricData!.find((d) => d.MetricName === 'Phase')?.Value, 4);

  cw.reset();
  cw.on(PutMetricDataCommand).rejects(Object.assign(new Error('not authorized to perform: cloudwatch:PutMetricData'), { name: 'AccessDenied' }));
  const m2 = startMetrics({ client, namespace: 'ProtonBeam/pb-test', dataDir: os.tmpdir(), intervalMs: 10, status: () => status, print: (l) => lines.push(l) });
  await new Promise((r) => setTimeout(r, 40));
  await m2.stop();
  assert.equal(lines.filter((l) => l.includes('could not publish metrics')).length, 1);
  assert.equal(metricData(status, { memoryUsedPercent: 50 }, 0, new Date()).some((d) => d.MetricName === 'DataVolumeUsedPercent'), false);
});
