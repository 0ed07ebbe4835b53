#!/usr/bin/env -S npx tsx
// On the instance: sets the job's Auto Scaling group to 0/0/0, keeping this instance from
// scale-in, so that nothing replaces it. The watchdog runs it before it shuts down an instance
// whose job overran MAX_JOB_HOURS (the job registers it); the job itself does the same at its end.
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { UsageError } from '../lib/cli/errors.ts';
import { runScript } from '../lib/cli/run.ts';
import { endOwnGroup } from '../lib/deploy/group.ts';
import { Imds, imdsEndpoint } from '../lib/deploy/spot.ts';

await runScript({
  command: 'npx tsx scripts/end-group.ts',
  synopsis: '--group NAME',
  about: `
Sets the Auto Scaling group NAME to 0/0/0 after protecting this instance (from the instance
metadata) from scale-in, so that the group replaces nothing. The instance role allows exactly
this on the stack's own group.`,
  flags: {
    group: { kind: 'string', value: 'NAME', help: 'the stack\'s group, <stack>-job' },
  },
  exitWhenDone: true,
}, async ({ flags }) => {
  if (!flags.group) throw new UsageError('--group is required');
  const endpoint = imdsEndpoint();
  const ok = await endOwnGroup({
    asg: new AutoScalingClient({}), group: flags.group, imds: endpoint ? new Imds(endpoint) : undefined, print: (line) => console.log(line),
  });
  return ok ? 0 : 1;
});
