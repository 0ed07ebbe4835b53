import assert from 'node:assert/strict';
import path from 'node:path';
import test from 'node:test';
import type { NostrEvent } from '../../lib/nostr/codec.ts';
import { queryEvents, type EventFilter, type QueryOrder } from '../../lib/index/query.ts';
import { allStoredEvents, convertInto, parseLines, randomSample, realSampleLines, runScript, tempDir, writeJsonl } from '../helpers/index.ts';

/** NIP-01 semantics by brute force over every stored event: newest first, ties by smallest id; the limit keeps the newest. */
function bruteForce(events: NostrEvent[], f: EventFilter, order: QueryOrder = 'newest'): string[] {
  const match = events.filter((e) =>
    (!f.ids?.length || f.ids.includes(e.id))
    && (!f.authors?.length || f.authors.includes(e.pubkey))
    && (!f.kinds?.length || f.kinds.includes(e.kind))
    && (f.since === undefined || e.created_at >= f.since)
    && (f.until === undefined || e.created_at <= f.until));
  const newest = match.sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1)).slice(0, f.limit ?? Infinity).map((e) => e.id);
  return order === 'newest' ? newest : newest.reverse();
}

async function query(out: string, f: EventFilter, order?: QueryOrder): Promise<{ events: NostrEvent[]; pages: number; problems: string[] }> {
  const events: NostrEvent[] = [];
  const problems: string[] = [];
  let pages = 0;
  for await (const page of queryEvents(out, path.join(out, 'index.db'), f, (p) => problems.push(p), order && { order })) {
    pages++;
    events.push(...page);
  }
  return { events, pages, problems };
}

test('query filters, alone and combined, return what a brute-force scan finds, newest first or oldest first', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  // Five events share one second, so ties are ordered by id; the random ones span 4 days in small gzip members.
  const tied = randomSample(5, 9, 1).map((e) => ({ ...e, created_at: 1758900000 }));
  const input = writeJsonl(path.join(dir, 'in.jsonl'), [...realSampleLines(), ...randomSample(4500, 5, 4), ...tied]);
  await convertInto(out, input);
  const events = await allStoredEvents(out);
  assert.equal(events.length, 4655);
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
    { since: 1758900000, until: 1758900000 }, // the five tied events
    { limit: 25 },
    { limit: 3, since: 1758900000, until: 1758900000 }, // a limit cutting through a tie keeps the smallest ids
    { kinds: [1], authors: [e2.pubkey, e3.pubkey] },
    { kinds: [1, 7], since: t1, until: t2, limit: 40 },
    { authors: [e2.pubkey], since: t1, until: t2 },
    { ids: [e1.id, e2.id], kinds: [e2.kind] },
    { ids: [e1.id], authors: [e2.pubkey] }, // nothing
    { kinds: [65535] }, // nothing
    { limit: 0 },
  ];
  for (const f of filters) {
    const byDefault = await query(out, f);
    assert.deepEqual(byDefault.problems, []);
    for (const e of byDefault.events) assert.deepEqual(e, byId.get(e.id));
    assert.deepEqual(byDefault.events.map((e) => e.id), bruteForce(events, f), JSON.stringify(f));
    const newest = await query(out, f, 'newest');
    assert.deepEqual(newest.events.map((e) => e.id), bruteForce(events, f), `newest ${JSON.stringify(f)}`);
    const oldest = await query(out, f, 'oldest');
    assert.deepEqual(oldest.problems, []);
    assert.deepEqual(oldest.events.map((e) => e.id), bruteForce(events, f, 'oldest'), `oldest ${JSON.stringify(f)}`);
  }
  const tiedIds = tied.map((e) => e.id).sort();
  assert.deepEqual((await query(out, { since: 1758900000, until: 1758900000, limit: 3 })).events.map((e) => e.id), tiedIds.slice(0, 3));
  // More matches than one page (4096 rows): the pages follow each other in order.
  const all = await query(out, {}, 'oldest');
  assert.equal(all.pages, 2);
  assert.deepEqual(all.events.map((e) => e.created_at), times);
  // The CLI: repeated options, JSON lines, newest first.
  const r = runScript('query', [out, '--kind', '1', '--kind', '7', '--author', e2.pubkey, '--since', String(t1), '--limit', '5']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(parseLines(r.stdout).map((e) => e.id), bruteForce(events, { kinds: [1, 7], authors: [e2.pubkey], since: t1, limit: 5 }));
  const bad = runScript('query', [out, '--id', 'xyz']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--id takes 64 hex characters/);
});

test('an unknown order is a usage error, not a silent default', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  await convertInto(out, writeJsonl(path.join(dir, 'in.jsonl'), randomSample(3)));
  await assert.rejects(query(out, {}, 'stored' as QueryOrder), /order must be newest or oldest, not 'stored'/);
});
