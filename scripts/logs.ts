#!/usr/bin/env -S npx tsx
// make logs: the latest job's output so far, from CloudWatch Logs (or what SSM kept of it).
// --lines N prints the last N lines (default 100); --follow prints everything and keeps
// following until the job ends.
import { clientsFor, runDeployScript } from '../lib/deploy/cli.ts';
import { logs } from '../lib/deploy/inspect.ts';

await runDeployScript({
  name: 'logs',
  about: "The latest job's output so far, from CloudWatch Logs (or what SSM kept of it).",
  extra: {
    lines: { kind: 'int', default: 100, min: 1, max: 10_000, help: 'print the last N lines' },
    follow: { kind: 'switch', short: 'f', help: 'print everything and keep following until the job ends' },
  },
  require: { region: true },
}, async (args) => logs(args.settings, clientsFor(args.settings), { print: (line) => console.log(line) }, { lines: args.flags.lines, follow: args.flags.follow }));
