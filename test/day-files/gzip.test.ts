// The members' gzip (lib/day-files/gzip.ts): libdeflate and zlib both write members that every
// gzip reader takes back to the same bytes, at every level and size; the converter's --gzip gives
// the same events either way, says which ran, and auto falls back to zlib with one line when the
// system library cannot be loaded. The libdeflate tests skip, saying why, where it is missing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import zlib from 'node:zlib';
import { FatalError } from '../../lib/cli/errors.ts';
import { LIBDEFLATE_ENV, gzipSelfTestFailure, libdeflateGzip, makeGzip, resolveGzip, zlibGzip, type Gzip } from '../../lib/day-files/gzip.ts';
import { listDayFiles } from '../../lib/day-files/names.ts';
import { readDayFileEvents } from '../../lib/day-files/read-events.ts';
import { seededRandom } from '../../lib/dev/synthetic.ts';
import { ROOT, realSampleLines, tempDir } from '../helpers/common.ts';

let libdeflate: Gzip | undefined;
let libdeflateMissing: string | false = false;
try {
  libdeflate = makeGzip('libdeflate');
} catch (err) {
  libdeflateMissing = `libdeflate unavailable here (${(err as Error).message}); apt-get install libdeflate0 to run this`;
}

/** Inputs of the shapes members have: empty, one byte, text, random (incompressible), a few MB. */
function samples(): Buffer[] {
  const random = seededRandom(7);
  const noise = Buffer.alloc(300_000);
  for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(random() * 256);
  const text = Buffer.from(realSampleLines().join('\n'));
  return [Buffer.alloc(0), Buffer.from([0]), text, noise, Buffer.concat(Array.from({ length: 12 }, () => text)), Buffer.concat([text, noise, text])];
}

test('libdeflate members gunzip to their input at every level, and read back as one stream with zlib members beside them', { skip: libdeflateMissing }, () => {
  for (const data of samples()) {
    for (let level = 0; level <= 9; level++) {
      const member = libdeflate!(data, level);
      assert.ok(member.byteOffset === 0 && member.byteLength === member.buffer.byteLength, 'the member owns its memory (it moves between threads)');
      assert.ok(zlib.gunzipSync(member).equals(data), `level ${level}, ${data.length} bytes`);
    }
  }
  const [a, b] = [Buffer.from('first member '), Buffer.from('second member')];
  const file = Buffer.concat([libdeflate!(a, 6), zlibGzip(b, 6), libdeflate!(b, 1)]);
  assert.equal(zlib.gunzipSync(file).toString(), 'first member second membersecond member');
  const gunzip = spawnSync('gzip', ['-dc'], { input: file });
  assert.equal(gunzip.stdout.toString(), 'first member second membersecond member', 'the gzip command reads the members one after the other');
});

test('the self-test rejects a gzip that does not round-trip', () => {
  assert.equal(gzipSelfTestFailure(zlibGzip), undefined);
  assert.match(gzipSelfTestFailure((data, level) => zlibGzip(Buffer.concat([data, Buffer.from('x')]), level)) ?? '', /level 0 does not round-trip/);
  assert.match(gzipSelfTestFailure(() => new Uint8Array([1, 2, 3])) ?? '', /level 0: /);
});

test('resolveGzip: zlib on request; libdeflate that cannot be loaded is one FatalError line for --gzip libdeflate and a note for auto', () => {
  assert.deepEqual(resolveGzip('zlib'), { kind: 'zlib', label: 'zlib' });
  const saved = process.env[LIBDEFLATE_ENV];
  process.env[LIBDEFLATE_ENV] = '/nonexistent/libdeflate.so.absent';
  try {
    assert.throws(() => resolveGzip('libdeflate'), (err: Error) => err instanceof FatalError && /^--gzip libdeflate: libdeflate not found .*libdeflate\.so\.absent.*apt-get install libdeflate0/.test(err.message) && !err.message.includes('\n'));
    const auto = resolveGzip('auto');
    assert.equal(auto.kind, 'zlib');
    assert.match(auto.note ?? '', /^gzip: zlib, libdeflate unavailable: libdeflate not found .*apt-get install libdeflate0/);
    assert.throws(() => libdeflateGzip(['/nonexistent/x.so']), /libdeflate not found/);
  } finally {
    if (saved === undefined) delete process.env[LIBDEFLATE_ENV];
    else process.env[LIBDEFLATE_ENV] = saved;
  }
});

function convert(input: string, out: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'convert.ts'), input, '-o', out, '--no-progress', '--no-index', '-j', '2', '-b', '29', ...args], { cwd: ROOT, encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  return r;
}

async function eventsOf(dir: string): Promise<Map<string, string[]>> {
  const byDay = new Map<string, string[]>();
  for (const name of listDayFiles(dir)) {
    const ids: string[] = [];
    for await (const batch of readDayFileEvents(path.join(dir, name))) ids.push(...batch.map((e) => e.id));
    byDay.set(name, ids);
  }
  return byDay;
}

test('convert --gzip libdeflate and --gzip zlib store the same events in the same order; the summary and status file say which ran', { skip: libdeflateMissing }, async () => {
  const dir = tempDir();
  const input = path.join(dir, 'in.jsonl');
  fs.writeFileSync(input, realSampleLines().join('\n') + '\n');
  const outputs: Record<string, string> = {};
  for (const gzip of ['libdeflate', 'zlib']) {
    const out = path.join(dir, gzip);
    const status = path.join(dir, `${gzip}.json`);
    const r = convert(input, out, ['--gzip', gzip, '--status-file', status]);
    assert.match(r.stdout, gzip === 'zlib' ? /\n {2}gzip\s+zlib\n/ : /\n {2}gzip\s+libdeflate \(libdeflate\.so[.0-9]*\)\n/);
    assert.match(JSON.parse(fs.readFileSync(status, 'utf8')).gzip, new RegExp(`^${gzip}`));
    outputs[gzip] = out;
  }
  const [a, b] = [await eventsOf(outputs.libdeflate), await eventsOf(outputs.zlib)];
  assert.ok(a.size > 0);
  assert.deepEqual(a, b);
  assert.equal([...a.values()].flat().length, realSampleLines().length);
  // Appending with the other gzip to a folder: members of both kinds in one file, read as one.
  const again = convert(input, outputs.zlib, ['--gzip', 'libdeflate']);
  assert.match(again.stdout, /duplicates\s+150/);
  assert.deepEqual(await eventsOf(outputs.zlib), b);
});

test('convert --gzip auto without the system library: zlib, one line on stderr saying why, the same events; a bad --gzip is a usage error', async () => {
  const dir = tempDir();
  const input = path.join(dir, 'in.jsonl');
  fs.writeFileSync(input, realSampleLines().join('\n') + '\n');
  const env = { ...process.env, [LIBDEFLATE_ENV]: path.join(dir, 'libdeflate.so.absent') };
  const r = convert(input, path.join(dir, 'auto'), ['--validate-signatures=false'], env);
  const notes = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(notes.length, 1, r.stderr);
  assert.match(notes[0], /^gzip: zlib, libdeflate unavailable: libdeflate not found .*libdeflate\.so\.absent.*apt-get install libdeflate0/);
  assert.match(r.stdout, /\n {2}gzip\s+zlib\n/);
  assert.equal([...(await eventsOf(path.join(dir, 'auto'))).values()].flat().length, realSampleLines().length);
  const bad = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'convert.ts'), input, '--gzip', 'brotli'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--gzip takes auto, libdeflate, zlib, not 'brotli'/);
});
