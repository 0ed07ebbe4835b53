/**
 * What a crash leaves behind, made on purpose: an index with a hot journal (a writer killed
 * mid-transaction), index rows pointing into a member that was then cut off, a zero-byte day file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { encodeDelimited, type NostrEvent } from '../../lib/nostr/codec.ts';
import { dayFileName, dayOf, listDayFiles } from '../../lib/day-files/names.ts';
import { indexRows, parseLines, randomSample, ROOT, runScript, storedRows, tempDir, writeJsonl } from '../helpers/index.ts';

const UNSIGNED = ['--no-progress', '--validate-signatures', 'false', '--validate-event-ids', 'false'];
const fileOf = (e: NostrEvent) => dayFileName(dayOf(e.created_at));

/** A process that deletes every row of the index in a transaction and is killed before it ends. */
function leaveHotJournal(indexPath: string): void {
  const script = `
    import Database from 'better-sqlite3';
    const db = new Database(${JSON.stringify(indexPath)});
    db.pragma('cache_size = 2'); // pages spill to the file at once: the journal is hot
    db.exec('BEGIN');
    db.exec('DELETE FROM events');
    process.kill(process.pid, 'SIGKILL');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
  assert.equal(r.signal, 'SIGKILL', String(r.stderr));
  assert.ok(fs.statSync(`${indexPath}-journal`).size > 0, 'a hot journal is left');
}

test('a writer of the index killed mid-transaction: stats, query and convert roll its journal back instead of failing read-only', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const events = randomSample(500, 61, 3);
  assert.equal(runScript('convert', [writeJsonl(path.join(dir, 'a.jsonl'), events), '-o', out, ...UNSIGNED]).status, 0);
  const indexPath = path.join(out, 'index.db');
  const rows = indexRows(indexPath);

  leaveHotJournal(indexPath);
  const stats = runScript('index', ['stats', out]);
  assert.equal(stats.status, 0, stats.stderr);
  assert.match(stats.stdout, /events\s+500\b/);

  leaveHotJournal(indexPath);
  const query = runScript('query', [out, '--id', events[7].id]);
  assert.equal(query.status, 0, query.stderr);
  assert.deepEqual(parseLines(query.stdout).map((e) => e.id), [events[7].id]);

  leaveHotJournal(indexPath);
  const more = randomSample(100, 62, 3);
  const r = runScript('convert', [writeJsonl(path.join(dir, 'b.jsonl'), more), '-o', out, ...UNSIGNED]);
  assert.equal(r.status, 0, r.stderr);
  const after = indexRows(indexPath);
  assert.equal(after.length, 600);
  assert.deepEqual(after, await storedRows(out));
  assert.ok(rows.every((row) => after.some((a) => a.id === row.id)));
});

test('index rows that point into a member later cut off (committed ahead of it): the repair corrects them', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const first = randomSample(300, 63, 3);
  assert.equal(runScript('convert', [writeJsonl(path.join(dir, 'a.jsonl'), first), '-o', out, ...UNSIGNED]).status, 0);
  const name = listDayFiles(out)[0];
  const file = path.join(out, name);
  const cutAt = fs.statSync(file).size;
  // 40 events of that day in a member cut at 70 %, and rows for all of them as if committed.
  const lost = randomSample(3000, 64, 3).filter((e) => fileOf(e) === name).slice(0, 40);
  const member = zlib.gzipSync(Buffer.concat(lost.map(encodeDelimited)));
  fs.appendFileSync(file, member.subarray(0, Math.floor(member.length * 0.7)));
  const db = new Database(path.join(out, 'index.db'));
  const insert = db.prepare('INSERT INTO events (id, kind, pubkey, created_at, file_path, indexed_at, member_offset, offset_in_member) VALUES (?, ?, ?, ?, ?, 0, ?, ?)');
  let offset = 0;
  for (const e of lost) {
    insert.run(e.id, e.kind, e.pubkey, e.created_at, name, cutAt, offset);
    offset += encodeDelimited(e).length;
  }
  db.close();

  const r = runScript('convert', [writeJsonl(path.join(dir, 'b.jsonl'), randomSample(50, 65, 3)), '-o', out, ...UNSIGNED]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /files repaired\s+1\b/);
  assert.deepEqual(indexRows(path.join(out, 'index.db')), await storedRows(out), 'every row where its event now is, none for events that are gone');
});

test('a zero-byte day file (killed between creating it and its first write) is read as empty: convert adds to it, rebuild, query and cat work', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const events = randomSample(200, 66, 3);
  fs.mkdirSync(out);
  const empty = fileOf(events[0]);
  fs.writeFileSync(path.join(out, empty), '');
  fs.writeFileSync(path.join(out, '2020_01_01.pb.gz'), ''); // a day no event has
  const r = runScript('convert', [writeJsonl(path.join(dir, 'a.jsonl'), events), '-o', out, ...UNSIGNED]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(indexRows(path.join(out, 'index.db')).length, 200);
  assert.deepEqual(indexRows(path.join(out, 'index.db')), await storedRows(out));
  const rebuild = runScript('index', ['rebuild', out]);
  assert.equal(rebuild.status, 0, rebuild.stderr);
  assert.equal(runScript('query', [out, '--id', events[0].id]).status, 0);
  const cat = runScript('cat', [path.join(out, '2020_01_01.pb.gz'), path.join(out, empty)]);
  assert.equal(cat.status, 0, cat.stderr);
  assert.equal(parseLines(cat.stdout).length, events.filter((e) => fileOf(e) === empty).length);
});
