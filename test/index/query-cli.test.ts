/**
 * query.ts through its command line, on real converted events: tag filters (the tags table),
 * --count, NIP-19 ids and keys, ISO dates, output formats and --filter JSON, each checked
 * against a brute-force NIP-01 match over the stored events.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { bech32 } from '@scure/base';
import { neventEncode, nprofileEncode } from 'nostr-tools/nip19';
import { hexKey } from '../../lib/nostr/nip19.ts';
import { encodeDelimited, type NostrEvent } from '../../lib/nostr/codec.ts';
import { allStoredEvents, parseLines, randomSample, realSampleLines, runScript, tempDir, writeJsonl } from '../helpers/index.ts';

interface Filter {
  ids?: string[]; authors?: string[]; kinds?: number[]; since?: number; until?: number; limit?: number;
  tags?: Record<string, string[]>;
}

/** NIP-01 by brute force: a tag filter matches an event with a tag of that letter whose first value is listed. */
function expected(events: NostrEvent[], f: Filter): string[] {
  return events.filter((e) =>
    (!f.ids || f.ids.includes(e.id))
    && (!f.authors || f.authors.includes(e.pubkey))
    && (!f.kinds || f.kinds.includes(e.kind))
    && (f.since === undefined || e.created_at >= f.since)
    && (f.until === undefined || e.created_at <= f.until)
    && Object.entries(f.tags ?? {}).every(([letter, values]) => e.tags.some((t) => t[0] === letter && values.includes(t[1] as string))))
    .sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1))
    .slice(0, f.limit ?? Infinity)
    .map((e) => e.id);
}

const npub = (hex: string) => bech32.encode('npub', bech32.toWords(Buffer.from(hex, 'hex')));
const note = (hex: string) => bech32.encode('note', bech32.toWords(Buffer.from(hex, 'hex')));
// TLV forms with relay hints (and, for an event, its author and kind), as clients share them.
const nprofile = (pubkey: string) => nprofileEncode({ pubkey, relays: ['wss://relay.example.com'] });
const nevent = (id: string, author?: string) => neventEncode({ id, relays: ['wss://relay.example.com'], author, kind: 1 });

function ok(args: string[]): string {
  const r = runScript('query', args);
  assert.equal(r.status, 0, `query ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const ids = (args: string[]) => ok([...args, '--format', 'ids']).split('\n').filter((l) => l !== '');

/** The most frequent first value of `letter` tags. */
function commonTag(events: NostrEvent[], letter: string, rank = 0): string {
  const counts = new Map<string, number>();
  for (const e of events) for (const t of e.tags) if (t[0] === letter && typeof t[1] === 'string') counts.set(t[1], (counts.get(t[1]) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[rank][0];
}

function convertCli(out: string, input: string, { validate = true, tags = true } = {}): void {
  const r = runScript('convert', [input, '--no-progress', '-o', out, ...(validate ? [] : ['--validate-signatures', 'false', '--validate-event-ids', 'false']), ...(tags ? ['--index-tags'] : [])]);
  assert.equal(r.status, 0, r.stderr);
}

test('tag filters, --count, NIP-19, ISO dates, formats and --filter through the command line', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const input = writeJsonl(path.join(dir, 'in.jsonl'), [...realSampleLines(), ...randomSample(600, 3, 3)]);
  convertCli(out, input, { validate: false });
  const events = await allStoredEvents(out);
  assert.ok(events.length > 700);
  const e1 = commonTag(events, 'e');
  const e2 = commonTag(events, 'e', 1);
  const p1 = commonTag(events, 'p');
  const p2 = commonTag(events, 'p', 1);
  const withE = events.find((e) => e.tags.some((t) => t[0] === 'e' && t[1] === e1))!;
  const times = events.map((e) => e.created_at).sort((a, b) => a - b);

  const cases: [string[], Filter][] = [
    [['--tag', `e=${e1}`], { tags: { e: [e1] } }],
    [['--tag', `e=${e1}`, '--tag', `e=${e2}`], { tags: { e: [e1, e2] } }], // same letter: any of
    [['--tag', `p=${p1}`, '--tag', `p=${p2}`, '--kind', '7'], { tags: { p: [p1, p2] }, kinds: [7] }],
    [['--tag', `e=${e1}`, '--tag', `p=${withE.tags.find((t) => t[0] === 'p')?.[1] ?? p1}`], { tags: { e: [e1], p: [String(withE.tags.find((t) => t[0] === 'p')?.[1] ?? p1)] } }], // different letters: all
    [['--tag', `p=${npub(p1)}`], { tags: { p: [p1] } }],
    [['--tag', `e=${note(e1)}`], { tags: { e: [e1] } }],
    [['--tag', 'L=#t'], { tags: { L: ['#t'] } }],
    [['--author', npub(withE.pubkey)], { authors: [withE.pubkey] }],
    [['--id', note(withE.id)], { ids: [withE.id] }],
    [['--author', nprofile(withE.pubkey)], { authors: [withE.pubkey] }],
    [['--id', nevent(withE.id, withE.pubkey)], { ids: [withE.id] }],
    [['--tag', `e=${nevent(e1)}`], { tags: { e: [e1] } }],
    [['--tag', `p=${nprofile(p1)}`], { tags: { p: [p1] } }],
    [['--since', new Date(times[100] * 1000).toISOString()], { since: times[100] }],
    [['--until', new Date(times[300] * 1000).toISOString().replace('.000Z', 'Z')], { until: times[300] }],
    [['--since', new Date(times[100] * 1000).toISOString().slice(0, 10)], { since: Date.parse(new Date(times[100] * 1000).toISOString().slice(0, 10)) / 1000 }],
    // A bare date as --until takes in the whole day.
    [['--until', new Date(times[0] * 1000).toISOString().slice(0, 10)], { until: Date.parse(new Date(times[0] * 1000).toISOString().slice(0, 10)) / 1000 + 86399 }],
    [['--filter', JSON.stringify({ kinds: [1, 7], '#p': [p1, p2] })], { kinds: [1, 7], tags: { p: [p1, p2] } }],
    [['--filter', JSON.stringify({ authors: [npub(withE.pubkey)], since: times[10] }), '--kind', String(withE.kind)], { authors: [withE.pubkey], since: times[10], kinds: [withE.kind] }],
    // Flags and filter must both match: the kinds of each narrow the other.
    [['--filter', JSON.stringify({ kinds: [1, 7], limit: 30 }), '--kind', '7', '--limit', '50'], { kinds: [7], limit: 30 }],
    [['--filter', JSON.stringify({ '#e': [e1] }), '--tag', `e=${e2}`], { tags: { e: [e1] }, ids: expected(events, { tags: { e: [e2] } }) }],
  ];
  for (const [args, f] of cases) {
    const want = expected(events, f);
    assert.deepEqual(ids([out, ...args]), want, args.join(' '));
    assert.equal(ok([out, ...args, '--count']), `${want.length}\n`, `count ${args.join(' ')}`);
  }
  assert.ok(expected(events, { tags: { e: [e1] } }).length >= 3);

  // JSON lines (default) are the stored events; TSV escapes tabs and newlines in the content.
  const p1Events = expected(events, { tags: { p: [p1] } });
  const byId = new Map(events.map((e) => [e.id, e]));
  assert.deepEqual(parseLines(ok([out, '--tag', `p=${p1}`])), p1Events.map((id) => byId.get(id)));
  const tsv = ok([out, '--format', 'tsv']).split('\n');
  assert.equal(tsv[0], 'id\tpubkey\tcreated_at\tkind\tcontent');
  assert.equal(tsv.length, events.length + 2);
  const unescape = (s: string) => s.replace(/\\(.)/g, (_, c) => ({ t: '\t', n: '\n', r: '\r', '\\': '\\' })[c as string]!);
  const multiline = events.filter((e) => /[\n\t\\]/.test(e.content));
  assert.ok(multiline.length > 0, 'the real sample has contents with newlines');
  for (const line of tsv.slice(1, -1)) {
    const cells = line.split('\t');
    assert.equal(cells.length, 5);
    const e = byId.get(cells[0])!;
    assert.deepEqual([cells[1], Number(cells[2]), Number(cells[3]), unescape(cells[4])], [e.pubkey, e.created_at, e.kind, e.content]);
  }

  // --count comes from the index alone: it still answers with the day files gone.
  for (const f of fs.readdirSync(out)) if (f.endsWith('.pb.gz')) fs.renameSync(path.join(out, f), path.join(dir, f));
  assert.equal(ok([out, '--count']), `${events.length}\n`);
  assert.equal(ok([out, '--count', '--kind', '7', '--limit', '5']), `${Math.min(5, expected(events, { kinds: [7] }).length)}\n`);
});

test('bad query options are one-line usage errors', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  convertCli(out, writeJsonl(path.join(dir, 'in.jsonl'), realSampleLines()));
  const pubkey = JSON.parse(realSampleLines()[0]).pubkey as string;
  const good = npub(pubkey);
  const broken = good.slice(0, -1) + (good.endsWith('q') ? 'p' : 'q');
  for (const [args, message] of [
    [['--author', broken], /--author: '.*' is not valid NIP-19/],
    [['--author', note(pubkey)], /--author takes 64 hex characters or npub1\.\.\. or nprofile1\.\.\.; '.*' is a note/],
    [['--id', nprofile(pubkey)], /--id takes 64 hex characters or note1\.\.\. or nevent1\.\.\.; '.*' is a nprofile/],
    [['--tag', 'e'], /--tag takes LETTER=VALUE/],
    [['--tag', 'ee=1'], /--tag takes LETTER=VALUE/],
    [['--since', '2025-02-30'], /--since takes Unix seconds or an ISO date/],
    [['--since', 'yesterday'], /--since takes Unix seconds or an ISO date/],
    [['--format', 'csv'], /--format takes json, ids or tsv, not 'csv'/],
    [['--filter', '{"kinds":[1]'], /--filter is not JSON/],
    [['--filter', '[1]'], /--filter takes a JSON object/],
    [['--filter', '{"kind":[1]}'], /--filter: unknown key "kind"/],
    [['--filter', '{"#e":"abc"}'], /--filter: "#e" takes an array of strings/],
  ] as [string[], RegExp][]) {
    const r = runScript('query', [out, ...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.split('\n')[0], message);
    assert.ok(r.stderr.trim().split('\n').length <= 2, r.stderr);
  }
  // NIP-19's own example key.
  const spec = runScript('query', [out, '--author', 'npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg', '--count']);
  assert.equal(spec.status, 0, spec.stderr);
  assert.equal(spec.stdout, '0\n');
  // NIP-19's own nprofile example (relays wss://r.x.com, wss://djbas.sadkb.com): the pubkey the NIP names, which matches nothing here.
  const example = 'nprofile1qqsrhuxx8l9ex335q7he0f09aej04zpazpl0ne2cgukyawd24mayt8gpp4mhxue69uhhytnc9e3k7mgpz4mhxue69uhkg6nzv9ejuumpv34kytnrdaksjlyr9p';
  assert.equal(hexKey('pubkey', example, '--author'), '3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d');
  const profile = runScript('query', [out, '--author', example, '--format', 'ids']);
  assert.equal(profile.status, 0, profile.stderr);
  assert.equal(profile.stdout, '');
});

const tagRows = (indexPath: string) => {
  const db = new Database(indexPath, { readonly: true });
  try {
    return db.prepare('SELECT name, value, event_id FROM tags ORDER BY name, value, event_id').all();
  } finally {
    db.close();
  }
};

test('the tags table: optional (convert --index-tags, rebuild --tags), kept up to date once there, the same rows from convert and rebuild, never started incomplete', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const lines = realSampleLines();
  // Two runs: the second adds to the index (and its tags) of the first; a third brings only copies.
  // Without --index-tags a new index has no tags table, and tag queries say how to add it.
  const plain = path.join(dir, 'plain');
  convertCli(plain, writeJsonl(path.join(dir, 'p.jsonl'), lines.slice(0, 10)), { tags: false });
  const refused = runScript('query', [plain, '--tag', `e=${'0'.repeat(64)}`]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /has no tags table \(convert indexes tags with --index-tags\); .*index\.ts rebuild --tags/);
  // --index-tags starts it; later runs without the flag keep it up to date (a third brings only copies).
  convertCli(out, writeJsonl(path.join(dir, 'a.jsonl'), lines.slice(0, 70)));
  convertCli(out, writeJsonl(path.join(dir, 'b.jsonl'), lines.slice(50)), { tags: false });
  convertCli(out, writeJsonl(path.join(dir, 'c.jsonl'), lines.slice(0, 20)), { tags: false });
  const events = await allStoredEvents(out);
  const want = events.flatMap((e) => e.tags.filter((t) => typeof t[0] === 'string' && /^[a-zA-Z]$/.test(t[0]) && typeof t[1] === 'string')
    .map((t) => ({ name: t[0] as string, value: t[1] as string, event_id: e.id })));
  const unique = [...new Map(want.map((r) => [`${r.name}\t${r.value}\t${r.event_id}`, r])).values()]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.value < b.value ? -1 : a.value > b.value ? 1 : a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0));
  assert.ok(unique.length > 1000);
  const indexPath = path.join(out, 'index.db');
  assert.deepEqual(tagRows(indexPath), unique);
  // A rebuild keeps the table of the index it replaces.
  const rebuilt = runScript('index', ['rebuild', out]);
  assert.equal(rebuilt.status, 0, rebuilt.stderr);
  assert.deepEqual(tagRows(indexPath), unique);

  // An index from before the tags table: tag queries ask for a rebuild; convert does not start a partial table.
  const db = new Database(indexPath);
  db.exec('DROP TABLE tags');
  db.close();
  const r = runScript('query', [out, '--tag', `e=${'0'.repeat(64)}`]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /has no tags table .*index\.ts rebuild --tags/);
  assert.equal(ok([out, '--count']), `${events.length}\n`); // other queries still work
  convertCli(out, writeJsonl(path.join(dir, 'd.jsonl'), randomSample(20, 8, 1)), { validate: false });
  assert.equal(ok([out, '--count']), `${events.length + 20}\n`);
  const after = new Database(indexPath, { readonly: true });
  assert.equal((after.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE name = 'tags'`).get() as { n: number }).n, 0);
  after.close();
  assert.equal(runScript('index', ['rebuild', out]).status, 0);
  assert.equal(runScript('query', [out, '--tag', `e=${'0'.repeat(64)}`]).status, 1);
  assert.equal(runScript('index', ['rebuild', out, '--tags']).status, 0);
  assert.ok(tagRows(indexPath).length > unique.length);
  assert.equal(ok([out, '--tag', `e=${'0'.repeat(64)}`]), '');
});

test('a day file cut inside its last member: the next convert salvages its whole events, and their tags join the table', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const lines = realSampleLines();
  convertCli(out, writeJsonl(path.join(dir, 'a.jsonl'), lines.slice(0, 60)));
  // A member that a crash cut short: its events are in neither the index nor (whole) the file.
  const cut = lines.slice(60, 120).map((l) => JSON.parse(l) as NostrEvent);
  const [dayFile] = fs.readdirSync(out).filter((f) => f.endsWith('.pb.gz'));
  const member = zlib.gzipSync(Buffer.concat(cut.map((e) => encodeDelimited(e))));
  fs.appendFileSync(path.join(out, dayFile), member.subarray(0, Math.floor(member.length * 0.9)));
  convertCli(out, writeJsonl(path.join(dir, 'b.jsonl'), lines.slice(120)), { tags: false });
  const events = await allStoredEvents(out);
  assert.ok(events.length > 100 && events.length < 150, `${events.length} events stored`);
  const want = events.flatMap((e) => e.tags.filter((t) => typeof t[0] === 'string' && /^[a-zA-Z]$/.test(t[0]) && typeof t[1] === 'string')
    .map((t) => `${t[0]}\t${t[1]}\t${e.id}`));
  const got = (tagRows(path.join(out, 'index.db')) as { name: string; value: string; event_id: string }[]).map((r) => `${r.name}\t${r.value}\t${r.event_id}`);
  assert.deepEqual(got.sort(), [...new Set(want)].sort());
  assert.equal(ok([out, '--count']), `${events.length}\n`);
});
