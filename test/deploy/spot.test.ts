// A spot interruption notice mid-job, end to end: scripts/job.ts with the real converter reading
// an S3 object (s3rver) whose answer stalls half-way (a proxy of ours), a fake IMDSv2 on 127.0.0.1
// that answers with a notice, and what the job leaves in S3.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { startCuttingProxy, startS3, type LocalS3 } from '../helpers/s3.ts';
import { readJobStatus, summaryLines } from '../../lib/deploy/status.ts';
import { Imds } from '../../lib/deploy/spot.ts';
import { readDayFileEvents } from '../../lib/day-files/read-events.ts';
import { ROOT } from '../../lib/paths.ts';
import { startFakeImds } from '../helpers/imds.ts';

const EVENTS = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'real-events.jsonl'));
const INPUT = Buffer.concat(Array.from({ length: 40 }, () => EVENTS));


let local: LocalS3;
let work: string;
before(async () => {
  local = await startS3(['spot-bucket']);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-spot-'));
  await local.s3.send(new PutObjectCommand({ Bucket: 'spot-bucket', Key: 'dumps/big.jsonl', Body: INPUT }));
});
after(async () => {
  await local.close();
  fs.rmSync(work, { recursive: true, force: true });
});

test('the IMDSv2 client: token first, then GETs with it; a refused token is renewed once; 404 is "no notice"', async () => {
  const imds = await startFakeImds('i-0spotted0000000a');
  try {
    const client = new Imds(imds.endpoint);
    assert.equal(await client.get('spot/instance-action'), undefined);
    assert.deepEqual(imds.state.seen, ['PUT /latest/api/token', 'GET /latest/meta-data/spot/instance-action']);
    imds.state.tokens++; // the service forgot our token
    imds.state.notice = '{"action": "terminate", "time": "2026-01-05T10:02:00Z"}';
    assert.equal(await client.get('spot/instance-action'), imds.state.notice);
    assert.deepEqual(imds.state.seen.slice(2), ['GET /latest/meta-data/spot/instance-action', 'PUT /latest/api/token', 'GET /latest/meta-data/spot/instance-action']);
  } finally {
    await imds.close();
  }
});

test('a spot notice mid-job: the converter stops reading, the complete files are uploaded without manifest.json, _status.json says interrupted with the offset', async () => {
  const imds = await startFakeImds('i-0spotted0000000a');
  const proxy = await startCuttingProxy(local.endpoint);
  try {
    // The input's answer stops after ~half the object; the connection stays open and silent.
    proxy.stallNextGet(Math.floor(INPUT.length / 2), '/spot-bucket/dumps/big.jsonl');
    const env = {
      PATH: process.env.PATH, HOME: process.env.HOME, ...local.env, AWS_ENDPOINT_URL_S3: proxy.endpoint, PB_IMDS_ENDPOINT: imds.endpoint,
    };
    const job = promisify(execFile)(process.execPath, [
      '--import', 'tsx', 'scripts/job.ts', '--input', 's3://spot-bucket/dumps/big.jsonl', '--output', 's3://spot-bucket/runs/r1/',
      '--work-dir', work, '--shutdown-when-done', 'false', '--status-interval', '0.5', '--spot-poll-seconds', '0.2',
    ], { cwd: ROOT, env, timeout: 120_000 });
    // The notice comes once the input has stalled half-way and the job reports converted lines
    // past the first copy of the events (reached on purpose, not by timing).
    for (let i = 0; ; i++) {
      assert.ok(i < 1200, 'the input never stalled, or the conversion never got past the first copy');
      await new Promise((r) => setTimeout(r, 100));
      const seen = await readJobStatus(local.s3, 'spot-bucket', 'runs/r1/_status.json').catch(() => undefined);
      if (proxy.stalls === 1 && (seen?.lines ?? 0) > 150) break;
    }
    imds.state.notice = '{"action": "terminate", "time": "2026-01-05T10:02:00Z"}';
    const err = await job.then(() => undefined, (e: { code: number; stdout: string; stderr: string }) => e);
    assert.ok(err, 'the job exits non-zero');
    assert.equal(err.code, 3, err.stderr);
    assert.match(err.stdout, /spot interruption notice \(terminate at 2026-01-05T10:02:00Z\): stopping the conversion/);
    // The job asks its instance id once (for the checkpoint's history), then the watcher polls.
    const seen = imds.state.seen;
    assert.deepEqual(seen.slice(0, 3), ['PUT /latest/api/token', 'GET /latest/meta-data/instance-id', 'PUT /latest/api/token'], seen.join(', '));
    assert.ok(seen.slice(3).every((r) => r === 'GET /latest/meta-data/spot/instance-action'), seen.join(', '));

    const status = (await readJobStatus(local.s3, 'spot-bucket', 'runs/r1/_status.json'))!;
    assert.equal(status.phase, 'interrupted');
    assert.equal(status.exitCode, 3);
    assert.deepEqual(status.interruption, { action: 'terminate', time: '2026-01-05T10:02:00Z' });
    // The offset is the end of the last line converted, not what was buffered beyond it.
    assert.ok(status.lines! > 150 && status.lines! < 40 * 150 / 2, `lines ${status.lines}`);
    let end = 0;
    for (let n = 0; n < status.lines!; n++) end = INPUT.indexOf(0x0a, end) + 1;
    assert.equal(status.inputOffset, end);
    assert.equal(status.rejected, 0, "the line cut by the stop is not a rejection");
    // The spot path reaches the converter's checkpoint: the work folder records where it stopped.
    const checkpoint = JSON.parse(fs.readFileSync(path.join(work, 'out', '_checkpoint.json'), 'utf8'));
    assert.equal(checkpoint.next.line, status.lines! + 1);
    assert.equal(checkpoint.next.offset, end);
    assert.equal(checkpoint.history.at(-1).event, 'interrupted');
    assert.equal(checkpoint.history.at(-1).instanceId, 'i-0spotted0000000a', 'the history names the instance (from IMDS)');
    assert.equal(checkpoint.input.spec, 's3://spot-bucket/dumps/big.jsonl');
    assert.equal(status.uploadedFiles, 3, 'one day file (every event has one day), index.db, proton-beam.log');

    const keys = (await local.s3.send(new ListObjectsV2Command({ Bucket: 'spot-bucket', Prefix: 'runs/r1/' }))).Contents!.map((o) => o.Key!);
    assert.ok(!keys.includes('runs/r1/manifest.json'), 'an interrupted run never looks complete');
    assert.ok(keys.includes('runs/r1/index.db'));
    // The uploaded day files are complete gzip members holding every distinct valid event read.
    const dayKeys = keys.filter((k) => k.endsWith('.pb.gz'));
    let events = 0;
    for (const key of dayKeys) {
      const file = path.join(work, path.basename(key));
      const obj = await local.s3.send(new GetObjectCommand({ Bucket: 'spot-bucket', Key: key }));
      fs.writeFileSync(file, await obj.Body!.transformToByteArray());
      for await (const batch of readDayFileEvents(file)) events += batch.length;
    }
    assert.equal(events, 150);

    const lines = summaryLines(status).join('\n');
    assert.match(lines, /phase: interrupted/);
    assert.match(lines, new RegExp(`spot interruption notice \\(terminate at 2026-01-05T10:02:00Z\\): the conversion stopped after line ${status.lines!.toLocaleString('en-US')}, byte ${end.toLocaleString('en-US')} of the decompressed input`));
    assert.match(lines, /3 complete files uploaded to s3:\/\/spot-bucket\/runs\/r1\/ without manifest.json/);
  } finally {
    await proxy.close();
    await imds.close();
  }
});
