/**
 * Crash consistency: every failpoint (lib/failpoints.ts) is reached on purpose, the process dies
 * there by SIGKILL, the same command is run again, and the folder must then hold exactly the
 * valid events, each once, in input order per day; index.db rows equal to the events in the
 * files, with their offsets; and nothing else (no lock, journal or rebuild leftovers).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { FAILPOINTS, type FailpointName } from '../../lib/failpoints.ts';
import zlib from 'node:zlib';
import { decodeEvent } from '../../lib/nostr/codec.ts';
import { dayFileName, dayOf, listDayFiles } from '../../lib/day-files/names.ts';
import { nextMessage, readDayDir } from '../helpers/common.ts';
import { indexRows, randomSample, ROOT, storedRows, tempDir, writeJsonl } from '../helpers/index.ts';
import { startS3 } from '../helpers/s3.ts';
import { idsByFile, killed, listing, ok, runScriptWithFailpoint, twoAtATime } from '../helpers/crash.ts';

const UNSIGNED = ['--no-progress', '--validate-signatures', 'false', '--validate-event-ids', 'false', '-j', '1'];
/** Small members: each day file gets many, so a failpoint at the Nth member lands mid-file. */
const MEMBER_BYTES = '2048';


const run = (script: string, args: string[], failpoint?: string, extraEnv: Record<string, string> = {}) =>
  runScriptWithFailpoint(script, args, failpoint, { PROTON_BEAM_MEMBER_BYTES: MEMBER_BYTES, ...extraEnv });



// 300 events over 3 days, 30 of them twice, and two bad lines.
const root = tempDir('pb-failpoints-');
const events = randomSample(300, 41, 3);
const input = writeJsonl(path.join(root, 'in.jsonl'), [...events.slice(0, 150), ...events.slice(0, 30), 'not json', ...events.slice(150), '{"id":"x"}']);
let reference: { ids: Record<string, string[]>; names: string[] };

async function check(out: string, what: string): Promise<void> {
  assert.deepEqual(await idsByFile(out), reference.ids, `${what}: the valid events, each once, in order`);
  assert.deepEqual(indexRows(path.join(out, 'index.db')), await storedRows(out), `${what}: index rows are the events in the files, offsets included`);
  assert.deepEqual(listing(out), reference.names, `${what}: nothing left over`);
}


test.before(async () => {
  const out = path.join(root, 'reference');
  ok(await run('convert', [input, '-o', out, ...UNSIGNED]), 'reference run');
  reference = { ids: await idsByFile(out), names: listing(out) };
  assert.equal(Object.values(reference.ids).flat().length, 300);
  assert.ok(Object.keys(reference.ids).length === 3);
});

test('every failpoint is walked by a test below', () => {
  const walked: FailpointName[] = [
    'member-append-before', 'member-append-torn', 'member-append-after', 'index-commit-before', 'index-commit-after',
    'repair-journal-written', 'repair-cut', 'repair-appended', 'rebuild-part', 'rebuild-rename-before', 'rebuild-rename-after', 'upload-object',
    // walked by test/checkpoint/local-resume.test.ts
    'checkpoint-before-record', 'checkpoint-written', 'checkpoint-index-uncommitted',
    // walked in test/s3/checkpoint-resume.test.ts (killed, then resumed in an empty folder)
    'checkpoint-part-uploaded', 'checkpoint-before-remote-record', 'checkpoint-remote-written', 'assembly-part-copied', 'assembly-file-done',
  ];
  assert.deepEqual([...walked].sort(), [...FAILPOINTS].sort());
});

test('convert killed at a member append or an index commit, then run again: exactly the valid events, an exact index, no litter', async () => {
  const cases: [FailpointName, number][] = [];
  for (const name of ['member-append-before', 'member-append-torn', 'member-append-after'] as const) for (const n of [1, 7, 25]) cases.push([name, n]);
  for (const name of ['index-commit-before', 'index-commit-after'] as const) cases.push([name, 1]);
  await twoAtATime(cases, async ([name, n]) => {
    const out = path.join(root, `${name}-${n}`);
    const what = `${name}:${n}`;
    killed(await run('convert', [input, '-o', out, ...UNSIGNED], what), what);
    ok(await run('convert', [input, '-o', out, ...UNSIGNED]), `${what}, run again`);
    await check(out, what);
  });
});

/** Ids of every whole message in each day file, a last cut-off member included (what a repair must keep). */
function wholeIdsByFile(dir: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const name of listDayFiles(dir)) {
    const data = zlib.gunzipSync(fs.readFileSync(path.join(dir, name)), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const ids: string[] = [];
    for (let m = nextMessage(data, 0); m; m = nextMessage(data, m.end)) ids.push(decodeEvent(m.bytes).id);
    out[name] = ids;
  }
  return out;
}

test('a repair killed at any step, then run again: every whole event of the torn member of an earlier input is kept', async () => {
  // Input A is torn mid-member; input B (other events) then meets the repair, and dies in it.
  const other = randomSample(120, 42, 3);
  const inputB = writeJsonl(path.join(root, 'b.jsonl'), other);
  const cases: [FailpointName, number][] = [];
  // Torn at the 6th member append; the cut itself also at the 20th (another file, another place).
  for (const name of ['repair-journal-written', 'repair-cut', 'repair-appended'] as const) cases.push([name, 6]);
  cases.push(['repair-cut', 20]);
  await twoAtATime(cases, async ([name, torn]) => {
    const out = path.join(root, `${name}-${torn}`);
    const what = `torn member ${torn}, then ${name}`;
    killed(await run('convert', [input, '-o', out, ...UNSIGNED], `member-append-torn:${torn}`), `member-append-torn:${torn}`);
    const kept = wholeIdsByFile(out);
    assert.ok(Object.values(kept).flat().length > 0);
    killed(await run('convert', [inputB, '-o', out, ...UNSIGNED], `${name}:1`), what);
    ok(await run('convert', [inputB, '-o', out, ...UNSIGNED]), `${what}, run again`);
    const expected: Record<string, string[]> = {};
    for (const [file, ids] of Object.entries(kept)) expected[file] = [...ids];
    for (const e of other) (expected[dayFileName(dayOf(e.created_at))] ??= []).push(e.id);
    assert.deepEqual(await idsByFile(out), expected, `${what}: what A stored, then B, each once, in order`);
    assert.deepEqual(indexRows(path.join(out, 'index.db')), await storedRows(out), `${what}: index rows`);
    assert.deepEqual(listing(out), reference.names, `${what}: nothing left over`);
  });
});

test('index.ts rebuild killed at any step, then run again (or a convert): an exact index, no index.db.rebuild-* left', async () => {
  const out = path.join(root, 'rebuild');
  ok(await run('convert', [input, '-o', out, ...UNSIGNED]), 'convert');
  for (const name of ['rebuild-part', 'rebuild-rename-before', 'rebuild-rename-after'] as const) {
    killed(await run('index', ['rebuild', out], `${name}:1`), name);
    ok(await run('index', ['rebuild', out]), `${name}, rebuild again`);
    await check(out, name);
  }
  killed(await run('index', ['rebuild', out], 'rebuild-rename-before:1'), 'rebuild-rename-before');
  assert.ok(listing(out).some((n) => n.startsWith('index.db.rebuild-')), 'the killed rebuild left its new index');
  ok(await run('convert', [input, '-o', out, ...UNSIGNED]), 'a convert after a killed rebuild');
  await check(out, 'convert after a killed rebuild');
});

test('convert --s3-output killed after an object was uploaded, then run again: every object and the manifest in the bucket', async () => {
  const s3 = await startS3(['crash']);
  try {
    const out = path.join(root, 'upload');
    const args = [input, '-o', out, ...UNSIGNED, '--s3-output', 's3://crash/run/'];
    const env = { AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ENDPOINT_URL: s3.endpoint };
    killed(await run('convert', args, 'upload-object:2', env), 'upload-object:2');
    ok(await run('convert', args, undefined, env), 'upload, run again');
    await check(out, 'upload');
    const stored = fs.readdirSync(path.join(s3.dir, 'crash'), { recursive: true }).map(String);
    for (const name of [...Object.keys(reference.ids), 'index.db', 'manifest.json']) {
      assert.ok(stored.some((p) => p.includes(name)), `${name} uploaded (${stored.join(', ')})`);
    }
  } finally {
    await s3.close();
  }
});
