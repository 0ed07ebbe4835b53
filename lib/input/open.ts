/** Opens any input the converter accepts (a path, - for stdin, http(s)://, s3://) as one byte stream, decompressed, with its size when known. */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Transform, type Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { FatalError, describeFsError } from '../cli/errors.ts';
import { decompress, type Compression } from './decompress.ts';
import type { ResumableSource, ResumableStats } from './resumable.ts';
import { networkOptions, type NetworkOptions } from '../net/retry.ts';
import type { InputIdentity, InputPosition } from '../checkpoint/record.ts';
import { fileIdentity, prefixIdentity, remoteIdentity, stdinIdentity } from '../checkpoint/identity.ts';
import { skipBytes } from './skip.ts';

/** A file is read in chunks of this size (see openFile). */
export const FILE_READ_BYTES = 4 << 20;

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
  /** What tells this input and this version of it from others (a checkpoint pins it). */
  identity: InputIdentity;
  /** Where in the input a JSONL offset is, as a checkpoint records it (adds the object of a prefix input). */
  positionOf(offset: number, line: number): InputPosition;
  /** When opened at a position: how the start was reached, for the log. */
  resumedBy?: string;
}

/** Open the input at a saved position (a checkpoint's `next`) instead of its start. */
export interface ResumeAt {
  position: InputPosition;
  /** How the raw input was compressed when the position was saved: a plain input is read from the offset, a compressed one decompressed from its start and the bytes before the offset dropped. */
  compression?: Compression;
}

/** Tuning of the network readers (defaults: lib/net/retry.ts, env PROTON_BEAM_*), and a client for tests. */
export interface InputOptions extends Partial<NetworkOptions> {
  s3Client?: S3Client;
  /** Start at this position (JSONL offset) rather than at the start; not for standard input. */
  resumeAt?: ResumeAt;
}

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//;

/**
 * Opens INPUT: a file path, `-` for standard input, `file://`, `http://` / `https://` (undici,
 * resumable), `s3://bucket/key` (GetObject, resumable) or `s3://bucket/prefix/` (every .jsonl,
 * .json, .ndjson object under it, .gz or not, in key order: lib/input/s3-prefix.ts). gzip (and zstd where Node has it) is
 * decompressed on the fly, told by magic bytes or the name. Errors: a one-line FatalError.
 */
export async function openInput(spec: string, options: InputOptions = {}): Promise<InputSource> {
  const at = options.resumeAt && options.resumeAt.position.offset > 0 ? options.resumeAt : undefined;
  if (spec === '-') {
    if (at) throw new FatalError('cannot resume standard input at an offset: it is read once');
    return withDecompression(fromStream('stdin', process.stdin, stdinIdentity()), '-');
  }
  const scheme = SCHEME.exec(spec)?.[1]?.toLowerCase();
  if (scheme === undefined) return openFile(spec, spec, at);
  if (scheme === 'file') {
    let path: string;
    try {
      path = fileURLToPath(spec);
    } catch {
      throw new FatalError(`cannot read input ${spec}: malformed file:// URL`);
    }
    return openFile(path, spec, at);
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
    const seek = at?.compression === 'none' ? at.position.offset : 0;
    const src = await openHttp(spec, networkOptions(options), Math.max(0, seek - 1));
    return resumed(fromResumable(spec, src, remoteIdentity('http', spec, src.validator, src.totalBytes)), url.pathname, at, seek, true);
  }
  if (scheme === 's3' && spec.endsWith('/') && /^s3:\/\/[^/]+\/./.test(spec)) {
    // Already decompressed object by object: each may be compressed or not.
    const { openS3Prefix } = await import('./s3-prefix.ts');
    const object = at?.position.object;
    if (at && !object) throw new FatalError(`cannot resume ${spec} at byte ${at.position.offset}: the saved position names no object of the prefix`);
    const src = await openS3Prefix(spec, networkOptions(options), options.s3Client, object && { index: object.index, offset: object.offset, streamOffset: at!.position.offset });
    return {
      label: spec, stream: src.stream, totalBytes: src.totalBytes, bytesRead: src.bytesRead, stats: src.stats, current: src.current, objects: src.objects,
      identity: prefixIdentity(spec, src.listed),
      positionOf: (offset, line) => ({ line, offset, object: src.positionOf(offset) }),
      ...(object ? { resumedBy: `object ${object.index + 1} of ${src.objects.length} (${object.key}) read from its start, its first ${object.offset} bytes of JSONL skipped` } : {}),
    };
  }
  if (scheme === 's3') {
    const { openS3 } = await import('./s3.ts');
    const seek = at?.compression === 'none' ? at.position.offset : 0;
    const src = await openS3(spec, networkOptions(options), options.s3Client, Math.max(0, seek - 1));
    return resumed(fromResumable(spec, src, remoteIdentity('s3-object', spec, src.validator, src.totalBytes)), spec, at, seek, true);
  }
  throw new FatalError(`cannot read input ${spec}: unsupported scheme "${scheme}://"; use a file path, -, http(s)://... or s3://bucket/key`);
}

async function openFile(path: string, label: string, at: ResumeAt | undefined): Promise<InputSource> {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(path);
  } catch (err) {
    throw new FatalError(`cannot read input ${describeFsError(err, label)}`);
  }
  if (stat.isDirectory()) throw new FatalError(`cannot read input ${label}: is a directory`);
  // 4 MiB reads: a batch is cut at the end of each chunk, and each batch costs the main thread
  // ~0.5 ms whatever its size (docs/BENCHMARKS.md), so larger chunks make fewer batches.
  // A pipe or device given by name is read once, like standard input.
  const identity = stat.isFile() ? fileIdentity(path, stat) : { ...stdinIdentity(), spec: label };
  if (at && !stat.isFile()) throw new FatalError(`cannot resume ${label} at an offset: it is not a regular file`);
  const seek = at?.compression === 'none' ? at.position.offset : 0;
  const stream = fs.createReadStream(path, { highWaterMark: FILE_READ_BYTES, start: seek });
  const source = fromStream(label, stream, identity, seek);
  if (stat.isFile()) source.totalBytes = stat.size;
  return resumed(source, path, at, seek);
}

function fromResumable(label: string, src: ResumableSource, identity: InputIdentity): InputSource {
  return { label, stream: src.stream, totalBytes: src.totalBytes, bytesRead: src.bytesRead, stats: src.stats, identity, positionOf: plainPosition };
}

const plainPosition = (offset: number, line: number): InputPosition => ({ line, offset });

/**
 * The source opened at `seek` (raw bytes; 0 unless a plain input resumes): decompressed when it
 * starts at 0, and when resuming a compressed input, the JSONL bytes before the offset dropped.
 */
/** `oneByteEarly`: the source starts one byte before `seek` (see the http and S3 cases above). */
async function resumed(source: InputSource, name: string, at: ResumeAt | undefined, seek: number, oneByteEarly = false): Promise<InputSource> {
  // An http/S3 request asked for one byte before `seek` (dropped here): a Range starting at the very
  // end of an object, where a run checkpointed at the end of its input resumes, is answered 416.
  if (seek > 0) return { ...source, stream: oneByteEarly ? skipBytes(source.stream, 1) : source.stream, compression: 'none', identity: { ...source.identity, compression: 'none' }, resumedBy: `read from byte ${seek} on (the input is not compressed)` };
  const opened = await withDecompression(source, name);
  opened.identity = { ...opened.identity, compression: opened.compression };
  if (!at) return opened;
  if (opened.compression === 'none') {
    // Saved without its compression (another writer of the record): the plain bytes are skipped.
    return { ...opened, stream: skipBytes(opened.stream, at.position.offset), resumedBy: `read from the start, the first ${at.position.offset} bytes skipped` };
  }
  return {
    ...opened,
    stream: skipBytes(opened.stream, at.position.offset),
    resumedBy: `${opened.compression} input: decompressed from its start, the first ${at.position.offset} bytes of JSONL skipped without parsing`,
  };
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
export function fromStream(label: string, raw: Readable, identity: InputIdentity = stdinIdentity(), startAt = 0): InputSource {
  let bytes = startAt;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  raw.on('error', (err) => counter.destroy(err));
  return { label, stream: raw.pipe(counter), bytesRead: () => bytes, identity, positionOf: plainPosition };
}
