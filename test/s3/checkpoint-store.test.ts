/**
 * The S3 side of checkpoints, module by module, against s3rver with a folder made by a real
 * conversion: parts are byte ranges of whole gzip members, the record is the commit point, orphans
 * go, stored ids come back from the id lists, and each day file is assembled from its parts
 * (UploadPartCopy for big parts, merged uploads for small ones) into the very bytes of the local file.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startS3, type LocalS3 } from '../helpers/s3.ts';
import { convertInto, randomSample, tempDir, writeJsonl } from '../helpers/index.ts';
import { inflateMembers } from '../../lib/day-files/members.ts';
import { dayOfFileName, listDayFiles } from '../../lib/day-files/names.ts';
import { ID_RECORD_BYTES, dayOfRecord } from '../../lib/checkpoint/id-records.ts';
import { readDayFileEvents } from '../../lib/day-files/read-events.ts';
import { CheckpointStore } from '../../lib/checkpoint/s3-store.ts';
import {
  S3Checkpointer, deleteOrphans, loadStoredIds, readS3Checkpoint, type NewMember,
} from '../../lib/checkpoint/s3-checkpoint.ts';
import { assembleDayFile, checkLocalAgainstParts, copiesAPart, planSegments } from '../../lib/checkpoint/s3-assemble.ts';
import { partSizeFor } from '../../lib/s3/output.ts';
import { CHECKPOINT_VERSION, type CheckpointPart, type CheckpointRecord } from '../../lib/checkpoint/record.ts';
import { emptyCounts } from '../../lib/convert/summary.ts';
import { LOG_NAME } from '../../lib/convert/reject-log.ts';

let s3: LocalS3;
const root = tempDir('pb-ckpt-store-');
const dir = path.join(root, 'out');

before(async () => {
  s3 = await startS3(['out']);
  const input = writeJsonl(path.join(root, 'in.jsonl'), [...randomSample(400, 7, 3), 'not json']);
  await convertInto(dir, input, { memberBytes: 4096 });
});
after(async () => {
  await s3.close();
  fs.rmSync(root, { recursive: true, force: true });
});

/** Every member of each day file, in file order. */
async function membersOf(folder: string): Promise<NewMember[]> {
  const out: NewMember[] = [];
  for (const fileName of listDayFiles(folder)) {
    let start = 0;
    for await (const piece of inflateMembers(path.join(folder, fileName))) {
      if ('memberEnd' in piece) {
        out.push({ fileName, memberOffset: start, memberBytes: piece.memberEnd - start, events: 0 });
        start = piece.memberEnd;
      }
    }
  }
  // Events per member, from the files themselves.
  for (const m of out) m.events = (await eventsOfRange(path.join(folder, m.fileName), m.memberOffset, m.memberOffset + m.memberBytes)).length;
  return out;
}

async function eventsOfRange(file: string, start: number, end: number): Promise<string[]> {
  const whole = fs.readFileSync(file).subarray(start, end);
  const tmp = path.join(root, `range-${start}-${end}.pb.gz`);
  fs.writeFileSync(tmp, whole);
  const ids: string[] = [];
  for await (const batch of readDayFileEvents(tmp)) ids.push(...batch.map((e) => e.id));
  fs.rmSync(tmp);
  return ids;
}

async function idsInFiles(folder: string): Promise<string[]> {
  const ids: string[] = [];
  for (const name of listDayFiles(folder)) for await (const b of readDayFileEvents(path.join(folder, name))) ids.push(...b.map((e) => e.id));
  return ids;
}

const baseRecord = (): CheckpointRecord => ({
  version: CHECKPOINT_VERSION,
  input: { spec: '/in.jsonl', kind: 'file', size: 1, mtimeMs: 1 },
  next: { line: 1, offset: 0 },
  counts: emptyCounts(),
  parts: [], logParts: [], history: [], writtenAt: '',
});

/** One checkpoint, its background upload waited for: the record written. */
async function take(cp: S3Checkpointer, c: Parameters<S3Checkpointer['checkpoint']>[0]): Promise<CheckpointRecord> {
  await cp.checkpoint(c);
  await cp.settled();
  return cp.last!;
}

async function getObject(key: string): Promise<Buffer> {
  const res = await s3.s3.send(new GetObjectCommand({ Bucket: 'out', Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

describe('checkpoints in S3', () => {
  test('three checkpoints: parts are runs of whole members, the record last, ids and log segments beside; then assembly gives the local bytes', async () => {
    const store = new CheckpointStore(s3.s3, 's3://out/run1/');
    const members = await membersOf(dir);
    assert.ok(members.length > 12, `many members (${members.length})`);
    const cp = new S3Checkpointer(store, dir);
    const logSize = fs.statSync(path.join(dir, LOG_NAME)).size;
    // Split each file's members into three checkpoints (members of one file stay in order).
    const groups: NewMember[][] = [[], [], []];
    for (const name of listDayFiles(dir)) {
      const ms = members.filter((m) => m.fileName === name);
      ms.forEach((m, i) => groups[Math.min(2, Math.floor((3 * i) / ms.length))].push(m));
    }
    let record: CheckpointRecord | undefined;
    for (const [k, g] of groups.entries()) {
      const from = s3.requests.length;
      const logTo = Math.round((logSize * (k + 1)) / 3);
      record = await take(cp, {
        record: { ...baseRecord(), next: { line: 100 * (k + 1), offset: 1000 * (k + 1) } },
        newMembers: g, rejectLogBytes: { from: Math.round((logSize * k) / 3), to: logTo }, reason: 'test',
      });
      const puts = s3.requests.slice(from).filter((r) => r.method === 'PUT').map((r) => r.url.split('?')[0]);
      assert.equal(puts.at(-1), '/out/run1/_checkpoint.json', 'the record is written last');
      assert.ok(puts.slice(0, -1).every((u) => u.startsWith('/out/run1/_parts/')), puts.join(' '));
    }
    const saved = await readS3Checkpoint(store);
    assert.deepEqual(saved, record);
    assert.equal(saved!.parts.length, 3 * listDayFiles(dir).length);
    assert.deepEqual(saved!.next, { line: 300, offset: 3000 });
    // Each part is the bytes of its range of the day file.
    for (const p of saved!.parts) {
      const local = fs.readFileSync(path.join(dir, p.fileName)).subarray(p.offsetInFile, p.offsetInFile + p.bytes);
      assert.ok((await getObject(`run1/${p.key}`)).equals(local), p.key);
      assert.match(p.key, /^_parts\/\d{4}_\d{2}_\d{2}\/00000[123]\.gz$/);
    }
    assert.equal(saved!.parts.reduce((n, p) => n + p.events, 0), 400);
    // The stored ids come back from the id lists, in file order per checkpoint.
    const ids: string[] = [];
    // (id records: each id with the day of the file that holds it)
    const dayOfId = new Map<string, number>();
    for (const name of listDayFiles(dir)) {
      for await (const b of readDayFileEvents(path.join(dir, name))) for (const e of b) dayOfId.set(e.id, dayOfFileName(name));
    }
    for await (const records of loadStoredIds(store, saved!)) {
      for (let at = 0; at < records.length; at += ID_RECORD_BYTES) {
        const id = Buffer.from(records.subarray(at, at + 32)).toString('hex');
        assert.equal(dayOfRecord(records, at), dayOfId.get(id), `the day beside ${id}`);
        ids.push(id);
      }
    }
    assert.deepEqual([...ids].sort(), [...await idsInFiles(dir)].sort());
    assert.equal(ids.length, 400);
    // The log segments are the log.
    const log = Buffer.concat(await Promise.all(saved!.logParts.map((k) => getObject(`run1/${k}`))));
    assert.ok(log.equals(fs.readFileSync(path.join(dir, LOG_NAME))));

    // Assembly with a small minimum part size: copies and merged runs both happen; with the
    // record's parts all (nothing after them) and with the first two (the rest from the local file,
    // as at the end of a run whose last record is one interval behind).
    for (const name of listDayFiles(dir)) {
      const size = fs.statSync(path.join(dir, name)).size;
      const all = saved!.parts.filter((p) => p.fileName === name);
      for (const parts of [all, all.slice(0, 2)]) {
        const minPart = parts[0].bytes; // the first part is copied, smaller ones after it merged
        const plan = planSegments(parts, size, minPart);
        assert.ok(plan.some((s) => s.copy), `${name}: a part is copied (${JSON.stringify(plan.map((s) => [s.start, s.end, !!s.copy]))})`);
        assert.deepEqual([plan[0].start, plan.at(-1)!.end], [0, size], `${name}: the plan covers the file`);
        const from = s3.requests.length;
        const uploaded = await assembleDayFile(store, name, parts, path.join(dir, name), minPart);
        assert.ok((await getObject(`run1/${name}`)).equals(fs.readFileSync(path.join(dir, name))), `${name} from ${parts.length} parts: the assembled object is the local file`);
        const sent = s3.requests.slice(from);
        assert.ok(sent.some((r) => r.method === 'PUT' && r.headers['x-amz-copy-source'] && /partNumber=/.test(r.url)), 'UploadPartCopy was used');
        assert.equal(uploaded.size, size);
        assert.equal(uploaded.verifiedBy, 'etag-md5');
      }
    }
    // With S3's real 5 MiB minimum these small parts copy nothing: such a day file goes up whole (s3-finish.ts).
    const name = listDayFiles(dir)[0];
    const parts = saved!.parts.filter((p) => p.fileName === name);
    assert.equal(planSegments(parts, fs.statSync(path.join(dir, name)).size).length, 1);
    assert.equal(copiesAPart(parts, fs.statSync(path.join(dir, name)).size), false);
  });

  test('the plan of an assembly: parts of 5 MiB to 5 GiB copied unless local bytes wait before them, the rest in runs of 5 MiB (but the last) to about the part size', () => {
    const MiB = 1024 * 1024;
    let at = 0;
    const part = (bytes: number): CheckpointPart => {
      const p = { key: `_parts/x/${at}.gz`, fileName: 'x.pb.gz', offsetInFile: at, bytes, sha256: '', events: 1 };
      at += bytes;
      return p;
    };
    const parts = [part(6 * MiB), part(1 * MiB), part(2 * MiB), part(7 * MiB), part(8 * MiB), part(6 * 1024 * MiB), part(5 * MiB)];
    const size = at + 40 * MiB; // 40 MiB written since the last record
    const plan = planSegments(parts, size);
    const shape = plan.map((s) => [s.start / MiB, (s.end - s.start) / MiB, s.copy ? 'copy' : 'local']);
    assert.deepEqual(shape.slice(0, 3), [
      [0, 6, 'copy'],
      [6, 10, 'local'], // 1 + 2 MiB wait, so the 7 MiB part after them is sent with them
      [16, 8, 'copy'],
    ]);
    // The 6 GiB part is over S3's 5 GiB part limit: sent from the local file, in pieces of about
    // the part size; the 5 MiB part after it is copied; the 40 MiB since the last record are sent.
    assert.deepEqual(plan.filter((s) => s.copy).map((s) => s.copy!.bytes / MiB), [6, 8, 5]);
    assert.equal(plan.at(-1)!.end, size);
    for (const [k, s] of plan.entries()) {
      if (k > 0) assert.equal(s.start, plan[k - 1].end, `piece ${k} follows on`);
      if (s.copy) continue;
      assert.ok(s.end - s.start <= partSizeFor(size) + 5 * MiB, `piece ${k} about the part size at most`);
      if (k < plan.length - 1) assert.ok(s.end - s.start >= 5 * MiB, `piece ${k} at least 5 MiB`);
    }
    assert.ok(plan.filter((s) => !s.copy && s.start >= 24 * MiB && s.end <= 24 * MiB + 6 * 1024 * MiB).length > 100, 'the 6 GiB part in pieces');
    // A tail under 5 MiB after a copy is the last part; with no part at all, the file is one piece.
    at = 0;
    assert.deepEqual(planSegments([part(6 * MiB)], 7 * MiB).map((s) => [s.end - s.start, !!s.copy]), [[6 * MiB, true], [MiB, false]]);
    assert.deepEqual(planSegments([], 3 * MiB).map((s) => [s.start, s.end, !!s.copy]), [[0, 3 * MiB, false]]);
    assert.equal(copiesAPart([], 100 * MiB), false);
  });

  test('orphans: objects under _parts/ that the record does not list are deleted, the listed ones kept', async () => {
    const store = new CheckpointStore(s3.s3, 's3://out/run2/');
    const members = await membersOf(dir);
    const first = members.filter((m) => m.fileName === members[0].fileName).slice(0, 2);
    const cp = new S3Checkpointer(store, dir);
    const record = await take(cp, { record: baseRecord(), newMembers: first, rejectLogBytes: { from: 0, to: 0 }, reason: 'test' });
    for (const key of ['_parts/2025_01_01/000002.gz', '_parts/ids/000002.bin', '_parts/log/000001.log']) {
      await s3.setup.send(new PutObjectCommand({ Bucket: 'out', Key: `run2/${key}`, Body: 'left by a crash' }));
    }
    const saved = await readS3Checkpoint(store);
    assert.ok(saved && saved !== 'damaged');
    const orphans = await deleteOrphans(store, saved);
    assert.deepEqual(orphans.sort(), ['_parts/2025_01_01/000002.gz', '_parts/ids/000002.bin', '_parts/log/000001.log']);
    assert.deepEqual((await store.list('_parts/')).sort(), [...record.parts.map((p) => p.key), ...record.idParts!.map((p) => p.key)].sort());
    // With no record at all, everything under _parts/ is an orphan.
    assert.equal((await deleteOrphans(new CheckpointStore(s3.s3, 's3://out/run2/'), undefined)).length, 2);
  });

  test('members that do not follow on, or a local file that is not its parts, are refused', async () => {
    const store = new CheckpointStore(s3.s3, 's3://out/run3/');
    const members = await membersOf(dir);
    const ms = members.filter((m) => m.fileName === members[0].fileName);
    const cp = new S3Checkpointer(store, dir);
    // The first members of a file may follow bytes the folder held before the run: those go up too.
    const first = await take(cp, { record: baseRecord(), newMembers: [ms[1]], rejectLogBytes: { from: 0, to: 0 }, reason: 'test' });
    assert.deepEqual([first.parts[0].offsetInFile, first.parts[0].bytes], [0, ms[1].memberOffset + ms[1].memberBytes]);
    assert.equal(first.parts[0].events, ms[0].events + ms[1].events);
    // After that, a member that does not follow on is refused.
    await assert.rejects(take(cp, { record: baseRecord(), newMembers: [ms[3]], rejectLogBytes: { from: 0, to: 0 }, reason: 'test' }), new RegExp(`where ${ms[2].memberOffset} was expected`));
    const record = await take(cp, { record: baseRecord(), newMembers: ms.slice(2), rejectLogBytes: { from: 0, to: 0 }, reason: 'test' });
    const copy = path.join(root, 'tampered.pb.gz');
    const bytes = fs.readFileSync(path.join(dir, ms[0].fileName));
    bytes[bytes.length - 3] ^= 1;
    fs.writeFileSync(copy, bytes);
    await assert.rejects(checkLocalAgainstParts(copy, record.parts), /are not _parts\//);
  });

  test('a missing checkpoint is undefined; a foreign one is refused in one line', async () => {
    const store = new CheckpointStore(s3.s3, 's3://out/none/');
    assert.equal(await readS3Checkpoint(store), undefined);
    await s3.setup.send(new PutObjectCommand({ Bucket: 'out', Key: 'none/_checkpoint.json', Body: '{"version": 99}' }));
    await assert.rejects(readS3Checkpoint(store), new RegExp(`is not a checkpoint of version ${CHECKPOINT_VERSION} of this tool; delete it`));
    // Version 1 kept bare 32-byte ids in its id lists: a resume could not route them to their days.
    await s3.setup.send(new PutObjectCommand({ Bucket: 'out', Key: 'none/_checkpoint.json', Body: JSON.stringify({ ...baseRecord(), version: 1 }) }));
    await assert.rejects(readS3Checkpoint(store), /is not a checkpoint of version 2 of this tool/);
    // A record whose bytes are not what its writer recorded (cut off on a server that writes as bytes come).
    await s3.setup.send(new PutObjectCommand({ Bucket: 'out', Key: 'none/_checkpoint.json', Body: '{"version": 2, "par', Metadata: { sha256: '0'.repeat(64) } }));
    assert.equal(await readS3Checkpoint(store), 'damaged');
  });
});
