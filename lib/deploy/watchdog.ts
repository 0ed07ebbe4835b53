/**
 * The job's side of the instance watchdog (userdata/prepare-instance.sh installs
 * proton-beam-watchdog and a systemd timer): the job sets its deadline, start + MaxJobHours, and
 * stands the watchdog down when it ends. Off the instance (make run-local, tests) there is no
 * watchdog and these do nothing.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';

export const WATCHDOG_BIN = '/usr/local/sbin/proton-beam-watchdog';

function bin(): string | undefined {
  const path = process.env.PB_WATCHDOG_BIN || WATCHDOG_BIN;
  return fs.existsSync(path) ? path : undefined;
}

async function run(args: string[], print: (line: string) => void): Promise<void> {
  const path = bin();
  if (!path) return;
  try {
    const { stdout } = await promisify(execFile)(path, args, { timeout: 10_000 });
    for (const line of stdout.split('\n').filter(Boolean)) print(`job: ${line}`);
  } catch (err) {
    print(`job: the watchdog did not answer (${(err as Error).message.split('\n')[0]}); it keeps its earlier deadline`);
  }
}

/** The instance shuts itself down if the job is still running `hours` from now. */
export const extendWatchdog = (hours: number, print: (line: string) => void) =>
  run(['extend', String(Math.round(hours * 3600)), `the job ran past MaxJobHours=${hours}`], print);

/** The job has ended: nothing more for the watchdog to enforce. */
export const endWatchdog = (print: (line: string) => void) => run(['end'], print);

/**
 * What the watchdog runs before a shutdown of its own (the job overran MaxJobHours): the job's
 * group to zero (scripts/end-group.ts), so that the group does not replace the instance the
 * watchdog ended and start the run again. No shell: the arguments are stored and run as they are.
 */
export const endGroupOnWatchdogShutdown = (group: string, appDir: string, region: string | undefined, print: (line: string) => void) =>
  run(['on-shutdown', 'env', '-C', appDir, ...(region ? [`AWS_REGION=${region}`] : []),
    process.execPath, '--import', 'tsx', 'scripts/end-group.ts', '--group', group], print);
