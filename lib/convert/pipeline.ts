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
import { finishStoppedRepairs } from './existing-days.ts';
import { exitCodeOf } from '../cli/interrupt.ts';
import { lockFolder } from '../day-files/folder-lock.ts';
import type { CheckOptions } from '../nostr/validate.ts';
import { resolveVerifier, type VerifierChoice } from '../nostr/verifier.ts';
import type { WorkerOptions } from './worker.ts';
import { startIndexing, type IndexingSummary } from '../index/writer.ts';
import { openInput } from '../input/open.ts';
import { lineBatches, type LineBatch } from './line-batches.ts';
import { OrderedConsumer } from './ordered-consumer.ts';
import { ProgressBar } from '../cli/progress.ts';
import { LOG_NAME, RejectLog } from './reject-log.ts';
import { StatusFile } from './status-file.ts';
import { emptyCounts, type ConversionCounts } from './summary.ts';
import { movableBuffers } from '../workers/transfer.ts';
import { mainThreadCpuSeconds } from '../workers/thread-cpu.ts';
import { WorkerPool } from '../workers/pool.ts';
import { libModule } from '../paths.ts';
import { PARTITION_PENDING_BUDGET, defaultWriters } from './partitions.ts';
import { newRecentIds } from './recent-ids.ts';
import { WriterThreads, type BatchOutcome } from './writer-threads.ts';

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
  /** Lines every run should show (auto falling back to WASM); default: standard error. */
  notice?: (text: string) => void;
  /** Stops reading input; what was read is written out, then an InterruptedError is thrown. */
  signal?: AbortSignal;
}

export const DEFAULT_MAX_LINE_BYTES = 16 << 20;
const MAX_BATCH_BYTES = 4 << 20;
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
  if (verifier?.note) (opts.notice ?? ((text: string) => process.stderr.write(`${text}\n`)))(verifier.note);
  const input = await openInput(opts.input);

  // Reading a large folder first takes a while: say so on a terminal even without --verbose.
  const folderLog = opts.log ?? (opts.progress ? (text: string) => process.stderr.write(`${text}\n`) : log);
  const journalRepairs = finishStoppedRepairs(opts.outputDir, folderLog);
  // The writer threads read the ids of their days' files first (in parallel), then write.
  let indexing: Awaited<ReturnType<typeof startIndexing>> | undefined;
  const recent = opts.validateSignatures ? newRecentIds() : undefined;
  const writers = new WriterThreads(opts.writers ?? defaultWriters(opts.parallel), {
    dir: opts.outputDir,
    compressionLevel: opts.compressionLevel,
    memberBytes: opts.memberBytes,
    pendingBudget: opts.pendingBudget ?? PARTITION_PENDING_BUDGET,
    index: Boolean(opts.index),
    memberData: Boolean(opts.index),
    shareStored: Boolean(opts.validateSignatures),
    recent,
  }, (member) => indexing?.onMember?.(member), folderLog);
  let pool: WorkerPool<BatchTask, BatchResult> | undefined;
  let rejectLog: RejectLog | undefined;
  let index: IndexingSummary | undefined;
  let status: StatusFile | undefined;
  let progress: ProgressBar | undefined;
  try {
    const existing = await writers.loaded();
    const repairs = [...journalRepairs, ...existing.repairs];
    const rewritten = repairs.flatMap((r) => (r.rewritten ? [r.rewritten] : []));
    counts.preexisting = existing.events + rewritten.reduce((n, m) => n + m.events.length, 0);
    counts.repaired = repairs.length;

    // The index: started once the existing events are counted, finished after the day files.
    // It should hold the events of the complete members; those of repaired files' new members are added.
    const drops = repairs.map((r) => ({ fileName: r.fileName, from: r.cutAt }));
    indexing = opts.index ? await startIndexing(opts.outputDir, existing.events, opts.parallel, log, { drops, tags: opts.indexTags }) : undefined;
    for (const member of rewritten) await indexing?.onMember?.(member);

    rejectLog = new RejectLog(path.join(opts.outputDir, LOG_NAME));
    const rejects = rejectLog;
    if (input.objects) rejectLog.info(`${input.label}: ${input.objects.length} objects, read in this order (line numbers run on across them): ${input.objects.join(' ')}`);
    rejectLog.info(`convert ${input.label} -> ${opts.outputDir} (ids ${opts.validateIds ? 'checked' : 'not checked'}, signatures ${verifier ? `checked by the ${verifier.label} verifier` : 'not checked'})`);
    if (verifier?.note) rejectLog.info(verifier.note);
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
    let processedBytes = 0;
    const batchBytes: number[] = [];
    const snapshot = () => ({ bytesRead: input.bytesRead(), totalBytes: input.totalBytes, events: counts.valid });
    progress = opts.progress ? new ProgressBar(snapshot) : undefined;
    status = opts.statusFile ? new StatusFile(opts.statusFile, () => ({ ...statusOf(counts, snapshot(), started), processedBytes, ...(input.current ? { object: input.current() } : {}) })) : undefined;

    // Rejections are logged in line order, each batch's once its writers said which of its
    // bad-signature lines name a stored event (those count as duplicates, lib/convert/duplicates.ts).
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
    void flushToDisk; // the checkpoint hook (issue 14) calls it at a batch boundary

    // The main thread's CPU per line is taken over the loop alone: start-up (loading modules,
    // bundling and starting threads, reading the folder) is paid once a run, not per line.
    const cpuAtStart = mainThreadCpuSeconds();
    const results = new OrderedConsumer(opts.parallel * 2, takeResult);
    const batches = lineBatches(input.stream, {
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
        batchBytes.push(batch.tooLongBytes !== undefined ? batch.tooLongBytes + 1 : (batch.head?.length ?? 0) + batch.bytes.length);
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
    counts.mainThreadCpuSeconds = mainThreadCpuSeconds() - cpuAtStart;
    if (progress) progress.phase = 'finishing day files';
    const written = await writers.close();
    if (progress && indexing) progress.phase = 'finishing the index';
    index = await indexing?.finish();
    counts.bytesIn = input.bytesRead();
    if (input.compression && input.compression !== 'none') counts.jsonlBytes = processedBytes; // every batch was taken
    if (input.objects) counts.inputObjects = input.objects.length;
    counts.bytesOut = written.bytesWritten;
    counts.files = written.files.size;
    counts.seconds = (Date.now() - started) / 1000;
    if (inputDamage) throw new InputDamagedError(`${inputDamage.message}; the ${counts.lines} lines before it are converted`);
    if (opts.signal?.aborted) {
      const message = `interrupted after line ${counts.lines}: the day files hold every valid event up to it; converting the same input again into ${opts.outputDir} skips what is there`;
      rejectLog.info(message);
      throw new InterruptedError(message, exitCodeOf(opts.signal.reason));
    }
    rejectLog.info(`done: ${counts.lines} lines, ${counts.valid} valid, ${counts.duplicates} duplicates, ${counts.rejected} rejected`);
    status?.stop('done');
  } catch (err) {
    status?.stop('failed');
    await indexing?.abort();
    if (err instanceof FatalError && !(err instanceof InterruptedError)) rejectLog?.info(`error: ${err.message}`);
    throw err;
  } finally {
    progress?.stop();
    await pool?.close();
    await writers.terminate();
    await rejectLog?.close().catch(() => {});
  }
  return { ...counts, index };
}

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
