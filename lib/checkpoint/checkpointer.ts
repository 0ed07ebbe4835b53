/**
 * The converter's checkpoints: when one is due, at a batch boundary with every result taken, the
 * day files are flushed (members on disk, synced), the index rows committed and the reject log
 * synced; then the record is built, handed to the hook (the S3 side uploads the new members and
 * its own record), and written as DIR/_checkpoint.json. Reading waits meanwhile; the time is counted.
 */
import type { WrittenMember } from '../day-files/writer.ts';
import type { ConversionCounts } from '../convert/summary.ts';
import { CheckpointClock, type CheckpointEvery } from './interval.ts';
import { dayFileSizes, removeLocalCheckpoint, writeLocalCheckpoint } from './local.ts';
import { resumable } from './identity.ts';
import { failpoint } from '../failpoints.ts';
import { FatalError } from '../cli/errors.ts';
import { openIdLog, type IdLog } from './id-log.ts';
import { CHECKPOINT_VERSION, type CheckpointHistoryEntry, type CheckpointRecord, type InputIdentity, type InputPosition } from './record.ts';

export interface NewMember { fileName: string; memberOffset: number; memberBytes: number; events: number }

export interface CheckpointContext {
  record: CheckpointRecord;
  /** Members appended since the last checkpoint, per day file in file order. */
  newMembers: NewMember[];
  /** The reject log's bytes written since the last checkpoint. */
  rejectLogBytes: { from: number; to: number };
  reason: string;
}

/** ConvertOptions.checkpoint: the shape the S3 side codes against. */
export interface CheckpointOptions {
  every: CheckpointEvery;
  /**
   * Runs at a batch boundary after every event taken so far is in fsynced members on disk (and the
   * reject log synced). May return the record to keep (e.g. with its parts filled in); the local
   * record is written after it resolves.
   */
  onCheckpoint?: (c: CheckpointContext) => Promise<CheckpointRecord | void>;
}

/** Whether checkpoints serve a purpose: an input that can be resumed, or a hook to hear of the members (standard input without one: none). */
export const checkpointsApply = (input: InputIdentity, options: CheckpointOptions | undefined): options is CheckpointOptions =>
  options !== undefined && (resumable(input) || options.onCheckpoint !== undefined);

/** What a checkpoint waits for before the record is written. */
export interface Settle {
  dayFiles(): Promise<void>;
  index(): Promise<void>;
  rejectLog(): Promise<{ bytes: number }>;
}

export class Checkpointer {
  private clock: CheckpointClock;
  private newMembers: NewMember[] = [];
  private history: CheckpointHistoryEntry[];
  private last: CheckpointRecord | undefined;
  private logFrom: number;
  private filesWritten: Set<string>;
  count = 0;
  seconds = 0;
  /** The ids this conversion stores, for a resume to load (lib/checkpoint/id-log.ts); undefined when not kept. */
  readonly idLog: IdLog | undefined;

  constructor(private o: {
    dir: string;
    input: InputIdentity;
    options: CheckpointOptions;
    /** The record resumed from (its history, parts and files carry on). */
    resumed?: CheckpointRecord;
    /** Where this run starts reading, and the reject log's size then. */
    start: InputPosition;
    rejectLogBytes: number;
    counts: () => ConversionCounts;
    position: () => InputPosition;
    settle: Settle;
    log: (text: string) => void;
    /** Keep DIR/_checkpoint.ids from this many bytes on (0: a run beginning in an empty folder); undefined: none. */
    idLogFrom?: number;
  }) {
    this.idLog = openIdLog(o.dir, o.idLogFrom);
    this.clock = new CheckpointClock(o.options.every, o.start.offset);
    this.logFrom = o.rejectLogBytes;
    this.last = o.resumed;
    this.filesWritten = new Set(o.resumed?.filesWritten ?? []);
    this.history = [...(o.resumed?.history ?? []), this.entry(o.resumed ? 'resume' : 'start', o.start)];
  }

  /** Pass every member the DayWriter writes. */
  onMember(m: WrittenMember): void {
    this.newMembers.push({ fileName: m.fileName, memberOffset: m.memberOffset, memberBytes: m.memberBytes, events: m.eventCount ?? m.events.length });
    this.filesWritten.add(m.fileName);
  }

  /** Members written since the last call (the writer threads' flushToDisk), per day file in file order. */
  addMembers(members: NewMember[]): void {
    for (const m of members) {
      this.newMembers.push(m);
      this.filesWritten.add(m.fileName);
    }
  }

  due(offset: number): boolean {
    return this.clock.due(offset);
  }

  /** Day files written by the run so far, across resumes. */
  get filesTouched(): number {
    return this.filesWritten.size;
  }

  /**
   * Takes a checkpoint (every result must have been taken). `event` 'interrupted' for a signal or a
   * spot notice. Returns the seconds it took.
   */
  async take(reason: string, event: 'checkpoint' | 'interrupted' = 'checkpoint'): Promise<number> {
    const started = performance.now();
    try {
      await this.o.settle.dayFiles();
      failpoint('checkpoint-index-uncommitted');
      await this.o.settle.index();
      const { bytes } = await this.o.settle.rejectLog();
      await this.commit(reason, event, bytes, true, await this.idLog?.sync());
    } catch (err) {
      // Named as the checkpoint's failure, not the input's (the reading loop passes FatalErrors on as they are).
      if (err instanceof FatalError) throw err;
      throw new FatalError(`checkpoint at line ${this.o.position().line} failed: ${(err as Error).message}`);
    }
    const seconds = (performance.now() - started) / 1000;
    this.count++;
    this.seconds += seconds;
    this.o.log(`checkpoint (${reason}) at line ${this.o.position().line}, JSONL byte ${this.o.position().offset}: ${seconds.toFixed(3)} s`);
    return seconds;
  }

  /** At the end of the input, everything closed: the hook hears of the last members; the local record goes. */
  async finish(rejectLogBytes: number): Promise<void> {
    if (this.o.options.onCheckpoint) await this.commit('end of input', 'done', rejectLogBytes, false);
    this.idLog?.close();
    removeLocalCheckpoint(this.o.dir);
  }

  private async commit(reason: string, event: CheckpointHistoryEntry['event'], logBytes: number, writeLocal = true, storedIds?: number): Promise<void> {
    const next = this.o.position();
    this.history.push(this.entry(event, next, reason));
    const record: CheckpointRecord = {
      version: CHECKPOINT_VERSION,
      input: this.o.input,
      next,
      counts: { ...this.o.counts(), rejectedByReason: { ...this.o.counts().rejectedByReason } },
      parts: this.last?.parts ?? [],
      logParts: this.last?.logParts ?? [],
      // A copy: the S3 side writes the record while the run goes on and adds to the history.
      history: [...this.history],
      writtenAt: new Date().toISOString(),
      dayFiles: dayFileSizes(this.o.dir),
      rejectLogBytes: logBytes,
      filesWritten: [...this.filesWritten].sort(),
      ...(storedIds !== undefined ? { storedIds } : {}),
    };
    const newMembers = this.newMembers;
    this.newMembers = [];
    const kept = (await this.o.options.onCheckpoint?.({ record, newMembers: byFile(newMembers), rejectLogBytes: { from: this.logFrom, to: logBytes }, reason })) ?? record;
    this.logFrom = logBytes;
    this.last = kept;
    // Standard input cannot be resumed: no local record for it (the hook still hears of the members).
    if (writeLocal && resumable(this.o.input)) {
      failpoint('checkpoint-before-record');
      await writeLocalCheckpoint(this.o.dir, kept);
      failpoint('checkpoint-written');
    }
    this.clock.reset(next.offset);
  }

  private entry(event: CheckpointHistoryEntry['event'], at: InputPosition, reason?: string): CheckpointHistoryEntry {
    const instanceId = process.env.PROTON_BEAM_INSTANCE_ID;
    return { event, at: new Date().toISOString(), line: at.line, offset: at.offset, ...(instanceId ? { instanceId } : {}), ...(reason ? { reason } : {}) };
  }
}

/** Members grouped per day file, each file's in file order (the order they were written). */
function byFile(members: NewMember[]): NewMember[] {
  const order: string[] = [];
  const files = new Map<string, NewMember[]>();
  for (const m of members) {
    let list = files.get(m.fileName);
    if (!list) {
      files.set(m.fileName, (list = []));
      order.push(m.fileName);
    }
    list.push(m);
  }
  return order.flatMap((f) => files.get(f)!.sort((a, b) => a.memberOffset - b.memberOffset));
}
