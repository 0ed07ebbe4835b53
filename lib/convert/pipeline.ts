/**
 * The conversion pipeline: input bytes -> line batches -> workers (parse, validate, encode, split
 * by day partition) -> back in input order on the main thread, which only sums counts and moves
 * each partition's part on -> writer threads (dedup, day files; lib/convert/writer-threads.ts).
 *
 * Results are taken in input order whatever the number of workers, each partition's events reach
 * its writer in that order, and the first copy of an event wins, so any -j and any number of
 * writer threads give the same day files.
 */
import os from 'node:os';
import path from 'node:path';
import type { BatchResult, BatchTask, LineRejection } from './batch.ts';
import { prepareOutputFolder } from '../day-files/folder.ts';
import { FatalError, InputDamagedError, InterruptedError } from '../cli/errors.ts';
import { finishStoppedRepairs, readingFolderNote } from './existing-days.ts';
import { listDayFiles } from '../day-files/names.ts';
import { exitCodeOf } from '../cli/interrupt.ts';
import { lockFolder } from '../day-files/folder-lock.ts';
import type { CheckOptions } from '../nostr/validate.ts';
import { resolveVerifier, type VerifierChoice } from '../nostr/verifier.ts';
import { resolveGzip, type GzipChoice } from '../day-files/gzip.ts';
import type { WorkerOptions } from './worker.ts';
import { startIndexing, type IndexingSummary } from '../index/writer.ts';
import { lineBatches, type LineBatch } from './line-batches.ts';
import { OrderedConsumer } from './ordered-consumer.ts';
import { ProgressBar } from '../cli/progress.ts';
import { LOG_NAME, RejectLog } from './reject-log.ts';
import { StatusFile } from './status-file.ts';
import { emptyCounts, type ConversionCounts } from './summary.ts';
import { movableBuffers } from '../workers/transfer.ts';
import { threadCpuSeconds } from '../workers/thread-cpu.ts';
import { WorkerPool } from '../workers/pool.ts';
import { libModule } from '../paths.ts';
import { PARTITION_PENDING_BUDGET, defaultWriters } from './partitions.ts';
import { newRecentIds } from './recent-ids.ts';
import { WriterThreads, type BatchOutcome } from './writer-threads.ts';
import type { IndexBackpressure } from './writer-thread.ts';
import type { CheckpointRecord } from '../checkpoint/record.ts';
import { Checkpointer, checkpointsApply, type CheckpointOptions } from '../checkpoint/checkpointer.ts';
import { checkFolderAgrees, openAtCheckpoint } from '../checkpoint/open-at.ts';
import { FILE_READ_BYTES } from '../input/open.ts';
import { carryCounts, idLogResume } from '../checkpoint/resume.ts';
import { removeLocalCheckpoint } from '../checkpoint/local.ts';
import { ID_LOG_NAME } from '../checkpoint/id-log.ts';

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
  /** Writer threads (each owns some of the day partitions, lib/convert/partitions.ts); default: 3 per 4 workers. */
  writers?: number;
  /** Bytes each day partition may hold before its largest days are written early (tests make it small). */
  pendingBudget?: number;
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
  /** The members' gzip (lib/day-files/gzip.ts); default auto. */
  gzip?: GzipChoice;
  /** Lines every run should show (auto falling back to WASM); default: standard error. */
  notice?: (text: string) => void;
  /** Stops reading input; what was read is written out (and checkpointed), then an InterruptedError is thrown. */
  signal?: AbortSignal;
  /** Checkpoints (lib/checkpoint/checkpointer.ts): DIR/_checkpoint.json, and the S3 side's hook. Off when undefined. */
  checkpoint?: CheckpointOptions;
  /** Start at record.next with record.counts (the S3 side's record, for an empty folder); else DIR/_checkpoint.json is used when it fits. */
  resume?: CheckpointRecord;
  /**
   * Ids stored before this run that are not in the folder, as id records (an id and its day, 36
   * bytes each, lib/checkpoint/id-records.ts: each goes to the writer thread of its day); the S3
   * side feeds them from its id lists.
   */
  knownIds?: AsyncIterable<Uint8Array>;
  /** Ignore (and remove) DIR/_checkpoint.json: read the input from its start. */
  restart?: boolean;
}

export const DEFAULT_MAX_LINE_BYTES = 16 << 20;
/**
 * Above the chunk a file is read in: a chunk and the line begun in the one before then go out as
 * one batch, the chunk moved to its worker. At the chunk's size, the line from before pushed each
 * batch over the limit just before the chunk's end, and the batch was copied on the main thread
 * (23 to 38 % of the bench corpora's bytes, 0.7 us per line of main-thread CPU on the shuffled one).
 */
export const MAX_BATCH_BYTES = FILE_READ_BYTES + (1 << 20);
/** Batches whose rejections wait for their writers' word before the reading waits too. */
const MAX_LOGS_PENDING = 64;
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
  const notice = opts.notice ?? ((text: string) => process.stderr.write(`${text}\n`));
  if (verifier?.note) notice(verifier.note);
  const gzip = resolveGzip(opts.gzip ?? 'auto');
  counts.gzip = gzip.label;
  if (gzip.note) notice(gzip.note);

  // Reading a large folder first takes a while: say so on a terminal even without --verbose.
  const folderLog = opts.log ?? (opts.progress ? (text: string) => process.stderr.write(`${text}\n`) : log);
  // A checkpoint to go on from: the input opened at its position, the day files cut back to it.
  let opened = await openAtCheckpoint({ dir: opts.outputDir, input: opts.input, resume: opts.resume, restart: opts.restart, log: folderLog });
  const resumeGiven = opts.resume !== undefined;
  const journalRepairs = finishStoppedRepairs(opts.outputDir, folderLog);
  // The folder's ids from DIR/_checkpoint.ids rather than its day files, when the record allows.
  const fromIdList = journalRepairs.length === 0 ? idLogResume(opened, { dir: opts.outputDir, resumeGiven }) : undefined;
  // The writer threads read the ids of their days' files first (in parallel), then write.
  let indexing: Awaited<ReturnType<typeof startIndexing>> | undefined;
  const recent = opts.validateSignatures ? newRecentIds() : undefined;
  const writers = new WriterThreads(opts.writers ?? defaultWriters(opts.parallel), {
    dir: opts.outputDir,
    compressionLevel: opts.compressionLevel,
    gzip: gzip.kind,
    memberBytes: opts.memberBytes,
    pendingBudget: opts.pendingBudget ?? PARTITION_PENDING_BUDGET,
    index: Boolean(opts.index),
    memberData: Boolean(opts.index),
    shareStored: Boolean(opts.validateSignatures),
    recent,
    ...(fromIdList ? { idLog: fromIdList } : {}),
  }, (member) => indexing?.onMember?.(member), folderLog);
  let pool: WorkerPool<BatchTask, BatchResult> | undefined;
  let rejectLog: RejectLog | undefined;
  let index: IndexingSummary | undefined;
  let status: StatusFile | undefined;
  let progress: ProgressBar | undefined;
  let checkpoints: Checkpointer | undefined;
  try {
    const dayFiles = fromIdList ? 0 : listDayFiles(opts.outputDir).length;
    if (dayFiles > 0) folderLog(readingFolderNote(dayFiles, opts.outputDir));
    if (opts.knownIds) for await (const records of opts.knownIds) writers.addKnown(records);
    const existing = await writers.loaded();
    if (fromIdList) folderLog(`the ids of the ${existing.events} events stored so far loaded from ${ID_LOG_NAME} (the day files are not read)`);
    if (opts.knownIds) log(`${existing.known} ids stored before this run added from outside the folder`);
    const repairs = [...journalRepairs, ...existing.repairs];
    const rewritten = repairs.flatMap((r) => (r.rewritten ? [r.rewritten] : []));
    counts.preexisting = existing.events + rewritten.reduce((n, m) => n + m.events.length, 0);
    counts.repaired = repairs.length;
    opened = await checkFolderAgrees(opened, { dir: opts.outputDir, input: opts.input, resumeGiven, folderEvents: counts.preexisting, log: folderLog });
    const input = opened.input;
    if (opened.resume) carryCounts(counts, opened.resume);

    // The index: started once the existing events are counted, finished after the day files.
    // It should hold the events of the complete members; those of repaired files' new members are added.
    const drops = [...opened.cuts, ...repairs.map((r) => ({ fileName: r.fileName, from: r.cutAt }))];
    indexing = opts.index ? await startIndexing(opts.outputDir, existing.events, opts.parallel, log, { drops, tags: opts.indexTags, onFailure: () => writers.indexGone() }) : undefined;
    // The writer threads send their members' rows to the index thread themselves, before the first parts.
    if (indexing?.connect) writers.connectIndex(indexing.connect(writers.count));
    for (const member of rewritten) await indexing?.onMember?.(member);

    rejectLog = new RejectLog(path.join(opts.outputDir, LOG_NAME));
    const rejects = rejectLog;
    if (input.objects) rejectLog.info(`${input.label}: ${input.objects.length} objects, read in this order (line numbers run on across them): ${input.objects.join(' ')}`);
    rejectLog.info(`convert ${input.label} -> ${opts.outputDir} (ids ${opts.validateIds ? 'checked' : 'not checked'}, signatures ${verifier ? `checked by the ${verifier.label} verifier` : 'not checked'}, gzip by ${gzip.label})`);
    if (verifier?.note) rejectLog.info(verifier.note);
    if (gzip.note) rejectLog.info(gzip.note);
    if (opened.resume) rejectLog.info(`resumed at line ${opened.resume.next.line} (JSONL byte ${opened.resume.next.offset}) from the checkpoint of ${opened.resume.writtenAt}; lines before it were converted by the run that wrote it`);
    for (const r of repairs) {
      rejectLog.info(`${r.fileName}: cut back to byte ${r.cutAt}, where its last complete gzip member ends (a write had not finished); ${r.rewritten?.events.length ?? 0} whole events of the cut member written again`);
    }
    pool = new WorkerPool<BatchTask, BatchResult>(WORKER_SCRIPT, opts.parallel, {
      validateIds: opts.validateIds,
      validateSignatures: opts.validateSignatures,
      verifier: verifier?.kind ?? 'wasm',
      stored: existing.stored,
      recent,
    } satisfies WorkerOptions);
    const workers = pool;

    // Bytes (of the decompressed input) of the lines whose results were taken, in input order: where
    // a stopped run really stopped (bytesRead is ahead of it by what was buffered).
    let processedBytes = opened.resume?.next.offset ?? 0;
    let handedOut = processedBytes; // bytes of the batches given to the workers
    const batchBytes: number[] = [];
    const snapshot = () => ({ bytesRead: input.bytesRead(), totalBytes: input.totalBytes, events: counts.valid });
    progress = opts.progress ? new ProgressBar(snapshot) : undefined;
    status = opts.statusFile ? new StatusFile(opts.statusFile, () => ({ ...statusOf(counts, snapshot(), started), processedBytes, ...(input.current ? { object: input.current() } : {}) })) : undefined;

    // Rejections are logged in line order, each batch's once its writers said which of its
    // bad-signature lines name a stored event (those count as duplicates: the duplicate rule, docs/FORMAT.md).
    let logged: Promise<void> = Promise.resolve();
    let logsPending = 0;
    // Per batch, the main thread only sums counts and moves the parts on: no per-event work.
    const takeResult = async (r: BatchResult): Promise<void> => {
      processedBytes += batchBytes.shift() ?? 0;
      counts.lines += r.lines;
      counts.valid += r.count + r.duplicates;
      counts.duplicates += r.duplicates;
      counts.duplicatesUnverified += r.duplicates;
      // (before the parts are sent: their buffers move to the writer threads)
      const hasBad = r.parts.some((p) => p.badLines.length > 0);
      let outcome: Promise<BatchOutcome> | undefined;
      if (r.parts.length > 0) {
        outcome = writers.send(r.parts);
        outcome.then((o) => {
          counts.valid += o.copies.size;
          counts.duplicates += o.duplicates + o.copies.size;
        }, () => {}); // a failure is thrown by capacity()
      }
      if (r.rejects.length > 0) {
        logsPending++;
        logged = logged.then(async () => {
          const copies = hasBad ? (await outcome!).copies : undefined;
          await recordRejections(copies ? r.rejects.filter((x) => !(x.reason === 'bad_signature' && copies.has(x.line))) : r.rejects, counts, rejects);
          logsPending--;
        });
        logged.catch(() => {}); // thrown where it is awaited
        if (logsPending > MAX_LOGS_PENDING) await logged;
      }
      await writers.capacity();
    };
    /**
     * The barrier for checkpoints: once it resolves, every result taken so far is in complete,
     * fsynced gzip members on disk (index rows sent), its rejections logged and counted; it
     * returns the members each day file gained since the last barrier.
     */
    const flushToDisk = async () => {
      await logged;
      return writers.flushToDisk();
    };
    let bytesWritten = 0; // by the writer threads, known at their close
    // Bytes of the members the checkpoints were told of (the writer threads report theirs at close).
    let newBytes = 0;
    // None for an input that cannot be resumed (standard input) unless a hook wants them.
    const ckpt: Checkpointer | undefined = checkpointsApply(input.identity, opts.checkpoint) ? new Checkpointer({
      dir: opts.outputDir,
      input: input.identity,
      options: opts.checkpoint,
      resumed: opened.resume,
      start: input.positionOf(processedBytes, counts.lines + 1),
      rejectLogBytes: rejects.bytes,
      counts: (): ConversionCounts => ({ ...counts, bytesIn: input.bytesRead(), bytesOut: (opened.resume?.counts.bytesOut ?? 0) + bytesWritten + newBytes }),
      position: () => input.positionOf(processedBytes, counts.lines + 1),
      settle: {
        dayFiles: async () => {
          const members = await flushToDisk();
          for (const m of members) newBytes += m.memberBytes;
          ckpt!.addMembers(members);
        },
        index: async () => { await indexing?.commit(writers.barrier); },
        rejectLog: async () => { await rejects.sync(); return { bytes: rejects.bytes }; },
      },
      log,
      // The ids this run stores (id records from the writer threads), kept for a resume when the folder began empty.
      idLogFrom: resumeGiven ? undefined : opened.resume ? opened.resume.storedIds : counts.preexisting === 0 && repairs.length === 0 ? 0 : undefined,
    }) : undefined;
    checkpoints = ckpt;
    const idLog = checkpoints?.idLog;
    if (idLog) writers.sendStoredIds((records) => idLog.addRecords(records));

    // The main thread's CPU per line is taken over the loop alone: start-up (loading modules,
    // bundling and starting threads, reading the folder) is paid once a run, not per line.
    const cpuAtStart = threadCpuSeconds();
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
        // Due by the bytes handed out (taken results lag them by the batches in flight); taken at
        // the batch boundary once every result is in, where processedBytes has caught up.
        if (checkpoints?.due(handedOut)) {
          await results.drain();
          await checkpoints.take(everyText(opts.checkpoint!));
        }
        const size = batch.tooLongBytes !== undefined ? batch.tooLongBytes + 1 : (batch.head?.length ?? 0) + batch.bytes.length;
        handedOut += size;
        batchBytes.push(size);
        const result = batch.tooLongBytes !== undefined ? Promise.resolve(tooLongResult(batch)) : workers.run({ seq: batch.seq, firstLine: batch.firstLine, head: batch.head, bytes: batch.bytes }, movableBuffers([batch.bytes]));
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
    await logged;
    if (opts.signal?.aborted && !inputDamage) await checkpoints?.take(String(opts.signal.reason ?? 'interrupted'), 'interrupted');
    counts.mainThreadCpuSeconds = threadCpuSeconds() - cpuAtStart;
    if (progress) progress.phase = 'finishing day files';
    const written = await writers.close();
    checkpoints?.addMembers(written.flushed);
    if (progress && indexing) progress.phase = 'finishing the index';
    logIndexBackpressure(written.index, log);
    index = await indexing?.finish(writers.barrier);
    if (index?.insertCpuSeconds) counts.indexThreadCpuSeconds = index.insertCpuSeconds;
    counts.bytesIn = input.bytesRead();
    if (input.compression && input.compression !== 'none') counts.jsonlBytes = processedBytes; // every batch was taken
    if (input.objects) counts.inputObjects = input.objects.length;
    bytesWritten = written.bytesWritten;
    newBytes = 0;
    counts.bytesOut = (opened.resume?.counts.bytesOut ?? 0) + written.bytesWritten;
    counts.files = checkpoints?.filesTouched ?? written.files.size;
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
    if (err instanceof FatalError && !(err instanceof InterruptedError)) rejectLog?.info(`error: ${err.message}`);
    throw err;
  } finally {
    progress?.stop();
    checkpoints?.idLog?.close();
    await pool?.close();
    await writers.terminate();
    await rejectLog?.close().catch(() => {});
  }
  return { ...counts, index };
}

function logIndexBackpressure(threads: IndexBackpressure[], log: (text: string) => void): void {
  if (threads.length === 0) return;
  const waits = threads.reduce((n, t) => n + t.waits, 0);
  const most = Math.max(...threads.map((t) => t.mostBehind));
  log(`index rows: the writer threads waited ${waits} times for the index thread to catch up; at most ${most} rows of one thread were sent and not yet inserted (it waits past ${threads[0].maxBehind})`);
}

const everyText = (c: CheckpointOptions): string => (c.every.ms !== undefined ? `every ${c.every.ms / 1000} s` : `every ${c.every.bytes} bytes of input`);

function tooLongResult(batch: LineBatch): BatchResult {
  const detail = `line of ${batch.tooLongBytes} bytes is longer than the limit`;
  return {
    seq: batch.seq, lines: 1, rejects: [{ line: batch.firstLine, reason: 'line_too_long', detail }], duplicates: 0, count: 0, parts: [],
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
    gzip: counts.gzip,
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
