/**
 * The job's output in CloudWatch Logs when the State Manager association starts it: an
 * association cannot send a command's output to CloudWatch (only Run Command can), so the job
 * ships its own. scripts/job.ts runs itself as a child with its output piped, passes every byte
 * on to its own stdout/stderr (the SSM agent still keeps them) and sends the lines to the stack's
 * log group, streams `job/<instance>/<run>/stdout` and `.../stderr`, every 2 s and at the end.
 */
import { spawn } from 'node:child_process';
import {
  CreateLogStreamCommand, PutLogEventsCommand, type CloudWatchLogsClient, type InputLogEvent,
} from '@aws-sdk/client-cloudwatch-logs';

/** Where the job's output goes for one run on one instance; make logs and make deploy read it there. */
export const jobStreamPrefix = (instanceId: string, runId: string) => `job/${instanceId}/${runId || 'by-hand'}/`;

// PutLogEvents takes at most 10,000 events and 1,048,576 bytes (each event counts 26 bytes more).
const MAX_EVENTS = 10_000;
const MAX_BYTES = 1_048_576 - 26 * MAX_EVENTS;
const MAX_EVENT_BYTES = 256 * 1024 - 26;

/** Lines of one stream, sent in batches within PutLogEvents' limits; a failed send is reported once and the lines kept for the next try. */
export class LogStream {
  private pending: InputLogEvent[] = [];
  private partial = '';
  private created = false;
  private warned = false;

  constructor(private logs: CloudWatchLogsClient, private group: string, readonly name: string, private warn: (line: string) => void) {}

  write(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const lines = text.split('\n');
    this.partial = lines.pop()!;
    const now = Date.now();
    for (const line of lines) this.pending.push({ timestamp: now, message: line.length > MAX_EVENT_BYTES / 4 ? line.slice(0, MAX_EVENT_BYTES / 4) : line || ' ' });
  }

  async flush(final = false): Promise<void> {
    if (final && this.partial) this.write('\n');
    try {
      if (this.pending.length > 0 && !this.created) {
        await this.logs.send(new CreateLogStreamCommand({ logGroupName: this.group, logStreamName: this.name })).catch((err) => {
          if ((err as { name?: string }).name !== 'ResourceAlreadyExistsException') throw err;
        });
        this.created = true;
      }
      while (this.pending.length > 0) {
        let bytes = 0;
        let n = 0;
        while (n < this.pending.length && n < MAX_EVENTS && bytes + Buffer.byteLength(this.pending[n].message!) <= MAX_BYTES) bytes += Buffer.byteLength(this.pending[n++].message!);
        await this.logs.send(new PutLogEventsCommand({ logGroupName: this.group, logStreamName: this.name, logEvents: this.pending.slice(0, n) }));
        this.pending.splice(0, n);
      }
    } catch (err) {
      if (!this.warned) this.warn(`job: cannot ship the output to CloudWatch Logs ${this.group} (${(err as Error).message.split('\n')[0]}); it stays in the SSM command output`);
      this.warned = true;
    }
  }
}

/**
 * Runs `argv` (this script again, marked as the child by `childEnv`) with its output piped to our
 * own and to CloudWatch Logs; resolves with its exit code. SIGINT and SIGTERM are passed on.
 */
export async function runShippingOutput(o: {
  logs: CloudWatchLogsClient; group: string; prefix: string; argv: string[]; childEnv: NodeJS.ProcessEnv; intervalMs?: number;
}): Promise<number> {
  const warn = (line: string) => process.stderr.write(`${line}\n`);
  const out = new LogStream(o.logs, o.group, `${o.prefix}stdout`, warn);
  const err = new LogStream(o.logs, o.group, `${o.prefix}stderr`, warn);
  const child = spawn(o.argv[0], o.argv.slice(1), { env: o.childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (c: Buffer) => { process.stdout.write(c); out.write(c); });
  child.stderr.on('data', (c: Buffer) => { process.stderr.write(c); err.write(c); });
  const relay = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', relay).on('SIGTERM', relay);
  let flushing = Promise.resolve();
  const timer = setInterval(() => { flushing = flushing.then(() => out.flush()).then(() => err.flush()); }, o.intervalMs ?? 2000);
  const code = await new Promise<number>((resolve) => {
    child.on('error', (e) => { warn(`job: cannot start itself: ${e.message}`); resolve(1); });
    child.on('close', (c, signal) => resolve(c ?? (signal ? 128 + ({ SIGINT: 2, SIGTERM: 15, SIGKILL: 9 } as Record<string, number>)[signal] : 1)));
  });
  clearInterval(timer);
  process.off('SIGINT', relay).off('SIGTERM', relay);
  await flushing;
  await out.flush(true);
  await err.flush(true);
  return code;
}
