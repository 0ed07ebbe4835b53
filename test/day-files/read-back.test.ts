import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { listDayFiles } from '../../lib/day-files/names.ts';
import { computeEventId, verifySignature } from '../../lib/nostr/validate.ts';
import { convertInto, parseLines, realSampleLines, runScript, tempDir, writeJsonl } from '../helpers/index.ts';

test('cat prints the real sample back exactly: every field equal, ids and signatures verify', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const lines = realSampleLines();
  await convertInto(out, writeJsonl(path.join(dir, 'in.jsonl'), lines), { validate: true, memberBytes: 16384 });
  const r = runScript('cat', listDayFiles(out).map((f) => path.join(out, f)));
  assert.equal(r.status, 0, r.stderr);
  const printed = parseLines(r.stdout);
  const input = new Map(lines.map((l) => { const e = JSON.parse(l); return [e.id, e]; }));
  assert.equal(printed.length, 150);
  let numericTags = 0;
  for (const e of printed) {
    assert.deepEqual(e, input.get(e.id));
    assert.deepEqual(Object.keys(e), ['id', 'pubkey', 'created_at', 'kind', 'tags', 'content', 'sig']);
    assert.equal(computeEventId(e).toString('hex'), e.id);
    assert.ok(verifySignature(Buffer.from(e.id, 'hex'), e.pubkey, e.sig));
    if (e.tags.some((t) => t.some((v) => typeof v !== 'string'))) numericTags++;
  }
  assert.equal(numericTags, 9);
});


test('cat on a folder and query on a file: one line saying what was expected, no stack', () => {
  const dir = tempDir();
  const cat = runScript('cat', [dir]);
  assert.equal(cat.status, 1);
  assert.equal(cat.stderr, `error: ${dir}: is a directory\n`);
  const file = path.join(dir, 'events.jsonl');
  fs.writeFileSync(file, '');
  const query = runScript('query', [file]);
  assert.equal(query.status, 1);
  assert.match(query.stderr, /^error: .*events\.jsonl is a file; query takes the folder that convert wrote/);
  assert.deepEqual(query.stderr.split('\n').slice(1), ['']);
});
