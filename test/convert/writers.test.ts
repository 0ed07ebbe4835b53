/**
 * Writer threads (lib/convert/partitions.ts): each owns the day partitions that fall to it, fed
 * in input order. The day files are byte-identical whatever the number of workers and of writer
 * threads, sorted or shuffled input over 900 days, with copies and bad-signature copies of events
 * (members cut by size and by the partition's pending budget); the index rows, the counts and the
 * rejection log are the same too, and dedup is exact.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { convert } from '../../lib/convert/pipeline.ts';
import { listDayFiles } from '../../lib/day-files/names.ts';
import { seededRandom, syntheticEvents } from '../../lib/dev/synthetic.ts';
import { indexRows, tempDir } from '../helpers/index.ts';

const EVENTS = 1500;

function forged(line: string): string {
  const e = JSON.parse(line);
  e.sig = (e.sig[0] === '0' ? '1' : '0') + e.sig.slice(1);
  return JSON.stringify(e);
}

function shuffle<T>(xs: T[], seed: number): T[] {
  const rand = seededRandom(seed);
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** Events over 900 days (sorted by time or shuffled), then a fifth again, bad-signature copies before and after their event, and a bad line. */
function input(dir: string, sorted: boolean): string {
  const events = [...syntheticEvents({ seed: 11, count: EVENTS, days: 900, signers: 40 })];
  if (sorted) events.sort((a, b) => a.created_at - b.created_at);
  const lines = events.map((e) => JSON.stringify(e));
  if (!sorted) shuffle(lines, 12);
  const rand = seededRandom(13);
  const again = lines.filter(() => rand() < 0.2);
  const out = [forged(lines[700]), ...lines.slice(0, 1000), forged(lines[10]), 'not json', ...lines.slice(1000), ...again, forged(lines[1200])];
  const file = path.join(dir, `${sorted ? 'sorted' : 'shuffled'}.jsonl`);
  fs.writeFileSync(file, out.join('\n') + '\n');
  return file;
}

for (const sorted of [true, false]) {
  test(`${sorted ? 'sorted' : 'shuffled'} input over 900 days: byte-identical day files, index and counts for -j1/W1, -j2/W2, -j3/W3`, { timeout: 300_000 }, async () => {
    const dir = tempDir();
    const file = input(dir, sorted);
    const runs = [];
    for (const [j, w] of [[1, 1], [2, 2], [3, 3]]) {
      const out = path.join(dir, `j${j}-w${w}`);
      const counts = await convert({
        input: file, outputDir: out, parallel: j, writers: w, compressionLevel: 6, batchSize: 97, progress: false,
        validateIds: true, validateSignatures: true, index: true,
        memberBytes: 6000, pendingBudget: 20_000, // members cut by size and by the budget
      });
      const log = fs.readFileSync(path.join(out, 'proton-beam.log'), 'utf8');
      runs.push({ out, counts, rejects: [...log.matchAll(/^line \d+: \w+/gm)].map((m) => m[0]) });
    }
    const [first, ...others] = runs;
    const names = listDayFiles(first.out);
    assert.ok(names.length > 500, `${names.length} day files`);
    assert.equal(first.counts.valid - first.counts.duplicates, EVENTS, 'each event stored once');
    assert.equal(first.counts.rejected, 2);
    assert.deepEqual(first.rejects, ['line 1: bad_signature', 'line 1003: invalid_json'], 'a broken copy before its event is rejected; after it, a duplicate');
    const rows = indexRows(path.join(first.out, 'index.db'));
    assert.equal(rows.length, EVENTS);
    for (const run of others) {
      assert.deepEqual(listDayFiles(run.out), names);
      for (const name of names) {
        assert.ok(fs.readFileSync(path.join(run.out, name)).equals(fs.readFileSync(path.join(first.out, name))), `${run.out}: ${name}`);
      }
      for (const key of ['lines', 'valid', 'duplicates', 'rejected', 'files', 'bytesOut'] as const) assert.equal(run.counts[key], first.counts[key], key);
      assert.deepEqual(run.rejects, first.rejects);
      assert.deepEqual(indexRows(path.join(run.out, 'index.db')), rows);
    }
  });
}
