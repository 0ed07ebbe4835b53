import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import zlib from 'node:zlib';
import { encodeDelimited, type NostrEvent } from '../../lib/nostr/codec.ts';
import { dayFileName, dayOf, listDayFiles } from '../../lib/day-files/names.ts';
import { nextMessage } from '../helpers/common.ts';
import { convertInto, indexRows, randomSample, runScript, storedRows, tempDir, writeJsonl } from '../helpers/index.ts';

const UNSIGNED = ['--no-progress', '--validate-signatures', 'false', '--validate-event-ids', 'false'];
const fileOf = (e: NostrEvent) => dayFileName(dayOf(e.created_at));

/** How many whole messages an inflater gets out of a cut gzip member. */
function wholeMessagesIn(cutMember: Buffer): number {
  const readable = zlib.gunzipSync(cutMember, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  let n = 0;
  for (let m = nextMessage(readable, 0); m; m = nextMessage(readable, m.end)) n++;
  return n;
}

test('a day file that ends in a cut-off member (a write that did not finish): the next conversion cuts it back, writes that member\'s whole events again, and adds the rest', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const first = randomSample(300, 21, 3);
  await convertInto(out, writeJsonl(path.join(dir, 'first.jsonl'), first));
  const name = listDayFiles(out)[0];
  const file = path.join(out, name);
  const before = fs.readFileSync(file);

  // 60 events of that day whose member was cut at 60 % of its bytes.
  const lost = randomSample(2000, 22, 3).filter((e) => fileOf(e) === name).slice(0, 60);
  const member = zlib.gzipSync(Buffer.concat(lost.map(encodeDelimited)));
  const cut = member.subarray(0, Math.floor(member.length * 0.6));
  fs.appendFileSync(file, cut);
  const whole = wholeMessagesIn(cut);
  assert.ok(whole >= 5 && whole < 60, `${whole} whole messages`);

  // The new input repeats two of the recovered events and three of the lost ones.
  const fresh = randomSample(20, 23, 3);
  const again = lost.slice(whole - 2, whole + 3);
  const r = runScript('convert', [writeJsonl(path.join(dir, 'second.jsonl'), [...fresh, ...again]), '-o', out, ...UNSIGNED]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`already in folder ${300 + whole}\\b`));
  assert.match(r.stdout, /files repaired\s+1\b/);
  assert.match(r.stdout, /duplicates\s+2\b/);
  const log = fs.readFileSync(path.join(out, 'proton-beam.log'), 'utf8');
  assert.match(log, new RegExp(`${name}: cut back to byte ${before.length}, where its last complete gzip member ends .*; ${whole} whole events of the cut member written again`));

  assert.ok(fs.readFileSync(file).subarray(0, before.length).equals(before), 'what was complete is untouched');
  const rows = await storedRows(out); // reads every file to its end
  const expected = [...first, ...lost.slice(0, whole + 3), ...fresh].map((e) => e.id).sort();
  assert.deepEqual(rows.map((x) => x.id), expected);
  assert.deepEqual(indexRows(path.join(out, 'index.db')), rows, 'the index points at every event where it now is');
});

test('a member cut inside its gzip header, and a file that holds only a cut-off member, are repaired too', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const first = randomSample(100, 31, 2);
  await convertInto(out, writeJsonl(path.join(dir, 'first.jsonl'), first));
  const [a] = listDayFiles(out);
  fs.appendFileSync(path.join(out, a), zlib.gzipSync(Buffer.from('x')).subarray(0, 6));
  const b = '2031_01_01.pb.gz';
  fs.writeFileSync(path.join(out, b), zlib.gzipSync(Buffer.alloc(4096, 1)).subarray(0, 20));
  const r = runScript('convert', [writeJsonl(path.join(dir, 'none.jsonl'), []), '-o', out, ...UNSIGNED]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /files repaired\s+2\b/);
  assert.equal(fs.existsSync(path.join(out, b)), false, 'nothing whole was left of it');
  assert.deepEqual((await storedRows(out)).map((x) => x.id), first.map((e) => e.id).sort());
});

test('damage that is not a cut-off end still stops the conversion, naming the file and the byte', async () => {
  for (const damage of ['scrambled', 'half a message'] as const) {
    const dir = tempDir();
    const out = path.join(dir, 'out');
    await convertInto(out, writeJsonl(path.join(dir, 'first.jsonl'), randomSample(400, 41, 1)));
    const file = path.join(out, listDayFiles(out)[0]);
    const size = fs.statSync(file).size;
    if (damage === 'scrambled') {
      const buf = fs.readFileSync(file);
      for (let i = 40; i < 200; i += 3) buf[i] ^= 0x5a;
      fs.writeFileSync(file, buf);
    } else {
      // A whole gzip member holding a message cut short: not something an unfinished write leaves.
      fs.appendFileSync(file, zlib.gzipSync(encodeDelimited(randomSample(1, 42)[0]).subarray(0, 50)));
    }
    const damaged = fs.readFileSync(file);
    const r = runScript('convert', [writeJsonl(path.join(dir, 'second.jsonl'), randomSample(3, 43)), '-o', out, ...UNSIGNED]);
    assert.equal(r.status, 1, damage);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot read existing day file ${file} at byte ${damage === 'scrambled' ? 0 : size}: .*move it away or repair it`));
    assert.ok(fs.readFileSync(file).equals(damaged), 'left as it was');
  }
});

test('the repair is whole on its own: a conversion that fails right after it keeps the recovered events', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  await convertInto(out, writeJsonl(path.join(dir, 'first.jsonl'), randomSample(50, 51, 1)), { index: false });
  const name = listDayFiles(out)[0];
  const lost = randomSample(500, 52, 1).filter((e) => fileOf(e) === name).slice(0, 40);
  const member = zlib.gzipSync(Buffer.concat(lost.map(encodeDelimited)));
  const cut = member.subarray(0, Math.floor(member.length * 0.7));
  fs.appendFileSync(path.join(out, name), cut);
  fs.writeFileSync(path.join(out, 'index.db'), 'not a database, so the conversion stops after reading the folder');
  const r = runScript('convert', [writeJsonl(path.join(dir, 'second.jsonl'), randomSample(3, 53, 1)), '-o', out, ...UNSIGNED]);
  assert.equal(r.status, 1);
  const ids = new Set((await storedRows(out)).map((x) => x.id));
  assert.equal(ids.size, 50 + wholeMessagesIn(cut));
  for (const e of lost.slice(0, wholeMessagesIn(cut))) assert.ok(ids.has(e.id));
});
