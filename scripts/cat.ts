#!/usr/bin/env -S npx tsx
// Prints the events of day files as NIP-01 JSON lines.
import { parseCommandLine, runMain } from '../lib/cli/args.ts';
import { UsageError } from '../lib/cli/errors.ts';
import { DayFileError } from '../lib/day-files/members.ts';
import { exitQuietlyOnClosedPipe, jsonLines, writeText } from '../lib/cli/write-lines.ts';
import { readDayFileEvents } from '../lib/day-files/read-events.ts';

const USAGE = `Usage: npx tsx scripts/cat.ts FILE.pb.gz ...

Prints every event of each day file, in file order, as one NIP-01 JSON line each. Reading
streams: memory does not grow with the file. A damaged file is reported (file and byte offset)
after its readable events; the others are still printed, and the exit status is 1.
`;

exitQuietlyOnClosedPipe();

await runMain(USAGE, async () => {
  const { values, positionals } = parseCommandLine(process.argv.slice(2), { help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('FILE is missing');
  let failed = 0;
  for (const file of positionals) {
    try {
      for await (const events of readDayFileEvents(file)) await writeText(process.stdout, jsonLines(events));
    } catch (err) {
      if (!(err instanceof DayFileError)) throw err;
      process.stderr.write(`error: ${err.message}\n`);
      failed++;
    }
  }
  return failed ? 1 : 0;
});
