#!/usr/bin/env -S npx tsx
// Prints the events of day files as NIP-01 JSON lines.
import { runScript } from '../lib/cli/run.ts';
import { describeFsError } from '../lib/cli/errors.ts';
import { DayFileError } from '../lib/day-files/members.ts';
import { jsonLines, writeText } from '../lib/cli/write-lines.ts';
import { readDayFileEvents } from '../lib/day-files/read-events.ts';

await runScript({
  command: 'npx tsx scripts/cat.ts',
  synopsis: 'FILE.pb.gz ...',
  about: `
Prints every event of each day file, in file order, as one NIP-01 JSON line each. Reading
streams: memory does not grow with the file. A damaged file is reported (file and byte offset)
after its readable events; the others are still printed, and the exit status is 1.`,
  positionals: { name: 'FILE', min: 1, max: Infinity },
  flags: {},
}, async ({ positionals }) => {
  let failed = 0;
  for (const file of positionals) {
    try {
      for await (const events of readDayFileEvents(file)) await writeText(process.stdout, jsonLines(events));
    } catch (err) {
      if (err instanceof DayFileError) process.stderr.write(`error: ${err.message}\n`);
      else if ((err as NodeJS.ErrnoException).code) process.stderr.write(`error: ${describeFsError(err, file)}\n`);
      else throw err;
      failed++;
    }
  }
  return failed ? 1 : 0;
});
