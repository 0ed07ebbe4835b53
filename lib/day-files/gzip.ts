/**
 * The gzip of day-file members: libdeflate (the system's libdeflate0, through koffi) or Node's
 * zlib. libdeflate compresses a whole buffer at once, which is what a member is, in about 0.67 x
 * zlib's time at level 6 for output about 1 % larger (docs/BENCHMARKS.md); both write standard
 * gzip members that every reader takes. `auto` takes libdeflate when it loads and passes a
 * self-test, else zlib with one line saying why. The choice is made once, on the main thread;
 * the compressor threads then make the chosen kind, once each.
 */
import zlib from 'node:zlib';
import { chooseNative, type Chosen } from '../native/choice.ts';
import { openLibrary } from '../native/library.ts';

export type GzipKind = 'libdeflate' | 'zlib';
export type GzipChoice = GzipKind | 'auto';
export const GZIP_CHOICES: readonly GzipChoice[] = ['auto', 'libdeflate', 'zlib'];
/** Compresses one member at `level` (0..9); the result owns its memory (movable to another thread). */
export type Gzip = (data: Uint8Array, level: number) => Uint8Array;

/** Sonames tried in turn; a library file of one's own choosing in PROTON_BEAM_LIBDEFLATE replaces them. */
export const LIBDEFLATE_NAMES = ['libdeflate.so.0', 'libdeflate.so'];
export const LIBDEFLATE_ENV = 'PROTON_BEAM_LIBDEFLATE';
export const LIBDEFLATE_HINT = 'install libdeflate for gzip in about 2/3 of the time: apt-get install libdeflate0';

export const zlibGzip: Gzip = (data, level) => {
  const member = zlib.gzipSync(data, { level, memLevel: 9 });
  // A small result may sit in Node's shared pool: give it a buffer of its own.
  return member.byteOffset === 0 && member.byteLength === member.buffer.byteLength ? member : new Uint8Array(member);
};

/** Throws when koffi, the library or one of its functions cannot be had. */
export function libdeflateGzip(names: readonly string[] = process.env[LIBDEFLATE_ENV] ? [process.env[LIBDEFLATE_ENV]] : LIBDEFLATE_NAMES): Gzip & { library: string } {
  const { lib, name } = openLibrary('libdeflate', names);
  let allocCompressor, compressBound, gzipCompress;
  try {
    allocCompressor = lib.func('void *libdeflate_alloc_compressor(int compression_level)');
    compressBound = lib.func('size_t libdeflate_gzip_compress_bound(void *compressor, size_t in_nbytes)');
    gzipCompress = lib.func('size_t libdeflate_gzip_compress(void *compressor, const uint8_t *in, size_t in_nbytes, uint8_t *out, size_t out_nbytes_avail)');
  } catch (err) {
    throw new Error(`${name} is not a libdeflate (${String((err as Error).message).split('\n')[0]})`);
  }
  const compressors = new Map<number, unknown>(); // one per level, kept for the thread's life
  let out = new Uint8Array(0); // scratch, grown to the largest bound seen
  const gzip = (data: Uint8Array, level: number): Uint8Array => {
    let compressor = compressors.get(level);
    if (!compressor) {
      compressor = allocCompressor(level);
      if (!compressor) throw new Error(`${name}: no compressor for level ${level}`);
      compressors.set(level, compressor);
    }
    const bound = Number(compressBound(compressor, data.length));
    if (out.length < bound) out = new Uint8Array(bound);
    const n = Number(gzipCompress(compressor, data, data.length, out, out.length));
    if (n === 0) throw new Error(`${name}: libdeflate_gzip_compress found no room in ${out.length} bytes for ${data.length}`);
    return out.slice(0, n);
  };
  return Object.assign(gzip, { library: name });
}

/** Undefined when `gzip` round-trips through zlib's gunzip at every level, else what went wrong. */
export function gzipSelfTestFailure(gzip: Gzip): string | undefined {
  const data = Buffer.from(Array.from({ length: 2000 }, (_, i) => `{"n":${i},"s":"${'ab'.repeat(i % 17)}"}\n`).join(''));
  for (let level = 0; level <= 9; level++) {
    try {
      if (!zlib.gunzipSync(gzip(data, level)).equals(data)) return `level ${level} does not round-trip`;
    } catch (err) {
      return `level ${level}: ${String((err as Error).message).split('\n')[0]}`;
    }
  }
  return undefined;
}

/** A gzip of `kind`, self-tested; throws an Error saying why it cannot be had. */
export function makeGzip(kind: GzipKind): Gzip {
  if (kind === 'zlib') return zlibGzip;
  const gzip = libdeflateGzip();
  const failure = gzipSelfTestFailure(gzip);
  if (failure) throw new Error(`${gzip.library} failed its self-test: ${failure}`);
  return gzip;
}

export type ResolvedGzip = Chosen<GzipKind>;

/** Resolves a --gzip choice on this machine. `libdeflate` that cannot be had is a FatalError. */
export function resolveGzip(choice: GzipChoice): ResolvedGzip {
  return chooseNative<GzipKind>(choice, {
    flag: '--gzip', native: 'libdeflate', fallback: { kind: 'zlib', label: 'zlib' },
    load: () => `libdeflate (${(makeGzip('libdeflate') as Gzip & { library: string }).library})`,
    hint: LIBDEFLATE_HINT, fallingBack: 'gzip: zlib, libdeflate unavailable',
  });
}
