/**
 * Losing the machine, end to end against s3rver: `convert --s3-output` with checkpoints is killed
 * (SIGKILL at failpoints: mid-batch, between parts, between the parts and the record, during the
 * assembly; SIGTERM to the process group of the documented command), then run again in a NEW,
 * EMPTY folder, as a replacement instance would. The bucket must then hold exactly what an
 * uninterrupted run leaves: the same day files (byte for byte when the run resumed from a
 * periodic checkpoint; the same events in the same order per day after a SIGTERM, whose extra
 * checkpoint cuts members elsewhere), an index.db that agrees with them, the same counts, and no
 * _parts/ or _checkpoint.json. A changed input is refused; orphan parts are deleted.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { killed, ok, runScriptWithFailpoint, twoAtATime } from '../helpers/crash.ts';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { startS3, type LocalS3 } from '../helpers/s3.ts';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.ts';
import { bulkyEvents, indexRows, randomSample, ROOT, storedRows, tempDir, writeJsonl } from '../helpers/index.ts';
import { readDayDir } from '../helpers/common.ts';
import type { CheckpointRecord } from '../../lib/checkpoint/record.ts';

const COMMON = ['--no-progress', '--validate-signatures', 'false', '--validate-event-ids', 'false', '-j', '1', '-b', '50'];
const FLAGS = [...COMMON, '--checkpoint-every', '64KiB'];
/** Small members: many per checkpoint, so a failpoint lands mid-way. */
const MEMBER_BYTES = '2048';

let s3: LocalS3;
let http: FaultServer;
const root = tempDir('pb-ckpt-resume-');
// 1,500 events over 3 days, 40 of them twice, and two bad lines.
const events = randomSample(1500, 23, 3);
const lines = [...events.slice(0, 700), ...events.slice(0, 40), 'not json', ...events.slice(700), '{"id":"x"}'];
const input = writeJsonl(path.join(root, 'in.jsonl'), lines);
let reference: Output;


const argsFor = (prefix: string, from = input, flags = FLAGS) => [from, '-o', fs.mkdtempSync(path.join(root, 'work-')), ...flags, '--s3-output', `s3://ckpt/${prefix}/`];
const run = (args: string[], failpoint?: string) => runScriptWithFailpoint('convert', args, failpoint, { ...s3.env, PROTON_BEAM_MEMBER_BYTES: MEMBER_BYTES });

async function keys(prefix: string): Promise<string[]> {
  const res = await s3.setup.send(new ListObjectsV2Command({ Bucket: 'ckpt', Prefix: `${prefix}/` }));
  return (res.Contents ?? []).map((o) => o.Key!.slice(prefix.length + 1)).sort();
}

async function get(key: string): Promise<Buffer> {
  const res = await s3.setup.send(new GetObjectCommand({ Bucket: 'ckpt', Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

/** The record under the prefix; undefined when there is none, or when a killed PUT left it cut off (s3rver writes as bytes come; S3 would not). */
async function record(prefix: string): Promise<CheckpointRecord | undefined> {
  if (!(await keys(prefix)).includes('_checkpoint.json')) return undefined;
  try {
    return JSON.parse((await get(`${prefix}/_checkpoint.json`)).toString()) as CheckpointRecord;
  } catch {
    return undefined;
  }
}

interface Output { names: string[]; days: Map<string, Buffer>; ids: Record<string, string[]>; counts: Record<string, unknown> }

/** What the prefix holds, checked for completeness: every file in the manifest, index.db agreeing with the day files. */
async function output(prefix: string): Promise<Output> {
  const names = await keys(prefix);
  const local = fs.mkdtempSync(path.join(root, 'got-'));
  const days = new Map<string, Buffer>();
  for (const name of names) {
    const body = await get(`${prefix}/${name}`);
    fs.writeFileSync(path.join(local, name), body);
    if (name.endsWith('.pb.gz')) days.set(name, body);
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(local, 'manifest.json'), 'utf8'));
  assert.deepEqual(manifest.files.map((f: { name: string }) => f.name).sort(), names.filter((n) => n !== 'manifest.json'), `${prefix}: the manifest lists every file`);
  assert.deepEqual(indexRows(path.join(local, 'index.db')), await storedRows(local), `${prefix}: index.db agrees with the day files`);
  const ids: Record<string, string[]> = {};
  for (const [name, evs] of await readDayDir(local)) ids[name] = evs.map((e) => e.id);
  const { lines: l, valid, duplicates, rejected, rejectedByReason } = manifest.counts;
  return { names, days, ids, counts: { lines: l, valid, duplicates, rejected, rejectedByReason } };
}

/** The resumed run's output is the reference's: the same events in the same order per day (and the same bytes when `bytes`). */
async function assertSameAsReference(prefix: string, bytes: boolean, ref = reference): Promise<void> {
  const got = await output(prefix);
  assert.deepEqual(got.names, ref.names, `${prefix}: exactly the files of an uninterrupted run, no _parts/ or _checkpoint.json`);
  assert.deepEqual(got.ids, ref.ids, `${prefix}: the valid events, each once, in order per day`);
  assert.deepEqual(got.counts, ref.counts, `${prefix}: the same counts`);
  if (bytes) for (const [name, body] of ref.days) assert.ok(got.days.get(name)!.equals(body), `${prefix}: ${name} byte for byte`);
}

/** The requests sent for objects under `prefix` (s3rver's log; two runs may go on at once). */
const requestsUnder = (prefix: string, from = 0) => s3.requests.slice(from).filter((r) => r.url.startsWith(`/ckpt/${prefix}/`));

/**
 * What a run that was never resumed sent at its end: after its last record (if any) no part, id
 * list or log segment went up; the day files, index.db, the log and manifest.json did.
 */
function assertNoPartsAtTheEnd(prefix: string, from: number, dayFiles: string[]): { records: number; copies: number } {
  const sent = requestsUnder(prefix, from);
  const puts = sent.filter((r) => r.method === 'PUT');
  const lastRecord = puts.map((r) => r.url.startsWith(`/ckpt/${prefix}/_checkpoint.json`)).lastIndexOf(true);
  const after = puts.slice(lastRecord + 1).map((r) => r.url.slice(`/ckpt/${prefix}/`.length).split('?')[0]);
  assert.deepEqual(after.filter((k) => k.startsWith('_')), [], `${prefix}: nothing under _parts/ (nor a record) after the last record`);
  assert.deepEqual([...new Set(after)].sort(), [...dayFiles, 'index.db', 'manifest.json', 'proton-beam.log'].sort(), `${prefix}: the end puts the day files, the index, the log and the manifest`);
  return {
    records: puts.filter((r) => r.url.startsWith(`/ckpt/${prefix}/_checkpoint.json`)).length,
    copies: puts.filter((r) => r.headers['x-amz-copy-source']).length,
  };
}

let referenceFrom = 0;
before(async () => {
  s3 = await startS3(['ckpt']);
  http = await startFaultServer({ '/in.jsonl': fs.readFileSync(input) });
  referenceFrom = s3.requests.length;
  const r = await run(argsFor('reference'));
  ok(r, 'the uninterrupted run');
  reference = await output('reference');
  assert.equal(Object.values(reference.ids).flat().length, 1500);
  assert.equal(Object.keys(reference.ids).length, 3);
  assert.deepEqual(reference.counts.rejected, 2);
});
after(async () => {
  await http.close();
  await s3.close();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('checkpoints in S3: the machine lost, the run resumed on an empty one', () => {
  test('an uninterrupted run puts no part up at the end: its day files go up whole, as without checkpoints', async () => {
    const { records, copies } = assertNoPartsAtTheEnd('reference', referenceFrom, Object.keys(reference.ids));
    assert.ok(records > 3, `the reference run wrote records while converting (${records})`);
    assert.equal(copies, 0, 'parts this small are not copied');
    // At the default interval a run this short writes no record and no part at all.
    const from = s3.requests.length;
    ok(await run(argsFor('default', input, COMMON)), 'the default 5m');
    const sent = requestsUnder('default', from);
    assert.deepEqual(sent.filter((r) => r.method === 'PUT' && /^\/ckpt\/default\/_/.test(r.url)).map((r) => r.url), [], 'nothing under _parts/, no record');
    assertNoPartsAtTheEnd('default', from, Object.keys(reference.ids));
    await assertSameAsReference('default', false);
  });

  test('kill -9 mid-batch, mid-upload of parts, between the parts and the record, during the upload at the end: resumed in an empty folder, the same output', async () => {
    const cases: [string, string][] = [
      ['mid-batch', 'member-append-after:150'],
      ['mid-parts', 'checkpoint-part-uploaded:5'],
      ['before-record', 'checkpoint-before-remote-record:3'],
      ['after-record', 'checkpoint-remote-written:4'],
      // During the upload at the end: the last periodic record is still the commit point.
      ['final-upload', 'upload-object:2'],
      // The same machine again: its folder holds the parts and more; emptied, then resumed.
      ['same-folder', 'checkpoint-part-uploaded:8'],
    ];
    await twoAtATime(cases, async ([prefix, failpoint]) => {
      const first = argsFor(prefix);
      killed(await run(first, failpoint), failpoint);
      // Uploads run in the background: a kill in the converter's own work can cut the record's
      // PUT, which s3rver keeps cut off (S3 would keep the record before); the resume then
      // starts over, and the output must be exact all the same.
      const saved = await record(prefix);
      if (!saved) {
        const resumed = await run(argsFor(prefix));
        ok(resumed, `${failpoint}, run again after a cut-off record`);
        assert.match(resumed.stderr, /_checkpoint\.json is cut off \(its write was interrupted\): the run starts from the beginning/);
        await assertSameAsReference(prefix, true);
        return;
      }
      assert.equal(saved.parts.reduce((n, p) => n + p.events, 0), saved.counts.valid - saved.counts.duplicates, `${failpoint}: the parts hold every event the record counts (${JSON.stringify({ next: saved.next, parts: saved.parts.map((p) => [p.key, p.events, p.offsetInFile, p.bytes]) })})`);
      const listed = await keys(prefix);
      const referenced = new Set([...saved.parts.map((p) => p.key), ...saved.logParts, ...(saved.idParts ?? []).map((p) => p.key)]);
      const orphans = listed.filter((k) => k.startsWith('_parts/') && !referenced.has(k));
      if (prefix === 'before-record' || prefix === 'mid-parts') assert.ok(orphans.length > 0, `${failpoint}: parts uploaded after the last record`);
      if (prefix === 'final-upload') {
        assert.equal(saved.history.at(-1)!.event, 'checkpoint', 'the end of the input wrote no record');
        assert.ok(saved.next.line < lines.length, `the record is the last periodic one (line ${saved.next.line} of ${lines.length})`);
        assert.ok((await keys(prefix)).some((k) => k.endsWith('.pb.gz') && !k.startsWith('_')), 'day files were uploaded before the kill');
      }
      const resumed = await run(prefix === 'same-folder' ? first : argsFor(prefix));
      if (prefix === 'same-folder') assert.match(resumed.stderr, /emptied to resume from s3:\/\/ckpt\/same-folder\/_checkpoint\.json/);
      ok(resumed, `${failpoint}, resumed`);
      if (orphans.length) assert.match(resumed.stderr, new RegExp(`deleted ${orphans.length} objects under s3://ckpt/${prefix}/_parts/ that no checkpoint lists`));
      assert.match(resumed.stderr, /resuming from s3:\/\/ckpt\/.*\/_checkpoint\.json/);
      await assertSameAsReference(prefix, true);
      const history = JSON.parse((await get(`${prefix}/manifest.json`)).toString()).history as { event: string; line: number }[];
      assert.deepEqual([history[0].event, history.at(-1)!.event], ['start', 'done'], `${prefix}: the manifest keeps the run's history`);
      assert.ok(history.some((e) => e.event === 'resume' && e.line === saved.next.line), `${prefix}: the resume from line ${saved.next.line} is in it`);
    });
  });

  test('SIGTERM to the process group of npx tsx scripts/convert.ts: a checkpoint, exit 143; resumed from HTTP with a Range request, the same events', async () => {
    const size = fs.statSync(input).size;
    http.faults = [{ kind: 'stall', after: Math.floor(size * 0.6) }];
    const work = fs.mkdtempSync(path.join(root, 'work-'));
    const env: NodeJS.ProcessEnv = { ...process.env, ...s3.env, PROTON_BEAM_MEMBER_BYTES: MEMBER_BYTES };
    delete env.PROTON_BEAM_FAILPOINT;
    const child = spawn('npx', ['tsx', 'scripts/convert.ts', http.url('/in.jsonl'), '-o', work, ...FLAGS, '--s3-output', 's3://ckpt/sigterm/'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // Wait (on state, not time) until the converter has checkpointed what it read before the stall.
    for (let i = 0; i < 600; i++) {
      // s3rver may serve an object that is being rewritten half-written: that poll is skipped.
      const r = await record('sigterm').catch(() => undefined);
      if (r && r.next.offset >= size * 0.4) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    process.kill(-child.pid!, 'SIGTERM');
    assert.equal(await exited, 143, stderr);
    const saved = (await record('sigterm'))!;
    assert.equal(saved.history.at(-1)!.event, 'interrupted', stderr);
    assert.ok(saved.next.offset < size * 0.6 + 1);
    assert.ok(!(await keys('sigterm')).includes('manifest.json'), 'no manifest after an interrupted run');
    http.requests.length = 0;
    const resumed = await run([http.url('/in.jsonl'), '-o', fs.mkdtempSync(path.join(root, 'work-')), ...FLAGS, '--s3-output', 's3://ckpt/sigterm/']);
    ok(resumed, 'resumed after SIGTERM');
    // From one byte before the offset (dropped): a Range at the very end of an object is answered 416.
    assert.equal(http.requests[0].range, `bytes=${saved.next.offset - 1}-`, 'the resumed run asked for the rest of the input only');
    await assertSameAsReference('sigterm', false);
  });

  test('a checkpoint whose input changed, or for another input, is refused in one line naming both; --restart starts over', async () => {
    const copy = path.join(root, 'changing.jsonl');
    fs.copyFileSync(input, copy);
    killed(await run(argsFor('changed', copy), 'checkpoint-before-remote-record:3'), 'checkpoint-before-remote-record:3');
    fs.appendFileSync(copy, `${JSON.stringify(randomSample(1, 99, 1)[0])}\n`);
    const refused = await run(argsFor('changed', copy));
    assert.equal(refused.status, 1, refused.stderr);
    const last = refused.stderr.trim().split('\n').at(-1)!;
    assert.match(last, /checkpoint is for .*changing\.jsonl \(size [\d,]+, mtime .*\), input is .*changing\.jsonl \(size [\d,]+, mtime .*\): the input changed since s3:\/\/ckpt\/changed\/_checkpoint\.json was written; .*--restart/);
    // Another input altogether: refused the same way.
    const another = await run(argsFor('changed', input));
    assert.equal(another.status, 1, another.stderr);
    assert.match(another.stderr.trim().split('\n').at(-1)!, /checkpoint is for .*changing\.jsonl .*, input is .*in\.jsonl .*: the input changed since s3:\/\/ckpt\/changed\/_checkpoint\.json was written/);
    assert.ok((await keys('changed')).includes('_checkpoint.json'), 'the refused record is left as it was');
    // A folder holding other day files than the record's parts is not emptied: refused.
    const other = fs.mkdtempSync(path.join(root, 'other-'));
    fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', 'real-events.jsonl'), path.join(root, 'real.jsonl'));
    ok(await run([path.join(root, 'real.jsonl'), '-o', other, ...FLAGS, '--checkpoint-every', 'off']), 'another conversion into the folder');
    const foreign = await run([copy, '-o', other, ...FLAGS, '--s3-output', 's3://ckpt/changed/']);
    assert.equal(foreign.status, 1);
    assert.match(foreign.stderr.trim().split('\n').at(-1)!, /already holds day files that are not its parts \(.*\): resume into an empty folder$/);
    ok(await run([...argsFor('changed', copy), '--restart']), '--restart');
    const got = await output('changed');
    assert.equal(Object.values(got.ids).flat().length, 1501);
    assert.ok(!got.names.some((n) => n.startsWith('_')), got.names.join(' '));
  });
});

describe('big day files: the end copies the parts S3 can copy (UploadPartCopy), and a kill there resumes', () => {
  // 1,200 events of ~30 KB alternating over two days (36 MB): a checkpoint every 16 MiB leaves
  // parts of ~6 MiB per day, over S3's 5 MiB minimum for a copy; ~2 MiB per day come after them.
  const bigInput = writeJsonl(path.join(root, 'big.jsonl'), bulkyEvents(1200));
  const BIG = [...COMMON, '--checkpoint-every', '16MiB'];
  const runBig = (prefix: string, failpoint?: string) =>
    runScriptWithFailpoint('convert', [bigInput, '-o', fs.mkdtempSync(path.join(root, 'work-')), ...BIG, '--s3-output', `s3://ckpt/${prefix}/`], failpoint, s3.env);
  let bigReference: Output;
  let bigFrom = 0;
  before(async () => {
    bigFrom = s3.requests.length;
    ok(await runBig('big-reference'), 'the uninterrupted run');
    bigReference = await output('big-reference');
    assert.equal(Object.values(bigReference.ids).flat().length, 1200);
  });

  test('an uninterrupted run copies its big parts into the day files and sends the rest from the folder', async () => {
    const { records, copies } = assertNoPartsAtTheEnd('big-reference', bigFrom, Object.keys(bigReference.ids));
    assert.equal(records, 2, 'two records while converting');
    assert.equal(copies, 4, 'two parts of each day copied');
  });

  test('kill -9 during the assembly: resumed in an empty folder from the last periodic record, the same bytes', async () => {
    await twoAtATime([['big-assembly', 'assembly-part-copied:1'], ['big-assembled-one', 'assembly-file-done:1']], async ([prefix, failpoint]) => {
      killed(await runBig(prefix, failpoint), failpoint);
      const saved = await record(prefix);
      assert.ok(saved, `${failpoint}: the record of the last checkpoint is there`);
      assert.equal(saved.history.at(-1)!.event, 'checkpoint');
      assert.ok(saved.parts.filter((p) => p.bytes >= 5 * 1024 * 1024).length >= 2, `${failpoint}: parts S3 can copy (${saved.parts.map((p) => p.bytes).join(', ')})`);
      const from = s3.requests.length;
      const resumed = await runBig(prefix);
      ok(resumed, `${failpoint}, resumed`);
      assert.match(resumed.stderr, /resuming from s3:\/\/ckpt\/.*\/_checkpoint\.json/);
      assert.ok(requestsUnder(prefix, from).some((r) => r.method === 'PUT' && r.headers['x-amz-copy-source']), `${failpoint}: the resumed run copied parts (UploadPartCopy)`);
      await assertSameAsReference(prefix, true, bigReference);
    });
  });
});
