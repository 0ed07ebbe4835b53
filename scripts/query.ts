#!/usr/bin/env -S npx tsx
// Finds events through the index and prints them as NIP-01 JSON lines.
import { runScript } from '../lib/cli/run.ts';
import { parseIntInRange } from '../lib/cli/flags.ts';
import { UsageError } from '../lib/cli/errors.ts';
import { indexPathOf } from '../lib/index/db.ts';
import { requireDayFileFolder } from '../lib/day-files/folder.ts';
import { indexBehindWarning } from '../lib/index/freshness.ts';
import { jsonLines, writeText } from '../lib/cli/write-lines.ts';
import { queryEvents, type EventFilter } from '../lib/index/query.ts';

const hex64 = (name: string, v: string) => {
  const s = v.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(s)) throw new UsageError(`--${name} takes 64 hex characters, not '${v}'`);
  return s;
};

await runScript({
  command: 'npx tsx scripts/query.ts',
  synopsis: '[PB_DIR] [options]',
  about: `
Finds events through PB_DIR/index.db (PB_DIR defaults to ./pb_data), reads only the day files
(and within them only the gzip members) that hold them, and prints them as NIP-01 JSON lines
newest first (as NIP-01 relays answer a filter; --order oldest for the reverse). Repeat --id,
--author or --kind to match any of several values; different options must all match (as in a
NIP-01 filter).`,
  positionals: { name: 'PB_DIR', min: 0, max: 1 },
  flags: {
    id: { kind: 'list', value: 'ID', help: 'event id (64 hex characters)' },
    author: { kind: 'list', value: 'PUBKEY', help: "author's public key (64 hex characters)" },
    kind: { kind: 'list', value: 'K', help: 'event kind' },
    since: { kind: 'int', value: 'T', min: 0, max: 253402300799, help: 'created_at >= T (Unix seconds)' },
    until: { kind: 'int', value: 'T', min: 0, max: 253402300799, help: 'created_at <= T (Unix seconds)' },
    limit: { kind: 'int', min: 0, max: Number.MAX_SAFE_INTEGER, help: 'the N newest matching events' },
    order: { kind: 'string', value: 'newest|oldest', default: 'newest', help: 'by created_at, newest or oldest first' },
    'index-path': { kind: 'string', value: 'P', help: 'the index file (default PB_DIR/index.db)' },
  },
  notes: `
Exit status 1 when an event the index names cannot be read (missing or damaged day file, index
out of date); the events that can be read are still printed.`,
}, async ({ flags, positionals: [dirArg] }) => {
  if (flags.order !== 'newest' && flags.order !== 'oldest') throw new UsageError(`--order takes newest or oldest, not '${flags.order}'`);
  const order = flags.order;
  const dir = dirArg ?? './pb_data';
  if (flags['index-path'] === undefined) requireDayFileFolder(dir, 'query');
  const filter: EventFilter = {
    ids: flags.id.length ? flags.id.map((v) => hex64('id', v)) : undefined,
    authors: flags.author.length ? flags.author.map((v) => hex64('author', v)) : undefined,
    kinds: flags.kind.length ? flags.kind.map((v) => parseIntInRange('kind', v, 0, 2147483647)) : undefined,
    since: flags.since,
    until: flags.until,
    limit: flags.limit,
  };
  const behind = indexBehindWarning(dir);
  if (behind) process.stderr.write(`${behind}\n`);
  let problems = 0;
  const problem = (text: string) => {
    problems++;
    process.stderr.write(`error: ${text}\n`);
  };
  for await (const events of queryEvents(dir, flags['index-path'] ?? indexPathOf(dir), filter, problem, { order })) {
    await writeText(process.stdout, jsonLines(events));
  }
  return problems ? 1 : 0;
});
