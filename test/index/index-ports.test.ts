/**
 * The index's rows go from the writer threads straight to the index thread, on a port each
 * (lib/convert/writer-thread.ts, lib/index/writer-worker.ts), not through the main thread:
 * index.db is the same for any number of writer threads, on sorted and shuffled input, and equal
 * to a rebuild from the day files (the tags table too); the ports' backpressure bounds the rows on
 * their way when the index thread is slow (PROTON_BEAM_INDEX_MAX_BEHIND, and a fault that slows
 * its inserts); the index thread failing or exiting ends the run with its one-line error, never a hang.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import test from 'node:test';
import Database from 'better-sqlite3';
import type { NostrEvent } from '../../lib/nostr/codec.ts';
import { seededRandom } from '../../lib/dev/synthetic.ts';
import { indexRows, randomSample, storedRows, tempDir, writeJsonl } from '../helpers/index.ts';
import { idsByFile, ok, runScriptWithFailpoint, twoAtATime, type Run } from '../helpers/crash.ts';
import { processBatch } from '../../lib/convert/batch.ts';
import { WriterThreads } from '../../lib/convert/writer-threads.ts';
import { startIndexing } from '../../lib/index/writer.ts';

const FAST = ['--no-progress', '--validate-signatures', 'false', '--validate-event-ids', 'false', '-j', '2', '-b', '100', '-v'];
const ENV = { PROTON_BEAM_MEMBER_BYTES: '2048' };
const HANG_MS = 90_000;

const root = tempDir('pb-index-ports-');

/** `events` with every 10th of them again later on. */
const withCopies = (events: NostrEvent[]) => events.flatMap((e, i) => (i % 10 === 3 ? [e, events[i >> 1]] : [e]));

// 3,000 events over 6 days in time order; 3,000 over 300 days shuffled (each batch touches many days).
const sortedInput = writeJsonl(path.join(root, 'sorted.jsonl'), withCopies(randomSample(3000, 21, 6).sort((a, b) => a.created_at - b.created_at)));
const shuffled = randomSample(3000, 22, 300);
const rand = seededRandom(23);
for (let i = shuffled.length - 1; i > 0; i--) {
  const j = Math.floor(rand() * (i + 1));
  [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
}
const shuffledInput = writeJsonl(path.join(root, 'shuffled.jsonl'), withCopies(shuffled));

const run = (script: string, args: string[], env: Record<string, string> = {}) => runScriptWithFailpoint(script, args, undefined, { ...ENV, ...env }, HANG_MS);

function tagRows(indexPath: string): unknown[] {
  const db = new Database(indexPath, { readonly: true });
  try {
    return db.prepare('SELECT name, value, event_id FROM tags ORDER BY name, value, event_id').all();
  } finally {
    db.close();
  }
}

/** The writer threads' backpressure, from the -v log line the converter writes at their close. */
function backpressure(r: Run): { waits: number; most: number; bound: number } {
  const m = /waited (\d+) times for the index thread to catch up; at most (\d+) rows of one thread were sent and not yet inserted \(it waits past (\d+)\)/.exec(r.stderr);
  assert.ok(m, `no backpressure line: ${r.stderr}`);
  return { waits: Number(m[1]), most: Number(m[2]), bound: Number(m[3]) };
}

test('index.db is the same for 1, 2 and 4 writer threads, sorted or shuffled, and equal to a rebuild from the day files', { timeout: 600_000 }, async () => {
  const inputs = { sorted: sortedInput, shuffled: shuffledInput };
  const cases: [keyof typeof inputs, string][] = [];
  for (const name of Object.keys(inputs) as (keyof typeof inputs)[]) for (const how of ['w1', 'w2', 'w4', 'rebuild', 'tags', 'tags-rebuild']) cases.push([name, how]);
  await twoAtATime(cases, async ([name, how]) => {
    const out = path.join(root, `${name}-${how}`);
    const writers = how.startsWith('w') ? how.slice(1) : '3';
    const args = [inputs[name], '-o', out, ...FAST, '-w', writers];
    if (how === 'tags') args.push('--index-tags');
    if (how.endsWith('rebuild')) args.push('--no-index');
    ok(await run('convert', args), `${name} ${how}`);
    if (how.endsWith('rebuild')) ok(await run('index', ['rebuild', out, '--no-progress', ...(how === 'tags-rebuild' ? ['--tags'] : [])]), `${name} ${how}: index.ts rebuild`);
  });
  for (const name of Object.keys(inputs)) {
    const dir = (how: string) => path.join(root, `${name}-${how}`);
    const reference = indexRows(path.join(dir('rebuild'), 'index.db'));
    assert.equal(reference.length, 3000);
    assert.deepEqual(reference, await storedRows(dir('rebuild')), `${name}: the rebuild indexes every stored event`);
    for (const how of ['w1', 'w2', 'w4', 'tags']) {
      assert.deepEqual(await idsByFile(dir(how)), await idsByFile(dir('rebuild')), `${name} ${how}: the same day files`);
      assert.deepEqual(indexRows(path.join(dir(how), 'index.db')), reference, `${name} ${how}: the same rows as the rebuild`);
    }
    const tags = tagRows(path.join(dir('tags-rebuild'), 'index.db'));
    assert.ok(tags.length > 1000);
    assert.deepEqual(tagRows(path.join(dir('tags'), 'index.db')), tags, `${name}: the tags table as a rebuild makes it`);
  }
});

test('a slow index thread: each writer thread holds its acks back past its share of the bound, and the run still ends with the whole index', { timeout: 300_000 }, async () => {
  // Each insert transaction waits 20 ms; a bound of 400 rows, 200 per writer thread.
  const slow = { PROTON_BEAM_FAULT: 'index-insert-delay:20' };
  const [bounded, unbounded] = await Promise.all([
    run('convert', [sortedInput, '-o', path.join(root, 'bounded'), ...FAST, '-w', '2'], { ...slow, PROTON_BEAM_INDEX_MAX_BEHIND: '400' }),
    run('convert', [sortedInput, '-o', path.join(root, 'unbounded'), ...FAST, '-w', '2'], slow),
  ]);
  ok(bounded, 'bounded');
  ok(unbounded, 'unbounded');
  const b = backpressure(bounded);
  const u = backpressure(unbounded);
  assert.equal(b.bound, 200);
  assert.ok(b.waits > 0, 'the writer threads waited for the index');
  // Past the bound a thread appends no more, but what it already held still reaches the index:
  // the rest of the batch (at most 100 lines here), its days' open members and those being
  // compressed (at most 16 per day partition, ~6 events each of 2 KiB): bounded, well under 3 x.
  assert.ok(b.most <= 3 * b.bound, `at most ${b.most} rows on their way, bound ${b.bound}`);
  // Without the bound (1,000,000 rows), the same slow index lets nearly every row pile up.
  assert.equal(u.waits, 0);
  assert.ok(u.most > 2 * 3 * b.bound, `unbounded: ${u.most} rows on their way`);
  for (const out of ['bounded', 'unbounded']) {
    const dir = path.join(root, out);
    assert.deepEqual(indexRows(path.join(dir, 'index.db')), await storedRows(dir), `${out}: every stored event indexed`);
    assert.equal(indexRows(path.join(dir, 'index.db')).length, 3000);
  }
});

for (const [how, fault, error] of [
  ['failing', 'index-insert-error:4', 'fault index-insert-error:4 (PROTON_BEAM_FAULT)'],
  ['exiting', 'index-thread-exit:4', 'its thread stopped'],
]) test(`the index thread ${how} mid-run, writer threads waiting for it: exit 1 with its one-line error, no hang, whole day files`, { timeout: 300_000 }, async () => {
  const out = path.join(root, `index-${how}`);
  // Slow inserts and a small bound keep the writer threads waiting for room when the 4th insert fails.
  const env = { PROTON_BEAM_FAULT: `index-insert-delay:20,${fault}`, PROTON_BEAM_INDEX_MAX_BEHIND: '400' };
  const r = await run('convert', [sortedInput, '-o', out, ...FAST, '-w', '2'], env);
  assert.ok(!r.hung, `the run hung: ${r.stderr}`);
  assert.equal(r.status, 1, r.stderr);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
  assert.deepEqual(errors, [`error: indexing into ${path.join(out, 'index.db')} failed: ${error}`]);
  assert.ok(backpressure(r).waits > 0, 'writer threads were waiting for the index');
  // The day files are whole (every member complete): the same command again finds them so and
  // rebuilds the index, which the failed run left short.
  const again = await run('convert', [sortedInput, '-o', out, ...FAST, '-w', '2']);
  ok(again, 'run again');
  assert.doesNotMatch(again.stderr, /cut back/, 'no torn member to repair');
  assert.match(again.stderr, /it will be rebuilt after the conversion/);
  assert.deepEqual(indexRows(path.join(out, 'index.db')), await storedRows(out));
  assert.equal(indexRows(path.join(out, 'index.db')).length, 3000);
});

test('writer threads with a port to the index thread, stopped: they exit on their own (the port closed too), and every row they sent is indexed', async () => {
  const dir = tempDir();
  const events = randomSample(500, 31, 10);
  const indexing = await startIndexing(dir, 0, 1, () => {});
  const writers = new WriterThreads(2, { dir, compressionLevel: 6, gzip: 'zlib', memberBytes: 3000, pendingBudget: 1 << 20, index: true, memberData: false, shareStored: false }, () => assert.fail('a member reached the main thread'), () => {});
  try {
    await writers.loaded();
    writers.connectIndex(indexing.connect!(writers.count));
    const bytes = Buffer.from(events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    await writers.send(processBatch(0, 1, bytes, { validateIds: false, validateSignatures: false }).parts);
    await writers.flushToDisk();
    // Stopped rather than closed (as after a failure): an open port would keep a thread alive until the grace period ends.
    assert.deepEqual(await writers.terminate(), ['exited', 'exited', 'exited', 'exited'], 'two writer threads, two compressor threads');
    const summary = await indexing.finish(writers.barrier);
    assert.equal(summary.added, 500);
  } finally {
    await writers.terminate();
    await indexing.abort();
  }
  assert.deepEqual(indexRows(path.join(dir, 'index.db')), await storedRows(dir));
});

test('the index thread stopped mid-run (a failed conversion) exits on its own; the index it leaves opens and holds only stored events', async () => {
  const dir = tempDir();
  const indexing = await startIndexing(dir, 0, 1, () => {});
  const writers = new WriterThreads(2, { dir, compressionLevel: 6, gzip: 'zlib', memberBytes: 3000, pendingBudget: 1 << 20, index: true, memberData: false, shareStored: false }, () => assert.fail('a member reached the main thread'), () => {});
  let stopped: string | undefined;
  try {
    await writers.loaded();
    writers.connectIndex(indexing.connect!(writers.count));
    const bytes = Buffer.from(randomSample(500, 32, 10).map((e) => JSON.stringify(e)).join('\n') + '\n');
    await writers.send(processBatch(0, 1, bytes, { validateIds: false, validateSignatures: false }).parts);
    await writers.flushToDisk();
    stopped = await indexing.abort(); // rows on their way or held, not yet inserted
  } finally {
    await writers.terminate();
  }
  assert.equal(stopped, 'exited');
  const rows = indexRows(path.join(dir, 'index.db'));
  const stored = new Set((await storedRows(dir)).map((r) => JSON.stringify(r)));
  for (const r of rows) assert.ok(stored.has(JSON.stringify(r)), `row ${r.id} is a stored event`);
});
