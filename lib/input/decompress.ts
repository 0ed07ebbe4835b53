/** Input decompression: gzip (several members too) recognised by name or magic bytes and inflated on the fly; zstd where Node has it. */
import { Readable, pipeline } from 'node:stream';
import zlib from 'node:zlib';
import { FatalError, InputDamagedError } from '../cli/errors.ts';
import { byteStream } from './resumable.ts';

export type Compression = 'none' | 'gzip' | 'zstd';

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** Compression of an input, by its first bytes, else by its name (`.gz`, `.zst`). */
export function detectCompression(head: Buffer, name: string): Compression {
  if (head.subarray(0, 2).equals(GZIP_MAGIC)) return 'gzip';
  if (head.subarray(0, 4).equals(ZSTD_MAGIC)) return 'zstd';
  const base = name.replace(/[?#].*$/, '').toLowerCase();
  if (head.length === 0) {
    // An empty input: nothing to sniff, the name decides (an empty .gz is an error below).
    if (base.endsWith('.gz')) return 'gzip';
    if (base.endsWith('.zst') || base.endsWith('.zstd')) return 'zstd';
  }
  return 'none';
}

type ZstdZlib = typeof zlib & { createZstdDecompress?: () => zlib.Gunzip };

/** zlib's zstd decompressor where this Node has it (22.15+, 23.8+). */
export function zstdSupported(): boolean {
  return typeof (zlib as ZstdZlib).createZstdDecompress === 'function';
}

function zstdError(label: string): FatalError {
  return new FatalError(`cannot read input ${label}: zstd input needs Node 22.15 or newer (this is ${process.version}); decompress it first (zstd -d) or pipe it: zstd -dc FILE | convert -`);
}

/** Reads the first `n` bytes (fewer at the end) without losing any: they are replayed. */
async function sniff(raw: Readable, n: number): Promise<{ head: Buffer; rest: AsyncGenerator<Buffer> }> {
  const it = raw[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let got = 0;
  let ended = false;
  while (got < n) {
    const r = await it.next();
    if (r.done) { ended = true; break; }
    const c = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    chunks.push(c);
    got += c.length;
  }
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      yield* chunks;
      if (ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    } finally {
      raw.destroy();
    }
  }
  return { head: Buffer.concat(chunks).subarray(0, n), rest: rest() };
}

/**
 * The decompressed bytes of `raw`. Compression is told by magic bytes first, then by `name`
 * (a path, URL or key); gzip may hold several members back to back. zstd works where the running
 * Node's zlib has it, else a FatalError. Corrupt or truncated compressed data ends the stream
 * with a one-line FatalError naming `label`.
 */
export async function decompress(raw: Readable, label: string, name = label): Promise<{ stream: Readable; compression: Compression }> {
  const { head, rest } = await sniff(raw, 4);
  const compression = detectCompression(head, name);
  const opts = { objectMode: false, highWaterMark: 1 << 20 };
  if (compression === 'none') return { stream: byteStream(rest, () => raw.destroy()), compression };
  if (compression === 'zstd' && !zstdSupported()) {
    await rest.return(undefined);
    throw zstdError(label);
  }
  const inflater: zlib.Gunzip = compression === 'gzip'
    ? zlib.createGunzip({ chunkSize: 64 * 1024 })
    : (zlib as ZstdZlib).createZstdDecompress!();
  pipeline(Readable.from(rest, opts), inflater, () => {});
  let out = 0;
  async function* inflated(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of inflater as AsyncIterable<Buffer>) {
        out += chunk.length;
        yield chunk;
      }
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (code.startsWith('Z_') || code.startsWith('ERR_ZSTD') || code === 'ERR_ZLIB_INITIALIZATION_FAILED') {
        const at = `at byte ${inflater.bytesWritten.toLocaleString('en-US')} of the compressed input, ${out.toLocaleString('en-US')} bytes decompressed`;
        throw new InputDamagedError(`cannot read input ${label}: truncated or corrupt ${compression} data ${at} (${(err as Error).message})`);
      }
      throw err;
    } finally {
      inflater.destroy();
    }
  }
  return { stream: byteStream(inflated(), () => { raw.destroy(); inflater.destroy(); }), compression };
}
