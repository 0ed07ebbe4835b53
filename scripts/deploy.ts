#!/usr/bin/env -S npx tsx
// make deploy: bundle this working tree to OUTPUT/_deploy/, create or update the stack (showing
// its events), wait for the instance to register with SSM, run the job through Run Command with
// its output in CloudWatch Logs, follow it to the end and print where the results are.
// Exits non-zero when the job failed, after printing the tail of its output.
import { clientsFor, parseScriptArgs, runScript } from '../lib/deploy/cli.ts';
import { deploy } from '../lib/deploy/flow.ts';
import { readTemplate } from '../lib/deploy/template.ts';
import { ROOT } from '../lib/paths.ts';

runScript('deploy', async () => {
  const args = parseScriptArgs('deploy', process.argv.slice(2), {}, { input: true, output: true, region: true });
  if (!args) return 0;
  const templateBody = readTemplate();
  return deploy(args.settings, clientsFor(args.settings), { print: (line) => console.log(line) }, { templateBody, root: ROOT });
});
