#!/usr/bin/env -S npx tsx
// The SQLite index of a folder of day files: rebuild it from the files, or show what it holds.
import path from 'node:path';
import { runScript } from '../lib/cli/run.ts';
import { defaultParallelism } from '../lib/convert/pipeline.ts';
import { UsageError } from '../lib/cli/errors.ts';
import { indexPathOf } from '../lib/index/db.ts';
import { requireDayFileFolder } from '../lib/day-files/folder.ts';
import { indexBehindWarning } from '../lib/index/freshness.ts';
import { rebuildIndex } from '../lib/index/rebuild.ts';
import fs from 'node:fs';
import { formatStats, indexStats } from '../lib/index/stats.ts';
import { openIndexForRead } from '../lib/index/db.ts';
import { dailyKinds, formatDailyKinds } from '../lib/index/daily.ts';
import { plotDailyKinds } from '../lib/index/plot-svg.ts';
import { describeFsError, FatalError } from '../lib/cli/errors.ts';

await runScript({
  command: 'npx tsx scripts/index.ts',
  synopsis: ['rebuild [PB_DIR] [options]', 'stats [PB_DIR] [--index-path P] [--plot FILE.svg]'],
  about: `
rebuild  reads every day file (YYYY_MM_DD.pb.gz) in PB_DIR and writes a new index
         (PB_DIR/index.db unless --index-path), replacing the old one at the end. Damaged
         files are reported, their readable events indexed, and the exit status is 1.
stats    prints the number of events, unique pubkeys and files, the earliest and latest
         event, the most common kinds, and a table of events per day (UTC) by kind (the
         five most common, the rest as "other"); --plot draws that table as stacked bars.

PB_DIR defaults to ./pb_data.`,
  positionals: { name: 'COMMAND and PB_DIR', min: 0, max: 2 },
  flags: {
    'index-path': { kind: 'string', value: 'P', help: 'the index file (default PB_DIR/index.db)' },
    parallel: { kind: 'int', short: 'j', default: defaultParallelism(), min: 1, max: 256, help: 'worker threads reading day files' },
    tags: { kind: 'switch', help: "rebuild: also index the events' one-letter tags, for query --tag (kept by default\nwhen the index being replaced has them)" },
    plot: { kind: 'string', value: 'FILE.svg', help: 'stats: also draw events per day stacked by kind into FILE.svg' },
    verbose: { kind: 'switch', short: 'v', help: 'say more about what happens' },
    'no-progress': { kind: 'switch', help: 'no progress line (there is none when stderr is not a terminal)' },
  },
}, async ({ flags: values, positionals }) => {
  const [command, dirArg] = positionals;
  if (!command) throw new UsageError('a command is missing: rebuild or stats');
  if (values.plot !== undefined && command !== 'stats') throw new UsageError('--plot goes with stats');
  if (command !== 'rebuild' && command !== 'stats') throw new UsageError(`unknown command '${command}': rebuild or stats`);
  const dir = dirArg ?? './pb_data';
  if (values['index-path'] === undefined || command === 'rebuild') requireDayFileFolder(dir, `index ${command}`);
  const indexPath = values['index-path'] ?? indexPathOf(dir);
  if (command === 'stats') {
    const behind = indexBehindWarning(dir);
    if (behind) process.stderr.write(`${behind}\n`);
    if (values.plot !== undefined && !values.plot.toLowerCase().endsWith('.svg')) throw new UsageError(`--plot writes SVG: give a FILE.svg, not '${values.plot}'`);
    const stats = indexStats(indexPath);
    const { db } = openIndexForRead(indexPath);
    let daily;
    try {
      daily = dailyKinds(db);
    } finally {
      db.close();
    }
    process.stdout.write(`${formatStats(stats, indexPath)}\n${formatDailyKinds(daily)}\n`);
    if (values.plot !== undefined) {
      try {
        fs.writeFileSync(values.plot, plotDailyKinds(daily, `Events per day by kind: ${path.basename(path.resolve(dir))}`));
      } catch (err) {
        throw new FatalError(`cannot write ${describeFsError(err, values.plot)}`);
      }
      process.stdout.write(`plot written to ${values.plot}\n`);
    }
    return 0;
  }
  const s = await rebuildIndex({
    dir,
    indexPath,
    parallel: values.parallel,
    progress: !values['no-progress'] && process.stderr.isTTY === true,
    tags: values.tags || undefined,
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
