import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import zlib from 'node:zlib';
import { formatBytes } from '../../lib/cli/format.ts';
import type { NostrEvent } from '../../lib/nostr/codec.ts';
import { makeSigners, signEvent } from '../../lib/dev/synthetic.ts';
import { ROOT, SHIPPED_SAMPLE, allEvents, canonical, convertOk, readDayDir, realSampleLines, runScript, tempDir } from '../helpers/common.ts';

const byId = (events: NostrEvent[]) => new Map(events.map((e) => [e.id, e]));

test('the 150 real events are all stored, each in its UTC day file, and read back exactly', async () => {
  const dir = tempDir();
  const input = path.join(dir, 'in.jsonl');
  fs.writeFileSync(input, realSampleLines().join('\n') + '\n');
  const out = path.join(dir, 'out');
  const r = convertOk([input, '-o', out]);
  assert.match(r.stdout, /valid events\s+150\b/);
  const days = await readDayDir(out);
  const expected = realSampleLines().map((l) => canonical(JSON.parse(l)));
  const stored = [...days.values()].flat();
  assert.equal(stored.length, 150);
  assert.deepEqual(byId(stored), byId(expected));
  for (const [name, events] of days) {
    for (const e of events) assert.equal(new Date(e.created_at * 1000).toISOString().slice(0, 10).replace(/-/g, '_') + '.pb.gz', name);
  }
  // Input order is kept within a day.
  const firstDay = [...days.values()][0];
  const inputOrder = expected.filter((e) => firstDay.some((x) => x.id === e.id)).map((e) => e.id);
  assert.deepEqual(firstDay.map((e) => e.id), inputOrder);
});

test('every kind of bad line is counted by reason and logged with its line number; no valid event is lost', async () => {
  const real = realSampleLines();
  const [signer] = makeSigners(1, 99);
  const huge = signEvent(signer, { created_at: 1700000000, kind: 1, tags: [], content: 'é'.repeat(1_500_000) }); // a 3 MB line
  const highKind = signEvent(signer, { created_at: 1700000000, kind: 70000, tags: [], content: 'kind above 65535' });
  const edited = { ...JSON.parse(real[2]), content: 'edited after signing' };
  const forged = JSON.parse(real[3]);
  forged.sig = (forged.sig[0] === '0' ? '1' : '0') + forged.sig.slice(1);
  const reordered = (() => { const e = JSON.parse(real[4]); return JSON.stringify({ sig: e.sig, tags: e.tags, content: e.content, kind: e.kind, id: e.id, created_at: e.created_at, pubkey: e.pubkey }, null, 2); })();
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  const lines: (string | Buffer)[] = [
    `\ufeff${real[0]}\r`, // 1: byte-order mark and CRLF: valid
    `${real[1]}\r`, // 2: CRLF: valid
    '', // 3: blank
    '  \t ', // 4: blank
    real[5].slice(0, 200), // 5: truncated
    '{not json}', // 6: malformed
    '[1,2,3]', '42', '"text"', 'null', // 7-10: not objects
    JSON.stringify({ ...JSON.parse(real[6]), created_at: '1700000000' }), // 11: wrong type
    JSON.stringify({ ...JSON.parse(real[6]), tags: 'p' }), // 12: wrong type
    JSON.stringify({ ...JSON.parse(real[6]), content: 12 }), // 13: wrong type
    JSON.stringify(edited), // 14: bad id
    JSON.stringify(forged), // 15: bad signature
    JSON.stringify(highKind), // 16: kind out of range
    Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), // 17: invalid UTF-8
    deep, // 18: pathologically nested array
    JSON.stringify({ ...JSON.parse(real[7]), tags: [[deep]] }).replace(`"${deep}"`, deep), // 19: nested inside tags
    JSON.stringify(huge), // 20: a 3 MB valid event
    ...real.slice(4, 149), // 21..165: valid
    reordered.replace(/\n/g, ' '), // 166: line 21 again, in another key order and spacing
    real[149], // 167: valid, and without a final newline
  ];
  const body = Buffer.concat(lines.map((l, i) => Buffer.concat([typeof l === 'string' ? Buffer.from(l) : l, Buffer.from(i === lines.length - 1 ? '' : '\n')])));
  const dir = tempDir();
  const input = path.join(dir, 'bad.jsonl');
  fs.writeFileSync(input, body); // the last line has no newline
  const out = path.join(dir, 'out');
  const r = convertOk([input, '-o', out, '-j', '2']);

  const stored = await allEvents(out);
  const expectedValid = [real[0], real[1], ...real.slice(4)].map((l) => canonical(JSON.parse(l))).concat([huge]);
  assert.equal(stored.length, expectedValid.length);
  assert.deepEqual(byId(stored), byId(expectedValid));
  assert.equal(byId(stored).get(huge.id)!.content.length, 1_500_000);

  assert.match(r.stdout, new RegExp(`lines read\\s+${lines.length}\\b`));
  assert.match(r.stdout, /duplicates\s+1\b/);
  const log = fs.readFileSync(path.join(out, 'proton-beam.log'), 'utf8');
  const logged = [...log.matchAll(/^line (\d+): (\w+):/gm)].map((m) => `${m[1]} ${m[2]}`);
  assert.deepEqual(logged, [
    '3 blank_line', '4 blank_line', '5 invalid_json', '6 invalid_json',
    '7 not_an_object', '8 not_an_object', '9 not_an_object', '10 not_an_object',
    '11 invalid_created_at', '12 invalid_tags', '13 invalid_content', '14 id_mismatch', '15 bad_signature',
    '16 kind_out_of_range', '17 invalid_utf8', '18 not_an_object', '19 invalid_tags',
  ]);
  for (const [reason, n] of Object.entries({ blank_line: 2, invalid_json: 2, not_an_object: 5, invalid_tags: 2, invalid_utf8: 1 })) {
    assert.match(r.stdout, new RegExp(`${reason}\\s+${n}\\b`));
  }
  assert.match(r.stdout, /rejected\s+17\b/);
});

test('lines over --max-line-bytes are rejected without being held, and the lines around them survive', async () => {
  const real = realSampleLines();
  const dir = tempDir();
  const input = path.join(dir, 'long.jsonl');
  fs.writeFileSync(input, [real[0], 'x'.repeat(300_000), real[1], `{"a":"${'y'.repeat(200_000)}"}`].join('\n'));
  const out = path.join(dir, 'out');
  const r = convertOk([input, '-o', out, '--max-line-bytes', '100000']);
  assert.deepEqual((await allEvents(out)).map((e) => e.id).sort(), [JSON.parse(real[0]).id, JSON.parse(real[1]).id].sort());
  const log = fs.readFileSync(path.join(out, 'proton-beam.log'), 'utf8');
  assert.deepEqual([...log.matchAll(/^line (\d+): (\w+):/gm)].map((m) => `${m[1]} ${m[2]}`), ['2 line_too_long', '4 line_too_long']);
  assert.match(r.stdout, /line_too_long\s+2\b/);
});

test('-j1 and -j4 write byte-identical day files', () => {
  const dir = tempDir();
  const input = path.join(dir, 'in.jsonl');
  fs.writeFileSync(input, fs.readFileSync(SHIPPED_SAMPLE, 'utf8') + realSampleLines().join('\n') + '\n');
  const outputs = ['1', '4'].map((j) => {
    const out = path.join(dir, `j${j}`);
    convertOk([input, '-o', out, '-j', j, '-b', '7']);
    return out;
  });
  const names = fs.readdirSync(outputs[0]).filter((n) => n.endsWith('.pb.gz')).sort();
  assert.ok(names.length >= 11);
  assert.deepEqual(fs.readdirSync(outputs[1]).filter((n) => n.endsWith('.pb.gz')).sort(), names);
  for (const n of names) assert.ok(fs.readFileSync(path.join(outputs[0], n)).equals(fs.readFileSync(path.join(outputs[1], n))), n);
});

test('converting into a folder that holds day files adds to them and never stores an event twice', async () => {
  const dir = tempDir();
  const realFile = path.join(dir, 'real.jsonl');
  fs.writeFileSync(realFile, realSampleLines().join('\n') + '\n');
  const out = path.join(dir, 'out');
  convertOk([realFile, '-o', out]);
  const both = path.join(dir, 'both.jsonl');
  fs.writeFileSync(both, fs.readFileSync(SHIPPED_SAMPLE, 'utf8') + fs.readFileSync(realFile, 'utf8'));
  const r = convertOk([both, '-o', out]);
  assert.match(r.stdout, /already in folder 150\b/);
  assert.match(r.stdout, /duplicates\s+176\b/); // 26 in the sample itself, 150 from the first run
  const stored = await allEvents(out);
  assert.equal(stored.length, 750);
  assert.equal(new Set(stored.map((e) => e.id)).size, 750);
});

test('reads standard input with -', async () => {
  const dir = tempDir();
  convertOk(['-', '-o', dir], realSampleLines().slice(0, 10).join('\n'));
  assert.equal((await allEvents(dir)).length, 10);
});

test('--status-file holds the final counts', () => {
  const dir = tempDir();
  const status = path.join(dir, 'status.json');
  convertOk([SHIPPED_SAMPLE, '-o', path.join(dir, 'out'), '--status-file', status]);
  const s = JSON.parse(fs.readFileSync(status, 'utf8'));
  assert.equal(s.phase, 'done');
  assert.equal(s.lines, 631);
  assert.equal(s.valid, 626);
  assert.equal(s.duplicates, 26);
  assert.equal(s.rejected, 5);
  assert.equal(s.bytesRead, fs.statSync(SHIPPED_SAMPLE).size);
});

test('usage errors: one line and where the help is, exit 2', () => {
  for (const args of [['--bogus', 'x'], [SHIPPED_SAMPLE, '--compression-level', '12'], [SHIPPED_SAMPLE, '--validate-signatures', 'maybe'], [], ['a', 'b'], [SHIPPED_SAMPLE, '-j', '0'], [SHIPPED_SAMPLE, '--no-filter-kinds', '--filter-invalid-kinds=true']]) {
    const r = runScript('convert', args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    const [line, hint, ...rest] = r.stderr.split('\n');
    assert.match(line, /^error: /);
    assert.equal(hint, 'see: npx tsx scripts/convert.ts --help');
    assert.deepEqual(rest, ['']);
  }
  assert.match(runScript('convert', ['--outdir', 'x', SHIPPED_SAMPLE]).stderr, /^error: unknown option --outdir \(did you mean --output-dir\?\)\n/);
  const help = runScript('convert', ['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--validate-signatures BOOL/);
});

test('both --flag=false and --flag false switch validation off', async () => {
  const [signer] = makeSigners(1, 5);
  const e = signEvent(signer, { created_at: 1700000000, kind: 1, tags: [], content: 'x' });
  const badSig = JSON.stringify({ ...e, sig: '0'.repeat(128) });
  const badId = JSON.stringify({ ...e, content: 'changed' });
  const dir = tempDir();
  convertOk(['-', '-o', path.join(dir, 'a'), '--validate-signatures=false'], badSig);
  assert.equal((await allEvents(path.join(dir, 'a'))).length, 1);
  convertOk(['-', '-o', path.join(dir, 'b'), '--validate-event-ids', 'false', '--validate-signatures', 'false'], badId);
  assert.equal((await allEvents(path.join(dir, 'b'))).length, 1);
  const checked = runScript('convert', ['-', '-o', path.join(dir, 'c')], badSig);
  assert.equal(checked.status, 1, 'no valid event');
  assert.match(checked.stderr, /no valid event in 1 lines of -: most lines failed the signature check/);
  assert.equal((await allEvents(path.join(dir, 'c'))).length, 0);
});

test('Proton Beam parity: kinds above 65535, negative created_at and empty tags are never stored, whatever the kind flags', async () => {
  const [signer] = makeSigners(1, 6);
  const sign = (kind: number, created_at: number, tags: string[][]) => JSON.stringify(signEvent(signer, { created_at, kind, tags, content: `${kind} ${created_at}` }));
  const input = [
    sign(70000, 1700000000, []), // 1
    sign(65536, 1700000000, []), // 2
    sign(2147483647, 1700000000, []), // 3
    sign(65535, 1700000000, []), // 4: valid, the largest kind
    sign(1, -1, []), // 5
    sign(1, -1700000000, []), // 6
    sign(1, 0, []), // 7: valid, 1970-01-01
    sign(1, 1700000000, [[]]), // 8
    sign(1, 1700000001, [['p', 'x'], []]), // 9
    sign(1, 1700000002, [['t']]), // 10: valid, a one-element tag
  ].join('\n');
  const wantLog = ['1 kind_out_of_range', '2 kind_out_of_range', '3 kind_out_of_range', '5 invalid_created_at', '6 invalid_created_at', '8 empty_tag', '9 empty_tag'];
  for (const flags of [[], ['--no-filter-kinds'], ['--filter-invalid-kinds', 'false'], ['--filter-invalid-kinds=true']]) {
    const dir = tempDir();
    const r = convertOk(['-', '-o', dir, ...flags], input);
    assert.deepEqual((await allEvents(dir)).map((e) => [e.kind, e.created_at, e.tags]).sort(), [[1, 0, []], [1, 1700000002, [['t']]], [65535, 1700000000, []]], flags.join(' '));
    const log = fs.readFileSync(path.join(dir, 'proton-beam.log'), 'utf8');
    assert.deepEqual([...log.matchAll(/^line (\d+): (\w+):/gm)].map((m) => `${m[1]} ${m[2]}`), wantLog, flags.join(' '));
    assert.match(log, /^line 5: invalid_created_at: created_at -1 is negative$/m);
    assert.match(log, /^line 9: empty_tag: tag 1 is empty/m);
    assert.match(r.stdout, /rejected\s+7\b/);
    for (const [reason, n] of Object.entries({ kind_out_of_range: 3, invalid_created_at: 2, empty_tag: 2 })) {
      assert.match(r.stdout, new RegExp(`^    ${reason}\\s+${n}$`, 'm'), `${reason} ${flags.join(' ')}`);
    }
  }
});

test('fatal problems: one line naming the path, exit 1', () => {
  const dir = tempDir();
  const missing = runScript('convert', [path.join(dir, 'nope.jsonl'), '-o', path.join(dir, 'o')]);
  assert.equal(missing.status, 1);
  assert.equal(missing.stderr.trim().split('\n').length, 1);
  assert.match(missing.stderr, /nope\.jsonl: no such file/);

  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, '');
  const notDir = runScript('convert', [SHIPPED_SAMPLE, '-o', path.join(file, 'sub')]);
  assert.equal(notDir.status, 1);
  assert.equal(notDir.stderr.trim().split('\n').length, 1);
  assert.match(notDir.stderr, /a-file\/sub/);
});

test('a full disk: one line naming the file, exit 1, and no day file left ending in a part-written member', { skip: process.getuid?.() !== 0 && 'needs root to mount a small tmpfs' }, async (t) => {
  const mnt = tempDir('pb-full-');
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]);
  if (mounted.status !== 0) return t.skip('cannot mount a tmpfs here');
  try {
    const r = runScript('convert', [SHIPPED_SAMPLE, '-o', mnt]);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /no space left on device/);
    assert.match(r.stderr, new RegExp(mnt));
    assert.ok((await allEvents(mnt)).length > 0, 'the day files written read to their end');
  } finally {
    spawnSync('umount', [mnt]);
  }
});

test('Ctrl-C: the lines read so far are written out completely, exit 130, and a second run resumes', async () => {
  const { spawn } = await import('node:child_process');
  const lines = fs.readFileSync(SHIPPED_SAMPLE, 'utf8').split('\n');
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const status = path.join(dir, 'status.json');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/convert.ts'), '-', '-o', out, '--no-progress', '--status-file', status], { cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.write(lines.slice(0, 300).join('\n') + '\n'); // and keep standard input open
  const linesDone = () => { try { return JSON.parse(fs.readFileSync(status, 'utf8')).lines; } catch { return 0; } };
  for (let waited = 0; linesDone() < 300 && waited < 60_000; waited += 200) await new Promise((r) => setTimeout(r, 200));
  child.kill('SIGINT');
  const code = await new Promise((r) => child.on('exit', r));
  assert.equal(code, 130, stderr);
  assert.match(stderr, /interrupted after line 300\b/);
  const first = await allEvents(out); // every file reads back whole
  assert.ok(first.length > 250, `${first.length} events written`);
  convertOk([SHIPPED_SAMPLE, '-o', out]);
  const all = await allEvents(out);
  assert.equal(all.length, 600);
  assert.equal(new Set(all.map((e) => e.id)).size, 600);
});

test('output folders that cannot be: one line each, never a hang (Node loops on mkdir -p under /proc)', () => {
  const dir = tempDir();
  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, '');
  const cases: [string, RegExp][] = [
    [file, /a-file is a file, not a folder/],
    ['/proc/proton-beam-test/sub', /\/proc\/proton-beam-test\/sub: no such file or directory/],
  ];
  for (const [out, message] of cases) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'convert.ts'), SHIPPED_SAMPLE, '-o', out], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, `${out}: ${r.stderr}`);
    assert.deepEqual(r.stderr.split('\n').slice(1), ['']);
    assert.match(r.stderr, message);
  }
});

test('no valid line at all: exit 1 with what the input looks like, and no empty index.db left', () => {
  const dir = tempDir();
  const cases: [string, string, RegExp][] = [
    ['array.json', '[' + realSampleLines().slice(0, 3).join(',\n') + ']\n', /looks like one JSON array; .*jq -c '\.\[\]'/],
    ['pretty.json', JSON.stringify(JSON.parse(realSampleLines()[0]), null, 2) + '\n', /looks like pretty-printed JSON/],
  ];
  for (const [name, text, hint] of cases) {
    const input = path.join(dir, name);
    fs.writeFileSync(input, text);
    const out = path.join(dir, `out-${name}`);
    const r = runScript('convert', [input, '-o', out]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, hint);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stdout, /valid events +0/, 'the summary still shows why');
    assert.deepEqual(fs.readdirSync(out), ['proton-beam.log']);
  }
  const pb = path.join(dir, 'pb');
  convertOk([SHIPPED_SAMPLE, '-o', pb]);
  const day = fs.readdirSync(pb).find((f) => f.endsWith('.pb.gz'))!;
  const again = runScript('convert', [path.join(pb, day), '-o', path.join(dir, 'from-day-file')]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /looks like a day file \(convert's output\); read it with/);
});

test('a gzip input: the summary gives the compressed bytes read and the JSONL they became', () => {
  const dir = tempDir();
  const input = path.join(dir, 'events.jsonl.gz');
  fs.writeFileSync(input, zlib.gzipSync(fs.readFileSync(SHIPPED_SAMPLE)));
  const r = convertOk([input, '-o', path.join(dir, 'out')]);
  const jsonl = fs.statSync(SHIPPED_SAMPLE).size;
  assert.match(r.stdout, new RegExp(`bytes in / out +${formatBytes(fs.statSync(input).size)} compressed \\(${formatBytes(jsonl)} of JSONL\\) / `));
});
