#!/usr/bin/env -S npx tsx
// Finds events through the index and prints them as NIP-01 JSON lines.
import { runScript } from '../lib/cli/run.ts';
import { parseIntInRange } from '../lib/cli/flags.ts';
import { UsageError } from '../lib/cli/errors.ts';
import { indexPathOf } from '../lib/index/db.ts';
import { requireDayFileFolder } from '../lib/day-files/folder.ts';
import { indexBehindWarning } from '../lib/index/freshness.ts';
import { idLines, jsonLines, tsvLines, TSV_HEADER, writeText } from '../lib/cli/write-lines.ts';
import { countEvents, queryEvents, type EventFilter } from '../lib/index/query.ts';
import { parseFilterJson } from '../lib/index/filter-json.ts';
import { hexKey, tagFilterValue } from '../lib/nostr/nip19.ts';
import { parseTime } from '../lib/cli/time.ts';

const FORMATS = { json: jsonLines, ids: idLines, tsv: tsvLines } as const;

/** `--tag e=ID`: the letter and value. */
function parseTag(v: string): [string, string] {
  const m = /^([a-zA-Z])=(.*)$/s.exec(v);
  if (!m || m[2] === '') throw new UsageError(`--tag takes LETTER=VALUE (e.g. e=<event id>, p=<pubkey>), not '${v}'`);
  return [m[1], tagFilterValue(m[1], m[2], `--tag ${m[1]}`)];
}

await runScript({
  command: 'npx tsx scripts/query.ts',
  synopsis: '[PB_DIR] [options]',
  about: `
Finds events through PB_DIR/index.db (PB_DIR defaults to ./pb_data), reads only the day files
(and within them only the gzip members) that hold them, and prints them as NIP-01 JSON lines
newest first (as NIP-01 relays answer a filter; --order oldest for the reverse). Repeat --id,
--author, --kind or --tag with the same letter to match any of several values; different
options must all match (as in a NIP-01 filter), and so must a --filter given beside them.
Ids and pubkeys are 64 hex characters or NIP-19 note1.../nevent1... and npub1.../nprofile1...
(relay hints in them are ignored).`,
  positionals: { name: 'PB_DIR', min: 0, max: 1 },
  flags: {
    id: { kind: 'list', value: 'ID', help: 'event id (hex, note1... or nevent1...)' },
    author: { kind: 'list', value: 'PUBKEY', help: "author's public key (hex, npub1... or nprofile1...)" },
    kind: { kind: 'list', value: 'K', help: 'event kind' },
    tag: { kind: 'list', value: 'L=V', help: 'a tag with letter L and first value V (e=ID, p=PUBKEY, t=topic, ...)' },
    since: { kind: 'string', value: 'T', help: 'created_at >= T: Unix seconds or ISO date (2025-01-03, 2025-01-03T12:00:00Z; UTC if no zone)' },
    until: { kind: 'string', value: 'T', help: 'created_at <= T (as --since; a bare date includes that whole day)' },
    limit: { kind: 'int', min: 0, max: Number.MAX_SAFE_INTEGER, help: 'the N newest matching events' },
    filter: { kind: 'string', value: 'JSON', help: 'a NIP-01 filter, e.g. \'{"kinds":[1],"#p":["<pubkey>"],"since":1735689600}\'' },
    order: { kind: 'string', value: 'newest|oldest', default: 'newest', help: 'by created_at, newest or oldest first' },
    format: { kind: 'string', value: 'json|ids|tsv', default: 'json', help: 'JSON lines, ids one a line, or TSV (id, pubkey, created_at, kind, content)' },
    count: { kind: 'switch', help: 'print only the number of matching events (from the index; no day file is read)' },
    'index-path': { kind: 'string', value: 'P', help: 'the index file (default PB_DIR/index.db)' },
  },
  notes: `
Tag filters need the index's tags table: convert --index-tags, or add it with
npx tsx scripts/index.ts rebuild --tags. TSV has a header line; tabs, newlines and backslashes in
the content are written as \\t, \\n and \\\\.
Exit status 1 when an event the index names cannot be read (missing or damaged day file, index
out of date); the events that can be read are still printed.`,
}, async ({ flags, positionals: [dirArg] }) => {
  if (flags.order !== 'newest' && flags.order !== 'oldest') throw new UsageError(`--order takes newest or oldest, not '${flags.order}'`);
  const order = flags.order;
  if (!(flags.format in FORMATS)) throw new UsageError(`--format takes json, ids or tsv, not '${flags.format}'`);
  const format = flags.format as keyof typeof FORMATS;
  const dir = dirArg ?? './pb_data';
  const tags: Record<string, string[]> = {};
  for (const [letter, value] of flags.tag.map(parseTag)) (tags[letter] ??= []).push(value);
  const filter: EventFilter = {
    ids: flags.id.length ? flags.id.map((v) => hexKey('id', v, '--id')) : undefined,
    authors: flags.author.length ? flags.author.map((v) => hexKey('pubkey', v, '--author')) : undefined,
    kinds: flags.kind.length ? flags.kind.map((v) => parseIntInRange('kind', v, 0, 2147483647)) : undefined,
    since: flags.since === undefined ? undefined : parseTime('since', flags.since),
    until: flags.until === undefined ? undefined : parseTime('until', flags.until, true),
    limit: flags.limit,
    tags: flags.tag.length ? tags : undefined,
    also: flags.filter === undefined ? undefined : parseFilterJson(flags.filter),
  };
  if (flags['index-path'] === undefined) requireDayFileFolder(dir, 'query');
  const indexPath = flags['index-path'] ?? indexPathOf(dir);
  if (flags.count) {
    await writeText(process.stdout, `${countEvents(indexPath, filter)}\n`);
    return 0;
  }
  const behind = indexBehindWarning(dir);
  if (behind) process.stderr.write(`${behind}\n`);
  let problems = 0;
  const problem = (text: string) => {
    problems++;
    process.stderr.write(`error: ${text}\n`);
  };
  if (format === 'tsv') await writeText(process.stdout, TSV_HEADER);
  for await (const events of queryEvents(dir, indexPath, filter, problem, { order })) {
    await writeText(process.stdout, FORMATS[format](events));
  }
  return problems ? 1 : 0;
});
