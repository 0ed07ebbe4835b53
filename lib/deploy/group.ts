/**
 * The job's Auto Scaling group of one (cloudformation/proton-beam.yaml, InstanceGroup): which
 * instance is the job's now (a reclaimed spot instance is replaced, with a new id), make deploy
 * setting it to 1/1/1, and the job setting it to 0/0/0 when it ends so that nothing replaces it.
 */
import {
  DescribeAutoScalingGroupsCommand, DescribeScalingActivitiesCommand, SetInstanceProtectionCommand, UpdateAutoScalingGroupCommand, type AutoScalingClient,
} from '@aws-sdk/client-auto-scaling';
import { FatalError } from '../cli/errors.ts';
import type { Print } from './aws.ts';
import { sleep as realSleep, type Sleep } from '../net/retry.ts';

export interface GroupInstance { id: string; lifecycle: string; health?: string; protectedFromScaleIn?: boolean }
export interface GroupView { name: string; min: number; max: number; desired: number; instances: GroupInstance[] }

export async function describeGroup(asg: AutoScalingClient, name: string): Promise<GroupView | undefined> {
  const res = await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
  const g = res.AutoScalingGroups?.[0];
  if (!g) return undefined;
  return {
    name,
    min: g.MinSize ?? 0,
    max: g.MaxSize ?? 0,
    desired: g.DesiredCapacity ?? 0,
    instances: (g.Instances ?? []).map((i) => ({
      id: i.InstanceId!, lifecycle: i.LifecycleState ?? 'unknown', health: i.HealthStatus, protectedFromScaleIn: i.ProtectedFromScaleIn,
    })),
  };
}

/** The instance doing the job: in service first, else one being launched; never one on its way out. */
export function currentInstance(g: GroupView | undefined, exclude: ReadonlySet<string> = new Set()): GroupInstance | undefined {
  const live = (g?.instances ?? []).filter((i) => !exclude.has(i.id) && !/^Terminat|^Detach|^Standby/.test(i.lifecycle));
  return live.find((i) => i.lifecycle === 'InService') ?? live[0];
}

/** make deploy: the group to 1/1/1 (the job set it to 0/0/0 when the last run ended). */
export async function startGroup(asg: AutoScalingClient, name: string, print: Print): Promise<void> {
  const g = await describeGroup(asg, name);
  if (!g) throw new FatalError(`no Auto Scaling group ${name}: is the stack a Proton Beam stack?`);
  if (g.min === 1 && g.max === 1 && g.desired === 1) return;
  await asg.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: name, MinSize: 1, MaxSize: 1, DesiredCapacity: 1 }));
  print(`group ${name}: ${g.desired} -> 1 instance`);
}

/**
 * The job, at its end: keep this instance (scale-in protection, so that the group does not
 * terminate it under the job's feet: it shuts itself down, or stays for SHUTDOWN_WHEN_DONE=false),
 * then 0/0/0 so that nothing replaces it. The instance role allows exactly these two calls on its
 * own group, the second only with MinSize and MaxSize 0.
 */
export async function endGroup(asg: AutoScalingClient, name: string, instanceId: string | undefined): Promise<void> {
  if (instanceId) {
    await asg.send(new SetInstanceProtectionCommand({ AutoScalingGroupName: name, InstanceIds: [instanceId], ProtectedFromScaleIn: true }));
  }
  await asg.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: name, MinSize: 0, MaxSize: 0, DesiredCapacity: 0 }));
}

export interface GroupWaitOptions { print: Print; sleep?: Sleep; pollMs?: number; now?: () => number; timeoutMs: number; exclude?: ReadonlySet<string> }

/** Waits for the group's current instance (not one of `exclude`: those are gone). */
export async function waitForGroupInstance(asg: AutoScalingClient, name: string, opts: GroupWaitOptions): Promise<string> {
  const sleep = opts.sleep ?? realSleep;
  const now = opts.now ?? Date.now;
  const deadline = now() + opts.timeoutMs;
  let announced = false;
  for (;;) {
    const g = await describeGroup(asg, name);
    const current = currentInstance(g, opts.exclude);
    if (current) return current.id;
    if (g && g.desired === 0) throw new FatalError(`group ${name} is set to 0 instances: the job ended (make status), or someone scaled it down`);
    if (!announced) {
      opts.print(`waiting for group ${name} to launch an instance`);
      announced = true;
    }
    if (now() >= deadline) {
      throw new FatalError(`group ${name} launched no instance within ${Math.round(opts.timeoutMs / 60000)} min: its activity says why (aws autoscaling describe-scaling-activities --auto-scaling-group-name ${name} --max-items 5); then make deploy again, or make destroy`);
    }
    await sleep(opts.pollMs ?? 10_000);
  }
}

/**
 * Whether a job's end is final for its group: a finished run, or one that failed for a reason of
 * its own, ends it (a replacement would only fail again, billing in a loop); a spot notice
 * (exit 3), a signal (the instance going away: exit 128+n, or the converter killed) does not, so
 * that the group's next instance resumes the run.
 */
export function endsTheRun(exitCode: number, error?: string): boolean {
  if (exitCode === 3 || exitCode >= 128) return false;
  return !/killed by SIG|exited with code (1[3-9][0-9]|2[0-9][0-9])\b/.test(error ?? '');
}

/** The job's end on the instance: its group to 0/0/0, this instance kept until it shuts itself down. */
export async function endOwnGroup(o: { asg: AutoScalingClient; group: string; imds?: { get(path: string): Promise<string | undefined> }; print: Print }): Promise<boolean> {
  const instanceId = o.imds ? await o.imds.get('instance-id').catch(() => undefined) : undefined;
  try {
    await endGroup(o.asg, o.group, instanceId);
    o.print(`job: group ${o.group} set to 0 instances: nothing replaces ${instanceId ?? 'this instance'} after the end`);
    return true;
  } catch (err) {
    o.print(`job: could not set group ${o.group} to 0 instances (${(err as Error).message.split('\n')[0]}): make destroy ends it`);
    return false;
  }
}

/**
 * make destroy, before deleting the stack: an instance the job kept from scale-in at its end
 * (SHUTDOWN_WHEN_DONE=false) gets its protection back off, so that deleting the group terminates
 * it rather than waiting on it.
 */
export async function releaseGroup(asg: AutoScalingClient, name: string, print: Print): Promise<void> {
  const g = await describeGroup(asg, name).catch(() => undefined);
  const kept = (g?.instances ?? []).filter((i) => i.protectedFromScaleIn).map((i) => i.id);
  if (kept.length === 0) return;
  await asg.send(new SetInstanceProtectionCommand({ AutoScalingGroupName: name, InstanceIds: kept, ProtectedFromScaleIn: false }));
  print(`group ${name}: scale-in protection removed from ${kept.join(', ')}, so that the deletion terminates ${kept.length === 1 ? 'it' : 'them'}`);
}

/**
 * The group's latest activities, newest first, one line each: launches, terminations and why
 * (a spot interruption, a failed health check, no capacity for the instance type).
 */
export async function activityLines(asg: AutoScalingClient, name: string, max = 3): Promise<string[]> {
  const res = await asg.send(new DescribeScalingActivitiesCommand({ AutoScalingGroupName: name, MaxRecords: max }));
  return (res.Activities ?? []).slice(0, max).map((a) => {
    const when = a.StartTime ? a.StartTime.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '?';
    const failed = a.StatusCode === 'Failed' || a.StatusCode === 'Cancelled';
    return `${when}  ${a.Description ?? 'activity'} (${a.StatusCode ?? '?'})${failed && a.StatusMessage ? `: ${a.StatusMessage}` : ''}`;
  });
}
