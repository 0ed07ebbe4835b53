/**
 * Local checkpoints (DIR/_checkpoint.json): the converter is killed on purpose at a crash point
 * (failpoints: after a checkpoint record, before it, between its day files' flush and its index
 * commit, after or in the middle of a member written since), or stopped by SIGTERM sent to the process group of the documented command; the same
 * command run again resumes from the record and the folder then equals an uninterrupted run's:
 * the same events in the same order per day file, an exact index, the same counts, each rejected
 * line logged once, no litter. A changed input is refused; a folder that does not hold what the
 * record covers is read again from the start.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import zlib from 'node:zlib';
import { readDayDir } from '../helpers/common.ts';
import { indexRows, randomSample, ROOT, storedRows, tempDir, writeJsonl } from '../helpers/index.ts';
import { startFaultServer } from '../helpers/fault-server.ts';
import { idsByFile, listing, ok, runScriptWithFailpoint, twoAtATime, type Run } from '../helpers/crash.ts';
import type { CheckpointRecord } from '../../lib/checkpoint/record.ts';
import { ID_RECORD_BYTES } from '../../lib/checkpoint/id-records.ts';

const FAST = ['--no-progress', '--validate-signatures', 'false', '--validate-event-ids', 'false', '-j', '2', '-b', '50', '-v'];
const EVERY = ['--checkpoint-every', '48KiB'];
const ENV = { PROTON_BEAM_MEMBER_BYTES: '2048' };


const run = (args: string[], failpoint?: string) => runScriptWithFailpoint('convert', args, failpoint, ENV);

/** The summary's counts that a resumed run must give as an uninterrupted one does. */
function counts(stdout: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of ['lines read', 'valid events', 'stored', 'duplicates', 'rejected']) {
    const m = new RegExp(`^\\s+${name}\\s+([\\d,]+)`, 'm').exec(stdout);
    assert.ok(m, `no "${name}" in the summary: ${stdout}`);
    out[name] = Number(m[1].replace(/,/g, ''));
  }
  return out;
}


/** The rejection lines of proton-beam.log (line numbers and reasons), in order. */
const rejections = (dir: string) => fs.readFileSync(path.join(dir, 'proton-beam.log'), 'utf8').split('\n').filter((l) => l.startsWith('line '));
const record = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, '_checkpoint.json'), 'utf8')) as CheckpointRecord;

// 3,000 events over 3 days, 200 of them twice, and bad lines among them.
const root = tempDir('pb-checkpoint-');
const events = randomSample(3000, 14, 3);
const lines: (string | (typeof events)[number])[] = [];
events.forEach((e, i) => {
  lines.push(e);
  if (i % 15 === 7) lines.push(events[i >> 1]);
  if (i % 400 === 11) lines.push(`not json ${i}`);
});
const input = writeJsonl(path.join(root, 'in.jsonl'), lines);
const gzInput = path.join(root, 'in.jsonl.gz');
fs.writeFileSync(gzInput, zlib.gzipSync(fs.readFileSync(input)));

let reference: { ids: Record<string, string[]>; counts: Record<string, number>; rejections: string[]; names: string[] };

async function checkLikeReference(out: string, r: Run, what: string): Promise<void> {
  assert.deepEqual(await idsByFile(out), reference.ids, `${what}: the valid events, each once, in input order per day`);
  assert.deepEqual(indexRows(path.join(out, 'index.db')), await storedRows(out), `${what}: index rows are the events in the files`);
  assert.deepEqual(counts(r.stdout), reference.counts, `${what}: the summary's counts are an uninterrupted run's`);
  assert.deepEqual(rejections(out), reference.rejections, `${what}: each rejected line logged once`);
  assert.deepEqual(listing(out), reference.names, `${what}: nothing left over (no _checkpoint.json once done)`);
}


test.before(async () => {
  const out = path.join(root, 'reference');
  const r = await run([input, '-o', out, ...FAST, '--checkpoint-every', 'off']);
  ok(r, 'reference run');
  reference = { ids: await idsByFile(out), counts: counts(r.stdout), rejections: rejections(out), names: listing(out) };
  assert.equal(Object.values(reference.ids).flat().length, 3000);
  assert.ok(reference.counts.duplicates > 150 && reference.counts.rejected >= 7, JSON.stringify(reference.counts));
  assert.ok(!reference.names.includes('_checkpoint.json'));
});

test('killed at a checkpoint, before its record, or after members written since: the rerun goes on from the record and equals an uninterrupted run', async () => {
  const cases: [string, string][] = [
    ['checkpoint-written:3', input],
    ['checkpoint-before-record:4', input],
    // the index's rows come from the writer threads on ports of their own: killed before it committed them
    ['checkpoint-index-uncommitted:3', input],
    ['member-append-after:300', input],
    ['member-append-torn:320', input],
    ['checkpoint-written:5', gzInput],
  ];
  await twoAtATime(cases, async ([failpoint, from]) => {
    const what = `${failpoint} ${path.basename(from)}`;
    const out = path.join(root, `${failpoint.replace(':', '-')}-${path.basename(from)}`);
    const killed = await run([from, '-o', out, ...FAST, ...EVERY], failpoint);
    assert.equal(killed.signal, 'SIGKILL', `${what} should have died at its failpoint: exit ${killed.status} ${killed.stderr}`);
    const saved = record(out);
    assert.ok(saved.next.line > 1, `${what}: a checkpoint was taken before the kill`);
    const again = await run([from, '-o', out, ...FAST, ...EVERY]);
    ok(again, `${what}, run again`);
    // Each checkpoint committed every index row of the members it records: the index is only added to.
    assert.doesNotMatch(again.stderr, /will be rebuilt/, `${what}: the index held every event of the record`);
    assert.match(again.stderr, new RegExp(`resuming from the checkpoint of ${saved.writtenAt} at line ${saved.next.line} \\(JSONL byte ${saved.next.offset}\\)`), what);
    assert.match(again.stderr, new RegExp(`the ids of the ${saved.counts.valid - saved.counts.duplicates} events stored so far loaded from _checkpoint\\.ids \\(the day files are not read\\)`), what);
    if (from === gzInput) assert.match(again.stderr, /gzip input: decompressed from its start, the first \d+ bytes of JSONL skipped without parsing/);
    else assert.match(again.stderr, new RegExp(`read from byte ${saved.next.offset} on`));
    await checkLikeReference(out, again, what);
  });
});

test('SIGTERM to the process group of `npx tsx scripts/convert.ts` reading a URL: a clean checkpoint, and the rerun continues with a Range request', async () => {
  const data = fs.readFileSync(input);
  const server = await startFaultServer({ '/dump.jsonl': data });
  try {
    // The first answer stops after 60 % of the body and stays open: the run is mid-input, on purpose.
    server.faults.push({ kind: 'stall', after: Math.floor(data.length * 0.6) });
    const out = path.join(root, 'sigterm');
    const status = path.join(root, 'sigterm-status.json');
    const env = { ...process.env, ...ENV, PROTON_BEAM_IDLE_TIMEOUT_MS: '120000' };
    const child = spawn('npx', ['tsx', 'scripts/convert.ts', server.url('/dump.jsonl'), '-o', out, ...FAST, '--status-file', status], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const linesDone = () => { try { return JSON.parse(fs.readFileSync(status, 'utf8')).lines as number; } catch { return 0; } };
    for (const start = Date.now(); linesDone() < 1500; await new Promise((r) => setTimeout(r, 100))) {
      if (Date.now() - start > 60_000) throw new Error(`the run did not get to line 1500: ${stderr}`);
    }
    process.kill(-child.pid!, 'SIGTERM');
    assert.equal(await exited, 143, stderr);
    const m = /interrupted after line (\d+)/.exec(stderr);
    assert.ok(m, stderr);
    const saved = record(out);
    assert.equal(saved.next.line, Number(m[1]) + 1, 'the record says where the run stopped');
    assert.equal(saved.history.at(-1)?.event, 'interrupted');
    assert.equal(saved.history.at(-1)?.reason, 'SIGTERM');
    assert.equal(saved.input.kind, 'http');
    assert.match(saved.input.validator ?? '', /^"[0-9a-f]{32}"$/, 'the URL is pinned by its ETag');

    const again = await run([server.url('/dump.jsonl'), '-o', out, ...FAST]);
    ok(again, 'rerun');
    assert.equal(server.requests.at(-1)?.range, `bytes=${saved.next.offset - 1}-`, 'the rerun asked for the rest only (from one byte early)');
    await checkLikeReference(out, again, 'SIGTERM then rerun');
  } finally {
    await server.close();
  }
});

test('a changed input (appended to, or only touched) is refused in one line naming both and --restart; --restart reads it from the start', async () => {
  const changed = path.join(root, 'changing.jsonl');
  fs.copyFileSync(input, changed);
  const out = path.join(root, 'changed');
  const killed = await run([changed, '-o', out, ...FAST, ...EVERY], 'checkpoint-written:2');
  assert.equal(killed.signal, 'SIGKILL', killed.stderr);
  // (the dead run's folder lock aside, which the next run takes over)
  const sizes = () => listing(out).filter((n) => !n.startsWith('.')).map((n) => [n, fs.statSync(path.join(out, n)).size]);
  const before = sizes();

  const t = new Date(Math.floor(Date.now() / 1000) * 1000 + 5000); // whole seconds: every file system keeps them
  fs.utimesSync(changed, t, t);
  const touched = await run([changed, '-o', out, ...FAST]);
  assert.equal(touched.status, 1, touched.stderr);
  const line = touched.stderr.trim().split('\n').at(-1)!;
  assert.match(line, new RegExp(`checkpoint is for ${changed} \\(size [\\d,]+, mtime [^)]+\\), input is ${changed} \\(size [\\d,]+, mtime ${t.toISOString()}\\): the input changed since the checkpoint in .*; to convert it from the start, run again with --restart \\(or delete .*_checkpoint\\.json\\)`));
  assert.deepEqual(sizes(), before, 'nothing touched');

  fs.appendFileSync(changed, `${JSON.stringify(events[0])}\n`);
  const appended = await run([changed, '-o', out, ...FAST]);
  assert.equal(appended.status, 1);
  assert.match(appended.stderr, /checkpoint is for .*size [\d,]+.*input is .*size [\d,]+.*--restart/);

  const restarted = await run([changed, '-o', out, ...FAST, '--restart']);
  ok(restarted, '--restart');
  assert.match(restarted.stderr, /_checkpoint\.json: --restart; reading the input from its start/);
  assert.deepEqual(await idsByFile(out), reference.ids, 'every event once, in order');
  assert.deepEqual(indexRows(path.join(out, 'index.db')), await storedRows(out));
  assert.ok(!fs.existsSync(path.join(out, '_checkpoint.json')));
});

test('a record whose members are not all in the folder: the rerun reads the input from the start, exact all the same', async () => {
  const out = path.join(root, 'missing');
  const killed = await run([input, '-o', out, ...FAST, ...EVERY], 'checkpoint-written:4');
  assert.equal(killed.signal, 'SIGKILL', killed.stderr);
  const saved = record(out);
  const victim = saved.dayFiles!.find((f) => f.bytes > 4096)!;
  fs.truncateSync(path.join(out, victim.fileName), Math.floor(victim.bytes / 2));
  const again = await run([input, '-o', out, ...FAST]);
  ok(again, 'rerun');
  assert.match(again.stderr, new RegExp(`${victim.fileName} holds \\d+ bytes, fewer than the ${victim.bytes} the checkpoint covers; reading the input from its start`));
  assert.doesNotMatch(again.stderr, /resuming from the checkpoint/);
  assert.deepEqual(await idsByFile(out), reference.ids, 'every event once, in order');
  assert.deepEqual(indexRows(path.join(out, 'index.db')), await storedRows(out));
  assert.ok(!fs.existsSync(path.join(out, '_checkpoint.json')));
});

test('an id list shorter than its record: the resume reads the ids from the day files instead, exact all the same', async () => {
  const out = path.join(root, 'short-ids');
  const killed = await run([input, '-o', out, ...FAST, ...EVERY], 'checkpoint-written:3');
  assert.equal(killed.signal, 'SIGKILL', killed.stderr);
  const saved = record(out);
  assert.equal(saved.storedIds, ID_RECORD_BYTES * (saved.counts.valid - saved.counts.duplicates), 'the record covers one id (and its day) per stored event');
  fs.truncateSync(path.join(out, '_checkpoint.ids'), saved.storedIds! - ID_RECORD_BYTES);
  const again = await run([input, '-o', out, ...FAST]);
  ok(again, 'rerun');
  assert.match(again.stderr, /resuming from the checkpoint/);
  assert.match(again.stderr, /reading the ids of 3 existing day files/);
  await checkLikeReference(out, again, 'short id list');
});

test('a resume with another number of writer threads: each loads the ids of its own days from the id list, and dedup stays exact', async () => {
  for (const [before, after] of [[1, 3], [3, 2]]) {
    const out = path.join(root, `writers-${before}-${after}`);
    const killed = await run([input, '-o', out, ...FAST, ...EVERY, '-w', String(before)], 'checkpoint-written:3');
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    const saved = record(out);
    const again = await run([input, '-o', out, ...FAST, '-w', String(after)]);
    ok(again, `rerun -w ${after}`);
    // The lines after the record repeat events stored before it: each is a duplicate only if its id reached its day's thread.
    assert.match(again.stderr, new RegExp(`the ids of the ${saved.counts.valid - saved.counts.duplicates} events stored so far loaded from _checkpoint\\.ids`));
    await checkLikeReference(out, again, `-w ${before}, then -w ${after}`);
  }
});

test('another input into the same folder does not resume the record: it is dropped, the run reads its own input from the start', async () => {
  const out = path.join(root, 'other');
  const killed = await run([input, '-o', out, ...FAST, ...EVERY], 'checkpoint-written:2');
  assert.equal(killed.signal, 'SIGKILL', killed.stderr);
  const r = await run([gzInput, '-o', out, ...FAST]);
  ok(r, 'the other input');
  assert.match(r.stderr, /the checkpoint is for another input \(.*in\.jsonl\); reading the input from its start/);
  assert.deepEqual(await idsByFile(out), reference.ids);
  assert.ok(!fs.existsSync(path.join(out, '_checkpoint.json')));
});
