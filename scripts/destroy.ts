#!/usr/bin/env -S npx tsx
// make destroy: delete the stack (instance, volumes, role, security group, document, log group)
// and wait, showing its events. Never touches the output bucket: results, bundles and
// _status.json stay.
import { clientsFor, parseScriptArgs, runScript } from '../lib/deploy/cli.ts';
import { destroy } from '../lib/deploy/flow.ts';

runScript('destroy', async () => {
  const args = parseScriptArgs('destroy', process.argv.slice(2), {}, { region: true });
  if (!args) return 0;
  return destroy(args.settings, clientsFor(args.settings), { print: (line) => console.log(line) });
});
