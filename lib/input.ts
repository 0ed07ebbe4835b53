import fs from 'node:fs';
import { Transform, type Readable } from 'node:stream';
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
