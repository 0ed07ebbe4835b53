#!/usr/bin/env -S npx tsx
// make deploy: bundle this working tree to OUTPUT/_deploy/, create or update the stack (showing
// its events), wait for the instance to register with SSM, run the job through Run Command with
// its output in CloudWatch Logs, follow it to the end and print where the results are.
// Exits non-zero when the job failed, after printing the tail of its output.
import { clientsFor, runDeployScript } from '../lib/deploy/cli.ts';
import { deploy } from '../lib/deploy/flow.ts';
import { readTemplate } from '../lib/deploy/template.ts';
import { ROOT } from '../lib/paths.ts';

await runDeployScript({
  name: 'deploy',
  about: `
Bundles this working tree to OUTPUT/_deploy/, creates or updates the stack, waits for the
instance to register with SSM, runs the job through Run Command and follows it to the end.`,
  extra: {},
  require: { input: true, output: true, region: true },
}, async (args) => {
  const templateBody = readTemplate();
  return deploy(args.settings, clientsFor(args.settings), { print: (line) => console.log(line) }, { templateBody, root: ROOT });
});
