import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { allEvents, convertOk, realSampleLines, tempDir } from '../helpers/common.ts';

/** The line with its signature broken (same id, same content). */
function forged(line: string): string {
  const e = JSON.parse(line);
  e.sig = (e.sig[0] === '0' ? '1' : '0') + e.sig.slice(1);
  return JSON.stringify(e);
}

/** The same event in another key order and spacing. */
function respaced(line: string): string {
  const e = JSON.parse(line);
  return JSON.stringify({ sig: e.sig, content: e.content, tags: e.tags, kind: e.kind, created_at: e.created_at, pubkey: e.pubkey, id: e.id }, null, 1).replace(/\n/g, ' ');
}

const summaryCounts = (stdout: string) =>
  Object.fromEntries(['lines read', 'valid events', 'stored', 'duplicates', 'rejected', 'bad_signature'].map((k) => [k, Number(new RegExp(`${k}\\s+([\\d,]+)`).exec(stdout)?.[1].replace(/,/g, '') ?? 0)]));

test('a line whose id is stored is a duplicate whatever its signature, the same for any -j and batch size, and its signature is not checked again', async () => {
  const real = realSampleLines();
  const lines = [
    ...real.slice(0, 50), // 1..50
    forged(real[0]), // 51: a broken copy of an event stored just before
    forged(real[100]), // 52: a broken copy of an event not yet stored: rejected
    ...real.slice(50), // 53..152
    ...real.map(respaced), // 153..302: every event again
    forged(real[1]), // 303
  ];
  const dir = tempDir();
  const input = path.join(dir, 'in.jsonl');
  fs.writeFileSync(input, lines.join('\n') + '\n');
  const runs = [['-j', '1', '-b', '1'], ['-j', '4', '-b', '7'], ['-j', '2']].map((args, i) => {
    const out = path.join(dir, `out${i}`);
    const r = convertOk([input, '-o', out, ...args]);
    return { out, stdout: r.stdout, log: fs.readFileSync(path.join(out, 'proton-beam.log'), 'utf8') };
  });
  for (const run of runs) {
    assert.deepEqual(summaryCounts(run.stdout), { 'lines read': 303, 'valid events': 302, stored: 150, duplicates: 152, rejected: 1, bad_signature: 1 }, run.stdout);
    assert.deepEqual([...run.log.matchAll(/^line (\d+): (\w+):/gm)].map((m) => `${m[1]} ${m[2]}`), ['52 bad_signature']);
    const skipped = Number(/signature check skipped for ([\d,]+)/.exec(run.stdout)?.[1].replace(/,/g, '') ?? 0);
    assert.ok(skipped > 0 && skipped <= 152, run.stdout);
  }
  const names = fs.readdirSync(runs[0].out).filter((n) => n.endsWith('.pb.gz')).sort();
  for (const run of runs.slice(1)) {
    for (const n of names) assert.ok(fs.readFileSync(path.join(runs[0].out, n)).equals(fs.readFileSync(path.join(run.out, n))), n);
  }
  const stored = await allEvents(runs[0].out);
  assert.deepEqual(stored.map((e) => e.sig).sort(), real.map((l) => JSON.parse(l).sig).sort(), 'only the good signatures are stored');

  // Again into the same folder: every line's id is stored now, so none is verified again.
  const again = convertOk([input, '-o', runs[0].out]);
  assert.deepEqual(summaryCounts(again.stdout), { 'lines read': 303, 'valid events': 303, stored: 0, duplicates: 303, rejected: 0, bad_signature: 0 }, again.stdout);
  assert.match(again.stdout, /signature check skipped for 303\b/);
});
