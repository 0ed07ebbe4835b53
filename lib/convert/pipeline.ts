/**
 * The conversion pipeline: input bytes -> line batches -> workers (parse, validate, encode)
 * -> back in input order on the main thread -> dedup -> day files.
 *
 * Results are taken in input order whatever the number of workers, and the first copy of an
 * event wins, so any -j gives the same day files.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BatchResult, BatchTask, LineRejection } from './batch.ts';
import { dayOf } from '../day-files/names.ts';
import { DayWriter, type WrittenMember } from '../day-files/writer.ts';
import { prepareOutputFolder } from '../day-files/folder.ts';
import { FatalError, InputDamagedError, InterruptedError, describeFsError } from '../cli/errors.ts';
import { exitCodeOf } from '../cli/interrupt.ts';
import { lockFolder } from '../day-files/folder-lock.ts';
import type { CheckOptions } from '../nostr/validate.ts';
import { resolveVerifier, type VerifierChoice } from '../nostr/verifier.ts';
import type { WorkerOptions } from './worker.ts';
import { IdSet } from './id-set.ts';
import { startIndexing, type IndexingSummary } from '../index/writer.ts';
import { openInput } from '../input/open.ts';
import { lineBatches, type LineBatch } from './line-batches.ts';
import { OrderedConsumer } from './ordered-consumer.ts';
import { ProgressBar } from '../cli/progress.ts';
import { LOG_NAME, RejectLog } from './reject-log.ts';
import { StatusFile } from './status-file.ts';
import { storedIdHints, takeStoredCopies } from './duplicates.ts';
import { emptyCounts, type ConversionCounts } from './summary.ts';
import { movableBuffers } from '../workers/transfer.ts';
import { mainThreadCpuSeconds } from '../workers/thread-cpu.ts';
import { WorkerPool } from '../workers/pool.ts';
import { libModule } from '../paths.ts';
import type { CheckpointRecord } from '../checkpoint/record.ts';
import { Checkpointer, checkpointsApply, type CheckpointOptions } from '../checkpoint/checkpointer.ts';
import { checkFolderAgrees, openAtCheckpoint } from '../checkpoint/open-at.ts';
import { addKnownIds, carryCounts, folderIds } from '../checkpoint/resume.ts';
import { removeLocalCheckpoint } from '../checkpoint/local.ts';

export interface ConvertOptions extends CheckOptions {
  input: string;
  outputDir: string;
  parallel: number;
  compressionLevel: number;
  /** Most lines in one batch handed to a worker. */
  batchSize: number;
  progress: boolean;
  statusFile?: string;
  /** Longest line accepted; longer lines are rejected without being held in memory. */
  maxLineBytes?: number;
  memberBytes?: number;
  /** Receives each gzip member once written, with the events it holds (for the index). */
  onMember?: (member: WrittenMember) => unknown;
  /** Build or add to DIR/index.db as the day files are written (lib/index/writer.ts). */
  index?: boolean;
  /**
   * Start the tags table in a new index (convert --index-tags; off by default: it about doubles
   * the index's cost, docs/BENCHMARKS.md). An index that has the table keeps it up to date either way.
   */
  indexTags?: boolean;
  log?: (text: string) => void;
  /** Schnorr verifier (lib/nostr/verifier.ts); default auto. */
  verifier?: VerifierChoice;
  /** Lines every run should show (auto falling back to WASM); default: standard error. */
  notice?: (text: string) => void;
  /** Stops reading input; what was read is written out (and checkpointed), then an InterruptedError is thrown. */
  signal?: AbortSignal;
  /** Checkpoints (lib/checkpoint/checkpointer.ts): DIR/_checkpoint.json, and the S3 side's hook. Off when undefined. */
  checkpoint?: CheckpointOptions;
  /** Start at record.next with record.counts (the S3 side's record, for an empty folder); else DIR/_checkpoint.json is used when it fits. */
  resume?: CheckpointRecord;
  /** 32-byte ids stored before this run that are not in the folder (the S3 side feeds them from the parts or an id list). */
  knownIds?: AsyncIterable<Uint8Array>;
  /** Ignore (and remove) DIR/_checkpoint.json: read the input from its start. */
  restart?: boolean;
}

export const DEFAULT_MAX_LINE_BYTES = 16 << 20;
const MAX_BATCH_BYTES = 4 << 20;
const WORKER_SCRIPT = libModule('convert/worker.ts');

export const defaultParallelism = (): number => Math.max(1, os.availableParallelism());

export async function convert(opts: ConvertOptions): Promise<ConversionCounts & { index?: IndexingSummary }> {
  prepareOutputFolder(opts.outputDir);
  const lock = await lockFolder(opts.outputDir, `convert ${opts.input}`);
  try {
    return await convertLocked(opts);
  } finally {
    await lock.release();
  }
}

async function convertLocked(opts: ConvertOptions): Promise<ConversionCounts & { index?: IndexingSummary }> {
  const started = Date.now();
  const counts = emptyCounts();
  const log = opts.log ?? (() => {});
  const verifier = opts.validateSignatures ? resolveVerifier(opts.verifier ?? 'auto') : undefined;
  counts.verifier = verifier?.label ?? 'off';
  if (verifier?.note) (opts.notice ?? ((text: string) => process.stderr.write(`${text}\n`)))(verifier.note);
  // Reading a large folder first takes a while: say so on a terminal even without --verbose.
  const folderLog = opts.log ?? (opts.progress ? (text: string) => process.stderr.write(`${text}\n`) : log);
  let opened = await openAtCheckpoint({ dir: opts.outputDir, input: opts.input, resume: opts.resume, restart: opts.restart, log: folderLog });

  const seen = new IdSet();
  const existing = await folderIds(opened, { dir: opts.outputDir, seen, compressionLevel: opts.compressionLevel, resumeGiven: opts.resume !== undefined, log: folderLog });
  const rewritten = existing.repairs.flatMap((r) => (r.rewritten ? [r.rewritten] : []));
  counts.preexisting = existing.events + rewritten.reduce((n, m) => n + m.events.length, 0);
  counts.repaired = existing.repairs.length;
  if (opts.knownIds) log(`${await addKnownIds(seen, opts.knownIds)} ids stored before this run added from outside the folder`);
  opened = await checkFolderAgrees(opened, { dir: opts.outputDir, input: opts.input, resumeGiven: opts.resume !== undefined, folderEvents: counts.preexisting, log: folderLog });
  const input = opened.input;
  if (opened.resume) carryCounts(counts, opened.resume);

  // The index: started once the existing events are counted, finished after the day files.
  // It should hold the events of the complete members; those of repaired files' new members are added.
  const drops = [...opened.cuts, ...existing.repairs.map((r) => ({ fileName: r.fileName, from: r.cutAt }))];
  const indexing = opts.index ? await startIndexing(opts.outputDir, existing.events, opts.parallel, log, { drops, tags: opts.indexTags }) : undefined;
  const onStoredMember = bothOnMember(opts.onMember, indexing?.onMember);
  for (const member of rewritten) await onStoredMember?.(member);
  let index: IndexingSummary | undefined;

  const rejectLog = new RejectLog(path.join(opts.outputDir, LOG_NAME));
  if (input.objects) rejectLog.info(`${input.label}: ${input.objects.length} objects, read in this order (line numbers run on across them): ${input.objects.join(' ')}`);
  rejectLog.info(`convert ${input.label} -> ${opts.outputDir} (ids ${opts.validateIds ? 'checked' : 'not checked'}, signatures ${verifier ? `checked by the ${verifier.label} verifier` : 'not checked'})`);
  if (verifier?.note) rejectLog.info(verifier.note);
  if (opened.resume) rejectLog.info(`resumed at line ${opened.resume.next.line} (JSONL byte ${opened.resume.next.offset}) from the checkpoint of ${opened.resume.writtenAt}; lines before it were converted by the run that wrote it`);
  // Bytes (of the decompressed input) of the lines whose results were taken, in input order: where
  // a stopped run really stopped (bytesRead is ahead of it by what was buffered).
  let processedBytes = opened.resume?.next.offset ?? 0;
  const checkpoints: Checkpointer | undefined = checkpointsApply(input.identity, opts.checkpoint) ? new Checkpointer({
    dir: opts.outputDir,
    input: input.identity,
    options: opts.checkpoint!,
    resumed: opened.resume,
    start: input.positionOf(processedBytes, counts.lines + 1),
    rejectLogBytes: rejectLog.bytes,
    counts: (): ConversionCounts => ({ ...counts, bytesIn: input.bytesRead(), bytesOut: (opened.resume?.counts.bytesOut ?? 0) + writer.bytesWritten }),
    position: () => input.positionOf(processedBytes, counts.lines + 1),
    settle: {
      dayFiles: () => writer.flush(),
      index: async () => { await indexing?.commit(); },
      rejectLog: async () => { await rejectLog.sync(); return { bytes: rejectLog.bytes }; },
    },
    log,
    // The ids this run stores, kept for a resume when the folder began empty (it then describes the folder).
    idLogFrom: opts.resume ? undefined : opened.resume ? opened.resume.storedIds : counts.preexisting === 0 && existing.repairs.length === 0 ? 0 : undefined,
  }) : undefined;
  const idLog = checkpoints?.idLog;
  const onMember: OnMember | undefined = checkpoints ? bothOnMember(onStoredMember, (m) => checkpoints.onMember(m)) : onStoredMember;
  const writer = new DayWriter(opts.outputDir, {
    compressionLevel: opts.compressionLevel,
    memberBytes: opts.memberBytes,
    onMember,
  });
  for (const r of existing.repairs) {
    rejectLog.info(`${r.fileName}: cut back to byte ${r.cutAt}, where its last complete gzip member ends (a write had not finished); ${r.rewritten?.events.length ?? 0} whole events of the cut member written again`);
  }
  const pool = new WorkerPool<BatchTask, BatchResult>(WORKER_SCRIPT, opts.parallel, {
    validateIds: opts.validateIds,
    validateSignatures: opts.validateSignatures,
    verifier: verifier?.kind ?? 'wasm',
  } satisfies WorkerOptions);

  const batchBytes: number[] = [];
  const snapshot = () => ({ bytesRead: input.bytesRead(), totalBytes: input.totalBytes, events: counts.valid });
  const progress = opts.progress ? new ProgressBar(snapshot) : undefined;
  const status = opts.statusFile ? new StatusFile(opts.statusFile, () => ({ ...statusOf(counts, snapshot(), started), processedBytes, ...(input.current ? { object: input.current() } : {}) })) : undefined;

  const takeResult = async (r: BatchResult): Promise<void> => {
    processedBytes += batchBytes.shift() ?? 0;
    counts.lines += r.lines;
    const { rejects, copies } = takeStoredCopies(r.rejects, seen);
    await recordRejections(rejects, counts, rejectLog);
    counts.valid += r.count + r.duplicates + copies;
    counts.duplicates += r.duplicates + copies;
    counts.duplicatesUnverified += r.duplicates;
    let start = 0;
    for (let i = 0; i < r.count; i++) {
      const end = r.messageEnds[i];
      if (seen.add(r.ids, i * 32)) {
        idLog?.add(r.ids, i * 32);
        // The index fields, as hex strings, only for those that want them (~1.5 us an event).
        const stored = onStoredMember && {
          id: Buffer.from(r.ids.buffer, r.ids.byteOffset + i * 32, 32).toString('hex'),
          pubkey: Buffer.from(r.pubkeys.buffer, r.pubkeys.byteOffset + i * 32, 32).toString('hex'),
          kind: r.kinds[i],
          createdAt: r.createdAt[i],
        };
        writer.append(dayOf(r.createdAt[i]), r.messages.subarray(start, end), stored);
      } else {
        counts.duplicates++;
      }
      start = end;
    }
    await writer.capacity();
  };

  const taskOf = ({ seq, firstLine, bytes }: LineBatch): BatchTask => ({
    seq, firstLine, bytes, stored: opts.validateSignatures ? storedIdHints(bytes, seen) : undefined,
  });

  // The main thread's CPU per line is taken over the loop alone: start-up (loading modules,
  // bundling and starting threads, reading the folder) is paid once a run, not per line.
  const cpuAtStart = mainThreadCpuSeconds();
  try {
    const results = new OrderedConsumer(opts.parallel * 2, takeResult);
    const batches = lineBatches(input.stream, {
      firstLine: counts.lines + 1,
      maxLines: opts.batchSize,
      maxBytes: MAX_BATCH_BYTES,
      maxLineBytes: opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
    });
    // Damaged input (a truncated .gz): what was read before the damage is written out first.
    let inputDamage: InputDamagedError | undefined;
    const stopReading = () => input.stream.destroy();
    opts.signal?.addEventListener('abort', stopReading, { once: true });
    try {
      for await (const batch of batches) {
        if (checkpoints?.due(processedBytes)) {
          await results.drain();
          await checkpoints.take(everyText(opts.checkpoint!));
        }
        batchBytes.push(batch.tooLongBytes !== undefined ? batch.tooLongBytes + 1 : batch.bytes.length);
        const result = batch.tooLongBytes !== undefined ? Promise.resolve(tooLongResult(batch)) : pool.run(taskOf(batch), movableBuffers([batch.bytes]));
        result.catch(() => {}); // a failure is thrown where the result is taken, in order
        await results.add(result);
      }
    } catch (err) {
      if (opts.signal?.aborted) {
        // the input was closed on purpose
      } else if (err instanceof InputDamagedError) {
        inputDamage = err;
      } else if (err instanceof FatalError) {
        throw err;
      } else {
        throw new FatalError(`reading ${input.current?.() ?? input.label} failed after ${counts.lines} lines: ${(err as Error).message}`);
      }
    } finally {
      opts.signal?.removeEventListener('abort', stopReading);
    }
    await results.drain();
    if (opts.signal?.aborted && !inputDamage) await checkpoints?.take(String(opts.signal.reason ?? 'interrupted'), 'interrupted');
    counts.mainThreadCpuSeconds = mainThreadCpuSeconds() - cpuAtStart;
    if (progress) progress.phase = 'finishing day files';
    await writer.close();
    if (progress && indexing) progress.phase = 'finishing the index';
    index = await indexing?.finish();
    counts.bytesIn = input.bytesRead();
    if (input.compression && input.compression !== 'none') counts.jsonlBytes = processedBytes; // every batch was taken
    if (input.objects) counts.inputObjects = input.objects.length;
    counts.bytesOut = (opened.resume?.counts.bytesOut ?? 0) + writer.bytesWritten;
    counts.files = checkpoints?.filesTouched ?? writer.filesTouched.size;
    if (checkpoints) counts.checkpoints = { count: checkpoints.count, seconds: checkpoints.seconds };
    counts.seconds = (Date.now() - started) / 1000;
    if (inputDamage) throw new InputDamagedError(`${inputDamage.message}; the ${counts.lines} lines before it are converted`);
    if (opts.signal?.aborted) {
      const message = checkpoints
        ? `interrupted after line ${counts.lines}: the day files hold every valid event up to it and ${opts.outputDir}/_checkpoint.json records where it stopped; converting the same input again into ${opts.outputDir} goes on from there`
        : `interrupted after line ${counts.lines}: the day files hold every valid event up to it; converting the same input again into ${opts.outputDir} skips what is there`;
      rejectLog.info(message);
      throw new InterruptedError(message, exitCodeOf(opts.signal.reason));
    }
    rejectLog.info(`done: ${counts.lines} lines, ${counts.valid} valid, ${counts.duplicates} duplicates, ${counts.rejected} rejected`);
    if (checkpoints) {
      await rejectLog.sync();
      await checkpoints.finish(rejectLog.bytes);
    } else {
      removeLocalCheckpoint(opts.outputDir); // one this run resumed from, now done
    }
    status?.stop('done');
  } catch (err) {
    status?.stop('failed');
    await indexing?.abort();
    if (err instanceof FatalError && !(err instanceof InterruptedError)) rejectLog.info(`error: ${err.message}`);
    throw err;
  } finally {
    progress?.stop();
    idLog?.close();
    await pool.close();
    await rejectLog.close().catch(() => {});
  }
  return { ...counts, index };
}

const everyText = (c: CheckpointOptions): string => (c.every.ms !== undefined ? `every ${c.every.ms / 1000} s` : `every ${c.every.bytes} bytes of input`);

type OnMember = (m: WrittenMember) => unknown;
function bothOnMember(a?: OnMember, b?: OnMember): OnMember | undefined {
  return a && b ? async (m) => { await Promise.all([a(m), b(m)]); } : a ?? b;
}

function tooLongResult(batch: LineBatch): BatchResult {
  const detail = `line of ${batch.tooLongBytes} bytes is longer than the limit`;
  return {
    seq: batch.seq, lines: 1, rejects: [{ line: batch.firstLine, reason: 'line_too_long', detail }], duplicates: 0, count: 0,
    ids: new Uint8Array(0), pubkeys: new Uint8Array(0), createdAt: new Float64Array(0), kinds: new Int32Array(0),
    messageEnds: new Uint32Array(0), messages: new Uint8Array(0),
  };
}

async function recordRejections(rejects: LineRejection[], counts: ConversionCounts, log: RejectLog): Promise<void> {
  if (rejects.length === 0) return;
  counts.rejected += rejects.length;
  for (const r of rejects) counts.rejectedByReason[r.reason] = (counts.rejectedByReason[r.reason] ?? 0) + 1;
  await log.rejected(rejects);
}

function statusOf(counts: ConversionCounts, s: { bytesRead: number; totalBytes?: number; events: number }, started: number) {
  const seconds = (Date.now() - started) / 1000;
  const fraction = s.totalBytes ? s.bytesRead / s.totalBytes : 0;
  return {
    phase: 'converting' as const,
    verifier: counts.verifier,
    bytesRead: s.bytesRead,
    totalBytes: s.totalBytes ?? null,
    lines: counts.lines,
    valid: counts.valid,
    rejected: counts.rejected,
    duplicates: counts.duplicates,
    eventsPerSecond: seconds > 0 ? Math.round(counts.valid / seconds) : 0,
    etaSeconds: fraction > 0 ? Math.round(seconds / fraction - seconds) : null,
  };
}
