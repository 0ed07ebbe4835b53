/**
 * Reads day files gzip member by member, knowing the byte offset where each member starts, so
 * that the index can point at a member and a lookup inflates that member alone.
 *
 * A day file is a sequence of gzip members (RFC 1952) whose concatenated uncompressed bytes are
 * varint(length) + ProtoEvent messages. Each member is inflated as a stream (constant memory,
 * whatever its size: files written by other tools may hold a whole day in one member); its
 * compressed length is what the inflater consumed, which gives the next member's offset. The
 * trailer's CRC-32 and length are checked.
 *
 * Damage ends the walk with a DayFileError naming the file and the byte offset, after every
 * message before the damage has been yielded.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';

/**
 * A day file that cannot be read to its end: `offset` is a byte offset in the file. `cutOff`:
 * the file ends inside the gzip member at `offset` (a write that did not finish), rather than
 * holding bytes that are wrong.
 */
export class DayFileError extends Error {
  constructor(readonly file: string, readonly offset: number | undefined, readonly detail: string, readonly cutOff = false) {
    super(`${file}${offset === undefined ? '' : ` at byte ${offset}`}: ${detail}`);
  }
}

/** Uncompressed bytes of one member, from offset `at` of the member's uncompressed data. */
export interface Piece {
  memberOffset: number;
  at: number;
  data: Buffer;
}

export interface MemberEnd {
  /** Offset just past the member: where the next one starts. */
  memberEnd: number;
}

const READ_SIZE = 256 << 10;
/** Read-ahead for members inflated in one call; a member's start must leave MIN_WINDOW in it. */
const WINDOW = 2 << 20;
const MIN_WINDOW = 1 << 20;
/** Members that inflate to more than this are streamed. */
const MAX_WHOLE_OUTPUT = 16 << 20;
const FTEXT_FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;
/** Longer messages are taken as a sign that the file does not hold ProtoEvents. */
export const MAX_MESSAGE_BYTES = 256 << 20;

/** Buffered positional reads. */
class FileReader {
  private constructor(private fd: fs.promises.FileHandle, readonly size: number, readonly path: string) {}

  static async open(filePath: string): Promise<FileReader> {
    let fd: fs.promises.FileHandle;
    try {
      fd = await fs.promises.open(filePath, 'r');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new DayFileError(filePath, undefined, e.code === 'ENOENT' ? 'no such file' : e.message);
    }
    const { size } = await fd.stat();
    return new FileReader(fd, size, filePath);
  }

  async read(position: number, length: number): Promise<Buffer> {
    const n = Math.max(0, Math.min(length, this.size - position));
    const buf = Buffer.allocUnsafe(n);
    let done = 0;
    while (done < n) {
      const { bytesRead } = await this.fd.read(buf, done, n - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === n ? buf : buf.subarray(0, done);
  }

  close(): Promise<void> {
    return this.fd.close();
  }
}

/**
 * The length of the gzip header at the start of `buf`, or a reason it is not one. `buf` holds
 * up to 64 KiB from the member's start (enough for any header but a pathological one).
 */
const CUT_HEADER = 'cut inside a gzip header';

function gzipHeaderLength(buf: Buffer): number | string {
  if (buf.length < 10) return buf.length === 0 ? 'empty' : CUT_HEADER;
  if (buf[0] !== 0x1f || buf[1] !== 0x8b) return 'not a gzip member (no gzip magic bytes)';
  if (buf[2] !== 8) return `unknown gzip compression method ${buf[2]}`;
  const flags = buf[3];
  let pos = 10;
  if (flags & FEXTRA) {
    if (pos + 2 > buf.length) return CUT_HEADER;
    pos += 2 + buf.readUInt16LE(pos);
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if (flags & flag) {
      const end = buf.indexOf(0, pos);
      if (end === -1) return CUT_HEADER;
      pos = end + 1;
    }
  }
  if (flags & FTEXT_FHCRC) pos += 2;
  return pos <= buf.length ? pos : CUT_HEADER;
}

/** Inflates one member's deflate data; checks its trailer; returns the trailer's offset. */
async function* inflateOne(file: FileReader, memberOffset: number, dataStart: number): AsyncGenerator<Piece, number> {
  const inflater = zlib.createInflateRaw({ chunkSize: READ_SIZE });
  let ended = false;
  let failure: Error | undefined;
  inflater.on('end', () => { ended = true; });
  inflater.on('error', (err) => { failure ??= err; });
  // Feeds compressed bytes until the deflate stream ends (bytes past its end are ignored).
  let position = dataStart;
  const stopped = () => ended || failure !== undefined || inflater.destroyed;
  const feed = (async () => {
    while (!stopped()) {
      const chunk = await file.read(position, READ_SIZE);
      if (stopped()) return;
      if (chunk.length === 0) {
        inflater.end();
        return;
      }
      position += chunk.length;
      if (!inflater.write(chunk)) await new Promise<void>((resolve) => {
        const done = () => { inflater.off('drain', done); inflater.off('close', done); inflater.off('end', done); resolve(); };
        inflater.on('drain', done).on('close', done).on('end', done);
        if (stopped()) done();
      });
    }
  })();
  feed.catch((err) => inflater.destroy(err));

  let at = 0;
  let crc = 0;
  try {
    for await (const data of inflater as AsyncIterable<Buffer>) {
      crc = zlib.crc32(data, crc);
      yield { memberOffset, at, data };
      at += data.length;
    }
  } catch (err) {
    const e = failure ?? (err as Error);
    const code = (e as NodeJS.ErrnoException).code;
    const cutOff = code === 'Z_BUF_ERROR';
    const detail = cutOff
      ? `gzip member cut off (the file ends at byte ${file.size})`
      : `damaged gzip member (${e.message}) after ${at} uncompressed bytes`;
    throw new DayFileError(file.path, memberOffset, detail, cutOff);
  } finally {
    if (!ended) inflater.destroy();
    await feed.catch(() => {});
  }
  const trailerAt = dataStart + inflater.bytesWritten;
  checkTrailer(file, memberOffset, await file.read(trailerAt, 8), crc, at);
  return trailerAt;
}

/**
 * Inflates the members of `filePath` from the member at byte `start` on, as pieces of at most
 * 256 KiB, with a marker after each member giving the offset where it ends. Returning early
 * (break) stops the work and closes the file.
 */
export async function* inflateMembers(filePath: string, start = 0): AsyncGenerator<Piece | MemberEnd> {
  const file = await FileReader.open(filePath);
  try {
    let offset = start;
    // A zero-byte file (a run killed between creating it and its first write) holds no events.
    if (offset > file.size) throw new DayFileError(filePath, offset, `no gzip member here: the file has ${file.size} bytes`);
    let window: Buffer = Buffer.alloc(0);
    let windowAt = 0;
    while (offset < file.size) {
      // Most members are small: read ahead and inflate them in one call.
      if (offset < windowAt || offset + MIN_WINDOW > windowAt + window.length) {
        window = await file.read(offset, WINDOW);
        windowAt = offset;
      }
      const head = window.subarray(offset - windowAt);
      const headerLength = gzipHeaderLength(head.subarray(0, 64 << 10));
      if (typeof headerLength === 'string') {
        const what = offset === 0 && headerLength.startsWith('not a gzip') ? 'not a gzip file' : headerLength;
        throw new DayFileError(filePath, offset, what, headerLength === CUT_HEADER && head.length < 64 << 10);
      }
      const whole = inflateWhole(head.subarray(headerLength));
      let trailerAt: number;
      let trailer: Buffer;
      if (whole) {
        trailerAt = offset + headerLength + whole.compressedBytes;
        trailer = trailerAt + 8 <= windowAt + window.length ? window.subarray(trailerAt - windowAt, trailerAt - windowAt + 8) : await file.read(trailerAt, 8);
        checkTrailer(file, offset, trailer, zlib.crc32(whole.data), whole.data.length);
        yield { memberOffset: offset, at: 0, data: whole.data };
      } else {
        trailerAt = yield* inflateOne(file, offset, offset + headerLength);
        trailer = await file.read(trailerAt, 8);
      }
      if (trailer.length < 8) throw new DayFileError(filePath, offset, `gzip member cut off (its trailer is missing; the file ends at byte ${file.size})`, true);
      offset = trailerAt + 8;
      yield { memberEnd: offset };
    }
  } finally {
    await file.close();
  }
}

/**
 * Inflates a deflate stream that lies whole in `data`, or returns undefined (it goes on past
 * `data`, is damaged, or inflates to more than MAX_WHOLE_OUTPUT): the streaming path then
 * takes over, which also yields what comes before damage.
 */
function inflateWhole(data: Buffer): { data: Buffer; compressedBytes: number } | undefined {
  try {
    const r = zlib.inflateRawSync(data, { info: true, maxOutputLength: MAX_WHOLE_OUTPUT }) as unknown as { buffer: Buffer; engine: zlib.InflateRaw };
    return { data: r.buffer, compressedBytes: r.engine.bytesWritten };
  } catch {
    return undefined;
  }
}

function checkTrailer(file: FileReader, memberOffset: number, trailer: Buffer, crc: number, length: number): void {
  if (trailer.length < 8) return; // reported by the caller
  if (trailer.readUInt32LE(0) !== crc >>> 0) throw new DayFileError(file.path, memberOffset, 'gzip member fails its CRC-32 check');
  if (trailer.readUInt32LE(4) !== length % 2 ** 32) throw new DayFileError(file.path, memberOffset, 'gzip member length does not match its trailer');
}

/**
 * Messages in column form (no object per message): message i is buf[starts[i], ends[i]),
 * without its length prefix, which sits at offsetsInMember[i] of the member at byte
 * memberOffsets[i].
 */
export interface MessageBatch {
  buf: Buffer;
  count: number;
  starts: number[];
  ends: number[];
  memberOffsets: number[];
  offsetsInMember: number[];
  /** Set after the last message of a member when no message continues into the next one: that member's end. */
  memberEnd?: number;
}

const emptyBatch = (buf: Buffer): MessageBatch => ({ buf, count: 0, starts: [], ends: [], memberOffsets: [], offsetsInMember: [] });

/**
 * The messages of a day file (from the member at `start`), in batches. A message may continue
 * from one member into the next (other tools' files); it is located where its length prefix is.
 */
export async function* readLocatedMessages(filePath: string, start = 0): AsyncGenerator<MessageBatch> {
  let pending: Buffer | undefined; // bytes of an incomplete message
  let pendingMember = 0;
  let pendingAt = 0;
  for await (const piece of inflateMembers(filePath, start)) {
    if ('memberEnd' in piece) {
      if (!pending) yield { ...emptyBatch(Buffer.alloc(0)), memberEnd: piece.memberEnd };
      continue;
    }
    let buf: Buffer;
    let base: number; // offset in buf of the piece's first byte
    if (pending) {
      buf = Buffer.concat([pending, piece.data]);
      base = pending.length;
    } else {
      buf = piece.data;
      base = 0;
    }
    const batch = emptyBatch(buf);
    const delta = piece.at - base; // offset in the member = offset in buf + delta
    let pos = 0;
    const n = buf.length;
    while (pos < n) {
      // varint length
      let length = 0;
      let scale = 1;
      let p = pos;
      let complete = false;
      while (p < n && p - pos < 10) {
        const b = buf[p++];
        length += (b & 0x7f) * scale;
        if (b < 0x80) {
          complete = true;
          break;
        }
        scale *= 128;
      }
      if (!complete && p - pos < 10) break; // the length itself is cut: wait for more bytes
      if (!complete || length > MAX_MESSAGE_BYTES) {
        if (batch.count) yield batch;
        const [m, at] = pos < base ? [pendingMember, pendingAt] : [piece.memberOffset, pos + delta];
        throw new DayFileError(filePath, m, `not a ProtoEvent stream: an impossible message length at offset ${at} of this gzip member's data`);
      }
      if (p + length > n) break;
      batch.starts.push(p);
      batch.ends.push(p + length);
      if (pos < base) {
        batch.memberOffsets.push(pendingMember);
        batch.offsetsInMember.push(pendingAt);
      } else {
        batch.memberOffsets.push(piece.memberOffset);
        batch.offsetsInMember.push(pos + delta);
      }
      batch.count++;
      pos = p + length;
    }
    if (pos < n) {
      if (pos >= base) {
        pendingMember = piece.memberOffset;
        pendingAt = pos + delta;
      }
      pending = Buffer.from(buf.subarray(pos));
    } else {
      pending = undefined;
    }
    if (batch.count) yield batch;
  }
  if (pending) {
    throw new DayFileError(filePath, pendingMember, `the file ends inside a message (at offset ${pendingAt} of this gzip member's data; ${pending.length} bytes of it present)`);
  }
}

/**
 * The messages whose length prefixes sit at `offsets` of the member at byte `memberOffset`:
 * inflates that member only (and the next one's start, for a message that continues into it).
 * An offset where no message starts is missing from the result.
 */
export async function readMessagesAt(filePath: string, memberOffset: number, offsets: Iterable<number>): Promise<Map<number, Buffer>> {
  const wanted = new Set(offsets);
  const found = new Map<number, Buffer>();
  if (wanted.size === 0) return found;
  const last = Math.max(...wanted);
  outer: for await (const batch of readLocatedMessages(filePath, memberOffset)) {
    for (let i = 0; i < batch.count; i++) {
      const at = batch.offsetsInMember[i];
      if (batch.memberOffsets[i] !== memberOffset || at > last) break outer;
      if (wanted.has(at)) {
        found.set(at, Buffer.from(batch.buf.subarray(batch.starts[i], batch.ends[i])));
        if (found.size === wanted.size) break outer;
      }
    }
    if (batch.memberEnd !== undefined) break;
  }
  return found;
}
