import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { encodeDelimited } from '../../lib/nostr/codec.ts';
import { indexRows, parseLines, randomSample, runScript, tempDir } from '../helpers/index.ts';

// Day files written by other tools: Proton Beam writes a day as one gzip stream; others may cut
// members anywhere, even inside a message. Both must read, index and look up like ours.
test('a day in one large gzip member, and members cut inside messages: cat, rebuild and query work', async () => {
  const dir = tempDir();
  const events = randomSample(15000, 4, 1).sort((a, b) => a.created_at - b.created_at);
  const day = (name: string) => path.join(dir, name);
  const stream = Buffer.concat(events.map((e) => encodeDelimited(e)));
  // One member of several MB (read as a stream, not whole).
  fs.writeFileSync(day('2025_09_26.pb.gz'), zlib.gzipSync(stream));
  // The same bytes in three members cut at arbitrary points, inside messages (in another day's name).
  const others = randomSample(15000, 5, 1).map((e) => ({ ...e, created_at: e.created_at + 86400 * 3 }));
  const moved = Buffer.concat(others.map((e) => encodeDelimited(e)));
  const cuts = [0, 100_003, 3_777_777, moved.length];
  fs.writeFileSync(day('2025_09_29.pb.gz'), Buffer.concat(cuts.slice(1).map((end, i) => zlib.gzipSync(moved.subarray(cuts[i], end)))));
  assert.ok(fs.statSync(day('2025_09_26.pb.gz')).size > 2 << 20);

  const cat = runScript('cat', [day('2025_09_26.pb.gz'), day('2025_09_29.pb.gz')]);
  assert.equal(cat.status, 0, cat.stderr);
  const printed = parseLines(cat.stdout);
  assert.deepEqual(printed, [...events, ...others]);

  const r = runScript('index', ['rebuild', dir]);
  assert.equal(r.status, 0, r.stderr);
  const rows = indexRows(path.join(dir, 'index.db'));
  assert.equal(rows.length, 30000);
  assert.deepEqual(new Set(rows.filter((x) => x.file_path === '2025_09_26.pb.gz').map((x) => x.member_offset)), new Set([0]));
  assert.equal(new Set(rows.filter((x) => x.file_path === '2025_09_29.pb.gz').map((x) => x.member_offset)).size, 3);

  // Messages that start in one member and end in the next, and events deep in the large member.
  const byId = new Map(printed.map((e) => [e.id, e]));
  const straddling = rows.filter((x) => x.file_path === '2025_09_29.pb.gz').sort((a, b) => a.member_offset! - b.member_offset! || b.offset_in_member! - a.offset_in_member!);
  const lastOfFirst = straddling.find((x) => x.member_offset === 0)!;
  const wanted = [lastOfFirst.id, rows.find((x) => x.file_path === '2025_09_26.pb.gz' && x.offset_in_member! > 6_000_000)!.id];
  const q = runScript('query', [dir, ...wanted.flatMap((id) => ['--id', id])]);
  assert.equal(q.status, 0, q.stderr);
  assert.deepEqual(new Set(parseLines(q.stdout).map((e) => JSON.stringify(e))), new Set(wanted.map((id) => JSON.stringify(byId.get(id)))));

  // Rows written by Proton Beam itself have no location: the file is scanned for them.
  const db = new Database(path.join(dir, 'index.db'));
  db.prepare('UPDATE events SET member_offset = NULL, offset_in_member = NULL WHERE id IN (?, ?)').run(...wanted);
  db.close();
  const q2 = runScript('query', [dir, ...wanted.flatMap((id) => ['--id', id])]);
  assert.equal(q2.status, 0, q2.stderr);
  assert.equal(parseLines(q2.stdout).length, 2);
});
