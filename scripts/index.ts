#!/usr/bin/env -S npx tsx
// The SQLite index of a folder of day files: rebuild it from the files, or show what it holds.
import path from 'node:path';
import { parseCommandLine, parseIntInRange, runMain } from '../lib/cli/args.ts';
import { defaultParallelism } from '../lib/convert/pipeline.ts';
import { UsageError } from '../lib/cli/errors.ts';
import { indexPathOf } from '../lib/index/db.ts';
import { indexBehindWarning } from '../lib/index/freshness.ts';
import { rebuildIndex } from '../lib/index/rebuild.ts';
import { formatStats, indexStats } from '../lib/index/stats.ts';

const USAGE = `Usage: npx tsx scripts/index.ts rebuild [PB_DIR] [options]
       npx tsx scripts/index.ts stats [PB_DIR] [--index-path P]

rebuild  reads every day file (YYYY_MM_DD.pb.gz) in PB_DIR and writes a new index
         (PB_DIR/index.db unless --index-path), replacing the old one at the end. Damaged
         files are reported, their readable events indexed, and the exit status is 1.
stats    prints the number of events, unique pubkeys and files, the earliest and latest
         event, and the most common kinds.

PB_DIR defaults to ./pb_data.

Options:
      --index-path P   the index file (default PB_DIR/index.db)
  -j, --parallel N     worker threads reading day files (default ${defaultParallelism()})
  -v, --verbose        say more about what happens
  -h, --help           this help
`;

await runMain(USAGE, async () => {
  const { values, positionals } = parseCommandLine(process.argv.slice(2), {
    'index-path': { type: 'string' },
    parallel: { type: 'string', short: 'j' },
    verbose: { type: 'boolean', short: 'v' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [command, dirArg, ...rest] = positionals;
  if (!command) throw new UsageError('a command is missing: rebuild or stats');
  if (rest.length > 0) throw new UsageError(`unexpected arguments: ${rest.join(' ')}`);
  const dir = dirArg ?? './pb_data';
  const indexPath = values['index-path'] ?? indexPathOf(dir);
  if (command === 'stats') {
    const behind = indexBehindWarning(dir);
    if (behind) process.stderr.write(`${behind}\n`);
    process.stdout.write(`${formatStats(indexStats(indexPath), indexPath)}\n`);
    return 0;
  }
  if (command !== 'rebuild') throw new UsageError(`unknown command '${command}': rebuild or stats`);
  const s = await rebuildIndex({
    dir,
    indexPath,
    parallel: parseIntInRange('parallel', values.parallel, defaultParallelism(), 1, 256),
    log: values.verbose ? (text) => process.stderr.write(`${text}\n`) : undefined,
  });
  const n = (x: number) => x.toLocaleString('en-US');
  const rate = (x: number, seconds: number) => n(Math.round(seconds > 0 ? x / seconds : 0));
  process.stdout.write([
    `Index rebuilt: ${path.resolve(s.indexPath)}`,
    `  day files   ${n(s.files)}`,
    `  events      ${n(s.events - s.duplicates)}${s.duplicates ? ` (and ${n(s.duplicates)} found twice, indexed once)` : ''}`,
    `  time        ${s.seconds.toFixed(1)} s (${rate(s.events, s.seconds)} events/s; reading and inserting ${s.loadSeconds.toFixed(1)} s, ${rate(s.events, s.loadSeconds)}/s; secondary indexes ${s.indexSeconds.toFixed(1)} s)`,
  ].join('\n') + '\n');
  if (s.damaged.length > 0) {
    process.stderr.write(`error: ${s.damaged.length} damaged day file${s.damaged.length > 1 ? 's' : ''}; the events before the damage are indexed, the rest skipped:\n`);
    for (const d of s.damaged.sort()) process.stderr.write(`  ${d}\n`);
    return 1;
  }
  return 0;
});
