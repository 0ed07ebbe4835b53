import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { FatalError, describeFsError } from './errors.ts';

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
}

/** Opens INPUT: a file path or `-` for standard input. */
export async function openInput(spec: string): Promise<InputSource> {
  if (spec === '-') return fromStream('stdin', process.stdin);
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(spec);
  } catch (err) {
    throw new FatalError(`cannot read input ${describeFsError(err, spec)}`);
  }
  if (stat.isDirectory()) throw new FatalError(`cannot read input ${spec}: is a directory`);
  const stream = fs.createReadStream(spec, { highWaterMark: 1 << 20 });
  const source = fromStream(spec, stream);
  if (stat.isFile()) source.totalBytes = stat.size;
  return source;
}

function fromStream(label: string, stream: Readable): InputSource {
  let bytes = 0;
  stream.on('data', (chunk: Buffer) => { bytes += chunk.length; });
  return { label, stream, bytesRead: () => bytes };
}
