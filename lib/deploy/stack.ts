/**
 * CloudFormation: create or update the stack (no updates is not an error), delete it, and
 * follow either with its events; on a rollback, name the resource that failed and why.
 */
import { randomUUID } from 'node:crypto';
import {
  CreateStackCommand, DeleteStackCommand, DescribeStackEventsCommand, DescribeStacksCommand, UpdateStackCommand,
  type CloudFormationClient, type Parameter, type Stack, type StackEvent, type Tag,
} from '@aws-sdk/client-cloudformation';
import { FatalError, describeAwsError } from '../cli/errors.ts';
import type { Print } from './aws.ts';
import { sleep as realSleep, type Sleep } from '../net/retry.ts';

export interface StackOutputs {
  /** The Auto Scaling group of the job's instance, and the association that starts the job on it. */
  GroupName?: string;
  AssociationId?: string;
  DocumentName?: string;
  DashboardName?: string;
  LogGroupName?: string;
  OutputLocation?: string;
  StatusUrl?: string;
  [key: string]: string | undefined;
}

function isMissingStack(err: unknown): boolean {
  const e = err as { name?: string; message?: string };
  return e?.name === 'ValidationError' && /does not exist/.test(e.message ?? '');
}

/** The stack, or undefined when there is none by that name. */
export async function describeStack(cfn: CloudFormationClient, stackName: string): Promise<Stack | undefined> {
  try {
    const res = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = res.Stacks?.[0];
    return stack?.StackStatus === 'DELETE_COMPLETE' ? undefined : stack;
  } catch (err) {
    if (isMissingStack(err)) return undefined;
    throw err;
  }
}

export function stackOutputs(stack: Stack | undefined): StackOutputs {
  const out: StackOutputs = {};
  for (const o of stack?.Outputs ?? []) if (o.OutputKey) out[o.OutputKey] = o.OutputValue;
  return out;
}

const SUCCESS = new Set(['CREATE_COMPLETE', 'UPDATE_COMPLETE', 'DELETE_COMPLETE', 'IMPORT_COMPLETE']);
const FAILURE = new Set([
  'CREATE_FAILED', 'ROLLBACK_COMPLETE', 'ROLLBACK_FAILED', 'DELETE_FAILED', 'UPDATE_FAILED',
  'UPDATE_ROLLBACK_COMPLETE', 'UPDATE_ROLLBACK_FAILED', 'IMPORT_ROLLBACK_COMPLETE', 'IMPORT_ROLLBACK_FAILED',
]);

export function isTerminal(status: string | undefined): boolean {
  return status !== undefined && (SUCCESS.has(status) || FAILURE.has(status));
}

function eventLine(e: StackEvent): string {
  const time = e.Timestamp ? new Date(e.Timestamp).toISOString().slice(11, 19) : '--:--:--';
  const reason = e.ResourceStatusReason ? `  ${e.ResourceStatusReason}` : '';
  return `  ${time}  ${(e.LogicalResourceId ?? '').padEnd(24)} ${(e.ResourceStatus ?? '').padEnd(28)} ${e.ResourceType ?? ''}${reason}`;
}

/** The events of one operation (by its request token), oldest first. */
async function operationEvents(cfn: CloudFormationClient, stackId: string, token: string): Promise<StackEvent[]> {
  const events: StackEvent[] = [];
  let next: string | undefined;
  // Newest first; stop at the first page that reaches events of an earlier operation.
  for (let page = 0; page < 20; page++) {
    const res = await cfn.send(new DescribeStackEventsCommand({ StackName: stackId, NextToken: next }));
    const batch = res.StackEvents ?? [];
    const ours = batch.filter((e) => e.ClientRequestToken === token);
    events.push(...ours);
    next = res.NextToken;
    if (!next || ours.length < batch.length) break;
  }
  return events.reverse();
}

/** The first resource that failed in the operation, with its reason (the rollback's cause). */
export function rootCause(events: StackEvent[]): StackEvent | undefined {
  const failed = events.filter((e) => /_FAILED$/.test(e.ResourceStatus ?? '') && e.LogicalResourceId !== e.StackName);
  const real = failed.filter((e) => !/cancelled|canceled/i.test(e.ResourceStatusReason ?? ''));
  return real[0] ?? failed[0];
}

export interface WaitOptions { print: Print; sleep?: Sleep; pollMs?: number; timeoutMs?: number }

/** Prints the operation's events until the stack settles; returns the final stack (or undefined once deleted). */
export async function waitForStack(cfn: CloudFormationClient, stackId: string, token: string, opts: WaitOptions):
Promise<{ stack: Stack | undefined; events: StackEvent[] }> {
  const sleep = opts.sleep ?? realSleep;
  const pollMs = opts.pollMs ?? 5000;
  const deadline = Date.now() + (opts.timeoutMs ?? 60 * 60 * 1000);
  const seen = new Set<string>();
  let all: StackEvent[] = [];
  for (;;) {
    const events = await operationEvents(cfn, stackId, token);
    for (const e of events) {
      if (e.EventId && !seen.has(e.EventId)) {
        seen.add(e.EventId);
        all.push(e);
        opts.print(eventLine(e));
      }
    }
    const stack = await describeStack(cfn, stackId);
    const status = stack?.StackStatus ?? 'DELETE_COMPLETE';
    if (isTerminal(status)) {
      all = all.length ? all : events;
      return { stack, events: all };
    }
    if (Date.now() > deadline) throw new FatalError(`stack ${stackId} still ${status} after the wait; see make status`);
    await sleep(pollMs);
  }
}

export interface DeployStackInput {
  stackName: string;
  templateBody: string;
  parameters: Parameter[];
  tags: Tag[];
}

export type StackAction = 'create' | 'update' | 'none';

/** Creates the stack or updates it, and waits. Throws FatalError naming the cause on a rollback. */
export async function deployStack(cfn: CloudFormationClient, input: DeployStackInput, opts: WaitOptions):
Promise<{ action: StackAction; stack: Stack }> {
  const existing = await describeStack(cfn, input.stackName);
  const token = `pb-${randomUUID()}`;
  if (existing && existing.StackStatus === 'ROLLBACK_COMPLETE') {
    throw new FatalError(`stack ${input.stackName} is ROLLBACK_COMPLETE (its creation failed) and can only be deleted: run make destroy, then make deploy`);
  }
  if (existing && !isTerminal(existing.StackStatus)) {
    throw new FatalError(`stack ${input.stackName} is busy (${existing.StackStatus}); wait for it to settle (make status) and run make deploy again`);
  }
  const common = {
    StackName: input.stackName,
    TemplateBody: input.templateBody,
    Parameters: input.parameters,
    Capabilities: ['CAPABILITY_IAM' as const],
    Tags: input.tags,
    ClientRequestToken: token,
  };
  let action: StackAction;
  let stackId: string;
  if (!existing) {
    opts.print(`creating stack ${input.stackName}`);
    const res = await cfn.send(new CreateStackCommand({ ...common, OnFailure: 'ROLLBACK' }));
    action = 'create';
    stackId = res.StackId ?? input.stackName;
  } else {
    try {
      opts.print(`updating stack ${input.stackName}`);
      const res = await cfn.send(new UpdateStackCommand(common));
      action = 'update';
      stackId = res.StackId ?? existing.StackId ?? input.stackName;
    } catch (err) {
      const e = err as { name?: string; message?: string };
      if (e.name === 'ValidationError' && /No updates are to be performed/i.test(e.message ?? '')) {
        opts.print(`stack ${input.stackName} is up to date`);
        return { action: 'none', stack: existing };
      }
      throw new FatalError(`cannot update stack ${input.stackName}: ${describeAwsError(err)}`);
    }
  }
  const { stack, events } = await waitForStack(cfn, stackId, token, opts);
  const status = stack?.StackStatus ?? 'DELETE_COMPLETE';
  if (!stack || !SUCCESS.has(status)) {
    const cause = rootCause(events);
    const why = cause
      ? `${cause.LogicalResourceId} (${cause.ResourceType}) failed: ${cause.ResourceStatusReason ?? 'no reason given'}`
      : stack?.StackStatusReason ?? 'no reason given';
    const advice = action === 'create'
      ? 'fix the cause, run make destroy, then make deploy again'
      : 'the stack rolled back to its previous state; fix the cause and run make deploy again';
    throw new FatalError(`stack ${input.stackName} ${status}: ${why}\n${advice}`);
  }
  return { action, stack };
}

/** Deletes the stack and waits. Returns false when there was no stack. */
export async function destroyStack(cfn: CloudFormationClient, stackName: string, opts: WaitOptions): Promise<boolean> {
  const existing = await describeStack(cfn, stackName);
  if (!existing) return false;
  const token = `pb-${randomUUID()}`;
  const stackId = existing.StackId ?? stackName;
  opts.print(`deleting stack ${stackName}`);
  await cfn.send(new DeleteStackCommand({ StackName: stackId, ClientRequestToken: token }));
  const { stack, events } = await waitForStack(cfn, stackId, token, opts);
  if (stack && stack.StackStatus !== 'DELETE_COMPLETE') {
    const cause = rootCause(events);
    const why = cause ? `${cause.LogicalResourceId} (${cause.ResourceType}): ${cause.ResourceStatusReason ?? 'no reason given'}` : stack.StackStatusReason ?? '';
    throw new FatalError(`stack ${stackName} ${stack.StackStatus}: ${why}\nfix the cause and run make destroy again`);
  }
  return true;
}
