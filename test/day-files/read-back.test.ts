import assert from 'node:assert/strict';
import path from 'node:path';
import test from 'node:test';
import type { NostrEvent } from '../../lib/nostr/codec.ts';
import { listDayFiles } from '../../lib/day-files/names.ts';
import { computeEventId, verifySignature } from '../../lib/nostr/validate.ts';
import { queryEvents, type EventFilter } from '../../lib/index/query.ts';
import { allStoredEvents, convertInto, parseLines, randomSample, realSampleLines, runScript, tempDir, writeJsonl } from '../helpers/index.ts';

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

/** NIP-01 semantics, by brute force over every stored event (given in storage order). */
function bruteForce(events: NostrEvent[], f: EventFilter): string[] {
  const match = events.filter((e) =>
    (!f.ids?.length || f.ids.includes(e.id))
    && (!f.authors?.length || f.authors.includes(e.pubkey))
    && (!f.kinds?.length || f.kinds.includes(e.kind))
    && (f.since === undefined || e.created_at >= f.since)
    && (f.until === undefined || e.created_at <= f.until));
  if (f.limit === undefined) return match.map((e) => e.id);
  const newest = new Set([...match].sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1)).slice(0, f.limit).map((e) => e.id));
  return match.filter((e) => newest.has(e.id)).map((e) => e.id); // still in storage order
}

test('query filters, alone and combined, return what a brute-force scan finds, in storage order', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const input = writeJsonl(path.join(dir, 'in.jsonl'), [...realSampleLines(), ...randomSample(3000, 5, 4)]);
  await convertInto(out, input);
  const events = await allStoredEvents(out);
  assert.equal(events.length, 3150);
  const byId = new Map(events.map((e) => [e.id, e]));
  const [e1, e2, e3] = [events[7], events[1500], events[3100]];
  const times = events.map((e) => e.created_at).sort((a, b) => a - b);
  const [t1, t2] = [times[800], times[2200]];
  const filters: EventFilter[] = [
    {},
    { ids: [e1.id] },
    { ids: [e1.id, e2.id, e3.id, 'f'.repeat(64)] },
    { authors: [e2.pubkey] },
    { authors: [e1.pubkey, e3.pubkey] },
    { kinds: [7] },
    { kinds: [1, 30166, 3] },
    { since: t1 },
    { until: t2 },
    { since: t1, until: t1 }, // inclusive at both ends
    { limit: 25 },
    { kinds: [1], authors: [e2.pubkey, e3.pubkey] },
    { kinds: [1, 7], since: t1, until: t2, limit: 40 },
    { authors: [e2.pubkey], since: t1, until: t2 },
    { ids: [e1.id, e2.id], kinds: [e2.kind] },
    { ids: [e1.id], authors: [e2.pubkey] }, // nothing
    { kinds: [65535] }, // nothing
    { limit: 0 },
  ];
  for (const f of filters) {
    const got: string[] = [];
    const problems: string[] = [];
    for await (const page of queryEvents(out, path.join(out, 'index.db'), f, (p) => problems.push(p))) {
      for (const e of page) {
        assert.deepEqual(e, byId.get(e.id));
        got.push(e.id);
      }
    }
    assert.deepEqual(problems, []);
    assert.deepEqual(got, bruteForce(events, f), JSON.stringify(f));
  }
  // The CLI: repeated options, JSON lines.
  const r = runScript('query', [out, '--kind', '1', '--kind', '7', '--author', e2.pubkey, '--since', String(t1), '--limit', '5']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(parseLines(r.stdout).map((e) => e.id), bruteForce(events, { kinds: [1, 7], authors: [e2.pubkey], since: t1, limit: 5 }));
  const bad = runScript('query', [out, '--id', 'xyz']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--id takes 64 hex characters/);
});
