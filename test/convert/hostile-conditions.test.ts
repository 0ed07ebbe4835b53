/**
 * Errors that must say what is wrong: a full disk on the log or during an index build, index.db
 * a folder or another program's SQLite file; a truncated .gz input; byte-order marks mid-file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { allEvents, REAL_SAMPLE, realSampleLines, SHIPPED_SAMPLE } from '../helpers/common.ts';
import { indexRows, runScript, storedRows, tempDir, writeJsonl, randomSample } from '../helpers/index.ts';

const UNSIGNED = ['--no-progress', '--validate-signatures', 'false', '--validate-event-ids', 'false'];
const oneLine = (stderr: string) => assert.equal(stderr.trim().split('\n').length, 1, stderr);

test('proton-beam.log on a full disk: one line naming the log, not the input', { skip: !fs.existsSync('/dev/full') && 'no /dev/full' }, () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  fs.symlinkSync('/dev/full', path.join(out, 'proton-beam.log'));
  const input = writeJsonl(path.join(dir, 'in.jsonl'), [...randomSample(50, 71, 2), 'not json', '{}']);
  const r = runScript('convert', [input, '-o', out, ...UNSIGNED]);
  assert.equal(r.status, 1, r.stderr);
  oneLine(r.stderr);
  assert.match(r.stderr, /cannot write .*proton-beam\.log: no space left on device/);
  assert.doesNotMatch(r.stderr, /reading .* failed/);
});

test('index.db that is a folder, or another program\'s SQLite file: one line each, and the foreign file is left as it was', () => {
  const dir = tempDir();
  const input = writeJsonl(path.join(dir, 'in.jsonl'), randomSample(50, 72, 2));
  const a = path.join(dir, 'a');
  fs.mkdirSync(path.join(a, 'index.db'), { recursive: true });
  for (const r of [runScript('convert', [input, '-o', a, ...UNSIGNED]), runScript('query', [a, '--kind', '1']), runScript('index', ['stats', a])]) {
    assert.equal(r.status, 1, r.stderr);
    oneLine(r.stderr);
    assert.match(r.stderr, /index\.db: is a directory, not an index/);
  }

  const b = path.join(dir, 'b');
  fs.mkdirSync(b);
  const foreign = new Database(path.join(b, 'index.db'));
  foreign.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)');
  foreign.close();
  const before = fs.readFileSync(path.join(b, 'index.db'));
  const r = runScript('convert', [input, '-o', b, ...UNSIGNED]);
  assert.equal(r.status, 1, r.stderr);
  oneLine(r.stderr);
  assert.match(r.stderr, /not a Proton Beam index \(it holds table notes and no events table\)/);
  assert.ok(fs.readFileSync(path.join(b, 'index.db')).equals(before), 'no events table added');
});

test('a full disk while the index is built: one line saying so, the old index untouched, nothing left behind', { skip: process.getuid?.() !== 0 && 'needs root to mount a small tmpfs' }, (t) => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  assert.equal(runScript('convert', [SHIPPED_SAMPLE, '-o', out, '--no-progress', '--no-index']).status, 0);
  const mnt = tempDir('pb-full-index-');
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=320k', 'tmpfs', mnt]).status !== 0) return t.skip('cannot mount a tmpfs here');
  try {
    const indexPath = path.join(mnt, 'index.db');
    fs.writeFileSync(indexPath, 'old');
    const r = runScript('index', ['rebuild', out, '--index-path', indexPath]);
    assert.equal(r.status, 1, r.stderr);
    oneLine(r.stderr);
    assert.match(r.stderr, /cannot build .*index\.db\.rebuild-\d+: no space left on device/);
    assert.doesNotMatch(r.stderr, /object Object|internal error/);
    assert.equal(fs.readFileSync(indexPath, 'utf8'), 'old');
    assert.deepEqual(fs.readdirSync(mnt), ['index.db']);
  } finally {
    spawnSync('umount', [mnt]);
  }
});

test('a truncated .gz input: every event before the damage is converted and indexed, the error with its byte offset in the log and on stderr, exit 1', async () => {
  const dir = tempDir();
  const gz = zlib.gzipSync(fs.readFileSync(REAL_SAMPLE));
  const total = realSampleLines().length;
  // Only the 4-byte trailer missing: all events are there (zcat recovers them all).
  const noTrailer = path.join(dir, 'no-trailer.jsonl.gz');
  fs.writeFileSync(noTrailer, gz.subarray(0, gz.length - 4));
  const out = path.join(dir, 'out');
  let r = runScript('convert', [noTrailer, '-o', out, '--no-progress']);
  assert.equal(r.status, 1, r.stderr);
  oneLine(r.stderr);
  assert.match(r.stderr, new RegExp(`truncated or corrupt gzip data at byte ${(gz.length - 4).toLocaleString('en-US')} of the compressed input.*the ${total} lines before it are converted`));
  assert.equal((await allEvents(out)).length, total);
  assert.deepEqual(indexRows(path.join(out, 'index.db')), await storedRows(out));
  assert.match(fs.readFileSync(path.join(out, 'proton-beam.log'), 'utf8'), /ERROR|error: cannot read input .*truncated or corrupt gzip data at byte/);

  // Cut in the middle: the whole lines before the cut.
  const half = path.join(dir, 'half.jsonl.gz');
  fs.writeFileSync(half, gz.subarray(0, gz.length >> 1));
  const readable = zlib.gunzipSync(gz.subarray(0, gz.length >> 1), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString('utf8');
  const wholeLines = readable.split('\n').length - 1;
  const out2 = path.join(dir, 'out2');
  r = runScript('convert', [half, '-o', out2, '--no-progress']);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /at byte [\d,]+ of the compressed input/);
  assert.equal((await allEvents(out2)).length, wholeLines);
});

test('a byte-order mark at the start of any line (dumps concatenated with cat): the events are taken', async () => {
  const dir = tempDir();
  const lines = realSampleLines();
  const bom = '\ufeff';
  const text = `${bom}${lines.slice(0, 50).join('\n')}\n${bom}${lines.slice(50, 100).join('\n')}\n${bom}${lines.slice(100).join('\n')}\n`;
  const input = path.join(dir, 'cat.jsonl');
  fs.writeFileSync(input, text);
  const out = path.join(dir, 'out');
  const r = runScript('convert', [input, '-o', out, '--no-progress']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /rejected\s+0\b/);
  assert.equal((await allEvents(out)).length, lines.length);
});
