#!/usr/bin/env -S npx tsx
// make deploy: bundle this working tree to OUTPUT/_deploy/, create or update the stack (showing
// its events; the run's bundle and id go to its association), set its Auto Scaling group to one
// instance, follow the job the association starts on it (and on a replacement, if the instance is
// lost) to the end and print where the results are.
// Exits non-zero when the job failed, after printing the tail of its output.
import { clientsFor, runDeployScript } from '../lib/deploy/cli.ts';
import { deploy } from '../lib/deploy/flow.ts';
import { readTemplate } from '../lib/deploy/template.ts';
import { ROOT } from '../lib/paths.ts';

await runDeployScript({
  name: 'deploy',
  about: `
Bundles this working tree to OUTPUT/_deploy/, creates or updates the stack, sets its group to
one instance, and follows the job that the stack's association starts on it to the end (on a
replacement instance too, when a spot instance is reclaimed).`,
  extra: {},
  require: { input: true, output: true, region: true },
}, async (args) => {
  const templateBody = readTemplate();
  return deploy(args.settings, clientsFor(args.settings), { print: (line) => console.log(line) }, { templateBody, root: ROOT });
});
