import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { encodeDelimited } from '../../lib/nostr/codec.ts';
import { listDayFiles } from '../../lib/day-files/names.ts';
import { convertInto, indexRows, parseLines, randomSample, runScript, tempDir, writeJsonl, type Row } from '../helpers/index.ts';

/** A folder of day files with many small gzip members, indexed; and its rows. */
async function folder() {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  await convertInto(out, writeJsonl(path.join(dir, 'in.jsonl'), randomSample(1200, 9, 3)));
  const rows = indexRows(path.join(out, 'index.db'));
  const files = listDayFiles(out);
  const rowsOf = (file: string) => rows.filter((r) => r.file_path === file).sort((a, b) => a.member_offset! - b.member_offset! || a.offset_in_member! - b.offset_in_member!);
  return { dir, out, rows, files, rowsOf };
}

const members = (rows: Row[]) => [...new Set(rows.map((r) => r.member_offset!))];

test('truncated inside a gzip member, or inside a message: the events before come out, the error names file and offset', async () => {
  const { out, files, rowsOf } = await folder();
  // 1. Cut in the middle of a member.
  const [f1, f2] = files;
  const rows1 = rowsOf(f1);
  const starts = members(rows1);
  const cutMember = starts[Math.floor(starts.length / 2)];
  const p1 = path.join(out, f1);
  fs.truncateSync(p1, cutMember + 300);
  // 2. A last member that holds a message cut short (as if written by a crashed writer).
  const p2 = path.join(out, f2);
  const size2 = fs.statSync(p2).size;
  const message = encodeDelimited(randomSample(1, 77)[0]);
  fs.appendFileSync(p2, zlib.gzipSync(message.subarray(0, 100)));

  const cat = runScript('cat', [p1, p2]);
  assert.equal(cat.status, 1);
  const printed = parseLines(cat.stdout).map((e) => e.id);
  const before1 = rows1.filter((r) => r.member_offset! < cutMember).map((r) => r.id);
  const all2 = rowsOf(f2).map((r) => r.id);
  // Every event before the damaged member, maybe a few from its readable start, then all of the other file.
  assert.deepEqual(printed.slice(0, before1.length), before1);
  assert.deepEqual(printed.slice(-all2.length), all2);
  assert.ok(printed.length - all2.length < rows1.length);
  assert.match(cat.stderr, new RegExp(`error: ${p1} at byte ${cutMember}: gzip member cut off \\(the file ends at byte ${cutMember + 300}\\)`));
  assert.match(cat.stderr, new RegExp(`error: ${p2} at byte ${size2}: the file ends inside a message \\(at offset 0 of this gzip member's data; 100 bytes of it present\\)`));

  // rebuild reports and skips the damaged tails, indexes the rest, exits 1.
  const r = runScript('index', ['rebuild', out]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /2 damaged day files/);
  assert.match(r.stderr, new RegExp(`${p1} at byte ${cutMember}: gzip member cut off`));
  assert.match(r.stderr, new RegExp(`${p2} at byte ${size2}: the file ends inside a message`));
  const rebuilt = indexRows(path.join(out, 'index.db'));
  const ids = new Set(rebuilt.map((x) => x.id));
  for (const id of [...before1, ...all2]) assert.ok(ids.has(id));
  for (const f of files.slice(2)) for (const x of rowsOf(f)) assert.ok(ids.has(x.id));
});

test('a file that is not protobuf, or not gzip: a clear error naming it; rebuild indexes the other files', async () => {
  const { out, files, rowsOf } = await folder();
  const notGzip = path.join(out, '2030_01_01.pb.gz');
  fs.writeFileSync(notGzip, 'just some text\n');
  const notProto = path.join(out, '2030_01_02.pb.gz');
  fs.writeFileSync(notProto, zlib.gzipSync(JSON.stringify(randomSample(3)) + '\n'));
  const cat = runScript('cat', [notGzip, notProto]);
  assert.equal(cat.status, 1);
  assert.equal(cat.stdout, '');
  assert.match(cat.stderr, new RegExp(`error: ${notGzip} at byte 0: not a gzip file`));
  assert.match(cat.stderr, new RegExp(`error: ${notProto} at byte 0: (the message at offset 0 of this gzip member's data is not a Nostr ProtoEvent|not a ProtoEvent stream)`));
  const r = runScript('index', ['rebuild', out]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /2 damaged day files/);
  assert.match(r.stderr, /2030_01_01\.pb\.gz at byte 0: not a gzip file/);
  assert.match(r.stderr, /2030_01_02\.pb\.gz at byte 0: /);
  assert.equal(indexRows(path.join(out, 'index.db')).length, files.reduce((n, f) => n + rowsOf(f).length, 0));
});

test('a damaged member does not stop lookups in the other members of its file (one member is read)', async () => {
  const { out, files, rowsOf } = await folder();
  const rows = rowsOf(files[0]);
  const starts = members(rows);
  const p = path.join(out, files[0]);
  const buf = fs.readFileSync(p);
  for (let i = starts[1] + 20; i < starts[2] - 20; i += 7) buf[i] ^= 0x5a; // scramble member 1's deflate data
  fs.writeFileSync(p, buf);
  const good = rows.find((r) => r.member_offset === starts[3])!;
  const ok = runScript('query', [out, '--id', good.id]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(parseLines(ok.stdout)[0].id, good.id);
  const bad = rows.find((r) => r.member_offset === starts[1])!;
  const q = runScript('query', [out, '--id', bad.id, '--id', good.id]);
  assert.equal(q.status, 1);
  assert.deepEqual(parseLines(q.stdout).map((e) => e.id), [good.id]);
  assert.match(q.stderr, new RegExp(`error: ${p} at byte ${starts[1]}: (damaged gzip member|gzip member fails its CRC-32)`));
});

test('an index row whose day file is missing: the other events still come out, the error names the file', async () => {
  const { out, files, rowsOf } = await folder();
  const gone = path.join(out, files[1]);
  fs.rmSync(gone);
  const q = runScript('query', [out]);
  assert.equal(q.status, 1);
  const printed = new Set(parseLines(q.stdout).map((e) => e.id));
  assert.equal(printed.size, rowsOf(files[0]).length + rowsOf(files[2]).length);
  assert.equal(q.stderr.trim().split('\n').length, 1, 'reported once');
  assert.match(q.stderr, new RegExp(`error: ${gone}: missing, but the index lists events in it`));
});

test('an index from another tool, or not a database at all: a clear error naming the file', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  const indexPath = path.join(out, 'index.db');
  const db = new Database(indexPath);
  db.exec('CREATE TABLE events (id INTEGER PRIMARY KEY, kind INTEGER, data TEXT)');
  db.close();
  for (const [script, args] of [['query', [out]], ['index', ['stats', out]]] as const) {
    const r = runScript(script, [...args]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^error: ${indexPath}: not a Proton Beam index \\(table events has column 1 id INTEGER PRIMARY KEY where id TEXT PRIMARY KEY was expected\\)`));
  }
  const input = writeJsonl(path.join(dir, 'in.jsonl'), randomSample(5));
  const c = runScript('convert', [input, '-o', out, '--no-progress', '--validate-signatures', 'false', '--validate-event-ids', 'false']);
  assert.equal(c.status, 1);
  assert.match(c.stderr, /not a Proton Beam index/);
  assert.deepEqual(listDayFiles(out), [], 'nothing converted');
  fs.writeFileSync(indexPath, 'x'.repeat(5000));
  const s = runScript('index', ['stats', out]);
  assert.equal(s.status, 1);
  assert.match(s.stderr, new RegExp(`error: ${indexPath}: not an SQLite database`));
  fs.rmSync(indexPath);
  const none = runScript('query', [out]);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /no index here; build it with: npx tsx scripts\/index.ts rebuild/);
});
