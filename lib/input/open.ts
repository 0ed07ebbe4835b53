/** Opens any input the converter accepts (a path, - for stdin, http(s)://, s3://) as one byte stream, decompressed, with its size when known. */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Transform, type Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { FatalError, describeFsError } from '../cli/errors.ts';
import { decompress, type Compression } from './decompress.ts';
import type { ResumableSource, ResumableStats } from './resumable.ts';
import { networkOptions, type NetworkOptions } from '../net/retry.ts';

/** Where the JSONL comes from, as one byte stream plus what progress needs to know. */
export interface InputSource {
  /** How to name the input in messages. */
  label: string;
  /** The JSONL bytes (already decompressed). */
  stream: Readable;
  /** Size of the raw input in bytes when known (file size, Content-Length, object size). */
  totalBytes?: number;
  /** Raw input bytes consumed so far (compressed bytes for a compressed input). */
  bytesRead(): number;
  /** How the raw input was compressed (told by magic bytes, else by name). */
  compression?: Compression;
  /** For http(s):// and s3:// inputs: resumes made so far. */
  stats?(): ResumableStats;
  /** For an s3://bucket/prefix/ input: the object being read, and all of them in order. */
  current?(): string;
  objects?: string[];
}

/** Tuning of the network readers (defaults: lib/net/retry.ts, env PROTON_BEAM_*), and a client for tests. */
export interface InputOptions extends Partial<NetworkOptions> {
  s3Client?: S3Client;
}

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//;

/**
 * Opens INPUT: a file path, `-` for standard input, `file://`, `http://` / `https://` (undici,
 * resumable), `s3://bucket/key` (GetObject, resumable) or `s3://bucket/prefix/` (every .jsonl,
 * .json, .ndjson object under it, .gz or not, in key order: lib/input/s3-prefix.ts). gzip (and zstd where Node has it) is
 * decompressed on the fly, told by magic bytes or the name. Errors: a one-line FatalError.
 */
export async function openInput(spec: string, options: InputOptions = {}): Promise<InputSource> {
  if (spec === '-') return withDecompression(fromStream('stdin', process.stdin), '-');
  const scheme = SCHEME.exec(spec)?.[1]?.toLowerCase();
  if (scheme === undefined) return openFile(spec, spec);
  if (scheme === 'file') {
    let path: string;
    try {
      path = fileURLToPath(spec);
    } catch {
      throw new FatalError(`cannot read input ${spec}: malformed file:// URL`);
    }
    return openFile(path, spec);
  }
  if (scheme === 'http' || scheme === 'https') {
    let url: URL;
    try {
      url = new URL(spec);
    } catch {
      throw new FatalError(`cannot read input ${spec}: malformed URL`);
    }
    if (!url.hostname) throw new FatalError(`cannot read input ${spec}: malformed URL, no host`);
    // Loaded on demand: undici and the AWS SDK cost ~200 ms of start-up each.
    const { openHttp } = await import('./http.ts');
    const src = await openHttp(spec, networkOptions(options));
    return withDecompression(fromResumable(spec, src), url.pathname);
  }
  if (scheme === 's3' && spec.endsWith('/') && /^s3:\/\/[^/]+\/./.test(spec)) {
    // Already decompressed object by object: each may be compressed or not.
    const { openS3Prefix } = await import('./s3-prefix.ts');
    const src = await openS3Prefix(spec, networkOptions(options), options.s3Client);
    return { label: spec, stream: src.stream, totalBytes: src.totalBytes, bytesRead: src.bytesRead, stats: src.stats, current: src.current, objects: src.objects };
  }
  if (scheme === 's3') {
    const { openS3 } = await import('./s3.ts');
    const src = await openS3(spec, networkOptions(options), options.s3Client);
    return withDecompression(fromResumable(spec, src), spec);
  }
  throw new FatalError(`cannot read input ${spec}: unsupported scheme "${scheme}://"; use a file path, -, http(s)://... or s3://bucket/key`);
}

async function openFile(path: string, label: string): Promise<InputSource> {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(path);
  } catch (err) {
    throw new FatalError(`cannot read input ${describeFsError(err, label)}`);
  }
  if (stat.isDirectory()) throw new FatalError(`cannot read input ${label}: is a directory`);
  // 4 MiB reads: a batch is cut at the end of each chunk, and each batch costs the main thread
  // ~0.5 ms whatever its size (docs/BENCHMARKS.md), so larger chunks make fewer batches.
  const stream = fs.createReadStream(path, { highWaterMark: 4 << 20 });
  const source = fromStream(label, stream);
  if (stat.isFile()) source.totalBytes = stat.size;
  return withDecompression(source, path);
}

function fromResumable(label: string, src: ResumableSource): InputSource {
  return { label, stream: src.stream, totalBytes: src.totalBytes, bytesRead: src.bytesRead, stats: src.stats };
}

/** Replaces the raw stream of `source` by its decompressed bytes; the byte count stays raw. */
async function withDecompression(source: InputSource, name: string): Promise<InputSource> {
  try {
    const { stream, compression } = await decompress(source.stream, source.label, name);
    return { ...source, stream, compression };
  } catch (err) {
    if (err instanceof FatalError) throw err;
    throw new FatalError(`cannot read input ${describeFsError(err, source.label)}`);
  }
}

/** Wraps a raw byte stream so that the bytes passing through are counted. */
export function fromStream(label: string, raw: Readable): InputSource {
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  raw.on('error', (err) => counter.destroy(err));
  return { label, stream: raw.pipe(counter), bytesRead: () => bytes };
}
