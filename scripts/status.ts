#!/usr/bin/env -S npx tsx
// make status: the stack, the instance, the job's phase and its progress (bar, events/s, ETA)
// from OUTPUT/_status.json. Read-only. Exits 1 when the job failed.
import { clientsFor, parseScriptArgs, runScript } from '../lib/deploy/cli.ts';
import { status } from '../lib/deploy/inspect.ts';

runScript('status', async () => {
  const args = parseScriptArgs('status', process.argv.slice(2), {}, { region: true });
  if (!args) return 0;
  return status(args.settings, clientsFor(args.settings), { print: (line) => console.log(line) });
});
