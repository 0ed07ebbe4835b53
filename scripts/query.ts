#!/usr/bin/env -S npx tsx
// Finds events through the index and prints them as NIP-01 JSON lines.
import { parseCommandLine, parseIntInRange, runMain } from '../lib/cli/args.ts';
import { UsageError } from '../lib/cli/errors.ts';
import { indexPathOf } from '../lib/index/db.ts';
import { indexBehindWarning } from '../lib/index/freshness.ts';
import { exitQuietlyOnClosedPipe, jsonLines, writeText } from '../lib/cli/write-lines.ts';
import { queryEvents, type EventFilter } from '../lib/index/query.ts';

const USAGE = `Usage: npx tsx scripts/query.ts [PB_DIR] [options]

Finds events through PB_DIR/index.db (PB_DIR defaults to ./pb_data), reads only the day files
(and within them only the gzip members) that hold them, and prints them as NIP-01 JSON lines
in storage order (day by day; within a day, as stored). Repeat --id, --author or --kind to
match any of several values; different options must all match (as in a NIP-01 filter).

Options:
      --id ID           event id (64 hex characters)
      --author PUBKEY   author's public key (64 hex characters)
      --kind K          event kind
      --since T         created_at >= T (Unix seconds)
      --until T         created_at <= T (Unix seconds)
      --limit N         the N newest matching events (still printed in storage order)
      --index-path P    the index file (default PB_DIR/index.db)
  -h, --help            this help

Exit status 1 when an event the index names cannot be read (missing or damaged day file, index
out of date); the events that can be read are still printed.
`;

const hex64 = (name: string, v: string) => {
  const s = v.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(s)) throw new UsageError(`--${name} takes 64 hex characters, not '${v}'`);
  return s;
};
const time = (name: string, v: string | undefined) => (v === undefined ? undefined : parseIntInRange(name, v, 0, 0, 253402300799));

exitQuietlyOnClosedPipe();

await runMain(USAGE, async () => {
  const { values, positionals } = parseCommandLine(process.argv.slice(2), {
    id: { type: 'string', multiple: true },
    author: { type: 'string', multiple: true },
    kind: { type: 'string', multiple: true },
    since: { type: 'string' },
    until: { type: 'string' },
    limit: { type: 'string' },
    'index-path': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError(`one PB_DIR expected, got ${positionals.length}: ${positionals.join(' ')}`);
  const dir = positionals[0] ?? './pb_data';
  const filter: EventFilter = {
    ids: values.id?.map((v) => hex64('id', v)),
    authors: values.author?.map((v) => hex64('author', v)),
    kinds: values.kind?.map((v) => parseIntInRange('kind', v, 0, 0, 2147483647)),
    since: time('since', values.since),
    until: time('until', values.until),
    limit: values.limit === undefined ? undefined : parseIntInRange('limit', values.limit, 0, 0, Number.MAX_SAFE_INTEGER),
  };
  const behind = indexBehindWarning(dir);
  if (behind) process.stderr.write(`${behind}\n`);
  let problems = 0;
  const problem = (text: string) => {
    problems++;
    process.stderr.write(`error: ${text}\n`);
  };
  for await (const events of queryEvents(dir, values['index-path'] ?? indexPathOf(dir), filter, problem)) {
    await writeText(process.stdout, jsonLines(events));
  }
  return problems ? 1 : 0;
});
