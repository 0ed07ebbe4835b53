#!/usr/bin/env -S npx tsx
// Converts a JSONL dump of Nostr events into validated, deduplicated day files.
import { DEFAULT_MAX_LINE_BYTES, convert, defaultParallelism } from '../lib/convert/pipeline.ts';
import { PARTITIONS } from '../lib/convert/partitions.ts';
import { runScript } from '../lib/cli/run.ts';
import { interruptSignal } from '../lib/cli/interrupt.ts';
import fs from 'node:fs';
import { FatalError, UsageError } from '../lib/cli/errors.ts';
import { inputShapeHint } from '../lib/convert/input-hint.ts';
import { indexPathOf, removeIndex } from '../lib/index/db.ts';
import { formatIndexing } from '../lib/index/writer.ts';
import { formatSummary } from '../lib/convert/summary.ts';
import { VERIFIER_CHOICES, type VerifierChoice } from '../lib/nostr/verifier.ts';
import { GZIP_CHOICES, type GzipChoice } from '../lib/day-files/gzip.ts';
import { DEFAULT_CHECKPOINT_EVERY, parseCheckpointEvery } from '../lib/checkpoint/interval.ts';

await runScript({
  command: 'npx tsx scripts/convert.ts',
  synopsis: 'INPUT [options]',
  about: `
Converts Nostr events (JSONL, one NIP-01 event per line) into one gzip'd protobuf file per
UTC day (YYYY_MM_DD.pb.gz). INPUT is a file path, - for standard input, an http(s):// URL or
s3://bucket/key (read as it arrives, resumed after a dropped connection); .gz is decompressed.
Converting into a folder that already holds day files adds to them and never stores an event twice.`,
  positionals: { name: 'INPUT', min: 1, max: 1 },
  flags: {
    'output-dir': { kind: 'string', short: 'o', value: 'DIR', default: './pb_data', help: 'output folder' },
    'validate-signatures': { kind: 'bool', default: true, help: 'check Schnorr signatures' },
    verifier: { kind: 'string', value: 'auto|native|wasm', default: 'auto', help: 'Schnorr verifier: native is the system libsecp256k1, wasm tiny-secp256k1;\nauto takes native when it loads and passes a self-test, else wasm, saying why' },
    'validate-event-ids': { kind: 'bool', default: true, help: 'check that ids are the SHA-256 of the event' },
    parallel: { kind: 'int', short: 'j', default: defaultParallelism(), min: 1, max: 1024, defaultText: `number of CPUs, here ${defaultParallelism()}`, help: 'worker threads' },
    'compression-level': { kind: 'int', default: 6, min: 0, max: 9, help: 'gzip level 0..9' },
    gzip: { kind: 'string', value: 'auto|libdeflate|zlib', default: 'auto', help: "the members' gzip: libdeflate is the system's, in about 2/3 of zlib's time;\nauto takes it when it loads and passes a self-test, else zlib, saying why" },
    'filter-invalid-kinds': { kind: 'bool', defaultText: 'true', help: "Proton Beam's kind pre-filter, accepted for compatibility:\nkinds above 65535 are always rejected (kind_out_of_range)" },
    'no-filter-kinds': { kind: 'switch', help: 'the same as --filter-invalid-kinds=false (such kinds are still rejected)' },
    writers: { kind: 'int', short: 'w', value: 'W', min: 1, max: PARTITIONS, help: `writer threads, each owning some of the ${PARTITIONS} day partitions (default: 3 per 4 workers); the output is the same for any W` },
    'batch-size': { kind: 'int', short: 'b', default: 4000, min: 1, max: 10_000_000, help: 'lines per batch handed to a worker' },
    'max-line-bytes': { kind: 'int', default: DEFAULT_MAX_LINE_BYTES, min: 1, max: 1 << 30, defaultText: '16 MiB', help: 'reject longer lines without holding them' },
    'status-file': { kind: 'string', value: 'PATH', help: 'rewrite PATH with a JSON progress record every 2 s' },
    'no-index': { kind: 'switch', help: 'do not build DIR/index.db (the SQLite index of the events)' },
    'index-tags': { kind: 'switch', help: "also index the events' one-letter tags in a new index, for query --tag\n(about doubles the index's cost: docs/BENCHMARKS.md); an index that has them keeps them up to date" },
    's3-output': { kind: 'string', value: 's3://BUCKET/PREFIX/', help: 'the results go there, manifest.json last (docs/S3.md); with checkpoints\n(the default) as parts at each checkpoint, and OUTPUT/_checkpoint.json lets a run\non another machine (an empty DIR) go on where this one stopped' },
    'sse-kms-key-id': { kind: 'string', value: 'KEY', help: 'encrypt the uploads with this KMS key (default SSE-S3)' },
    'delete-local-after-upload': { kind: 'switch', help: 'delete the uploaded local files once manifest.json is written' },
    'checkpoint-every': { kind: 'string', value: 'TIME|SIZE|off', default: DEFAULT_CHECKPOINT_EVERY, help: 'record in DIR/_checkpoint.json where the conversion is, this often (30s, 5m, 1h)\nor every SIZE of input (4GiB); also at once on Ctrl-C, SIGTERM, a spot notice.\nA rerun of the same input into DIR goes on from there (docs/CHECKPOINTS.md)' },
    restart: { kind: 'switch', help: 'ignore DIR/_checkpoint.json and read the input from its start\n(what DIR holds is still not stored twice); with --s3-output, also delete\nOUTPUT/_checkpoint.json and its parts' },
    verbose: { kind: 'switch', short: 'v', help: 'say more about what happens' },
    'no-progress': { kind: 'switch', help: 'no progress bar (there is none when stderr is not a terminal)' },
  },
  notes: `
Rejected lines are listed in DIR/proton-beam.log with their line numbers. Exit status: 0 when
the run completed (even with rejected lines), 1 on a fatal problem or when no line at all was
a valid event, 2 on a usage error, 130 when interrupted (Ctrl-C: the files written so far are
complete and DIR/_checkpoint.json says where the run stopped; run the same command again to go
on from there; 143 for SIGTERM, the same).`,
}, async ({ flags, positionals: [input] }) => {
  const verifier = flags.verifier as VerifierChoice;
  if (!VERIFIER_CHOICES.includes(verifier)) throw new UsageError(`--verifier takes ${VERIFIER_CHOICES.join(', ')}, not '${flags.verifier}'`);
  const gzip = flags.gzip as GzipChoice;
  if (!GZIP_CHOICES.includes(gzip)) throw new UsageError(`--gzip takes ${GZIP_CHOICES.join(', ')}, not '${flags.gzip}'`);
  if (flags['no-filter-kinds'] && flags['filter-invalid-kinds'] === true) {
    throw new UsageError('--no-filter-kinds and --filter-invalid-kinds=true contradict each other: give one');
  }
  const checkpointEvery = parseCheckpointEvery(flags['checkpoint-every']);
  const s3Output = flags['s3-output'];
  if (!s3Output && (flags['sse-kms-key-id'] !== undefined || flags['delete-local-after-upload'])) {
    throw new UsageError('--sse-kms-key-id and --delete-local-after-upload need --s3-output');
  }
  // The AWS SDK is loaded only when needed (~200 ms); a missing bucket or a 403 fails before converting.
  const s3 = s3Output ? await import('../lib/s3/output.ts') : undefined;
  if (s3Output) await s3!.checkS3Target(s3Output, undefined, { sseKmsKeyId: flags['sse-kms-key-id'] });
  const startedAt = new Date().toISOString();
  const showProgress = !flags['no-progress'] && process.stderr.isTTY === true;
  const outputDir = flags['output-dir'];
  const indexExisted = fs.existsSync(indexPathOf(outputDir));
  if (flags['index-tags'] && flags['no-index']) throw new UsageError('--index-tags and --no-index contradict each other: give one');
  // Checkpoints in S3 (docs/S3.md): resume from OUTPUT/_checkpoint.json, upload at each checkpoint, the whole day files at the end.
  const s3Checkpoints = s3Output && checkpointEvery
    ? await (await import('../lib/checkpoint/s3-run.ts')).startS3Checkpoints({
      client: (await import('../lib/s3/client.ts')).createS3Client(), target: s3Output, sseKmsKeyId: flags['sse-kms-key-id'],
      dir: outputDir, restart: flags.restart, log: (line) => process.stderr.write(`${line}\n`),
    })
    : undefined;
  const counts = await convert({
    input,
    outputDir,
    validateSignatures: flags['validate-signatures'],
    verifier,
    gzip,
    validateIds: flags['validate-event-ids'],
    parallel: flags.parallel,
    compressionLevel: flags['compression-level'],
    batchSize: flags['batch-size'],
    writers: flags.writers,
    progress: showProgress,
    maxLineBytes: flags['max-line-bytes'],
    statusFile: flags['status-file'],
    index: !flags['no-index'],
    indexTags: flags['index-tags'],
    log: flags.verbose ? (text) => process.stderr.write(`${text}\n`) : undefined,
    signal: interruptSignal(),
    checkpoint: checkpointEvery && { every: checkpointEvery, onCheckpoint: s3Checkpoints?.onCheckpoint },
    resume: s3Checkpoints?.resume,
    knownIds: s3Checkpoints?.knownIds,
    restart: flags.restart,
  }).catch((err: unknown) => {
    // The converter names the local folder's record; the one refused here is the S3 one.
    const m = s3Checkpoints?.resume && err instanceof FatalError && /: the input changed since the checkpoint in /.exec(err.message);
    if (m) throw new FatalError(`${err.message.slice(0, m.index)}: the input changed since ${s3Checkpoints!.recordUrl} was written; to convert it from the start, run again with --restart (which deletes it and its parts)`);
    throw err;
  });
  process.stdout.write(`${formatSummary(counts, outputDir)}\n`);
  if (counts.index) process.stdout.write(`${formatIndexing(counts.index)}\n`);
  const nonBlank = counts.lines - (counts.rejectedByReason.blank_line ?? 0);
  if (nonBlank > 0 && counts.valid === 0) {
    if (!indexExisted) removeIndex(indexPathOf(outputDir)); // an index of nothing would only mislead
    throw new FatalError(`no valid event in ${nonBlank.toLocaleString('en-US')} lines of ${input}: ${inputShapeHint(input, counts)}`);
  }
  if (s3 && s3Output && s3Checkpoints) {
    const report = await s3Checkpoints.finish({
      index: !flags['no-index'],
      parallel: flags.parallel,
      log: flags.verbose ? (text) => process.stderr.write(`${text}\n`) : undefined,
      upload: {
        sseKmsKeyId: flags['sse-kms-key-id'],
        deleteLocalAfterUpload: flags['delete-local-after-upload'],
        manifest: { input, counts, timings: { startedAt, convertSeconds: counts.seconds } },
        onProgress: showProgress ? s3.terminalUploadProgress() : undefined,
      },
    });
    process.stdout.write(`${s3.formatUploadReport(report)}\n`);
  } else if (s3 && s3Output) {
    const report = await s3.uploadResults({
      dir: outputDir,
      target: s3Output,
      sseKmsKeyId: flags['sse-kms-key-id'],
      deleteLocalAfterUpload: flags['delete-local-after-upload'],
      manifest: { input, counts, timings: { startedAt, convertSeconds: counts.seconds } },
      onProgress: showProgress ? s3.terminalUploadProgress() : undefined,
    });
    process.stdout.write(`${s3.formatUploadReport(report)}\n`);
  }
  return 0;
});
