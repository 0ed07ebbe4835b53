#!/usr/bin/env -S npx tsx
// make status: the stack, the instance, the job's phase and its progress (bar, events/s, ETA)
// from OUTPUT/_status.json. Read-only. Exits 1 when the job failed.
import { clientsFor, runDeployScript } from '../lib/deploy/cli.ts';
import { status } from '../lib/deploy/inspect.ts';

await runDeployScript({
  name: 'status',
  about: `
The stack, the instance, the job's phase and its progress from OUTPUT/_status.json.
Read-only; exits 1 when the job failed.`,
  extra: {},
  require: { region: true },
}, async (args) => {
  return status(args.settings, clientsFor(args.settings), { print: (line) => console.log(line) });
});
