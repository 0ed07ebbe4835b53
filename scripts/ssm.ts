#!/usr/bin/env -S npx tsx
// make ssm: an interactive shell on the job instance through Session Manager (no SSH, no open
// port). Uses the AWS CLI and its session-manager-plugin, which speak the session protocol.
import { $, which } from 'zx';
import { FatalError } from '../lib/cli/errors.ts';
import { clientsFor, runDeployScript } from '../lib/deploy/cli.ts';
import { sessionTarget } from '../lib/deploy/inspect.ts';

await runDeployScript({
  name: 'ssm',
  about: `
An interactive shell on the job instance through Session Manager (needs the AWS CLI v2 and
the session-manager-plugin).`,
  extra: {},
  require: { region: true },
}, async (args) => {
  const instanceId = await sessionTarget(args.settings, clientsFor(args.settings));
  for (const tool of ['aws', 'session-manager-plugin']) {
    if (!(await which(tool, { nothrow: true }))) {
      throw new FatalError(`${tool} is not installed: make ssm needs the AWS CLI v2 and the Session Manager plugin (docs/DEPLOY.md, "make ssm")`);
    }
  }
  console.log(`opening a session on ${instanceId} (exit or Ctrl-D to leave; the job's files are under /data/proton-beam)`);
  const res = await $({ stdio: 'inherit' })`aws ssm start-session --target ${instanceId} --region ${args.settings.region!}`.nothrow();
  return res.exitCode ?? 1;
});
