#!/usr/bin/env -S npx tsx
// Converts a JSONL dump of Nostr events into validated, deduplicated day files.
import { DEFAULT_MAX_LINE_BYTES, convert, defaultParallelism } from '../lib/convert/pipeline.ts';
import { parseBool, parseCommandLine, parseIntInRange, runMain } from '../lib/cli/args.ts';
import { interruptSignal } from '../lib/cli/interrupt.ts';
import { UsageError } from '../lib/cli/errors.ts';
import { formatIndexing } from '../lib/index/writer.ts';
import { formatSummary } from '../lib/convert/summary.ts';

const USAGE = `Usage: npx tsx scripts/convert.ts INPUT [options]

Converts Nostr events (JSONL, one NIP-01 event per line) into one gzip'd protobuf file per
UTC day (YYYY_MM_DD.pb.gz). INPUT is a file path, - for standard input, an http(s):// URL or
s3://bucket/key (read as it arrives, resumed after a dropped connection); .gz is decompressed.
Converting into a folder that already holds day files adds to them and never stores an event twice.

Options:
  -o, --output-dir DIR            output folder (default ./pb_data)
      --validate-signatures BOOL  check Schnorr signatures (default true)
      --validate-event-ids BOOL   check that ids are the SHA-256 of the event (default true)
  -j, --parallel N                worker threads (default: number of CPUs, here ${defaultParallelism()})
      --compression-level N       gzip level 0..9 (default 6)
      --filter-invalid-kinds BOOL reject kinds above 65535 (default true)
      --no-filter-kinds           keep kinds above 65535 (up to 2147483647)
  -b, --batch-size N              lines per batch handed to a worker (default 1000)
      --max-line-bytes N          reject longer lines without holding them (default 16 MiB)
      --status-file PATH          rewrite PATH with a JSON progress record every 2 s
      --no-index                  do not build DIR/index.db (the SQLite index of the events)
      --s3-output s3://BUCKET/PREFIX/
                                  then upload the results there, manifest.json last (docs/S3.md)
      --sse-kms-key-id KEY        encrypt the uploads with this KMS key (default SSE-S3)
      --delete-local-after-upload delete the uploaded local files once manifest.json is written
  -v, --verbose                   say more about what happens
      --no-progress               no progress bar (there is none when stderr is not a terminal)
  -h, --help                      this help

Rejected lines are listed in DIR/proton-beam.log with their line numbers. Exit status: 0 when
the run completed (even with rejected lines), 1 on a fatal problem, 2 on a usage error, 130
when interrupted (Ctrl-C: the files written so far are complete; run again to resume).
`;

await runMain(USAGE, async () => {
  const { values, positionals } = parseCommandLine(process.argv.slice(2), {
    'output-dir': { type: 'string', short: 'o' },
    'validate-signatures': { type: 'string' },
    'validate-event-ids': { type: 'string' },
    parallel: { type: 'string', short: 'j' },
    'compression-level': { type: 'string' },
    'filter-invalid-kinds': { type: 'string' },
    'no-filter-kinds': { type: 'boolean' },
    'batch-size': { type: 'string', short: 'b' },
    'max-line-bytes': { type: 'string' },
    'status-file': { type: 'string' },
    's3-output': { type: 'string' },
    'sse-kms-key-id': { type: 'string' },
    'delete-local-after-upload': { type: 'boolean' },
    verbose: { type: 'boolean', short: 'v' },
    'no-progress': { type: 'boolean' },
    'no-index': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? 'INPUT is missing' : `one INPUT expected, got ${positionals.length}: ${positionals.join(' ')}`);
  }
  const outputDir = values['output-dir'] ?? './pb_data';
  const verbose = values.verbose ?? false;
  const s3Output = values['s3-output'];
  if (!s3Output && (values['sse-kms-key-id'] !== undefined || values['delete-local-after-upload'])) {
    throw new UsageError('--sse-kms-key-id and --delete-local-after-upload need --s3-output');
  }
  // The AWS SDK is loaded only when needed (~200 ms); a missing bucket or a 403 fails before converting.
  const s3 = s3Output ? await import('../lib/s3/output.ts') : undefined;
  if (s3Output) await s3!.checkS3Target(s3Output);
  const startedAt = new Date().toISOString();
  const showProgress = !values['no-progress'] && process.stderr.isTTY === true;
  const counts = await convert({
    input: positionals[0],
    outputDir,
    validateSignatures: parseBool('validate-signatures', values['validate-signatures'], true),
    validateIds: parseBool('validate-event-ids', values['validate-event-ids'], true),
    filterInvalidKinds: parseBool('filter-invalid-kinds', values['filter-invalid-kinds'], true) && !values['no-filter-kinds'],
    parallel: parseIntInRange('parallel', values.parallel, defaultParallelism(), 1, 1024),
    compressionLevel: parseIntInRange('compression-level', values['compression-level'], 6, 0, 9),
    batchSize: parseIntInRange('batch-size', values['batch-size'], 1000, 1, 10_000_000),
    progress: showProgress,
    maxLineBytes: parseIntInRange('max-line-bytes', values['max-line-bytes'], DEFAULT_MAX_LINE_BYTES, 1, 1 << 30),
    statusFile: values['status-file'],
    index: !values['no-index'],
    log: verbose ? (text) => process.stderr.write(`${text}\n`) : undefined,
    signal: interruptSignal(),
  });
  process.stdout.write(`${formatSummary(counts, outputDir)}\n`);
  if (counts.index) process.stdout.write(`${formatIndexing(counts.index)}\n`);
  if (s3 && s3Output) {
    const report = await s3.uploadResults({
      dir: outputDir,
      target: s3Output,
      sseKmsKeyId: values['sse-kms-key-id'],
      deleteLocalAfterUpload: values['delete-local-after-upload'] ?? false,
      manifest: { input: positionals[0], counts, timings: { startedAt, convertSeconds: counts.seconds } },
      onProgress: showProgress ? s3.terminalUploadProgress() : undefined,
    });
    process.stdout.write(`${s3.formatUploadReport(report)}\n`);
  }
  return 0;
});
