import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import Database from 'better-sqlite3';
import { listDayFiles } from '../../lib/day-files/names.ts';
import { readIndexFields } from '../../lib/nostr/fields.ts';
import { readMessagesAt } from '../../lib/day-files/members.ts';
import { rebuildIndex } from '../../lib/index/rebuild.ts';
import { convertInto, indexRows, randomSample, realSampleLines, runScript, storedRows, tempDir, writeJsonl } from '../helpers/index.ts';

test('index.db has exactly Proton Beam\'s table and indexes (plus two nullable location columns)', async () => {
  const dir = tempDir();
  await convertInto(path.join(dir, 'out'), writeJsonl(path.join(dir, 'in.jsonl'), randomSample(50)));
  const db = new Database(path.join(dir, 'out', 'index.db'), { readonly: true });
  const columns = db.prepare('PRAGMA table_info(events)').all().map((c: any) => [c.name, c.type, c.notnull, c.pk]);
  assert.deepEqual(columns, [
    ['id', 'TEXT', 0, 1],
    ['kind', 'INTEGER', 1, 0],
    ['pubkey', 'TEXT', 1, 0],
    ['created_at', 'INTEGER', 1, 0],
    ['file_path', 'TEXT', 1, 0],
    ['indexed_at', 'INTEGER', 1, 0],
    ['member_offset', 'INTEGER', 0, 0],
    ['offset_in_member', 'INTEGER', 0, 0],
  ]);
  const indexes = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL ORDER BY name`).all().map((r: any) => r.name);
  assert.deepEqual(indexes, ['idx_created_at', 'idx_file_path', 'idx_kind', 'idx_pubkey']);
  for (const [index, column] of [['idx_kind', 'kind'], ['idx_pubkey', 'pubkey'], ['idx_created_at', 'created_at'], ['idx_file_path', 'file_path']]) {
    assert.deepEqual(db.prepare(`PRAGMA index_info(${index})`).all().map((c: any) => c.name), [column]);
  }
  // Proton Beam's own insert (six columns, INSERT OR IGNORE) still works.
  db.close();
  const rw = new Database(path.join(dir, 'out', 'index.db'));
  rw.prepare('INSERT OR IGNORE INTO events (id, kind, pubkey, created_at, file_path, indexed_at) VALUES (?, ?, ?, ?, ?, ?)').run('f'.repeat(64), 1, 'e'.repeat(64), 1, '1970_01_01.pb.gz', 1);
  rw.close();
});

test('index rows equal the stored events exactly, with their gzip member and offset; rebuild gives the same rows', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const input = writeJsonl(path.join(dir, 'in.jsonl'), [...realSampleLines(), ...randomSample(1500)]);
  const counts = await convertInto(out, input);
  assert.equal(counts.index?.added, 1650);
  const rows = indexRows(path.join(out, 'index.db'));
  const stored = await storedRows(out);
  assert.equal(stored.length, 1650);
  assert.deepEqual(rows, stored);
  assert.ok(new Set(rows.map((r) => r.member_offset)).size > 20, 'small members: many per day');
  // Each location holds its event.
  for (const r of rows.filter((_, i) => i % 97 === 0)) {
    const m = await readMessagesAt(path.join(out, r.file_path), r.member_offset!, [r.offset_in_member!]);
    assert.equal(readIndexFields(m.get(r.offset_in_member!)!).id, r.id);
  }
  // Rebuild (into another path) gives the same rows.
  const other = path.join(dir, 'rebuilt.db');
  const s = await rebuildIndex({ dir: out, indexPath: other, parallel: 2 });
  assert.deepEqual([s.events, s.duplicates, s.damaged], [1650, 0, []]);
  assert.deepEqual(indexRows(other), rows);
  // The CLI replaces the folder's index.
  const r = runScript('index', ['rebuild', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /events\s+1,650/);
  assert.deepEqual(indexRows(path.join(out, 'index.db')), rows);
});

test('a second conversion into the folder adds to the index and never indexes an event twice', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const a = randomSample(400, 1);
  const b = randomSample(300, 2);
  await convertInto(out, writeJsonl(path.join(dir, 'a.jsonl'), a));
  const second = await convertInto(out, writeJsonl(path.join(dir, 'ab.jsonl'), [...b.slice(0, 150), ...a, ...b]));
  assert.equal(second.index?.added, 300);
  assert.equal(second.index?.rebuilt, false);
  const rows = indexRows(path.join(out, 'index.db'));
  assert.equal(rows.length, 700);
  assert.deepEqual(rows, await storedRows(out));
});

test('an index missing events that the folder already held is rebuilt after the conversion', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  await convertInto(out, writeJsonl(path.join(dir, 'a.jsonl'), randomSample(200, 1)), { index: false });
  assert.equal(fs.existsSync(path.join(out, 'index.db')), false);
  const second = await convertInto(out, writeJsonl(path.join(dir, 'b.jsonl'), randomSample(100, 2)));
  assert.equal(second.index?.rebuilt, true);
  assert.deepEqual(indexRows(path.join(out, 'index.db')), await storedRows(out));
  assert.equal(indexRows(path.join(out, 'index.db')).length, 300);
});

test('index.ts stats prints events, pubkeys, files, time span and top kinds', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  await convertInto(out, writeJsonl(path.join(dir, 'in.jsonl'), realSampleLines()), { validate: true });
  const r = runScript('index', ['stats', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /events\s+150\n/);
  assert.match(r.stdout, /unique pubkeys\s+44\n/);
  assert.match(r.stdout, /files\s+1\n/);
  assert.match(r.stdout, /earliest\s+2025-09-27T16:37:10Z \(1758991030\)/);
  assert.match(r.stdout, /latest\s+2025-09-27T16:37:43Z \(1758991063\)/);
  assert.match(r.stdout, /most common kinds\n\s+30166\s+74\s+49\.3%/);
  assert.equal(listDayFiles(out).length, 1);
});

test('query.ts prints newest first by default, --order oldest the reverse, --limit the newest N', async () => {
  const dir = tempDir();
  const lines = realSampleLines();
  await convertInto(path.join(dir, 'pb'), writeJsonl(path.join(dir, 'in.jsonl'), lines));
  const times = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l).created_at as number);
  const pb = path.join(dir, 'pb');
  const newest = runScript('query', [pb]);
  assert.equal(newest.status, 0, newest.stderr);
  const all = times(newest.stdout);
  assert.equal(all.length, new Set(lines.map((l) => JSON.parse(l).id)).size);
  assert.deepEqual(all, [...all].sort((a, b) => b - a));
  const oldest = runScript('query', [pb, '--order', 'oldest']);
  assert.deepEqual(oldest.stdout.trim().split('\n'), newest.stdout.trim().split('\n').reverse());
  assert.deepEqual(times(runScript('query', [pb, '--limit', '5']).stdout), all.slice(0, 5));
  const bad = runScript('query', [pb, '--order', 'random']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^error: --order takes newest or oldest/);
});
