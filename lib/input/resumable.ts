/** A byte stream made of segments that reopens at the offset reached after an error, checking that the object did not change (ETag, size, Content-Range). */
import { Readable } from 'node:stream';
import { FatalError } from '../cli/errors.ts';
import {
  TransientError, backoffDelay, errorPhrase, isTransient, withRetries, type NetworkOptions,
} from '../net/retry.ts';

/** One response: the bytes of the object from `start` on. */
export interface Segment {
  body: Readable;
  /** Offset in the whole object of the first byte of `body` (0 for a 200 answer). */
  start: number;
  /** Size of the whole object, when the server said. */
  total?: number;
  /** Strong ETag or Last-Modified: tells whether the object changed between two requests. */
  validator?: string;
}

/**
 * Asks for the object from byte `offset` on (offset 0: a plain request, else a Range request).
 * Throws a FatalError for answers no retry will change (404, 403), a TransientError (or a
 * network error) for the ones worth another try (5xx, reset, refused). `signal` aborts a
 * request whose headers do not come in time.
 */
export type OpenSegment = (offset: number, signal: AbortSignal) => Promise<Segment>;

export interface ResumableStats {
  /** Requests made after the first successful one. */
  resumes: number;
  /** Resumed answers where the server ignored Range and sent the object from its start. */
  rangeIgnored: number;
  /** Bytes received again and dropped because of that. */
  bytesSkipped: number;
}

export interface ResumableSource {
  stream: Readable;
  totalBytes?: number;
  /** The first response's strong ETag or Last-Modified (what a checkpoint pins). */
  validator?: string;
  bytesRead(): number;
  stats(): ResumableStats;
}

/**
 * A byte stream over an async generator. Readable.from's own destroy waits for the generator to
 * finish, which waits for its pending read (a stalled body, a backoff): `onDestroy` runs first
 * to end that read at once.
 */
export function byteStream(gen: AsyncGenerator<Buffer>, onDestroy?: () => void): Readable {
  const stream = Readable.from(gen, { objectMode: false, highWaterMark: 1 << 20 });
  if (onDestroy) {
    const destroyGenerator = stream._destroy.bind(stream);
    stream._destroy = (err, callback) => {
      onDestroy();
      destroyGenerator(err, callback);
    };
  }
  return stream;
}

/** Drops a response body: destroyed, and its late 'error' (undici emits one) ignored. */
export function discard(body: Readable | undefined): void {
  if (!body || body.destroyed) return;
  body.on('error', () => {});
  body.destroy();
}

/** Iterates `body`, failing with a TransientError when the next chunk takes over `ms`. */
async function* withIdleTimeout(body: Readable, ms: number): AsyncGenerator<Buffer> {
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let timer: NodeJS.Timeout | undefined;
  try {
    for (;;) {
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TransientError(`no data for ${ms} ms (stalled)`)), ms);
      });
      const next = await Promise.race([it.next(), stalled]);
      clearTimeout(timer);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    clearTimeout(timer);
    discard(body);
  }
}

/**
 * A byte stream over a remote object that survives dropped connections, 5xx answers and stalls:
 * each failure is followed by a Range request from the byte reached, after an exponential
 * backoff with full jitter; `maxTries` failures in a row without a new byte end it with a
 * FatalError. The splice is exact: a 206 must start at the byte asked for (else FatalError);
 * a server that ignores Range (200) is read again from its start and the bytes already delivered
 * are dropped, so no byte is lost or repeated. An object that changes between requests (another
 * ETag / Last-Modified / size) is a FatalError.
 */
export async function openResumable(
  label: string,
  open: OpenSegment,
  opts: NetworkOptions,
  onClose?: () => void,
  /** Start reading at this byte (a Range request; a resume from a checkpoint); default 0. */
  startAt = 0,
): Promise<ResumableSource> {
  const openTimed = async (offset: number): Promise<Segment> => {
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; ctl.abort(); }, opts.idleTimeoutMs);
    try {
      return await open(offset, ctl.signal);
    } catch (err) {
      if (timedOut) throw new TransientError(`no response within ${opts.idleTimeoutMs} ms (stalled)`, err);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  };
  const giveUp = (tries: number, offset: number, total: number | undefined, err: unknown) =>
    new FatalError(`cannot read input ${label}: gave up after ${tries} failed tries at byte ${offset}${total !== undefined ? ` of ${total}` : ''}: ${errorPhrase(err)}; check the server or retry later`);

  let first: Segment;
  try {
    first = await withRetries(label, () => openTimed(startAt), { ...opts, onRetry: (i) => opts.onRetry?.({ ...i, offset: startAt }) });
  } catch (err) {
    onClose?.();
    if (err instanceof FatalError) throw err;
    if (isTransient(err)) throw giveUp(opts.maxTries, 0, undefined, err);
    throw new FatalError(`cannot read input ${label}: ${errorPhrase(err)}`);
  }
  if (first.start > startAt) {
    discard(first.body);
    onClose?.();
    throw new FatalError(startAt === 0
      ? `cannot read input ${label}: the server answered a plain request with bytes from ${first.start}`
      : `cannot read input ${label}: asked for bytes from ${startAt}, the server sent bytes from ${first.start}`);
  }

  let total = first.total;
  const validator = first.validator;
  let offset = startAt;
  const stats: ResumableStats = { resumes: 0, rangeIgnored: 0, bytesSkipped: 0 };
  if (first.start < startAt) {
    // A server that ignores Range: the bytes before the start are dropped as they come.
    stats.rangeIgnored++;
    stats.bytesSkipped += startAt - first.start;
  }

  const check = (seg: Segment): void => {
    if (validator && seg.validator && seg.validator !== validator) {
      throw new FatalError(`cannot read input ${label}: the object changed while it was being read (was ${validator}, now ${seg.validator}); start again`);
    }
    if (total !== undefined && seg.total !== undefined && seg.total !== total) {
      throw new FatalError(`cannot read input ${label}: the object changed while it was being read (size was ${total}, now ${seg.total}); start again`);
    }
    if (seg.start > offset) {
      throw new FatalError(`cannot read input ${label}: asked to resume at byte ${offset}, the server sent bytes from ${seg.start}; the server's Range support is broken`);
    }
    if (seg.start < offset) {
      stats.rangeIgnored++;
      stats.bytesSkipped += offset - seg.start;
    }
    total ??= seg.total;
  };

  // Closing the stream (the consumer stops early, Ctrl-C) must not wait for a stalled body or a
  // backoff: the current body is dropped at once and no new request is made.
  let closed = false;
  let current: Segment | undefined = first;
  let wake: (() => void) | undefined;

  async function* bytes(): AsyncGenerator<Buffer> {
    let seg: Segment | undefined = first;
    let failures = 0;
    try {
      for (;;) {
        try {
          if (!seg) {
            stats.resumes++;
            seg = current = await openTimed(offset);
            if (closed) return;
            check(seg);
          }
          let skip = offset - seg.start;
          for await (const chunk of withIdleTimeout(seg.body, opts.idleTimeoutMs)) {
            let c = chunk;
            if (skip > 0) {
              if (c.length <= skip) { skip -= c.length; continue; }
              c = c.subarray(skip);
              skip = 0;
            }
            if (total !== undefined && offset + c.length > total) {
              throw new FatalError(`cannot read input ${label}: the server sent more than the announced ${total} bytes`);
            }
            offset += c.length;
            failures = 0;
            yield c;
          }
          if (skip > 0) throw new TransientError(`the answer ended before the resume point ${offset}`);
          if (total !== undefined && offset < total) {
            throw new TransientError(`connection closed at byte ${offset} of ${total}`);
          }
          return;
        } catch (err) {
          discard(seg?.body);
          seg = current = undefined;
          if (closed) return;
          if (err instanceof FatalError) throw err;
          if (!isTransient(err)) throw new FatalError(`cannot read input ${label}: ${errorPhrase(err)}`);
          failures++;
          if (failures >= opts.maxTries) throw giveUp(failures, offset, total, err);
          const delayMs = backoffDelay(failures, opts);
          opts.onRetry?.({ label, attempt: failures, maxTries: opts.maxTries, delayMs, offset, error: err });
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, delayMs);
            wake = () => { clearTimeout(timer); resolve(); };
          });
          wake = undefined;
          if (closed) return;
        }
      }
    } finally {
      discard(seg?.body);
      onClose?.();
    }
  }

  const stream = byteStream(bytes(), () => {
    closed = true;
    discard(current?.body);
    wake?.();
  });
  return {
    stream,
    totalBytes: total,
    validator,
    bytesRead: () => offset,
    stats: () => ({ ...stats }),
  };
}
