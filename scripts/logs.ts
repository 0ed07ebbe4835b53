#!/usr/bin/env -S npx tsx
// make logs: the latest job's output so far, from CloudWatch Logs (or what SSM kept of it).
// --lines N prints the last N lines (default 100); --follow prints everything and keeps
// following until the job ends.
import { UsageError } from '../lib/cli/errors.ts';
import { clientsFor, parseScriptArgs, runScript } from '../lib/deploy/cli.ts';
import { logs } from '../lib/deploy/inspect.ts';

runScript('logs', async () => {
  const args = parseScriptArgs('logs', process.argv.slice(2), {
    lines: { type: 'string', default: '100' },
    follow: { type: 'boolean', short: 'f', default: false },
  }, { region: true });
  if (!args) return 0;
  const lines = Number(args.flags.lines);
  if (!Number.isInteger(lines) || lines < 1 || lines > 10000) throw new UsageError('--lines must be 1..10000');
  return logs(args.settings, clientsFor(args.settings), { print: (line) => console.log(line) }, { lines, follow: Boolean(args.flags.follow) });
});
