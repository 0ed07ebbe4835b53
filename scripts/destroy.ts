#!/usr/bin/env -S npx tsx
// make destroy: delete the stack (instance, volumes, role, security group, document, log group)
// and wait, showing its events. Never touches the output bucket: results, bundles and
// _status.json stay.
import { clientsFor, runDeployScript } from '../lib/deploy/cli.ts';
import { destroy } from '../lib/deploy/flow.ts';

await runDeployScript({
  name: 'destroy',
  about: `
Deletes the stack and waits, showing its events. Never touches the output bucket.`,
  extra: {},
  require: { region: true },
}, async (args) => {
  return destroy(args.settings, clientsFor(args.settings), { print: (line) => console.log(line) });
});
